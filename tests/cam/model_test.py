"""Tests of the CAM network, its config and checkpoint restores."""

import os

import numpy as np
import tensorflow as tf

from wsvis_tf.cam import config as config_lib
from wsvis_tf.cam import model as model_lib
from wsvis_tf.core import keys


def _images(h=40, w=56, n=2):
  return tf.constant(np.random.RandomState(0).uniform(0, 255, (n, h, w, 3)),
                     tf.float32)


class CamConfigTest(tf.test.TestCase):

  def test_defaults_are_irn_values(self):
    cfg = config_lib.cam_config_from_dict()
    self.assertEqual(cfg.train.crop_size, 512)
    self.assertEqual(cfg.train.batch_size, 16)
    self.assertEqual(cfg.train.epochs, 5)
    self.assertEqual(cfg.train.learning_rate, 0.1)
    self.assertEqual(cfg.train.weight_decay, 1e-4)
    self.assertEqual(cfg.train.classifier_lr_mult, 10)
    self.assertEqual(tuple(cfg.extraction.scales), (1.0, 0.5, 1.5, 2.0))
    self.assertEqual(cfg.train.mosaic, 0.0)  # IRN has no mosaics.
    # No ImageNet weights: nothing frozen, batch statistics.
    self.assertEqual(cfg.backbone.frozen_stages, 0)
    self.assertFalse(cfg.backbone.frozen_bn)
    pretrained = config_lib.cam_config_from_dict(
        {'backbone': {'imagenet_weights': '/x.h5'}})
    self.assertEqual(pretrained.backbone.frozen_stages, 3)
    self.assertTrue(pretrained.backbone.frozen_bn)

  def test_typos_and_bad_values_fail(self):
    with self.assertRaises(KeyError):
      config_lib.cam_config_from_dict({'train': {'crop': 64}})
    with self.assertRaises(ValueError):
      config_lib.cam_config_from_dict({'backbone': {'name': 'vgg'}})
    with self.assertRaises(ValueError):
      config_lib.cam_config_from_dict({'train': {'resize_long': [9, 3]}})
    with self.assertRaisesRegex(ValueError, 'train.mosaic must be in'):
      config_lib.cam_config_from_dict({'train': {'mosaic': -0.1}})
    with self.assertRaisesRegex(ValueError, 'even train.crop_size'):
      config_lib.cam_config_from_dict({'train': {'mosaic': 0.5,
                                                 'crop_size': 255}})


class CamNetTest(tf.test.TestCase):

  def test_outputs(self):
    model = model_lib.CamNet(3, 'resnet_tiny', frozen_stages=0)
    out = model(_images())
    self.assertEqual(out[model_lib.LOGITS].shape.as_list(), [2, 3])
    self.assertEqual(out[model_lib.CAMS].shape.as_list(), [2, 3, 4, 3])
    self.assertGreaterEqual(float(tf.reduce_min(out[model_lib.CAMS])), 0.0)
    self.assertEmpty(model.classifier.bias if model.classifier.use_bias
                     else [])
    # GAP then 1x1 conv == 1x1 conv then GAP: logits are mean raw CAMs.
    raw = model.classifier(out[model_lib.FEATURES])
    self.assertAllClose(out[model_lib.LOGITS],
                        tf.reduce_mean(raw, axis=[1, 2]), atol=1e-5)

  def test_top_fraction_pool_hand_values(self):
    # One frame, 2x2 locations, 2 classes; fraction 0.5 keeps 2 of 4.
    maps = tf.constant([[[[4., -1.], [1., -3.]], [[-2., 0.], [3., -2.]]]])
    self.assertAllClose(model_lib.top_fraction_pool(maps, 0.5),
                        [[(4. + 3.) / 2, (0. + -1.) / 2]])
    # ceil(0.3 * 4) = 2; a tiny fraction still keeps one location.
    self.assertAllClose(model_lib.top_fraction_pool(maps, 0.3), [[3.5, -0.5]])
    self.assertAllClose(model_lib.top_fraction_pool(maps, 0.01), [[4., 0.]])
    self.assertAllClose(model_lib.top_fraction_pool(maps, 1.0), [[1.5, -1.5]])

  def test_top_fraction_logits_are_top_means_of_raw_maps(self):
    model = model_lib.CamNet(3, 'resnet_tiny', frozen_stages=0,
                             pool_top_fraction=0.25)
    out = model(_images())
    raw = model.classifier(out[model_lib.FEATURES]).numpy()  # [2, 3, 4, 3]
    flat = np.sort(raw.reshape(2, 12, 3), axis=1)[:, ::-1]
    self.assertAllClose(out[model_lib.LOGITS], flat[:, :3].mean(1),
                        atol=1e-5)
    # The CAMs do not depend on the pooling.
    self.assertAllClose(out[model_lib.CAMS], np.maximum(raw, 0), atol=1e-5)
    with self.assertRaisesRegex(ValueError, 'pool_top_fraction'):
      model_lib.CamNet(3, 'resnet_tiny', pool_top_fraction=0.0)
    with self.assertRaisesRegex(ValueError, 'pool_top_fraction'):
      config_lib.cam_config_from_dict({'pool_top_fraction': 1.5})

  def test_class_bias_moves_logits_not_cams(self):
    model = model_lib.CamNet(3, 'resnet_tiny', frozen_stages=0,
                             class_bias=True)
    before = model(_images())
    model.class_bias.assign([1.0, -2.0, 0.5])
    after = model(_images())
    self.assertAllClose(after[model_lib.LOGITS] - before[model_lib.LOGITS],
                        [[1.0, -2.0, 0.5]] * 2, atol=1e-5)
    self.assertAllClose(after[model_lib.CAMS], before[model_lib.CAMS])
    # It trains with the classifier (IRN's 10x learning rate).
    self.assertIn(model.class_bias.ref(),
                  {v.ref() for v in model.classifier_variables()})
    self.assertIsNone(model_lib.CamNet(3, 'resnet_tiny').class_bias)

  def test_frozen_stages_are_not_trained(self):
    model = model_lib.CamNet(2, 'resnet_tiny', frozen_stages=3)
    names = {v.name for v in model.trainable_variables}
    self.assertFalse(any('conv1_conv' in n or 'conv3_block' in n
                         for n in names))
    self.assertTrue(any('conv5_block' in n for n in names))
    trainable = {v.ref() for v in model.trainable_variables}
    self.assertTrue(all(v.ref() in trainable
                        for v in model.classifier_variables()))

  def test_config_round_trip(self):
    model = model_lib.CamNet(5, 'resnet_tiny', frozen_stages=2,
                             frozen_bn=False)
    clone = model_lib.CamNet.from_config(model.get_config())
    self.assertEqual((clone.num_classes, clone.backbone_name,
                      clone.frozen_stages, clone.frozen_bn,
                      clone.pool_top_fraction, clone.use_class_bias),
                     (5, 'resnet_tiny', 2, False, 1.0, False))

  def test_checkpoint_restores(self):
    model = model_lib.CamNet(3, 'resnet_tiny')
    images = _images()
    expected = model(images)
    path = model_lib.make_checkpoint(model).save(
        os.path.join(self.get_temp_dir(), 'ckpt'))
    clone = model_lib.CamNet(3, 'resnet_tiny')
    model_lib.restore_cam_model(clone, path)
    self.assertAllClose(expected[model_lib.LOGITS],
                        clone(images)[model_lib.LOGITS])
    backbone = model_lib.load_backbone_from_cam_checkpoint(
        os.path.dirname(path), 'resnet_tiny')
    self.assertEqual(tuple(backbone(images)), keys.BACKBONE_STAGES)
    self.assertAllClose(expected[model_lib.FEATURES],
                        backbone(images)['stage5'])
    self.assertEmpty(backbone.trainable_variables)
    with self.assertRaisesRegex(ValueError, 'cannot restore'):
      model_lib.load_backbone_from_cam_checkpoint(path, 'resnet_small')
    with self.assertRaisesRegex(ValueError, 'does not match'):
      model_lib.restore_cam_model(model_lib.CamNet(4, 'resnet_tiny'), path)
    with self.assertRaisesRegex(ValueError, 'no checkpoint'):
      model_lib.load_backbone_from_cam_checkpoint(self.create_tempdir()
                                                  .full_path, 'resnet_tiny')


if __name__ == '__main__':
  tf.test.main()
