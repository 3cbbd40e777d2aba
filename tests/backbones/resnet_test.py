"""Tests of the ResNet backbones: stage keys, strides, frozen parts."""

import numpy as np
import tensorflow as tf
import tf_keras

from wsvis_tf.backbones import resnet
from wsvis_tf.core import keys


class ResNetTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.model = resnet.build_resnet('resnet_tiny')

  def test_keys_strides_and_channels_at_odd_sizes(self):
    channels = resnet.get_spec('resnet_tiny').stage_channels()
    for h, w in ((37, 51), (65, 33), (16, 16), (1, 7)):
      out = self.model(tf.zeros([2, h, w, 3]))
      self.assertEqual(tuple(out), keys.BACKBONE_STAGES)
      for name, stride in zip(keys.BACKBONE_STAGES, keys.BACKBONE_STRIDES):
        self.assertEqual(out[name].shape.as_list(),
                         [2, -(-h // stride), -(-w // stride),
                          channels[name]], f'{name} at {h}x{w}')

  def test_last_stage_stride_two_same_weights(self):
    strided = resnet.build_resnet('resnet_tiny', last_stage_stride=2)
    self.assertEqual([w.shape for w in strided.weights],
                     [w.shape for w in self.model.weights])
    strided.set_weights(self.model.get_weights())
    x = tf.random.uniform([1, 65, 47, 3]) * 255
    out16, out32 = self.model(x), strided(x)
    self.assertEqual(resnet.stage_strides(2), (4, 4, 8, 16, 32))
    for name, stride in zip(keys.BACKBONE_STAGES, resnet.stage_strides(2)):
      self.assertEqual(out32[name].shape[1:3], (-(-65 // stride),
                                                -(-47 // stride)), name)
    # The stride only changes stage5.
    self.assertAllClose(out16['stage4'], out32['stage4'])
    self.assertNotEqual(out16['stage5'].shape, out32['stage5'].shape)
    with self.assertRaisesRegex(ValueError, 'last_stage_stride'):
      resnet.build_resnet('resnet_tiny', last_stage_stride=4)

  def test_unknown_backbone(self):
    with self.assertRaisesRegex(ValueError, 'unknown backbone'):
      resnet.build_resnet('resnet_huge')

  def test_keras_resnet50_layer_names(self):
    names = {l.name for l in resnet.build_resnet('resnet50').layers}
    for name in ('conv1_conv', 'conv1_bn', 'conv2_block3_3_conv',
                 'conv4_block6_2_bn', 'conv5_block1_0_conv',
                 'conv5_block3_out'):
      self.assertIn(name, names)

  def test_frozen_bn_ignores_training_and_keeps_statistics(self):
    x = tf.random.uniform([4, 32, 32, 3]) * 255
    bn = self.model.get_layer('conv1_bn')
    before = bn.moving_mean.numpy().copy()
    a = self.model(x, training=True)['stage5']
    b = self.model(x, training=False)['stage5']
    self.assertAllClose(a, b)
    self.assertAllEqual(before, bn.moving_mean.numpy())

  def test_unfrozen_bn_uses_batch_statistics(self):
    model = resnet.build_resnet('resnet_tiny', frozen_bn=False)
    x = tf.random.uniform([4, 32, 32, 3]) * 255
    bn = model.get_layer('conv1_bn')
    model(x, training=True)
    self.assertNotAllClose(bn.moving_mean.numpy(),
                           np.zeros_like(bn.moving_mean.numpy()))

  def test_freeze_stages(self):
    model = resnet.build_resnet('resnet_tiny')
    resnet.freeze_stages(model, 3)
    frozen = {v.name.split('/')[0] for v in model.non_trainable_variables}
    trainable = {v.name.split('/')[0] for v in model.trainable_variables}
    self.assertIn('conv1_conv', frozen)
    self.assertIn('conv3_block1_1_conv', frozen)
    self.assertIn('conv4_block1_1_conv', trainable)
    self.assertNotIn('conv2_block1_1_conv', trainable)
    resnet.freeze_stages(model, 0)
    self.assertIn('conv1_conv',
                  {v.name.split('/')[0] for v in model.trainable_variables})
    with self.assertRaises(ValueError):
      resnet.freeze_stages(model, 6)

  def test_config_round_trip(self):
    clone = tf_keras.Model.from_config(self.model.get_config())
    clone.set_weights(self.model.get_weights())
    x = tf.random.uniform([1, 20, 24, 3]) * 255
    self.assertAllClose(self.model(x)['stage4'], clone(x)['stage4'])
    self.assertIsInstance(clone.get_layer('conv1_bn'),
                          resnet.FrozenBatchNormalization)


if __name__ == '__main__':
  tf.test.main()
