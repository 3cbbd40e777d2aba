"""Tests for wsvis_tf.irn.path_index (IRN's PathIndex semantics)."""

from absl.testing import absltest
import numpy as np
import tensorflow as tf

from wsvis_tf.irn import path_index


class OffsetsTest(absltest.TestCase):

  def test_radius_5_count_by_hand(self):
    # dy = 0: dx = 1..4                                   -> 4
    # dy = 1: dx^2 < 24 -> |dx| <= 4                      -> 9
    # dy = 2: dx^2 < 21 -> |dx| <= 4                      -> 9
    # dy = 3: dx^2 < 16 -> |dx| <= 3                      -> 7
    # dy = 4: dx^2 <  9 -> |dx| <= 2                      -> 5
    #                                                total  34
    offsets = path_index.half_disk_offsets(5)
    self.assertLen(offsets, 34)
    self.assertEqual(len({tuple(o) for o in offsets}), 34)

  def test_radius_10_count_as_irn(self):
    # dy = 0: 9; dy = 1..4: 19 each; dy = 5: 17; dy = 6, 7: 15; dy = 8: 11;
    # dy = 9: 9 -> 9 + 76 + 17 + 30 + 11 + 9 = 152 (IRN's 152 directions).
    self.assertLen(path_index.half_disk_offsets(10), 152)

  def test_half_disk_has_no_mirrored_duplicates(self):
    offsets = {tuple(o) for o in path_index.half_disk_offsets(6)}
    for dy, dx in offsets:
      self.assertNotIn((-dy, -dx), offsets)
      self.assertLess(dy * dy + dx * dx, 36)

  def test_paths_by_hand(self):
    np.testing.assert_array_equal(
        sorted(map(tuple, path_index.path_pixels(0, 3))),
        [(0, 0), (0, 1), (0, 2), (0, 3)])
    # (2, 1): every pixel of the 3x2 box is within distance 1 of the line.
    self.assertLen(path_index.path_pixels(2, 1), 6)
    # (1, 3): (3 py - px)^2 < 10 keeps (0,0),(0,1),(0,2)? 4 < 10 yes,
    # (0,3)? 9 < 10 yes; (1,0)? 9 yes; (1,1..3)? 4,1,0 yes -> all 8.
    self.assertLen(path_index.path_pixels(1, 3), 8)
    # (2, 4): length^2 = 20; (4 py - 2 px)^2 < 20 drops (0,3),(0,4),(2,0),(2,1).
    path = {tuple(p) for p in path_index.path_pixels(2, 4)}
    self.assertNotIn((0, 3), path)
    self.assertNotIn((2, 0), path)
    self.assertIn((1, 2), path)
    first = path_index.path_pixels(3, -2)[0]
    np.testing.assert_array_equal(first, [3, -2])  # destination first

  def test_count_pairs(self):
    # 'valid': f = 4, sources (12 - 4) x (16 - 8).
    self.assertEqual(path_index.count_pairs(5, 12, 16), 34 * 8 * 8)
    self.assertEqual(path_index.count_pairs(5, 12, 16, 'same'), 34 * 12 * 16)
    with self.assertRaisesRegex(ValueError, 'too small'):
      path_index.count_pairs(10, 9, 40)


class SliceTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    self.index = path_index.PathIndex(4)
    self.x = np.random.default_rng(0).uniform(size=(2, 9, 11)).astype(
        np.float32)

  def test_destinations_match_loop(self):
    f = self.index.radius_floor
    dst = self.index.destinations(tf.constant(self.x)).numpy()
    src = self.index.sources(tf.constant(self.x)).numpy()
    out_h, out_w = self.index.output_size(9, 11)
    self.assertEqual(dst.shape, (2, self.index.num_offsets, out_h, out_w))
    for p, (dy, dx) in enumerate(self.index.offsets):
      for y in range(out_h):
        for x in range(out_w):
          self.assertEqual(src[1, y, x], self.x[1, y, x + f])
          self.assertEqual(dst[1, p, y, x], self.x[1, y + dy, x + f + dx])

  def test_path_max_same_mode_matches_loop(self):
    got = self.index.path_max(tf.constant(self.x), 'same').numpy()
    self.assertEqual(got.shape, (2, self.index.num_offsets, 9, 11))
    for p, path in enumerate(self.index.paths):
      for y in range(9):
        for x in range(11):
          values = []
          for py, px in path:
            yy, xx = y + py, x + px
            inside = 0 <= yy < 9 and 0 <= xx < 11
            values.append(self.x[0, yy, xx] if inside else 1.0)
          self.assertAlmostEqual(got[0, p, y, x], max(values), places=6)

  def test_rejects_bad_rank(self):
    with self.assertRaisesRegex(ValueError, r'\[B, H, W'):
      self.index.sources(tf.zeros([9, 11]))


class GradientTest(absltest.TestCase):
  """The fixed-order custom gradients equal what autodiff computes."""

  def setUp(self):
    super().setUp()
    self.index = path_index.PathIndex(4)
    rng = np.random.default_rng(1)
    # Values on a coarse grid, so many paths have tied maxima.
    self.x = tf.constant(rng.integers(0, 4, size=(2, 9, 11, 2)).astype(
        np.float32) / 4)

  def _reference_path_max(self, x, mode):
    """path_max by plain slices, stack and reduce_max (autodiff)."""
    x, out_h, out_w = self.index._prepare(x, mode, 1.0)  # pylint: disable=protected-access
    return tf.stack([tf.reduce_max(tf.stack(
        [self.index._window(x, int(py), int(px), out_h, out_w)  # pylint: disable=protected-access
         for py, px in path]), 0) for path in self.index.paths], axis=1)

  def _reference_destinations(self, x):
    x, out_h, out_w = self.index._prepare(x, 'valid', 0.0)  # pylint: disable=protected-access
    return tf.stack([self.index._window(x, int(dy), int(dx), out_h, out_w)  # pylint: disable=protected-access
                     for dy, dx in self.index.offsets], axis=1)

  def _grads(self, fn, upstream_seed):
    out_shape = fn(self.x).shape
    upstream = tf.constant(np.random.default_rng(upstream_seed).normal(
        size=out_shape).astype(np.float32))
    with tf.GradientTape() as tape:
      tape.watch(self.x)
      y = fn(self.x)
    return y.numpy(), tape.gradient(y, self.x, upstream).numpy()

  def test_path_max_gradient(self):
    for mode in ('valid', 'same'):
      got = self._grads(lambda x: self.index.path_max(x, mode), 2)  # pylint: disable=cell-var-from-loop
      want = self._grads(lambda x: self._reference_path_max(x, mode), 2)  # pylint: disable=cell-var-from-loop
      np.testing.assert_array_equal(got[0], want[0])
      np.testing.assert_allclose(got[1], want[1], rtol=1e-5, atol=1e-5)
      self.assertGreater(np.abs(got[1]).sum(), 0)

  def test_destinations_gradient(self):
    got = self._grads(self.index.destinations, 3)
    want = self._grads(self._reference_destinations, 3)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_allclose(got[1], want[1], rtol=1e-5, atol=1e-5)

  def test_integer_maps_have_no_gradient_path(self):
    labels = tf.constant(np.arange(2 * 9 * 11).reshape(2, 9, 11), tf.int32)
    self.assertEqual(self.index.path_max(labels).dtype, tf.int32)
    self.assertEqual(self.index.destinations(labels).dtype, tf.int32)


if __name__ == '__main__':
  absltest.main()
