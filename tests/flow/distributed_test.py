"""DDFlow training under MirroredStrategy on two logical CPU devices."""

import numpy as np
import tensorflow as tf

from tests.flow import toy_data
from wsvis_tf.flow import config as config_lib
from wsvis_tf.flow import train_lib


class MirroredTest(tf.test.TestCase):

  def test_two_replicas_train_and_checkpoint(self):
    strategy = tf.distribute.MirroredStrategy(['/cpu:0', '/cpu:1'])
    self.assertEqual(strategy.num_replicas_in_sync, 2)
    data = toy_data.tiny_pairs()
    config = config_lib.get_config('smoke', {'train': {
        'stages': [{'name': 'photometric', 'steps': 2}],
        'batch_size': 2, 'checkpoint_every': 2}})
    model_dir = self.create_tempdir().full_path
    metrics, model = train_lib.train(config, data, model_dir,
                                     strategy=strategy, jit_compile=False)
    self.assertEqual(metrics['steps'], 2)
    self.assertTrue(np.isfinite(metrics['loss/total']))
    self.assertIsNotNone(tf.train.latest_checkpoint(model_dir +
                                                    '/checkpoints'))
    with self.assertRaisesRegex(ValueError, 'not divisible'):
      bad = config_lib.get_config('smoke', {'train': {'batch_size': 3}})
      train_lib.train(bad, data, self.create_tempdir().full_path,
                      strategy=strategy, jit_compile=False)
    del model


if __name__ == '__main__':
  cpus = tf.config.list_physical_devices('CPU')
  tf.config.set_logical_device_configuration(
      cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)
  tf.test.main()
