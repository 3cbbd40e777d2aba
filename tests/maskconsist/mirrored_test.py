"""Two replicas (MirroredStrategy, logical CPUs) compute one device's step."""

import tempfile

import numpy as np
import tensorflow as tf
import tf_keras

from official.core import train_utils
from tests.maskconsist import fixtures
from wsvis_tf.maskconsist import task as task_lib
from wsvis_tf.maskconsist import train_lib

# Two logical CPU devices, before TensorFlow initialises its runtime.
_CPU = tf.config.list_physical_devices('CPU')[0]
tf.config.set_logical_device_configuration(
    _CPU, [tf.config.LogicalDeviceConfiguration()] * 2)


def _deterministic(params):
  """Every candidate sampled (no random subsets), synchronised batch norm,
  frozen backbone batch norm: replicas then compute what one device does."""
  task = params.task
  task.model.backbone.wsvis_resnet.frozen_bn = True
  task.model.norm_activation.use_sync_bn = True
  task.train_data.parser.rpn_batch_size_per_im = 100000
  # The sampler's candidates: 64 proposals + 8 ground-truth slots.
  candidates = (task.model.roi_generator.num_proposals +
                task.train_data.parser.max_num_instances)
  task.model.roi_sampler.num_sampled_rois = candidates
  task.model.roi_sampler.foreground_fraction = 1.0
  task.model.mask_sampler.num_sampled_masks = candidates
  return params


class MirroredTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.work = fixtures.TinyWork(tempfile.mkdtemp(prefix='mc_mirrored_'))

  def _one_step(self, strategy, params, batch, weights):
    with strategy.scope():
      task = task_lib.MaskConsistTask(params.task, source=self.work.source)
      model = task.build_model()
      if weights is None:
        weights = model.get_weights()
      else:
        model.set_weights(weights)
      optimizer = train_utils.create_optimizer(task, params)
      metrics = task.build_metrics(training=True)
    dataset = strategy.experimental_distribute_dataset(
        tf.data.Dataset.from_tensors(batch))

    @tf.function
    def step(inputs):
      logs = strategy.run(lambda x: task.train_step(
          x, model=model, optimizer=optimizer, metrics=metrics),
                          args=(inputs,))
      return strategy.reduce(tf.distribute.ReduceOp.MEAN, logs['loss'],
                             axis=None)

    loss = float(step(next(iter(dataset))))
    results = {m.name: float(m.result()) for m in metrics}
    return loss, results, weights, model.get_weights()

  def test_two_replicas_match_one_device(self):
    # MaskConsist's step: the baseline's step is the same gradient, scaling
    # and guard code around a subset of its graph (tracing both under two
    # strategies would double this test's minute and a half).
    mirrored = train_lib.make_strategy('mirrored')
    self.assertEqual(mirrored.num_replicas_in_sync, 2)
    for maskconsist in (True,):
      params = _deterministic(self.work.params(maskconsist))
      params.task.train_data.global_batch_size = 1
      tf_keras.utils.set_random_seed(0)
      task = task_lib.MaskConsistTask(params.task, source=self.work.source)
      # One pair, twice: each replica gets one copy, the device both.
      one = next(iter(task.build_inputs(params.task.train_data)))
      batch = tf.nest.map_structure(lambda x: tf.concat([x, x], 0), one)
      loss_1, results_1, weights, after_1 = self._one_step(
          tf.distribute.OneDeviceStrategy('/cpu:0'), params, batch, None)
      loss_2, results_2, _, after_2 = self._one_step(mirrored, params, batch,
                                                     weights)
      self.assertTrue(np.isfinite(loss_1))
      self.assertAllClose(loss_2, loss_1, rtol=2e-3, msg=maskconsist)
      for name in task_lib.LOSS_NAMES:
        self.assertAllClose(results_2[name], results_1[name], rtol=2e-3,
                            atol=1e-5, msg=name)
      changed = 0
      for a, b, w in zip(after_2, after_1, weights):
        self.assertAllClose(a, b, rtol=1e-3, atol=1e-5)
        changed += not np.array_equal(a, w)
      self.assertGreater(changed, len(weights) // 2)
      if maskconsist:
        start = self.work.params(True)
        start.task.maskconsist_start_step = 10
        with self.assertRaisesRegex(ValueError, 'maskconsist_start_step'):
          train_lib.train(start, self.create_tempdir().full_path, mirrored)
        for name in results_1:
          if name.startswith(task_lib.STAT_PREFIX):
            self.assertAllClose(results_2[name], results_1[name], msg=name)


if __name__ == '__main__':
  tf.test.main()
