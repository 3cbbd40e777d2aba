"""The CAM training loop under MirroredStrategy on two logical CPUs."""

import numpy as np
import tensorflow as tf

from tests.cam import toy_data
from wsvis_tf.cam import config as config_lib
from wsvis_tf.cam import model as model_lib
from wsvis_tf.cam import train_lib
from wsvis_tf.core import keys

# Two logical CPU devices, before TensorFlow initialises its runtime.
_CPU = tf.config.list_physical_devices('CPU')[0]
tf.config.set_logical_device_configuration(
    _CPU, [tf.config.LogicalDeviceConfiguration()] * 2)


def _fixed_batches(batch_size=4):
  """The same deterministic batches every time (no augmentation)."""
  data = toy_data.toy_dataset(8, seed=3)
  return tf.data.Dataset.from_tensor_slices(
      {keys.IMAGE: data['image'].astype(np.float32),
       keys.LABELS: data['labels']}).batch(batch_size).repeat()


_CONFIG = config_lib.cam_config_from_dict({
    # Frozen batch norm: replicas then compute exactly what one device
    # computes on the whole batch.
    'backbone': {'name': 'resnet_tiny', 'frozen_bn': True},
    'train': {'batch_size': 4, 'log_every': 1, 'weight_decay': 0.05}})


class DistributedTrainCamTest(tf.test.TestCase):

  def _train(self, strategy, initial, steps=2):
    model_dir = self.create_tempdir().full_path
    result = train_lib.train_cam(
        lambda: model_lib.build_cam_model(_CONFIG, 2), _fixed_batches,
        _CONFIG.train, steps, model_dir, strategy=strategy,
        init_fn=lambda m: m.set_weights(initial))
    model = model_lib.CamNet(2, 'resnet_tiny', 0, True)
    model_lib.restore_cam_model(model, result['checkpoint'])
    return result, model.get_weights()

  def test_mirrored_matches_one_device(self):
    mirrored = tf.distribute.MirroredStrategy(['/cpu:0', '/cpu:1'])
    self.assertEqual(mirrored.num_replicas_in_sync, 2)
    initial = model_lib.build_cam_model(_CONFIG, 2).get_weights()
    result_m, weights_m = self._train(mirrored, initial)
    result_1, weights_1 = self._train(
        tf.distribute.OneDeviceStrategy('/cpu:0'), initial)
    self.assertAllClose(result_m['first_loss'], result_1['first_loss'],
                        atol=1e-5)
    self.assertAllClose(result_m['final_loss'], result_1['final_loss'],
                        atol=1e-4)
    for a, b in zip(weights_m, weights_1):
      self.assertAllClose(a, b, atol=1e-4)

  def test_batch_must_split_across_replicas(self):
    cfg = config_lib.cam_config_from_dict({
        'backbone': {'name': 'resnet_tiny'}, 'train': {'batch_size': 3}})
    with self.assertRaisesRegex(ValueError, 'not divisible'):
      train_lib.train_cam(
          lambda: model_lib.build_cam_model(cfg, 2), _fixed_batches,
          cfg.train, 1, self.create_tempdir().full_path,
          strategy=tf.distribute.MirroredStrategy(['/cpu:0', '/cpu:1']))


if __name__ == '__main__':
  tf.test.main()
