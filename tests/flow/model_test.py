"""Tests for wsvis_tf.flow.model (DDFlow network) and its config."""

import os
import tempfile

import numpy as np
import tensorflow as tf
import tf_keras

from wsvis_tf.flow import config as config_lib
from wsvis_tf.flow import model as model_lib
from wsvis_tf.flow import train_lib

_TINY = config_lib.get_config('smoke').model


def _tiny_model():
  return model_lib.build_model(_TINY, (32, 32))


class DDFlowTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.model = _tiny_model()

  def test_full_resolution_output_at_odd_size(self):
    rng = np.random.default_rng(0)
    a = rng.uniform(0, 1, (2, 97, 131, 3)).astype(np.float32)
    out = self.model((a, a[::-1]))
    self.assertEqual(out[model_lib.FLOW_FW].shape, (2, 97, 131, 2))
    self.assertEqual(out[model_lib.FLOW_BW].shape, (2, 97, 131, 2))
    self.assertTrue(np.isfinite(out[model_lib.FLOW_FW].numpy()).all())
    # 4 levels: padded to 112x144 (multiples of 16); level 4 is stride 16,
    # the refined flow is at level 2 (stride 4).
    self.assertEqual(out[model_lib.level_key('fw', 4)].shape, (2, 7, 9, 2))
    self.assertEqual(out[model_lib.level_key('bw', 0)].shape, (2, 28, 36, 2))

  def test_directions_share_weights(self):
    rng = np.random.default_rng(1)
    a = rng.uniform(0, 1, (1, 32, 48, 3)).astype(np.float32)
    b = rng.uniform(0, 1, (1, 32, 48, 3)).astype(np.float32)
    ab = self.model((a, b))
    ba = self.model((b, a))
    self.assertAllClose(ab[model_lib.FLOW_FW], ba[model_lib.FLOW_BW],
                        atol=1e-5)

  def test_uint8_input_is_scaled(self):
    rng = np.random.default_rng(2)
    a = rng.integers(0, 256, (1, 32, 32, 3), dtype=np.uint8)
    b = rng.integers(0, 256, (1, 32, 32, 3), dtype=np.uint8)
    f8 = self.model((a, b))[model_lib.FLOW_FW]
    f32 = self.model((a / 255.0, b / 255.0))[model_lib.FLOW_FW]
    self.assertAllClose(f8, f32, atol=1e-5)

  def test_frames_of_different_sizes_raise(self):
    a = np.zeros((1, 32, 32, 3), np.float32)
    b = np.zeros((1, 32, 40, 3), np.float32)
    with self.assertRaisesRegex(ValueError, 'differ in width'):
      self.model((a, b))
    with self.assertRaisesRegex(ValueError, r'\[B, H, W, 3\]'):
      self.model((a[0], b[0]))

  def test_config_round_trip_and_weights(self):
    cfg = self.model.get_config()
    clone = model_lib.DDFlow.from_config(cfg)
    self.assertEqual(clone.get_config(), cfg)
    a = np.random.default_rng(3).uniform(0, 1, (1, 32, 32, 3))
    clone((a, a))
    with tempfile.TemporaryDirectory() as d:
      train_lib.save_weights(self.model, os.path.join(d, 'export'),
                             config_lib.get_config('smoke'))
      loaded, flow_cfg = train_lib.load_exported(os.path.join(d, 'export'))
    self.assertEqual(flow_cfg.model.as_dict(), _TINY.as_dict())
    self.assertAllClose(loaded((a, a[..., ::-1]))[model_lib.FLOW_FW],
                        self.model((a, a[..., ::-1]))[model_lib.FLOW_FW],
                        atol=1e-6)
    # Registered as serializable.
    self.assertIs(tf_keras.utils.get_registered_object(
        'wsvis_flow>DDFlow'), model_lib.DDFlow)

  def test_paper_size_model_has_ddflow_layout(self):
    m = model_lib.DDFlow.from_flow_config(config_lib.get_config('paper').model)
    self.assertEqual(m.levels, [6, 5, 4, 3, 2])
    self.assertEqual(m.feature_channels, (16, 32, 64, 96, 128, 192))
    self.assertEqual(m.estimator_channels, (128, 128, 96, 64, 32))
    self.assertEqual(m.size_multiple, 64)
    self.assertIn('context_network', m.checkpoint_items())

  def test_cost_volume_peaks_at_true_shift(self):
    rng = np.random.default_rng(4)
    f = rng.normal(size=(1, 12, 12, 8)).astype(np.float32)
    f = f / np.linalg.norm(f, axis=-1, keepdims=True)
    shifted = np.roll(f, shift=(1, -2), axis=(1, 2))  # f2(y+1, x-2) = f(y, x)
    cv = model_lib.cost_volume(tf.constant(f), tf.constant(shifted), 4).numpy()
    self.assertEqual(cv.shape, (1, 12, 12, 81))
    # Displacement (dy, dx) = (1, -2) is channel (1 + 4) * 9 + (-2 + 4).
    self.assertEqual(int(np.argmax(cv[0, 6, 6])), 5 * 9 + 2)
    self.assertAllClose(cv[0, 6, 6, 47], 1.0, atol=1e-5)

  def test_cost_volume_and_its_gradient_equal_extract_patches(self):
    # Reference: DDFlow's form, tf.image.extract_patches, differentiated by
    # autodiff. The fixed-order hand-written gradient must agree with it,
    # including at the zero-padded borders, and repeat bit for bit.
    rng = np.random.default_rng(5)
    r = 2
    f1 = tf.constant(rng.normal(size=(2, 5, 7, 3)).astype(np.float32))
    f2 = tf.constant(rng.normal(size=(2, 5, 7, 3)).astype(np.float32))
    weights = tf.constant(rng.normal(size=(2, 5, 7, 25)).astype(np.float32))

    def value_and_grads(fn):
      with tf.GradientTape() as tape:
        tape.watch([f1, f2])
        volume = fn(f1, f2)
        loss = tf.reduce_sum(volume * weights)
      return [volume] + tape.gradient(loss, [f1, f2])

    want = value_and_grads(
        lambda a, b: model_lib.cost_volume_patches(a, b, r))
    got = value_and_grads(lambda a, b: model_lib.cost_volume(a, b, r))
    for g, w in zip(got, want):
      self.assertAllClose(g, w, atol=1e-5, rtol=1e-5)
    again = value_and_grads(lambda a, b: model_lib.cost_volume(a, b, r))
    for g, a in zip(got, again):
      self.assertAllEqual(g, a)

  def test_center_feature_pair_hand_values(self):
    # One example, 1 x 2 positions, 2 channels.
    f1 = np.array([[[[1.0, 10.0], [3.0, 10.0]]]], np.float32)
    f2 = np.array([[[[5.0, 20.0], [7.0, 20.0]]]], np.float32)
    warped = np.array([[[[7.0, 20.0], [7.0, 20.0]]]], np.float32)
    # Channel means: (2 + 6) / 2 = 4 and (10 + 20) / 2 = 15, from the
    # unwarped maps.
    c1, c2 = model_lib.center_feature_pair(f1, f2, warped)
    self.assertAllClose(c1, [[[[-3.0, -5.0], [-1.0, -5.0]]]])
    self.assertAllClose(c2, [[[[3.0, 5.0], [3.0, 5.0]]]])
    # Per example: a second example with other values has its own means.
    c1, _ = model_lib.center_feature_pair(
        np.concatenate([f1, f1 + 100.0]), np.concatenate([f2, f2 + 100.0]),
        np.concatenate([warped, warped]))
    self.assertAllClose(c1[1], [[[-3.0, -5.0], [-1.0, -5.0]]])

  def test_center_features_option_changes_the_flow_only_when_set(self):
    centred = model_lib.build_model(_TINY.replace(center_features=True),
                                    (32, 32))
    self.assertTrue(centred.get_config()['center_features'])
    self.assertFalse(self.model.get_config()['center_features'])
    self.assertFalse(config_lib.get_config('paper').model.center_features)
    centred.set_weights(self.model.get_weights())
    rng = np.random.default_rng(5)
    a = rng.uniform(0, 1, (1, 32, 32, 3)).astype(np.float32)
    b = np.roll(a, 2, axis=2)
    plain = self.model((a, b))[model_lib.FLOW_FW].numpy()
    got = centred((a, b))[model_lib.FLOW_FW].numpy()
    self.assertTrue(np.all(np.isfinite(got)))
    self.assertGreater(np.abs(got - plain).max(), 1e-4)


class ConfigTest(tf.test.TestCase):

  def test_presets_validate(self):
    for name in config_lib.PRESETS:
      cfg = config_lib.get_config(name)
      self.assertGreater(cfg.train.total_steps, 0)
    paper = config_lib.get_config('paper')
    self.assertEqual([s.name for s in paper.train.stages],
                     list(config_lib.STAGES))
    self.assertEqual(paper.train.total_steps, 700_000)

  def test_bad_configs_raise(self):
    with self.assertRaisesRegex(ValueError, 'unknown training stage'):
      config_lib.get_config('smoke', {'train': {'stages': [
          {'name': 'nope', 'steps': 1}]}})
    with self.assertRaisesRegex(ValueError, 'needs a teacher'):
      config_lib.get_config('smoke', {'train': {'stages': [
          {'name': 'distillation', 'steps': 1}]}})
    with self.assertRaises(KeyError):
      config_lib.get_config('smoke', {'model': {'typo': 1}})
    with self.assertRaisesRegex(ValueError, 'unknown flow preset'):
      config_lib.get_config('huge')


if __name__ == '__main__':
  tf.test.main()
