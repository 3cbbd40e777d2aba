"""Tests for wsvis_tf.irn.connected_components against scipy.ndimage.label."""

from absl.testing import absltest
import numpy as np
from scipy import ndimage

from wsvis_tf.irn import connected_components as cc


class ConnectedComponentsTest(absltest.TestCase):

  def test_random_masks_equal_scipy(self):
    rng = np.random.default_rng(0)
    for shape, density in (((1, 1), 0.5), ((7, 5), 0.5), ((40, 56), 0.55),
                           ((33, 17), 0.3)):
      mask = rng.uniform(size=shape) < density
      got, n = cc.connected_components(mask)
      want, want_n = ndimage.label(mask)  # 4-connectivity by default
      self.assertEqual(int(n), want_n)
      np.testing.assert_array_equal(got.numpy(), want)

  def test_snake_needs_many_turns(self):
    # One component folded back and forth: labels must travel its length.
    mask = np.zeros((21, 15), bool)
    mask[::2] = True
    for r in range(1, 21, 2):
      mask[r, 14 if (r // 2) % 2 == 0 else 0] = True
    got, n = cc.connected_components(mask)
    self.assertEqual(int(n), 1)
    np.testing.assert_array_equal(got.numpy(), ndimage.label(mask)[0])

  def test_label_image_splits_by_value(self):
    image = np.array([[1, 1, 2, 0],
                      [0, 1, 2, 2],
                      [3, 0, 0, 2],
                      [3, 3, 1, 1]])
    got, n = cc.connected_components(image)
    want = np.array([[1, 1, 2, 0],
                     [0, 1, 2, 2],
                     [3, 0, 0, 2],
                     [3, 3, 4, 4]])
    self.assertEqual(int(n), 4)
    np.testing.assert_array_equal(got.numpy(), want)

  def test_label_image_equals_per_value_scipy(self):
    image = np.random.default_rng(3).integers(0, 4, size=(30, 26))
    got, n = cc.connected_components(image)
    got = got.numpy()
    total = 0
    for v in range(1, 4):
      _, count = ndimage.label(image == v)
      total += count
    self.assertEqual(int(n), total)
    # Every component is one value, and 4-neighbours of equal value share it.
    for v in range(1, 4):
      want, count = ndimage.label(image == v)
      for k in range(1, count + 1):
        self.assertLen(np.unique(got[want == k]), 1)

  def test_empty_and_full(self):
    got, n = cc.connected_components(np.zeros((4, 6), bool))
    self.assertEqual(int(n), 0)
    self.assertEqual(int(got.numpy().max()), 0)
    got, n = cc.connected_components(np.ones((4, 6), bool))
    self.assertEqual(int(n), 1)
    self.assertTrue(np.all(got.numpy() == 1))
    np.testing.assert_array_equal(cc.component_sizes(got.numpy(), 1), [0, 24])

  def test_rejects_bad_input(self):
    with self.assertRaisesRegex(ValueError, r'\[H, W\]'):
      cc.connected_components(np.zeros((2, 3, 4), bool))
    with self.assertRaisesRegex(ValueError, 'bool or integer'):
      cc.connected_components(np.zeros((2, 3), np.float32))


if __name__ == '__main__':
  absltest.main()
