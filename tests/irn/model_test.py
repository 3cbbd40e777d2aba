"""Tests for wsvis_tf.irn.model: shapes, frozen backbone, config, MeanShift."""

from absl.testing import absltest
import numpy as np
import tensorflow as tf

from wsvis_tf.backbones import resnet
from wsvis_tf.irn import model as model_lib


def _model():
  return model_lib.IrnModel(resnet.build_resnet('resnet_tiny'))


class IrnModelTest(absltest.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.model = _model()

  def test_outputs_at_stride_4_for_any_size(self):
    for h, w in ((64, 80), (67, 93)):
      out = self.model(tf.zeros([2, h, w, 3]))
      self.assertEqual(out[model_lib.EDGE_LOGITS].shape,
                       (2, -(-h // 4), -(-w // 4), 1))
      self.assertEqual(out[model_lib.DISPLACEMENT].shape,
                       (2, -(-h // 4), -(-w // 4), 2))

  def test_only_heads_train(self):
    heads = self.model.heads
    trainable = {v.ref() for v in self.model.trainable_variables}
    self.assertEqual(trainable, {v.ref() for v in heads.edge_variables() +
                                 heads.displacement_variables()})
    self.assertFalse(self.model.backbone.trainable_variables)

  def test_heads_config_round_trip(self):
    heads = model_lib.IrnHeads(edge_channels=16, name='h')
    clone = model_lib.IrnHeads.from_config(heads.get_config())
    self.assertEqual(clone.get_config(), heads.get_config())
    layer = model_lib.ConvGroupNorm(8, 4, upsample=2, relu=False)
    self.assertEqual(model_lib.ConvGroupNorm.from_config(
        layer.get_config()).get_config(), layer.get_config())

  def test_mean_shift(self):
    shift = model_lib.MeanShift(2, momentum=0.5)
    x = tf.ones([1, 2, 2, 2]) * tf.constant([2.0, -4.0])
    np.testing.assert_allclose(shift(x, training=True), x)
    np.testing.assert_allclose(shift.running_mean.numpy(), [1.0, -2.0])
    np.testing.assert_allclose(shift(x, training=False)[0, 0, 0],
                               [1.0, -2.0])

  def test_edge_displacement_flip_average(self):
    net = model_lib.EdgeDisplacement(self.model)
    image = np.random.default_rng(0).integers(0, 255, (40, 52, 3), np.uint8)
    out = net(image)
    self.assertEqual(out['boundary'].shape, (10, 13))
    self.assertEqual(out['displacement'].shape, (10, 13, 2))
    flipped = net(image[:, ::-1])
    # The flip-averaged boundary of the mirrored frame is the mirror image.
    np.testing.assert_allclose(flipped['boundary'].numpy()[:, ::-1],
                               out['boundary'].numpy(), atol=1e-4)
    with self.assertRaisesRegex(ValueError, r'\[H, W, 3\]'):
      net(image[..., :2])

  def test_checkpoint_round_trip(self):
    self.model(tf.zeros([1, 32, 32, 3]))  # build the heads
    path = model_lib.make_checkpoint(self.model).save(
        self.create_tempdir().full_path + '/ckpt')
    other = _model()
    other(tf.zeros([1, 32, 32, 3]))
    model_lib.restore_model(other, path)
    with self.assertRaisesRegex(ValueError, 'does not match the IRN model'):
      fresh = model_lib.IrnModel(resnet.build_resnet('resnet_small'))
      fresh(tf.zeros([1, 32, 32, 3]))
      model_lib.restore_model(fresh, path)
    x = tf.random.uniform([1, 32, 32, 3], 0, 255, seed=1)
    np.testing.assert_allclose(other(x)[model_lib.EDGE_LOGITS],
                               self.model(x)[model_lib.EDGE_LOGITS],
                               atol=1e-5)


if __name__ == '__main__':
  absltest.main()
