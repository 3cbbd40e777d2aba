"""Tests for wsvis_tf.tracking.tracklets: frame-to-frame linking."""

import itertools

from absl.testing import absltest
import numpy as np

from wsvis_tf.tracking import tracklets

H, W = 16, 40


def box(y0, x0, y1, x1):
  mask = np.zeros((H, W), bool)
  mask[y0:y1, x0:x1] = True
  return mask


def stack(*masks):
  return np.stack(masks) if masks else np.zeros((0, H, W), bool)


def no_motion(t, masks):
  del t
  return masks


class HungarianMatchTest(absltest.TestCase):

  def test_optimal_not_greedy(self):
    # Greedy takes (0, 0) = 0.9 then (1, 1) = 0.1 (sum 1.0); the optimum is
    # (0, 1) + (1, 0) = 1.65.
    iou = np.array([[0.9, 0.8], [0.85, 0.1]])
    self.assertEqual(tracklets.hungarian_match(iou, 0.05), [(0, 1), (1, 0)])

  def test_matches_brute_force(self):
    rng = np.random.default_rng(0)
    for m, n in ((3, 3), (2, 4), (4, 2)):
      iou = rng.random((m, n))
      # Enumerate every one-to-one assignment of min(m, n) pairs.
      k = min(m, n)
      scores = []
      for rows in itertools.permutations(range(m), k):
        for cols in itertools.permutations(range(n), k):
          scores.append(sum(iou[r, c] for r, c in zip(rows, cols)))
      got = tracklets.hungarian_match(iou, 0.0)
      self.assertLen(got, k)
      self.assertAlmostEqual(sum(iou[r, c] for r, c in got), max(scores))

  def test_rejects_iou_at_or_below_threshold(self):
    iou = np.array([[0.05, 0.0], [0.0, 0.0501]])
    self.assertEqual(tracklets.hungarian_match(iou, 0.05), [(1, 1)])
    self.assertEqual(tracklets.hungarian_match(np.zeros((0, 3)), 0.05), [])


class BuildTrackletsTest(absltest.TestCase):

  def test_moving_square_is_one_tracklet(self):
    masks = [stack(box(4, 2 * t, 10, 2 * t + 6)) for t in range(6)]
    got = tracklets.build_tracklets(masks, no_motion, 0.05)
    self.assertLen(got, 1)
    self.assertEqual((got[0].start, got[0].end, got[0].proposals),
                     (0, 5, [0] * 6))

  def test_flow_decides_the_pairing(self):
    # Frame 1's proposals are listed in the other order: proposal 0 is at
    # b, 1 at a. Assuming no motion pairs them by position; a "flow" saying
    # the squares swapped places (a moved to b) pairs 0 with 0.
    a, b = box(2, 2, 8, 8), box(2, 8, 8, 14)
    masks = [stack(a, b), stack(b, a)]
    still = tracklets.build_tracklets(masks, no_motion, 0.05)
    self.assertEqual([t.proposals for t in still], [[0, 1], [1, 0]])
    swapped = tracklets.build_tracklets(
        masks, lambda t, m: m[::-1], 0.05)
    self.assertEqual([t.proposals for t in swapped], [[0, 0], [1, 1]])

  def test_gap_and_unmatched_proposals_start_tracklets(self):
    a = box(2, 2, 8, 8)
    far = box(2, 30, 8, 36)
    # Frame 2 is empty; at frame 4 a new object appears, on the last frame
    # another (UnOVOST's code would drop that last one).
    masks = [stack(a), stack(a), stack(), stack(a), stack(a, far),
             stack(box(10, 14, 14, 18), a)]
    got = tracklets.build_tracklets(masks, no_motion, 0.05)
    self.assertEqual([(t.start, t.proposals) for t in got],
                     [(0, [0, 0]), (3, [0, 0, 1]), (4, [1]), (5, [0])])
    self.assertEqual(got[1].end, 5)
    self.assertEqual(list(got[1].frames()), [3, 4, 5])

  def test_weak_overlap_is_not_a_match(self):
    # a: 10 x 10. b: 10 x 11 from column 9: I = 10, U = 200, IoU = 0.05
    # exactly -> rejected, two tracklets. c: 10 x 10 from column 9: I = 10,
    # U = 190, IoU 0.0526 -> one tracklet.
    a, b, c = box(0, 0, 10, 10), box(0, 9, 10, 20), box(0, 9, 10, 19)
    self.assertLen(tracklets.build_tracklets([stack(a), stack(b)], no_motion,
                                             0.05), 2)
    self.assertLen(tracklets.build_tracklets([stack(a), stack(c)], no_motion,
                                             0.05), 1)


class TrackletInfosTest(absltest.TestCase):

  def test_means(self):
    trs = [tracklets.Tracklet(start=0, proposals=[1, 0]),
           tracklets.Tracklet(start=1, proposals=[1])]
    emb = [np.array([[0.0, 0.0], [2.0, 4.0]]), np.array([[4.0, 0.0],
                                                         [1.0, 1.0]])]
    scores = [np.array([0.1, 0.5]), np.array([0.7, 0.2])]
    areas = [np.array([10, 20]), np.array([30, 40])]
    got = tracklets.tracklet_infos(trs, emb, scores, areas)
    self.assertEqual((got[0].start, got[0].end), (0, 1))
    np.testing.assert_allclose(got[0].embedding, [3.0, 2.0])
    self.assertAlmostEqual(got[0].score, 0.6)
    self.assertAlmostEqual(got[0].area, 25.0)
    np.testing.assert_allclose(got[1].embedding, [1.0, 1.0])
    self.assertAlmostEqual(got[1].score, 0.2)


if __name__ == '__main__':
  absltest.main()
