"""Tests for wsvis_tf.irn.train_lib: a few steps, resume, two replicas."""

import os

from absl.testing import absltest
import numpy as np
import tensorflow as tf

from tests.irn import toy_data
from wsvis_tf.backbones import resnet
from wsvis_tf.core import keys
from wsvis_tf.irn import config as config_lib
from wsvis_tf.irn import input_pipeline as ip
from wsvis_tf.irn import losses
from wsvis_tf.irn import model as model_lib
from wsvis_tf.irn import train_lib


def setUpModule():
  # Two logical CPU devices for MirroredStrategy (before TF initialises).
  cpu = tf.config.list_physical_devices('CPU')[0]
  tf.config.set_logical_device_configuration(
      cpu, [tf.config.LogicalDeviceConfiguration()] * 2)


_examples = toy_data.examples
_config = toy_data.config


def _train(cfg, steps, model_dir, strategy=None):
  examples = _examples()
  return train_lib.train_irn(
      lambda: model_lib.IrnModel(resnet.build_resnet('resnet_tiny')),
      lambda: ip.training_dataset(
          ip.examples_dataset(lambda: examples, cfg.flow_boundary.enabled),
          cfg.train.crop_size, cfg.train.rescale, cfg.train.flip,
          cfg.train.batch_size, cfg.flow_boundary.enabled),
      cfg, num_classes=2, num_steps=steps, model_dir=model_dir,
      strategy=strategy)


class TrainLibTest(absltest.TestCase):

  def test_trains_resumes_and_logs_every_term(self):
    model_dir = self.create_tempdir().full_path
    cfg = _config()
    result = _train(cfg, 2, model_dir)
    self.assertTrue(np.isfinite(result['first_loss']))
    self.assertTrue(np.isfinite(result['final_loss']))
    self.assertEqual(result['skipped_steps'], 0)
    self.assertIn(losses.LOSS_FLOW_BOUNDARY, result['final_terms'])
    self.assertTrue(result['checkpoint'].endswith('ckpt-2'))
    # A rerun with more steps resumes at step 2.
    result = _train(cfg, 3, model_dir)
    self.assertTrue(result['checkpoint'].endswith('ckpt-3'))
    self.assertTrue(os.listdir(os.path.join(model_dir, 'tensorboard')))
    # Done already: nothing to train, same checkpoint.
    self.assertEqual(_train(cfg, 3, model_dir)['checkpoint'],
                     result['checkpoint'])

  def test_two_replicas(self):
    strategy = tf.distribute.MirroredStrategy(['/cpu:0', '/cpu:1'])
    result = _train(_config(fbound=False), 2,
                    self.create_tempdir().full_path, strategy)
    self.assertTrue(np.isfinite(result['final_loss']))
    self.assertNotIn(losses.LOSS_FLOW_BOUNDARY, result['final_terms'])
    with self.assertRaisesRegex(ValueError, 'not divisible'):
      _train(_config(batch=3), 1, self.create_tempdir().full_path, strategy)

  def test_learns_a_toy_problem(self):
    # Bright squares (class 1) on a dark background: every loss term must
    # fall (a heads-not-updated bug would leave them flat).
    rng = np.random.default_rng(0)
    examples = []
    for _ in range(8):
      image = np.full((64, 64, 3), 60, np.uint8)
      label = np.zeros((64, 64), np.uint8)
      y0, x0 = rng.integers(4, 30, 2)
      image[y0:y0 + 24, x0:x0 + 24] = 200
      label[y0:y0 + 24, x0:x0 + 24] = 1
      examples.append({keys.IMAGE: image, ip.IR_LABEL: label})
    cfg = config_lib.irn_config_from_dict({
        'train': {'crop_size': 64, 'batch_size': 8, 'radius': 5,
                  'rescale': [1.0, 1.0], 'flip': False, 'log_every': 5}})
    result = train_lib.train_irn(
        lambda: model_lib.IrnModel(resnet.build_resnet('resnet_tiny')),
        lambda: ip.training_dataset(ip.examples_dataset(lambda: examples,
                                                        False),
                                    64, (1.0, 1.0), False, 8, False),
        cfg, 1, 20, self.create_tempdir().full_path)
    self.assertLess(result['final_loss'], 0.8 * result['first_loss'])

  def test_config_errors(self):
    with self.assertRaises(KeyError):
      config_lib.irn_config_from_dict({'train': {'crop': 64}})
    with self.assertRaisesRegex(ValueError, 'multiple of 16'):
      config_lib.irn_config_from_dict({'train': {'crop_size': 50}})
    with self.assertRaisesRegex(ValueError, 'imagenet_weights'):
      config_lib.irn_config_from_dict({'backbone': {'source': 'imagenet'}})
    with self.assertRaisesRegex(ValueError, 'walk_normalization'):
      config_lib.irn_config_from_dict(
          {'inference': {'walk_normalization': 'max'}})


if __name__ == '__main__':
  absltest.main()
