"""Tests for wsvis_tf.core.training."""

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


if __name__ == '__main__':
  tf.test.main()
