"""Tests of multi-scale CAM extraction (IRN make_cam) and its npz format."""

import os

import numpy as np
import tensorflow as tf

from wsvis_tf.cam import extraction
from wsvis_tf.cam import model as model_lib


def _positive_classifier_model(num_classes=3):
  """A tiny CamNet whose CAMs are positive everywhere (max-norm testable)."""
  model = model_lib.CamNet(num_classes, 'resnet_tiny', frozen_stages=0)
  kernel = model.classifier.get_weights()[0]
  model.classifier.set_weights([np.abs(kernel) + 0.01])
  return model


def _symmetric_image(h, w, seed=0):
  half = np.random.RandomState(seed).randint(0, 255, (h, (w + 1) // 2, 3))
  return np.concatenate([half, half[:, ::-1][:, w % 2:]], 1).astype(np.uint8)


class ExtractionTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.model = _positive_classifier_model()
    cls.extractor = extraction.CamExtractor(cls.model, (1.0, 0.5, 1.5, 2.0))

  def test_shapes_keys_and_normalisation_at_odd_sizes(self):
    for h, w in ((37, 53), (64, 48)):
      image = np.random.RandomState(1).randint(0, 255, (h, w, 3))
      cams = self.extractor(image.astype(np.uint8), np.array([1, 0, 1]))
      self.assertAllEqual(cams[extraction.NPZ_KEYS], [0, 2])
      self.assertEqual(cams[extraction.NPZ_CAM].shape,
                       (2, -(-h // 4), -(-w // 4)))
      self.assertEqual(cams[extraction.NPZ_HIGH_RES].shape, (2, h, w))
      # Each class map divided by its max (+1e-5): peak ~1, all >= 0.
      self.assertAllClose(cams[extraction.NPZ_HIGH_RES].max(axis=(1, 2)),
                          [1.0, 1.0], atol=1e-4)
      self.assertAllClose(cams[extraction.NPZ_CAM].max(axis=(1, 2)),
                          [1.0, 1.0], atol=1e-4)
      self.assertGreaterEqual(cams[extraction.NPZ_HIGH_RES].min(), 0.0)

  def test_stride4_map_is_the_high_res_grid(self):
    image = np.random.RandomState(2).randint(0, 255, (30, 42, 3))
    cams = self.extractor(image.astype(np.uint8), np.array([0, 1, 0]))
    grid = cams[extraction.NPZ_HIGH_RES][:, ::4, ::4]
    self.assertAllClose(cams[extraction.NPZ_CAM],
                        grid / grid.max(axis=(1, 2), keepdims=True),
                        atol=1e-4)

  def test_flip_equivariance_on_a_symmetric_input(self):
    for h, w in ((48, 64), (35, 53)):
      image = _symmetric_image(h, w)
      self.assertAllEqual(image, image[:, ::-1])
      cams = self.extractor(image, np.array([1, 1, 1]))
      high = cams[extraction.NPZ_HIGH_RES]
      self.assertAllClose(high, high[..., ::-1], atol=1e-4)
      if (w - 1) % 4 == 0:  # the stride-4 grid is symmetric too
        cam = cams[extraction.NPZ_CAM]
        self.assertAllClose(cam, cam[..., ::-1], atol=1e-4)

  def test_without_flip_the_map_is_not_symmetric(self):
    extractor = extraction.CamExtractor(self.model, (1.0,), flip=False)
    high = extractor(_symmetric_image(48, 64), np.array([1, 1, 1]))[
        extraction.NPZ_HIGH_RES]
    self.assertNotAllClose(high, high[..., ::-1], atol=1e-3)

  def test_upsampling_puts_cells_on_their_pixels(self):
    cells = np.zeros((1, 4, 5, 1), np.float32)
    cells[0, 1, 2, 0] = 1.0
    for scale, peak in ((1.0, (16, 32)), (2.0, (8, 16))):
      full = tf.constant([64, 80])
      up = extraction.upsample_cams(
          cells, full, tf.cast(tf.cast(full, tf.float32) * scale, tf.int32))
      self.assertEqual(np.unravel_index(np.argmax(up[0, ..., 0]),
                                        (64, 80)), peak)

  def test_frame_without_labels(self):
    image = np.zeros((20, 30, 3), np.uint8)
    with self.assertRaisesRegex(ValueError, 'no class labels'):
      self.extractor(image, np.zeros(3))
    empty = self.extractor(image, np.zeros(3), allow_empty=True)
    self.assertEqual(empty[extraction.NPZ_KEYS].shape, (0,))
    self.assertEqual(empty[extraction.NPZ_CAM].shape, (0, 5, 8))
    self.assertEqual(empty[extraction.NPZ_HIGH_RES].shape, (0, 20, 30))

  def test_labels_of_another_label_map(self):
    with self.assertRaisesRegex(ValueError, 'another label map'):
      self.extractor(np.zeros((20, 30, 3), np.uint8), np.array([1, 0, 0, 1]))
    with self.assertRaisesRegex(ValueError, r'\[H, W, 3\]'):
      self.extractor(np.zeros((20, 30), np.uint8), np.array([1, 0, 0]))

  def test_npz_round_trip(self):
    image = np.random.RandomState(3).randint(0, 255, (21, 22, 3))
    cams = self.extractor(image.astype(np.uint8), np.array([0, 0, 1]))
    path = extraction.cam_path(self.get_temp_dir(), 'vid', '00007.jpg')
    self.assertTrue(path.endswith(os.path.join('vid', '00007.npz')))
    extraction.save_cams(path, cams)
    with np.load(path) as raw:
      self.assertEqual(raw[extraction.NPZ_CAM].dtype, np.float16)
      self.assertEqual(raw[extraction.NPZ_HIGH_RES].dtype, np.float16)
      self.assertEqual(raw[extraction.NPZ_KEYS].dtype, np.int32)
    loaded = extraction.load_cams(path)
    for k in (extraction.NPZ_CAM, extraction.NPZ_HIGH_RES):
      self.assertAllClose(loaded[k], cams[k], atol=1e-3)
    dense = extraction.dense_cams(loaded, 3)
    self.assertEqual(dense.shape, (3, 21, 22))
    self.assertAllEqual(dense[:2], np.zeros((2, 21, 22)))



class AgreementCamsTest(tf.test.TestCase):

  def _result(self, high):
    high = np.asarray(high, np.float32)
    return {extraction.NPZ_KEYS: np.array([0, 2], np.int32),
            extraction.NPZ_HIGH_RES: high,
            extraction.NPZ_CAM: high[:, :, ::2]}

  def test_minimum_not_renormalised(self):
    # Class 0: model a is high on the left, b everywhere; class 2: a and b
    # peak in different places, so they agree only weakly anywhere.
    a = self._result([[[1.0, 0.8, 0.1, 0.0]], [[0.2, 1.0, 0.5, 0.5]]])
    b = self._result([[[0.9, 1.0, 1.0, 1.0]], [[0.5, 0.4, 1.0, 0.1]]])
    got = extraction.agreement_cams([a, b])
    self.assertAllEqual(got[extraction.NPZ_KEYS], [0, 2])
    # The minimum as it is: class 2's weak agreement (peak 0.5) is not
    # blown up to 1, where a renormalised map would put 0.4 / 0.5 = 0.8
    # over IRN's 0.3 foreground threshold at a location one model rates 0.4.
    self.assertAllClose(got[extraction.NPZ_HIGH_RES],
                        [[[0.9, 0.8, 0.1, 0.0]], [[0.2, 0.4, 0.5, 0.1]]],
                        atol=1e-6)
    # The stride grid is combined on its own: [0.9, 0.1] and [0.2, 0.5].
    self.assertAllClose(got[extraction.NPZ_CAM],
                        [[[0.9, 0.1]], [[0.2, 0.5]]], atol=1e-6)

  def test_one_result_is_itself(self):
    a = self._result([[[1.0, 0.5]], [[0.25, 1.0]]])
    got = extraction.agreement_cams([a])
    self.assertAllClose(got[extraction.NPZ_HIGH_RES],
                        a[extraction.NPZ_HIGH_RES], atol=1e-4)

  def test_empty_frame(self):
    empty = {extraction.NPZ_KEYS: np.zeros([0], np.int32),
             extraction.NPZ_CAM: np.zeros([0, 2, 3]),
             extraction.NPZ_HIGH_RES: np.zeros([0, 4, 6])}
    got = extraction.agreement_cams([empty, empty])
    self.assertEqual(got[extraction.NPZ_HIGH_RES].shape, (0, 4, 6))

  def test_mismatches(self):
    a = self._result([[[1.0, 0.5]], [[0.25, 1.0]]])
    other = dict(a)
    other[extraction.NPZ_KEYS] = np.array([0, 1], np.int32)
    with self.assertRaisesRegex(ValueError, r'result 1 has classes \[0, 1\]'):
      extraction.agreement_cams([a, other])
    other = self._result([[[1.0, 0.5, 0.0]], [[0.25, 1.0, 0.0]]])
    with self.assertRaisesRegex(ValueError, r'result 1 has \w+ of shape'):
      extraction.agreement_cams([a, other])
    with self.assertRaisesRegex(ValueError, 'at least one'):
      extraction.agreement_cams([])


if __name__ == '__main__':
  tf.test.main()
