"""Tests for wsvis_tf.core.training."""

import os
import types

import tensorflow as tf

from wsvis_tf.core import training


class TrainingTest(tf.test.TestCase):

  def test_format_seconds(self):
    self.assertEqual(training.format_seconds(3723.9), '1h02m03s')
    self.assertEqual(training.format_seconds(123), '2m03s')
    self.assertEqual(training.format_seconds(-5), '0m00s')

  def test_default_strategy_keeps_the_enclosing_one(self):
    outer = tf.distribute.OneDeviceStrategy('/cpu:0')
    with outer.scope():
      self.assertIs(training.default_strategy(), outer)
    # On this CPU-only machine: the default strategy, one replica.
    self.assertEqual(training.default_strategy().num_replicas_in_sync, 1)


  def test_canonical_checkpoint_state_is_reproducible_and_resumable(self):
    texts = []
    for run in range(2):
      directory = self.create_tempdir().full_path
      v = tf.Variable(1.0)
      manager = tf.train.CheckpointManager(tf.train.Checkpoint(v=v),
                                           directory, max_to_keep=2)
      for step in (1, 2, 3):
        manager.save(checkpoint_number=step)
      training.canonical_checkpoint_state(directory)
      with open(f'{directory}/checkpoint') as f:
        texts.append(f.read())
      # A manager reopened on it (a resumed training) sees the same state.
      again = tf.train.CheckpointManager(tf.train.Checkpoint(v=v), directory,
                                         max_to_keep=2)
      self.assertEqual(again.latest_checkpoint, f'{directory}/ckpt-3')
      self.assertEqual(again.checkpoints, [f'{directory}/ckpt-2',
                                           f'{directory}/ckpt-3'])
    self.assertEqual(texts[0], texts[1])
    self.assertEqual(texts[0], 'model_checkpoint_path: "ckpt-3"\n'
                     'all_model_checkpoint_paths: "ckpt-2"\n'
                     'all_model_checkpoint_paths: "ckpt-3"\n'
                     'all_model_checkpoint_timestamps: 1.0\n'
                     'all_model_checkpoint_timestamps: 2.0\n'
                     'last_preserved_timestamp: 0.0\n')

  def test_seed_everything_repeats_random_numbers(self):
    training.seed_everything(3)
    a = tf.random.uniform([4]).numpy()
    training.seed_everything(3)
    b = tf.random.uniform([4]).numpy()
    self.assertAllEqual(a, b)

  def test_chief_and_worker_model_dirs(self):
    def worker(task_type, task_id, with_chief=False):
      jobs = {'worker': ['h0:1', 'h1:1']}
      if with_chief:
        jobs['chief'] = ['c:1']
      resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
          tf.train.ClusterSpec(jobs), task_type=task_type, task_id=task_id)
      return types.SimpleNamespace(cluster_resolver=resolver)

    root = self.create_tempdir().full_path
    model_dir = os.path.join(root, 'model')
    single = tf.distribute.get_strategy()
    self.assertTrue(training.is_chief(single))
    self.assertEqual(training.worker_model_dir(model_dir, single), model_dir)
    # Without a 'chief' task, worker 0 is the chief.
    self.assertTrue(training.is_chief(worker('worker', 0)))
    self.assertFalse(training.is_chief(worker('worker', 1)))
    self.assertTrue(training.is_chief(worker('chief', 0, with_chief=True)))
    self.assertFalse(training.is_chief(worker('worker', 0, with_chief=True)))
    self.assertEqual(training.worker_model_dir(model_dir + '/',
                                               worker('worker', 1)),
                     os.path.join(root, '.model.worker_1'))
    # Removing a worker's scratch directory never touches the chief's.
    os.makedirs(model_dir)
    os.makedirs(os.path.join(root, '.model.worker_1'))
    training.remove_worker_model_dir(model_dir, worker('worker', 0))
    training.remove_worker_model_dir(model_dir, worker('worker', 1))
    self.assertEqual(os.listdir(root), ['model'])
    with self.assertRaisesRegex(ValueError, 'unknown strategy'):
      training.make_strategy('mirror')


if __name__ == '__main__':
  tf.test.main()
