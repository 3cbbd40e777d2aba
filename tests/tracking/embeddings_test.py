"""Tests for wsvis_tf.tracking.embeddings: the default embedding."""

from absl.testing import absltest
import numpy as np

from wsvis_tf.tracking import embeddings

H, W = 11, 21


def box(y0, x0, y1, x1):
  mask = np.zeros((H, W), bool)
  mask[y0:y1, x0:x1] = True
  return mask


class GeometryTest(absltest.TestCase):

  def test_hand_computed(self):
    # Rows 2..4 (mean 3), columns 10..13 (mean 11.5), 12 pixels.
    got = embeddings.geometry_embeddings(np.stack([box(2, 10, 5, 14)]))
    np.testing.assert_allclose(
        got[0], [3 / 10, 11.5 / 20, np.sqrt(12 / (H * W))], rtol=1e-6)
    self.assertEqual(got.dtype, np.float32)

  def test_empty_mask_is_zero(self):
    got = embeddings.geometry_embeddings(np.zeros((2, H, W)))
    np.testing.assert_array_equal(got, np.zeros((2, 3)))


class ColourTest(absltest.TestCase):

  def test_histograms(self):
    image = np.zeros((H, W, 3), np.uint8)
    image[:, :10] = [255, 0, 0]   # red: bin (3, 0, 0) = 48
    image[:, 10:] = [0, 0, 200]   # blue: bin (0, 0, 3) = 3
    masks = np.stack([box(0, 0, 4, 4),                # all red
                      box(0, 8, 1, 12),               # 2 red + 2 blue
                      np.zeros((H, W), bool)])
    got = embeddings.colour_embeddings(image, masks)
    self.assertEqual(got.shape, (3, 64))
    want = np.zeros((3, 64))
    want[0, 48] = 1.0
    want[1, [3, 48]] = np.sqrt(0.5)
    np.testing.assert_allclose(got, want, atol=1e-7)

  def test_bad_image(self):
    with self.assertRaisesRegex(ValueError, 'uint8'):
      embeddings.colour_embeddings(np.zeros((H, W, 3), np.float32),
                                   np.zeros((1, H, W)))
    with self.assertRaisesRegex(ValueError, r'\[11, 21, 3\]'):
      embeddings.colour_embeddings(np.zeros((H, W + 1, 3), np.uint8),
                                   np.zeros((1, H, W)))


class DefaultTest(absltest.TestCase):

  def test_concatenation_and_geometry_only(self):
    image = np.full((H, W, 3), 128, np.uint8)
    masks = np.stack([box(1, 1, 3, 3)])
    full = embeddings.default_embeddings(image, masks)
    self.assertEqual(full.shape, (1, 67))
    np.testing.assert_array_equal(full[:, :64],
                                  embeddings.colour_embeddings(image, masks))
    np.testing.assert_array_equal(full[:, 64:],
                                  embeddings.geometry_embeddings(masks))
    np.testing.assert_array_equal(embeddings.default_embeddings(None, masks),
                                  embeddings.geometry_embeddings(masks))


if __name__ == '__main__':
  absltest.main()
