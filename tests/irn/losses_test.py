"""Tests for wsvis_tf.irn.losses on hand-made tensors."""

from absl.testing import absltest
import numpy as np
import tensorflow as tf

from wsvis_tf.irn import losses
from wsvis_tf.irn import path_index


def _step_edge(step):
  """A 4 x 12 flow whose x component steps from 0 to step at column 6.

  Returns the flow, a radius-4 PathIndex (f = 3: sources in columns 3..8),
  {offset: pair index} and the source column -> output column map.
  """
  flow = np.zeros((1, 4, 12, 2), np.float32)
  flow[..., 6:, 0] = step
  index = path_index.PathIndex(4)
  pair = {tuple(o): i for i, o in enumerate(index.offsets)}
  return flow, index, pair, lambda x: x - index.radius_floor


def _affinity_gradient(aff, feature, index, *args, **kwargs):
  """d flow_boundary_loss / d affinity, as numpy."""
  with tf.GradientTape() as tape:
    tape.watch(aff)
    loss = losses.flow_boundary_loss(aff, feature, index, *args, **kwargs)
  return tape.gradient(loss, aff).numpy()


class AffinityTest(absltest.TestCase):

  def test_affinity_from_hand_made_boundary(self):
    # A vertical boundary of 0.9 in column 5 of a 6 x 12 map, 0.1 at (0, 2).
    boundary = np.zeros((1, 6, 12), np.float32)
    boundary[0, :, 5] = 0.9
    boundary[0, 0, 2] = 0.1
    index = path_index.PathIndex(3)  # f = 2: sources rows 0..3, cols 2..9
    aff = losses.path_affinity(tf.constant(boundary), index).numpy()
    p = {tuple(o): i for i, o in enumerate(index.offsets)}
    f = index.radius_floor
    # Source (1, 3) -> (1, 5): the path ends on the boundary.
    self.assertAlmostEqual(aff[0, p[(0, 2)], 1, 3 - f], 0.1, places=6)
    # Source (1, 4) -> (1, 6) crosses it.
    self.assertAlmostEqual(aff[0, p[(0, 2)], 1, 4 - f], 0.1, places=6)
    # Source (2, 6) -> (2, 8) is on one side: affinity 1.
    self.assertAlmostEqual(aff[0, p[(0, 2)], 2, 6 - f], 1.0, places=6)
    # Source (0, 2) has boundary 0.1 itself: every pair from it <= 0.9.
    self.assertAlmostEqual(aff[0, p[(1, 0)], 0, 0], 0.9, places=6)
    self.assertTrue(np.all(aff >= 0.0) and np.all(aff <= 1.0))

  def test_same_mode_pairs_leaving_the_image_have_zero_affinity(self):
    index = path_index.PathIndex(3)
    aff = losses.path_affinity(tf.zeros([1, 4, 5]), index, 'same').numpy()
    p = {tuple(o): i for i, o in enumerate(index.offsets)}
    self.assertEqual(aff[0, p[(0, 1)], 0, 4], 0.0)   # right edge
    self.assertEqual(aff[0, p[(1, -1)], 2, 0], 0.0)  # left edge
    self.assertEqual(aff[0, p[(1, 0)], 3, 2], 0.0)   # bottom edge
    self.assertEqual(aff[0, p[(0, 1)], 0, 0], 1.0)


class PairLabelTest(absltest.TestCase):

  def test_labels_by_hand(self):
    # Radius 2: offsets (0,1), (1,-1), (1,0), (1,1); f = 1.
    labels = np.array([[[0, 0, 1, 1],
                        [0, 255, 1, 2]]], np.int32)
    index = path_index.PathIndex(2)
    got = losses.pair_labels(tf.constant(labels), 2, index)
    p = {tuple(o): i for i, o in enumerate(index.offsets)}
    # Sources: (0, 1) and (0, 2).
    bg, fg, neg = (got[k].numpy()[0] for k in (losses.BG_POS, losses.FG_POS,
                                                losses.NEG))
    self.assertEqual(bg[p[(0, 1)], 0, 0], 0)   # 0 -> 1: negative
    self.assertEqual(neg[p[(0, 1)], 0, 0], 1)
    self.assertEqual(bg[p[(1, -1)], 0, 0], 1)  # 0 -> 0
    self.assertEqual(neg[p[(1, 0)], 0, 0] + bg[p[(1, 0)], 0, 0]
                     + fg[p[(1, 0)], 0, 0], 0)  # 0 -> 255: ignored
    self.assertEqual(fg[p[(0, 1)], 0, 1], 1)   # 1 -> 1
    self.assertEqual(fg[p[(1, 0)], 0, 1], 1)   # 1 -> 1
    self.assertEqual(neg[p[(1, 1)], 0, 1], 1)  # 1 -> 2
    # A label above num_classes (3 > 2) is invalid like 255.
    got = losses.pair_labels(tf.constant(labels + (labels == 2)), 2, index)
    self.assertEqual(got[losses.NEG].numpy()[0, p[(1, 1)], 0, 1], 0)


class BoundaryLossTest(absltest.TestCase):

  def test_perfect_affinities_give_zero_loss(self):
    labels = {losses.BG_POS: tf.constant([[1., 0., 0.]]),
              losses.FG_POS: tf.constant([[0., 1., 0.]]),
              losses.NEG: tf.constant([[0., 0., 1.]])}
    got = losses.boundary_loss(tf.constant([[1., 1., 0.]]), labels)
    self.assertAlmostEqual(float(got[losses.LOSS_POS]), 0.0, places=4)
    self.assertAlmostEqual(float(got[losses.LOSS_NEG]), 0.0, places=4)
    got = losses.boundary_loss(tf.constant([[0.5, 0.25, 0.5]]), labels)
    want_pos = (-np.log(0.5 + 1e-5) - np.log(0.25 + 1e-5)) / 2
    self.assertAlmostEqual(float(got[losses.LOSS_POS]), want_pos, places=4)
    self.assertAlmostEqual(float(got[losses.LOSS_NEG]), -np.log(0.5 + 1e-5),
                           places=4)

  def test_no_pairs_of_a_kind_is_zero_not_nan(self):
    zeros = tf.zeros([1, 3])
    labels = {losses.BG_POS: zeros, losses.FG_POS: zeros, losses.NEG: zeros}
    got = losses.boundary_loss(tf.constant([[0., 0.5, 1.]]), labels)
    for v in got.values():
      self.assertEqual(float(v), 0.0)


class DisplacementLossTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    # One instance of class 1 (rows 2..7, cols 3..9) on a 10 x 14 map.
    self.labels = np.zeros((1, 10, 14), np.int32)
    self.labels[0, 2:8, 3:10] = 1
    self.index = path_index.PathIndex(3)
    ys, xs = np.mgrid[:10, :14].astype(np.float32)
    centroid = (4.5, 6.0)
    self.dp = np.zeros((1, 10, 14, 2), np.float32)
    inside = self.labels[0] == 1
    self.dp[0, ..., 0] = np.where(inside, centroid[0] - ys, 0.0)
    self.dp[0, ..., 1] = np.where(inside, centroid[1] - xs, 0.0)

  def loss(self, dp):
    labels = losses.pair_labels(tf.constant(self.labels), 1, self.index)
    return {k: float(v) for k, v in losses.displacement_loss(
        tf.constant(dp), labels, self.index).items()}

  def test_zero_when_every_pixel_points_at_one_centroid(self):
    got = self.loss(self.dp)
    self.assertAlmostEqual(got[losses.LOSS_DP_FG], 0.0, places=5)
    self.assertAlmostEqual(got[losses.LOSS_DP_BG], 0.0, places=5)

  def test_positive_otherwise(self):
    dp = self.dp.copy()
    dp[0, 4, 5] += [1.0, -2.0]    # one fg pixel points elsewhere
    self.assertGreater(self.loss(dp)[losses.LOSS_DP_FG], 0.0)
    dp = self.dp.copy()
    dp[0, 1, 5] = [0.5, 0.5]      # background moving
    self.assertGreater(self.loss(dp)[losses.LOSS_DP_BG], 0.0)
    # A constant shift of every fg vector keeps x + D equal: still zero.
    dp = self.dp.copy()
    dp[0][self.labels[0] == 1] += [2.0, 1.0]
    self.assertAlmostEqual(self.loss(dp)[losses.LOSS_DP_FG], 0.0, places=5)


class FlowBoundaryLossTest(absltest.TestCase):

  def test_flow_gradient_is_numpy_gradient(self):
    flow = np.random.default_rng(1).normal(size=(2, 5, 7, 2)).astype(
        np.float32)
    got = losses.flow_gradient(tf.constant(flow)).numpy()
    want = np.concatenate([np.gradient(flow, axis=2),
                           np.gradient(flow, axis=1)], axis=-1)
    np.testing.assert_allclose(got, want, atol=1e-6)

  def test_exact_value_on_hand_made_flow(self):
    # 2 x 4 map, Fx = [0, 0, 4, 4] in both rows, Fy = 0. numpy.gradient
    # along x: [0, 2, 2, 0]; along y: 0. So F' = (g, 0, 0, 0).
    # Radius 2 (offsets (0,1), (1,-1), (1,0), (1,1)), f = 1: sources (0, 1)
    # with g = 2 and (0, 2) with g = 2.
    #   from (0,1): to (0,2) g=2, (1,0) g=0, (1,1) g=2, (1,2) g=2 -> 0,2,0,0
    #   from (0,2): to (0,3) g=0, (1,1) g=2, (1,2) g=2, (1,3) g=0 -> 2,0,0,2
    # With a = 0.5 everywhere and lambda = 2:
    #   mean(0.5 |dF'| + 2 * 0.5) = 0.5 * 6 / 8 + 1 = 1.375.
    flow = np.zeros((1, 2, 4, 2), np.float32)
    flow[..., 2:, 0] = 4.0
    index = path_index.PathIndex(2)
    grad = losses.flow_gradient(tf.constant(flow))
    aff = tf.fill([1, 4, 1, 2], 0.5)
    got = losses.flow_boundary_loss(aff, grad, index, flow_weight=2.0)
    self.assertAlmostEqual(float(got), 1.375, places=6)
    # a = 1: only the flow term, 6 / 8.
    got = losses.flow_boundary_loss(tf.ones([1, 4, 1, 2]), grad, index)
    self.assertAlmostEqual(float(got), 0.75, places=6)
    # d loss / d a_ij = (|dF'_ij| - lambda) / 8: with lambda = 1 the pairs
    # whose gradients differ by 2 are pushed apart, the others together.
    d = _affinity_gradient(aff, grad, index, flow_weight=1.0)[0, :, 0]
    want = (np.array([[0, 2], [2, 0], [0, 0], [0, 2]]) - 1.0) / 8
    np.testing.assert_allclose(d, want, atol=1e-6)

  def test_path_difference_sees_an_edge_between_the_ends(self):
    # Fx steps from 0 to 4 between columns 5 and 6 of a 4 x 12 map, so
    # numpy.gradient gives dFx/dx = 2 in columns 5 and 6, 0 elsewhere.
    flow, index, p, col = _step_edge(4.0)
    grad = losses.flow_gradient(tf.constant(flow))
    ends = losses.pair_flow_difference(grad, index, losses.ENDPOINTS).numpy()
    path = losses.pair_flow_difference(grad, index, losses.PATH).numpy()
    # (0, 4) -> (0, 7) straddles the edge with both ends off it: eq 3 as
    # written sees no difference, the path form the whole step of F'.
    self.assertAlmostEqual(ends[0, p[(0, 3)], 0, col(4)], 0.0, places=6)
    self.assertAlmostEqual(path[0, p[(0, 3)], 0, col(4)], 2.0, places=6)
    # (0, 5) -> (0, 7): one end on the edge, both forms see it.
    self.assertAlmostEqual(ends[0, p[(0, 2)], 0, col(5)], 2.0, places=6)
    self.assertAlmostEqual(path[0, p[(0, 2)], 0, col(5)], 2.0, places=6)
    # (0, 7) -> (0, 8): on one side, nothing either way.
    self.assertAlmostEqual(path[0, p[(0, 1)], 0, col(7)], 0.0, places=6)
    self.assertTrue(np.all(path >= ends - 1e-6))
    # With a = 0.5 and lambda = 1 the straddling pair is pushed apart
    # (d loss / d a > 0) by the path form only.
    aff = tf.fill(path.shape, 0.5)
    for how, sign in ((losses.ENDPOINTS, -1.0), (losses.PATH, 1.0)):
      d = _affinity_gradient(aff, grad, index, 1.0,
                             pair_difference=how)[0, p[(0, 3)], 0, col(4)]
      self.assertEqual(np.sign(d), sign, how)

  def test_flow_feature_at_the_ends_sees_the_edge_between_them(self):
    # The same step, compared as flow (not F'): every pair across the
    # edge differs by the step, 4 px, with or without an end on it; pairs
    # on one side do not differ at all.
    flow, index, p, col = _step_edge(4.0)
    d = losses.pair_flow_difference(tf.constant(flow), index,
                                    losses.ENDPOINTS).numpy()
    self.assertAlmostEqual(d[0, p[(0, 3)], 0, col(4)], 4.0, places=6)
    self.assertAlmostEqual(d[0, p[(0, 1)], 0, col(5)], 4.0, places=6)
    self.assertAlmostEqual(d[0, p[(0, 2)], 0, col(3)], 0.0, places=6)
    self.assertAlmostEqual(d[0, p[(1, 1)], 0, col(7)], 0.0, places=6)
    # In the loss: 2-channel features are accepted, and with lambda 2 the
    # 4 px pairs are pushed apart, the others together.
    aff = tf.fill(d.shape, 0.5)
    grad = _affinity_gradient(aff, tf.constant(flow), index, 2.0)
    np.testing.assert_array_equal(np.sign(grad), np.where(d > 2, 1.0, -1.0))

  def test_push_only_leaves_pairs_without_a_motion_difference(self):
    # The 4 px step, lambda 2: eq 3 pulls the pairs on one side together
    # (gradient -lambda / n); push-only leaves them (0) and pushes the
    # pairs across the step apart as eq 3 does (d - lambda = 2).
    flow, index, p, col = _step_edge(4.0)
    aff = tf.fill((1, len(index.offsets)) + index.output_size(4, 12), 0.5)
    n = float(np.prod(aff.shape))
    eq3 = _affinity_gradient(aff, tf.constant(flow), index, 2.0)[0] * n
    push = _affinity_gradient(aff, tf.constant(flow), index, 2.0,
                              pull=False)[0] * n
    self.assertAlmostEqual(eq3[p[(0, 1)], 0, col(7)], -2.0, places=4)
    self.assertAlmostEqual(push[p[(0, 1)], 0, col(7)], 0.0, places=6)
    self.assertAlmostEqual(eq3[p[(0, 3)], 0, col(4)], 2.0, places=4)
    self.assertAlmostEqual(push[p[(0, 3)], 0, col(4)], 2.0, places=4)
    # Value: mean over pairs of max(d - lambda, 0) a.
    d = losses.pair_flow_difference(tf.constant(flow), index,
                                    losses.ENDPOINTS).numpy()
    got = losses.flow_boundary_loss(aff, tf.constant(flow), index, 2.0,
                                    pull=False)
    self.assertAlmostEqual(float(got),
                           float(np.mean(np.maximum(d - 2.0, 0) * 0.5)),
                           places=5)

  def test_max_difference_bounds_the_push(self):
    # A 10 px step: uncapped, a pair across it is pushed apart with
    # d - lambda = 8 per pair, four times as hard as a pair on one side is
    # pulled together (lambda = 2); capped at 2 lambda, with 4 - 2 = 2.
    flow, index, p, col = _step_edge(10.0)
    aff = tf.fill((1, len(index.offsets)) + index.output_size(4, 12), 0.5)
    n = float(np.prod(aff.shape))
    for cap, push in ((None, 8.0), (4.0, 2.0), (20.0, 8.0)):
      g = _affinity_gradient(aff, tf.constant(flow), index, 2.0,
                             max_difference=cap)[0] * n
      self.assertAlmostEqual(g[p[(0, 3)], 0, col(4)], push, places=4, msg=cap)
      self.assertAlmostEqual(g[p[(0, 1)], 0, col(7)], -2.0, places=4)
    # Loss value with a = 0.5: capped d enters as 4, not 10.
    capped = losses.flow_boundary_loss(aff, tf.constant(flow), index, 2.0,
                                       max_difference=4.0)
    d = np.minimum(losses.pair_flow_difference(
        tf.constant(flow), index, losses.ENDPOINTS).numpy(), 4.0)
    self.assertAlmostEqual(float(capped), float(np.mean(0.5 * d + 1.0)),
                           places=5)
    with self.assertRaisesRegex(ValueError, 'max_difference must be'):
      losses.flow_boundary_loss(aff, tf.constant(flow), index, 2.0,
                                max_difference=0.0)

  def test_path_difference_matches_a_loop(self):
    grad = np.random.default_rng(2).normal(size=(1, 6, 9, 4)).astype(
        np.float32)
    index = path_index.PathIndex(3)
    got = losses.pair_flow_difference(tf.constant(grad), index,
                                      losses.PATH).numpy()
    f = index.radius_floor
    out_h, out_w = index.output_size(6, 9)
    for p, path in enumerate(index.paths):
      for y in range(out_h):
        for x in range(out_w):
          values = np.stack([grad[0, y + py, x + f + px] for py, px in path])
          want = np.linalg.norm(values.max(0) - values.min(0))
          self.assertAlmostEqual(got[0, p, y, x], want, places=5)
    with self.assertRaisesRegex(ValueError, 'pair difference must be'):
      losses.pair_flow_difference(tf.constant(grad), index, 'middle')

  def test_valid_mask_and_bad_shapes(self):
    index = path_index.PathIndex(2)
    grad = tf.zeros([1, 2, 4, 4])
    aff = tf.fill([1, 4, 1, 2], 0.5)
    valid = np.ones((1, 2, 4), bool)
    valid[0, :, 3] = False     # the second source loses 2 of its 4 pairs
    got = losses.flow_boundary_loss(aff, grad, index, 2.0, tf.constant(valid))
    self.assertAlmostEqual(float(got), 1.0, places=6)
    with self.assertRaisesRegex(ValueError, 'feature must be'):
      losses.flow_boundary_loss(aff, tf.zeros([1, 2, 4, 3]), index)
    with self.assertRaisesRegex(ValueError, 'do not match the affinity'):
      losses.flow_boundary_loss(aff, tf.zeros([1, 3, 6, 4]), index)

  def test_total_and_guard(self):
    parts = {losses.LOSS_POS: 1.0, losses.LOSS_NEG: 3.0,
             losses.LOSS_DP_FG: 2.0, losses.LOSS_DP_BG: 0.0}
    self.assertAlmostEqual(float(losses.irn_total_loss(parts)), 3.0)
    parts[losses.LOSS_FLOW_BOUNDARY] = 0.5
    self.assertAlmostEqual(float(losses.irn_total_loss(parts)), 3.5)
    self.assertEqual(float(losses.guard_finite(np.nan)), 0.0)
    self.assertEqual(float(losses.guard_finite(np.inf)), 0.0)


if __name__ == '__main__':
  absltest.main()
