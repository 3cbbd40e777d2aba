"""Tests for wsvis_tf.maskconsist.matching (paper sec 3.3, Algorithm 1)."""

import itertools
from unittest import mock

import numpy as np
import tensorflow as tf

from tests.maskconsist import scenes
from wsvis_tf.maskconsist import matching

H, W = 24, 32


def _box_mask(y1, x1, y2, x2, h=H, w=W):
  return scenes.box_mask(y1, x1, y2, x2, h, w)


def _instances(masks, classes, scores=None):
  return scenes.instances(masks, classes, scores, H, W)


def _zero_flow():
  return np.zeros((H, W, 2), np.float32)


def _shift_flow(dx, dy):
  flow = np.zeros((H, W, 2), np.float32)
  flow[..., 0], flow[..., 1] = dx, dy
  return flow


class InstancesTest(tf.test.TestCase):

  def test_boxes_from_masks(self):
    inst = _instances([_box_mask(2, 3, 5, 9), np.zeros((H, W), bool)], [1, 2])
    self.assertAllEqual(inst.boxes, [[2, 3, 5, 9], [0, 0, 0, 0]])

  def test_bad_shapes(self):
    with self.assertRaisesRegex(ValueError, 'classes has 1 entries for 2'):
      matching.Instances(np.zeros((2, H, W), bool), [1], np.zeros((2, 4)))
    with self.assertRaisesRegex(ValueError, 'iom_priority'):
      matching.MatchingConfig(iom_priority='largest')
    with self.assertRaisesRegex(ValueError, r'\[N, H, W\]'):
      matching.Instances(np.zeros((H, W), bool), [], np.zeros((0, 4)))


class WarpTest(tf.test.TestCase):

  def test_uniform_translation(self):
    # Frame b shows frame a moved by (+3, +2): flow b -> a is (-3, -2).
    mask = _box_mask(4, 5, 10, 12)
    warped = matching.warp_masks(mask[None], _shift_flow(-3, -2))
    self.assertAllEqual(warped[0], _box_mask(6, 8, 12, 15))

  def test_half_pixel_shift_is_bilinear(self):
    mask = _box_mask(4, 4, 8, 8)
    warped = matching.warp_masks(mask[None], _shift_flow(-0.5, 0))
    # Columns 4 (half in) and 8 (half in) reach 0.5 and are kept.
    self.assertAllEqual(warped[0], _box_mask(4, 4, 8, 9))
    warped = matching.warp_masks(mask[None], _shift_flow(-0.6, 0))
    # Column 4 gets 0.4 (dropped), column 8 gets 0.6 (kept).
    self.assertAllEqual(warped[0], _box_mask(4, 5, 8, 9))

  def test_leaving_the_frame_reads_zero(self):
    mask = _box_mask(0, 28, 6, 32)  # touches the right border
    warped = matching.warp_masks(mask[None], _shift_flow(-10, 0))
    # Sampled 10 px to the left of each pixel of b: only columns >= 38 would
    # see it; nothing is stretched along the border.
    self.assertFalse(warped.any())

  def test_wrong_flow_shape(self):
    with self.assertRaisesRegex(ValueError, r'\[24, 32, 2\].*got \[24, 31, 2\]'):
      matching.warp_masks(np.zeros((1, H, W), bool),
                          np.zeros((H, W - 1, 2), np.float32))


class IntraFrameTest(tf.test.TestCase):

  def test_union_of_fragments_overlapping_a_label(self):
    # A label covering an object; three fragment predictions of its class
    # whose boxes overlap it by IoU > 0.5, one of another class, one far.
    label = _instances([_box_mask(4, 4, 16, 16)], [1])
    frags = [_box_mask(4, 4, 16, 13), _box_mask(5, 6, 16, 16),
             _box_mask(4, 4, 14, 15), _box_mask(4, 4, 16, 16),
             _box_mask(18, 20, 22, 30)]
    preds = _instances(frags, [1, 1, 1, 2, 1], [0.9, 0.8, 0.7, 0.6, 0.5])
    expanded, added = matching.expand_intra_frame(preds, label, 0.5)
    self.assertEqual(added, 1)
    self.assertLen(expanded, 6)
    union = expanded.masks[5]
    self.assertAllEqual(union, frags[0] | frags[1] | frags[2])
    self.assertEqual(expanded.classes[5], 1)
    self.assertAllClose(expanded.scores[5], 0.9)
    self.assertAllEqual(expanded.boxes[5], [4, 4, 16, 16])
    # The original predictions come first, unchanged.
    self.assertAllEqual(expanded.masks[:5], np.stack(frags))

  def test_single_member_adds_nothing(self):
    label = _instances([_box_mask(4, 4, 16, 16)], [1])
    preds = _instances([_box_mask(4, 4, 16, 15)], [1], [0.9])
    expanded, added = matching.expand_intra_frame(preds, label, 0.5)
    self.assertEqual(added, 0)
    self.assertLen(expanded, 1)


class MatchingTest(tf.test.TestCase):

  def test_one_to_one(self):
    # Two predictions of a both overlap prediction 0 of b best; b has a
    # second prediction. Each prediction is used at most once.
    w = np.array([[0.9, 0.8], [0.85, 0.1]])
    pairs = matching.hungarian_matching(w)
    self.assertCountEqual(pairs, [(0, 1), (1, 0)])  # 0.8 + 0.85 > 0.9 + 0.1
    self.assertEqual(len({i for i, _ in pairs}), len(pairs))
    self.assertEqual(len({j for _, j in pairs}), len(pairs))

  def test_zero_weight_is_no_match(self):
    pairs = matching.hungarian_matching(np.array([[0.0, 0.0], [0.0, 0.4]]))
    self.assertEqual(pairs, [(1, 1)])

  def test_zero_weight_across_classes(self):
    mask = _box_mask(4, 4, 12, 12)
    a = _instances([mask, mask], [1, 2], [0.9, 0.9])
    b = _instances([mask], [2], [0.9])
    warped = matching.warp_masks(a.masks, _zero_flow())
    weights = matching.match_weights(a, b, warped)
    self.assertAllClose(weights, [[0.0], [1.0]])

  def test_weights_use_the_warped_mask(self):
    a = _instances([_box_mask(4, 4, 12, 12)], [1], [0.9])
    b = _instances([_box_mask(4, 8, 12, 16)], [1], [0.9])  # moved +4 in x
    unwarped = matching.match_weights(a, b, a.masks)
    warped = matching.match_weights(
        a, b, matching.warp_masks(a.masks, _shift_flow(-4, 0)))
    self.assertAllClose(unwarped, [[1 / 3]])
    self.assertAllClose(warped, [[1.0]])

  def test_equals_brute_force_optimum(self):
    rng = np.random.default_rng(0)
    for trial in range(40):
      n, m = (int(v) for v in rng.integers(1, 6, size=2))
      w = rng.random((n, m)) * (rng.random((n, m)) > 0.3)
      pairs = matching.hungarian_matching(w)
      got = sum(w[i, j] for i, j in pairs)
      # Every injective map from the smaller side to the larger one.
      best = 0.0
      if n <= m:
        for cols in itertools.permutations(range(m), n):
          best = max(best, sum(w[r, c] for r, c in enumerate(cols)))
      else:
        for rows in itertools.permutations(range(n), m):
          best = max(best, sum(w[r, c] for c, r in enumerate(rows)))
      self.assertAlmostEqual(got, best, places=9, msg=f'trial {trial}: {w}')
      self.assertTrue(all(w[i, j] > 0 for i, j in pairs))


class TransferTest(tf.test.TestCase):

  def _pair(self):
    # Frame a: an object of class 1 predicted and labelled by flowIRN.
    # Frame b: the same object moved +4 px in x, predicted but missed by
    # flowIRN. Flow a->b is (+4, 0), b->a (-4, 0).
    pred_a = _instances([_box_mask(4, 4, 12, 12)], [1], [0.9])
    pred_b = _instances([_box_mask(4, 9, 12, 16)], [1], [0.8])
    return pred_a, pred_b

  def test_transfer_needs_a_same_class_label_overlap(self):
    pred_a, pred_b = self._pair()
    warped = matching.warp_masks(pred_a.masks, _shift_flow(-4, 0))
    matches = [(0, 0)]
    # Label of the same class overlapping by box IoU > 0.5: transferred.
    label_ok = _instances([_box_mask(4, 4, 12, 11)], [1])
    got = matching.transfer(matches, pred_a, pred_b, label_ok, warped, 0.5)
    self.assertLen(got, 1)
    # Same box, other class: not transferred.
    label_other = _instances([_box_mask(4, 4, 12, 11)], [2])
    got = matching.transfer(matches, pred_a, pred_b, label_other, warped,
                            0.5)
    self.assertLen(got, 0)
    # Same class, box IoU below 0.5: not transferred.
    label_small = _instances([_box_mask(4, 4, 8, 8)], [1])
    got = matching.transfer(matches, pred_a, pred_b, label_small, warped,
                            0.5)
    self.assertLen(got, 0)
    # No labels at all: nothing.
    got = matching.transfer(matches, pred_a, pred_b, _instances([], []),
                            warped, 0.5)
    self.assertLen(got, 0)

  def test_merge_is_the_union(self):
    pred_a, pred_b = self._pair()
    warped = matching.warp_masks(pred_a.masks, _shift_flow(-4, 0))
    label = _instances([_box_mask(4, 4, 12, 12)], [1])
    got = matching.transfer([(0, 0)], pred_a, pred_b, label, warped, 0.5)
    want = _box_mask(4, 8, 12, 16) | _box_mask(4, 9, 12, 16)
    self.assertAllEqual(got.masks[0], want)
    self.assertAllEqual(got.boxes[0], [4, 8, 12, 16])
    self.assertEqual(got.classes[0], 1)


class IomNmsTest(tf.test.TestCase):

  def test_removes_contained_keeps_disjoint(self):
    big = _box_mask(2, 2, 14, 14)
    inside = _box_mask(4, 4, 8, 8)          # IoM 1 with big
    disjoint = _box_mask(16, 18, 22, 30)    # IoM 0
    half_in = _box_mask(10, 10, 18, 14)     # 4x4 of its 8x4 inside: IoM .5
    inst = _instances([inside, big, disjoint, half_in], [1, 1, 1, 1])
    keep = matching.iom_nms(inst, 0.5)
    self.assertAllEqual(keep, [1, 2, 3])  # 0.5 is not above the threshold

  def test_other_classes_are_kept(self):
    big = _box_mask(2, 2, 14, 14)
    inside = _box_mask(4, 4, 8, 8)
    inst = _instances([big, inside], [1, 2])
    self.assertAllEqual(matching.iom_nms(inst, 0.5), [0, 1])

  def test_protected_masks_are_kept_and_suppress_larger_ones(self):
    big = _box_mask(2, 2, 14, 14)
    inside = _box_mask(4, 4, 8, 8)
    other = _box_mask(16, 18, 22, 30)
    # The first (protected) mask is kept even though it lies inside the
    # second, which it then suppresses; a disjoint one stays.
    inst = _instances([inside, big, other], [1, 1, 1])
    self.assertAllEqual(matching.iom_nms(inst, 0.5, num_protected=1),
                        [0, 2])
    self.assertAllEqual(matching.iom_nms(inst, 0.5), [1, 2])

  def test_labels_win_at_equal_area(self):
    m = _box_mask(2, 2, 10, 10)
    inst = _instances([m, m], [1, 1])
    self.assertAllEqual(matching.iom_nms(inst, 0.5), [0])


class ConsistentLabelsTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    # Object 1 (class 1) moves +4 px in x; flowIRN found it in a only.
    # Object 2 (class 2) is static; flowIRN found it in b only, partially.
    self.obj1_a = _box_mask(4, 4, 12, 12)
    self.obj1_b = _box_mask(4, 8, 12, 16)
    self.obj2 = _box_mask(14, 20, 22, 30)
    # The flows move the band of rows 4-11 around object 1 with it, so
    # that backward warping reads background where the object uncovers it
    # (a flow that is 0 there would carry a ghost of the object onto the
    # uncovered pixels, as any backward warp does).
    self.flow_ab = _zero_flow()
    self.flow_ab[4:12, 4:16, 0] = 4.0
    self.flow_ba = _zero_flow()
    self.flow_ba[4:12, 4:16, 0] = -4.0
    self.pred_a = _instances([self.obj1_a, self.obj2], [1, 2], [0.9, 0.7])
    self.pred_b = _instances([self.obj1_b, self.obj2], [1, 2], [0.8, 0.6])
    self.labels_a = _instances([self.obj1_a], [1])
    self.labels_b = _instances([_box_mask(14, 20, 22, 28)], [2])

  def test_missing_instances_are_transferred_both_ways(self):
    new_a, new_b, stats = matching.consistent_labels(
        self.pred_a, self.pred_b, self.labels_a, self.labels_b,
        self.flow_ab, self.flow_ba)
    self.assertEqual(stats[matching.STAT_MATCHED], 2)
    self.assertEqual(stats[matching.STAT_TRANSFERRED_B], 1)
    self.assertEqual(stats[matching.STAT_TRANSFERRED_A], 1)
    # b gains object 1; its partial object-2 label stays (IoM with nothing
    # of its class in b's new set but itself).
    self.assertCountEqual(new_b.classes.tolist(), [1, 2])
    self.assertAllEqual(new_b.masks[new_b.classes == 1][0], self.obj1_b)
    # a keeps object 1 and gains object 2 (the whole one: the merge of the
    # warped prediction of b with a's own prediction).
    self.assertCountEqual(new_a.classes.tolist(), [1, 2])
    self.assertAllEqual(new_a.masks[new_a.classes == 2][0], self.obj2)

  def test_iom_nms_labels_first_keeps_labels_and_drops_duplicates(self):
    # b's partial label of object 2 is contained in the transferred whole
    # one, which arrives in b only if a has a label of object 2.
    labels_a = _instances([self.obj1_a, self.obj2], [1, 2])
    new_a, new_b, stats = matching.consistent_labels(
        self.pred_a, self.pred_b, labels_a, self.labels_b, self.flow_ab,
        self.flow_ba)
    # Labels first (the default): b keeps its label of object 2 and the
    # transferred duplicate goes; object 1, missing from b's labels, is
    # added. In a, the copy of object 2 transferred back goes too.
    self.assertEqual(stats[matching.STAT_SUPPRESSED], 2)
    self.assertLen(new_b, 2)
    self.assertAllEqual(new_b.masks[new_b.classes == 2][0],
                        self.labels_b.masks[0])
    self.assertAllEqual(new_b.masks[new_b.classes == 1][0], self.obj1_b)
    self.assertLen(new_a, 2)
    self.assertAllEqual(new_a.masks, labels_a.masks)

  def test_iom_nms_larger_first_replaces_the_partial_label(self):
    labels_a = _instances([self.obj1_a, self.obj2], [1, 2])
    new_a, new_b, stats = matching.consistent_labels(
        self.pred_a, self.pred_b, labels_a, self.labels_b, self.flow_ab,
        self.flow_ba, matching.MatchingConfig(iom_priority='larger_first'))
    # Two drops: in b the partial label (inside the transferred whole
    # object 2); in a the copy equal to a's own label (labels win at equal
    # area).
    self.assertEqual(stats[matching.STAT_SUPPRESSED], 2)
    self.assertLen(new_b, 2)
    self.assertAllEqual(new_b.masks[new_b.classes == 2][0], self.obj2)
    self.assertAllEqual(new_a.masks, labels_a.masks)

  def test_without_iom_nms_everything_stays(self):
    labels_a = _instances([self.obj1_a, self.obj2], [1, 2])
    _, new_b, stats = matching.consistent_labels(
        self.pred_a, self.pred_b, labels_a, self.labels_b, self.flow_ab,
        self.flow_ba, matching.MatchingConfig(iom_nms=False))
    self.assertEqual(stats[matching.STAT_SUPPRESSED], 0)
    self.assertLen(new_b, 3)
    self.assertAllEqual(new_b.masks[:1], self.labels_b.masks)

  def test_low_scores_are_not_candidates(self):
    pred_b = _instances([self.obj1_b, self.obj2], [1, 2], [0.01, 0.6])
    _, new_b, stats = matching.consistent_labels(
        self.pred_a, pred_b, self.labels_a, self.labels_b, self.flow_ab,
        self.flow_ba)
    self.assertEqual(stats[matching.STAT_CANDIDATES_B], 1)
    self.assertNotIn(1, new_b.classes.tolist())

  def test_without_inter_frame_matching_transfers_unmatched(self):
    # No prediction of object 1 in b: Inter-F has nothing to match, while
    # the ablation transfers the warped prediction of a anyway.
    pred_b = _instances([self.obj2], [2], [0.6])
    _, new_b, _ = matching.consistent_labels(
        self.pred_a, pred_b, self.labels_a, self.labels_b, self.flow_ab,
        self.flow_ba)
    self.assertNotIn(1, new_b.classes.tolist())
    _, new_b, _ = matching.consistent_labels(
        self.pred_a, pred_b, self.labels_a, self.labels_b, self.flow_ab,
        self.flow_ba, matching.MatchingConfig(inter_frame=False))
    self.assertAllEqual(new_b.masks[new_b.classes == 1][0], self.obj1_b)

  def test_probability_masks_are_binarised(self):
    soft = np.stack([self.obj1_a * 0.7, self.obj2 * 0.4]).astype(np.float32)
    pred_a = matching.Instances(soft, [1, 2], self.pred_a.boxes, [0.9, 0.7])
    cand = matching.select_predictions(pred_a, matching.MatchingConfig())
    self.assertLen(cand, 1)  # object 2's mask is empty at 0.5
    self.assertAllEqual(cand.masks[0], self.obj1_a)

  def test_no_predictions_and_no_labels(self):
    empty = matching.Instances.empty(H, W, with_scores=True)
    new_a, new_b, stats = matching.consistent_labels(
        empty, empty, _instances([], []), _instances([], []), self.flow_ab,
        self.flow_ba)
    self.assertLen(new_a, 0)
    self.assertLen(new_b, 0)
    self.assertEqual(sum(stats.values()), 0)

  def test_frames_of_different_sizes(self):
    other = matching.Instances.empty(H, W + 2, with_scores=True)
    with self.assertRaisesRegex(ValueError, 'pred_b masks are 24x34'):
      matching.consistent_labels(self.pred_a, other, self.labels_a,
                                 self.labels_b, self.flow_ab, self.flow_ba)

  def test_flow_of_the_wrong_shape(self):
    with self.assertRaisesRegex(ValueError, 'flow_ba must be'):
      matching.consistent_labels(self.pred_a, self.pred_b, self.labels_a,
                                 self.labels_b, self.flow_ab,
                                 np.zeros((H, W, 3), np.float32))


def _random_scene(rng):
  """Predictions and labels of a frame pair whose objects move by a
  per-object shift (the flows say so), partly missed by the labels."""
  objects = []
  for _ in range(rng.integers(2, 6)):
    h, w = rng.integers(4, 10, size=2)
    y, x = rng.integers(0, H - h), rng.integers(0, W - w)
    dy, dx = rng.integers(-2, 3, size=2)
    objects.append((y, x, h, w, dy, dx, int(rng.integers(1, 4))))
  flow_ab, flow_ba = _zero_flow(), _zero_flow()
  frames = {'a': [], 'b': []}
  for y, x, h, w, dy, dx, _ in objects:
    flow_ab[y:y + h, x:x + w] = dx, dy
    yb, xb = np.clip(y + dy, 0, H - h), np.clip(x + dx, 0, W - w)
    flow_ba[yb:yb + h, xb:xb + w] = x - xb, y - yb
    frames['a'].append(_box_mask(y, x, y + h, x + w))
    frames['b'].append(_box_mask(yb, xb, yb + h, xb + w))
  classes = [o[-1] for o in objects]

  def predictions(masks):
    # Each object predicted about twice, jittered, a few with other classes.
    out, cls = [], []
    for m, c in zip(masks, classes):
      for _ in range(rng.integers(1, 3)):
        out.append(np.roll(m, rng.integers(-1, 2, size=2), axis=(0, 1)))
        cls.append(c if rng.random() > 0.2 else int(rng.integers(1, 4)))
    return _instances(out, cls, rng.uniform(0.1, 1.0, len(out)).tolist())

  def labels(masks):
    keep = [k for k in range(len(masks)) if rng.random() > 0.4]
    return _instances([masks[k] for k in keep], [classes[k] for k in keep])

  return (predictions(frames['a']), predictions(frames['b']),
          labels(frames['a']), labels(frames['b']), flow_ab, flow_ba)


class WarpOnlyWhatIsReadTest(tf.test.TestCase):
  """consistent_labels warps only the candidates its result reads: the
  same labels and counts as warping every candidate."""

  def test_equals_warping_every_candidate(self):
    rng = np.random.default_rng(0)
    configs = [matching.MatchingConfig(),
               matching.MatchingConfig(inter_frame=False),
               matching.MatchingConfig(intra_frame=False),
               matching.MatchingConfig(iom_nms=False)]
    warp_all = lambda masks, flow, rows: matching.warp_masks(masks, flow)
    transferred = 0
    for case in range(40):
      scene = _random_scene(rng)
      for config in configs:
        got = matching.consistent_labels(*scene, config)
        with mock.patch.object(matching, '_warp_rows', warp_all):
          want = matching.consistent_labels(*scene, config)
        for g, w in zip(got[:2], want[:2]):
          self.assertAllEqual(g.masks, w.masks, msg=f'case {case}')
          self.assertAllEqual(g.classes, w.classes, msg=f'case {case}')
        self.assertEqual(got[2], want[2], msg=f'case {case}')
        transferred += (got[2][matching.STAT_TRANSFERRED_A] +
                        got[2][matching.STAT_TRANSFERRED_B])
    # The scenes exercise the transfers (else any warp would pass).
    self.assertGreater(transferred, 100)


if __name__ == '__main__':
  tf.test.main()
