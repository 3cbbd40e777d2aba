"""Tests for wsvis_tf.flow.losses: DDFlow's census, robust, occlusion losses."""

import numpy as np
import tensorflow as tf

from wsvis_tf.flow import losses


def _grey_image(grey: np.ndarray) -> tf.Tensor:
  """[H, W] grey values in [0, 255] -> [1, H, W, 3] RGB in [0, 1]."""
  rgb = np.repeat(np.asarray(grey, np.float32)[..., None] / 255.0, 3, -1)
  return tf.constant(rgb[None])


class RobustLossTest(tf.test.TestCase):

  def test_hand_values(self):
    diff = np.zeros((1, 1, 2, 1), np.float32)
    diff[0, 0, 1, 0] = 0.99
    mask = np.ones((1, 1, 2, 1), np.float32)
    # ((0 + .01)^.4 + (.99 + .01)^.4) / (2 * 2).
    want = (0.01 ** 0.4 + 1.0) / 4.0
    self.assertAllClose(losses.abs_robust_loss(diff, mask), want, rtol=1e-5)

  def test_mask_selects_pixels_and_empty_mask_is_finite(self):
    diff = tf.constant([[[[1.0], [100.0]]]])
    only_first = tf.constant([[[[1.0], [0.0]]]])
    self.assertAllClose(losses.abs_robust_loss(diff, only_first),
                        1.01 ** 0.4 / 2.0, rtol=1e-5)
    empty = losses.abs_robust_loss(diff, tf.zeros_like(only_first))
    self.assertTrue(np.isfinite(empty.numpy()))
    self.assertEqual(float(empty), 0.0)

  def test_guard_finite(self):
    self.assertEqual(float(losses.guard_finite(tf.constant(np.nan))), 0.0)
    self.assertEqual(float(losses.guard_finite(tf.constant(np.inf))), 0.0)
    self.assertEqual(float(losses.guard_finite(tf.constant(2.5))), 2.5)


class CensusTest(tf.test.TestCase):

  def test_ternary_transform_on_hand_made_patch(self):
    # A 7x7 patch, centre grey 100; one neighbour brighter by 9, one darker
    # by 0.9 (one grey level is 1 / 255 of the [0, 1] image).
    grey = np.full((7, 7), 100.0)
    grey[0, 0] = 109.0  # neighbour (dy, dx) = (-3, -3): channel 0
    grey[3, 4] = 99.1   # neighbour (0, +1): channel 3 * 7 + 4 = 25
    t = losses.ternary_transform(_grey_image(grey), max_distance=3).numpy()
    self.assertEqual(t.shape, (1, 7, 7, 49))
    centre = t[0, 3, 3]
    self.assertAllClose(centre[0], 9.0 / np.sqrt(0.81 + 81.0), atol=1e-4)
    self.assertAllClose(centre[25], -0.9 / np.sqrt(0.81 + 0.81), atol=1e-4)
    self.assertAllClose(centre[24], 0.0, atol=1e-5)  # itself
    others = np.delete(centre, [0, 24, 25])
    self.assertAllClose(others, np.zeros_like(others), atol=1e-4)
    # Outside the image counts as grey 0: a corner sees -100 neighbours.
    self.assertAllClose(t[0, 0, 0, 0], -100.0 / np.sqrt(0.81 + 1e4),
                        atol=1e-4)

  def test_census_is_invariant_to_brightness_and_zero_for_same_image(self):
    rng = np.random.default_rng(0)
    grey = rng.uniform(50, 150, (16, 16))
    a, b = _grey_image(grey), _grey_image(grey + 40.0)
    mask = tf.ones([1, 16, 16, 1])
    same = losses.census_loss(a, a, mask)
    brighter = losses.census_loss(a, b, mask)
    # The robust penalty of a zero distance is 0.01^0.4 / 2.
    self.assertAllClose(same, 0.01 ** 0.4 / 2, atol=1e-6)
    self.assertAllClose(brighter, same, atol=1e-3)
    shuffled = _grey_image(rng.permutation(grey.ravel()).reshape(16, 16))
    self.assertGreater(float(losses.census_loss(a, shuffled, mask)),
                       10 * float(same))

  def test_soft_hamming_hand_values(self):
    t1 = tf.constant([[[[0.0, 1.0]]]])
    t2 = tf.constant([[[[0.0, 0.0]]]])
    self.assertAllClose(losses.soft_hamming(t1, t2), [[[[1.0 / 1.1]]]])

  def test_border_mask(self):
    m = losses.border_mask(tf.zeros([2, 8, 9, 3]), 3).numpy()
    self.assertEqual(m.shape, (2, 8, 9, 1))
    self.assertEqual(m.sum(), 2 * 2 * 3)


class OcclusionTest(tf.test.TestCase):

  def test_known_occluded_band(self):
    # Frame 1: left half static, right half moves 4 px left over it.
    # Columns 12..15 of frame 1 (the static part the moving half covers) are
    # occluded in the forward direction; in frame 2 the moving half's
    # right edge uncovers columns 28..31, occluded backwards.
    h, w, d = 8, 32, 4
    fw = np.zeros((1, h, w, 2), np.float32)
    fw[0, :, 16:, 0] = -d
    bw = np.zeros((1, h, w, 2), np.float32)
    bw[0, :, 12:28, 0] = d  # the moving half now spans columns 12..27
    occ_fw, occ_bw = losses.forward_backward_occlusion(fw, bw)
    occ_fw = occ_fw.numpy()[0, ..., 0]
    occ_bw = occ_bw.numpy()[0, ..., 0]
    want_fw = np.zeros((h, w))
    want_fw[:, 12:16] = 1
    self.assertAllEqual(occ_fw, want_fw)
    want_bw = np.zeros((h, w))
    want_bw[:, 28:] = 1
    self.assertAllEqual(occ_bw, want_bw)

  def test_consistent_flows_are_occluded_only_where_they_leave_the_frame(
      self):
    # A uniform translation by (dx, dy) = (3, 0): forward, the last 3
    # columns land outside the frame (x + 3 > w - 1); backward, the first 3.
    h, w = 6, 10
    fw = np.zeros((2, h, w, 2), np.float32)
    fw[..., 0] = 3.0
    occ_fw, occ_bw = losses.forward_backward_occlusion(fw, -fw)
    want_fw = np.zeros((2, h, w, 1), np.float32)
    want_fw[:, :, w - 3:] = 1
    self.assertAllEqual(occ_fw, want_fw)
    self.assertAllEqual(occ_bw, want_fw[:, :, ::-1])
    # (1.5, -2): forward leaves through the top two rows (y - 2 < 0) and
    # the columns with x + 1.5 > w - 1.
    fw = np.zeros((1, h, w, 2), np.float32)
    fw[..., 0], fw[..., 1] = 1.5, -2.0
    occ_fw, occ_bw = losses.forward_backward_occlusion(fw, -fw)
    want = np.zeros((1, h, w, 1), np.float32)
    want[:, :2] = 1
    want[:, :, w - 2:] = 1
    self.assertAllEqual(occ_fw, want)
    self.assertAllEqual(occ_bw, want[:, ::-1, ::-1])

  def test_zero_flow_is_never_occluded(self):
    fw = np.zeros((1, 5, 7, 2), np.float32)
    occ_fw, occ_bw = losses.forward_backward_occlusion(fw, fw)
    self.assertEqual(float(tf.reduce_sum(occ_fw) + tf.reduce_sum(occ_bw)), 0)


class DistillationTest(tf.test.TestCase):

  def test_only_pixels_occluded_for_student_not_teacher(self):
    teacher = np.zeros((1, 1, 3, 2), np.float32)
    student = np.ones((1, 1, 3, 2), np.float32)
    occ_student = np.array([1, 1, 0], np.float32).reshape(1, 1, 3, 1)
    occ_teacher = np.array([0, 1, 0], np.float32).reshape(1, 1, 3, 1)
    got = losses.distillation_loss(teacher, student, occ_student, occ_teacher)
    # One valid pixel, two channels of |d| = 1: 2 * 1.01^.4 / (2 * 1).
    self.assertAllClose(got, 1.01 ** 0.4, rtol=1e-5)
    with tf.GradientTape() as tape:
      s = tf.Variable(student)
      loss = losses.distillation_loss(teacher, s, occ_student, occ_teacher)
    grad = tape.gradient(loss, s).numpy()
    self.assertNotEqual(grad[0, 0, 0, 0], 0.0)
    self.assertEqual(grad[0, 0, 1, 0], 0.0)
    self.assertEqual(grad[0, 0, 2, 0], 0.0)


class SmoothnessTest(tf.test.TestCase):

  def _flow(self):
    # dx of channel 0 along a row: 0, 1, 3 (differences 1, 2); rows equal.
    flow = np.zeros((1, 2, 3, 2), np.float32)
    flow[..., 0] = [0.0, 1.0, 3.0]
    return flow

  def test_hand_values_flat_image(self):
    image = np.full((1, 2, 3, 3), 0.5, np.float32)
    # x: (1 + 2 + 0 + 0) per row, 2 rows, over 1 * 2 * 2 * 2 = 8 entries;
    # y: rows are equal, 0. Loss = (6 / 8 + 0) / 2.
    got = losses.edge_aware_smoothness_loss(image, self._flow(), 10.0)
    self.assertAllClose(got, 0.375, rtol=1e-6)

  def test_image_edge_lowers_the_weight(self):
    image = np.full((1, 2, 3, 3), 0.5, np.float32)
    image[:, :, 2] += 0.1  # an edge between columns 1 and 2
    got = losses.edge_aware_smoothness_loss(image, self._flow(), 10.0)
    want = 0.5 * 2 * (1.0 + 2.0 * np.exp(-10.0 * 0.1)) / 8.0
    self.assertAllClose(got, want, rtol=1e-5)
    # A vertical difference: y-term of channel 1 is 4 at every column.
    flow = np.zeros((1, 2, 3, 2), np.float32)
    flow[:, 1, :, 1] = 4.0
    got = losses.edge_aware_smoothness_loss(image, flow, 10.0)
    self.assertAllClose(got, 0.5 * (3 * 4.0) / (1 * 1 * 3 * 2), rtol=1e-6)

  def test_constant_flow_is_zero_and_gradient_is_finite(self):
    image = np.random.default_rng(0).uniform(size=(2, 5, 6, 3))
    flow = tf.Variable(np.full((2, 5, 6, 2), 1.5, np.float32))
    with tf.GradientTape() as tape:
      loss = losses.edge_aware_smoothness_loss(image.astype(np.float32),
                                               flow)
    self.assertEqual(float(loss), 0.0)
    self.assertTrue(np.all(np.isfinite(tape.gradient(loss, flow).numpy())))


if __name__ == '__main__':
  tf.test.main()
