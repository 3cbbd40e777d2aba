"""Tests of the wsvis_resnet tf-models backbone: levels, input, init."""

import os

import numpy as np
import tensorflow as tf
import tf_keras

from official.vision.configs import common
from official.vision.modeling.backbones import factory
from official.vision.ops import preprocess_ops
from wsvis_tf.backbones import resnet
from wsvis_tf.cam import model as cam_model
from wsvis_tf.maskconsist import backbone
from wsvis_tf.maskconsist import config as config_lib


def _config(**kwargs) -> config_lib.Backbone:
  return config_lib.Backbone(
      type='wsvis_resnet',
      wsvis_resnet=config_lib.WsvisResNet(variant='resnet_tiny', **kwargs))


def _build(input_shape=(None, None, None, 3), **kwargs):
  return factory.build_backbone(
      tf_keras.layers.InputSpec(shape=list(input_shape)), _config(**kwargs),
      common.NormActivation())


def _layer_weights(model):
  return {l.name: [w.numpy() for w in l.weights] for l in model.layers
          if l.weights}


class WsvisResNetTest(tf.test.TestCase):

  def test_fpn_levels_strides_and_output_specs(self):
    model = _build((None, 64, 96, 3))
    self.assertIsInstance(model, backbone.WsvisResNet)
    out = model(tf.zeros([2, 64, 96, 3]))
    self.assertEqual(sorted(out), ['2', '3', '4', '5'])
    channels = resnet.get_spec('resnet_tiny').stage_channels()
    for level in out:
      stride = 2 ** int(level)
      self.assertEqual(out[level].shape,
                       (2, 64 // stride, 96 // stride,
                        channels[backbone.LEVEL_STAGES[level]]))
      self.assertEqual(model.output_specs[level].as_list()[1:],
                       out[level].shape[1:])

  def test_takes_normalised_images_like_tf_models(self):
    # tf-models normalises with ImageNet mean / std; the backbone undoes it,
    # so it computes on raw pixels what our ResNet computes.
    model = _build()
    raw_net = resnet.build_resnet('resnet_tiny', last_stage_stride=2)
    raw_net.set_weights(model.resnet.get_weights())
    pixels = np.random.default_rng(0).integers(0, 256, (2, 40, 56, 3),
                                               np.uint8)
    normalised = preprocess_ops.normalize_image(tf.constant(pixels))
    got = model(normalised)
    want = raw_net(tf.constant(pixels, tf.float32))
    for level, stage in backbone.LEVEL_STAGES.items():
      self.assertAllClose(got[level], want[stage], atol=1e-3, rtol=1e-4)
    # Zero (tf-models' padding) is the mean colour.
    undone = backbone.UndoImageNetNormalization()(tf.zeros([1, 1, 1, 3]))
    self.assertAllClose(undone[0, 0, 0], preprocess_ops.MEAN_RGB)

  def test_imagenet_weights_load(self):
    path = os.path.join(self.create_tempdir().full_path, 'resnet.h5')
    source = resnet.build_resnet('resnet_tiny')
    source.set_weights([np.random.default_rng(i).normal(size=w.shape)
                        for i, w in enumerate(source.get_weights())])
    source.save_weights(path)
    model = _build(init='imagenet', imagenet_weights=path)
    before = _layer_weights(model.resnet)
    message = backbone.initialize(model, _config(
        init='imagenet', imagenet_weights=path).get())
    self.assertIn(path, message)
    after = _layer_weights(model.resnet)
    want = _layer_weights(source)
    self.assertEqual(set(after), set(want))
    for name in want:
      for a, b in zip(after[name], want[name]):
        self.assertAllEqual(a, b, msg=name)
    self.assertNotAllClose(before['conv1_conv'][0], after['conv1_conv'][0])

  def test_cam_checkpoint_loads(self):
    cam = cam_model.CamNet(3, 'resnet_tiny', frozen_stages=0, frozen_bn=False)
    cam(tf.zeros([1, 32, 32, 3]))
    cam.backbone.set_weights([np.random.default_rng(i).normal(size=w.shape)
                              for i, w in enumerate(cam.backbone.weights)])
    prefix = cam_model.make_checkpoint(cam).write(
        os.path.join(self.create_tempdir().full_path, 'ckpt'))
    # Frozen stages in the detector: the copy is by layer, not by list.
    cfg = _config(init='cam_checkpoint', cam_checkpoint=prefix,
                  frozen_stages=2)
    model = _build(init='cam_checkpoint', cam_checkpoint=prefix,
                   frozen_stages=2)
    backbone.initialize(model, cfg.get())
    after = _layer_weights(model.resnet)
    want = _layer_weights(cam.backbone)
    for name in want:
      for a, b in zip(after[name], want[name]):
        self.assertAllEqual(a, b, msg=name)

  def test_initialisation_errors_name_the_field(self):
    with self.assertRaisesRegex(
        ValueError, r'imagenet_weights is empty.*resnet50_weights_tf_dim'
        r'_ordering_tf_kernels_notop\.h5.*init=.random'):
      backbone.check_initialization(_config(init='imagenet').get())
    with self.assertRaisesRegex(
        ValueError, r"imagenet_weights = '/no/such\.h5': no such file"):
      backbone.check_initialization(
          _config(init='imagenet', imagenet_weights='/no/such.h5').get())
    with self.assertRaisesRegex(ValueError, 'cam_checkpoint is empty'):
      backbone.check_initialization(_config(init='cam_checkpoint').get())
    with self.assertRaisesRegex(ValueError, "cam_checkpoint = '/no/ckpt'"):
      backbone.check_initialization(
          _config(init='cam_checkpoint', cam_checkpoint='/no/ckpt').get())
    with self.assertRaisesRegex(ValueError, "init = 'imagenet21k'"):
      backbone.check_initialization(_config(init='imagenet21k').get())
    backbone.check_initialization(_config(init='random').get())
    # A file of another architecture: refused before training starts.
    path = os.path.join(self.create_tempdir().full_path, 'small.h5')
    resnet.build_resnet('resnet_small').save_weights(path)
    for check in (backbone.check_initialization,
                  lambda c: backbone.initialize(_build(), c)):
      with self.assertRaisesRegex(ValueError,
                                  'imagenet_weights:.*does not fit'):
        check(_config(init='imagenet', imagenet_weights=path).get())

  def test_weight_decay_on_trainable_convolutions(self):
    model = factory.build_backbone(
        tf_keras.layers.InputSpec(shape=[None, None, None, 3]),
        _config(frozen_stages=2), common.NormActivation(),
        l2_regularizer=tf_keras.regularizers.l2(0.5))
    convs = [l for l in model.resnet.layers
             if isinstance(l, tf_keras.layers.Conv2D)]
    trainable = [l for l in convs if l.trainable]
    self.assertLess(len(trainable), len(convs))
    self.assertLen(model.losses, len(trainable))
    want = sum(0.5 * float(tf.reduce_sum(l.kernel ** 2)) for l in trainable)
    self.assertAllClose(float(tf.add_n(model.losses)), want, rtol=1e-5)


if __name__ == '__main__':
  tf.test.main()
