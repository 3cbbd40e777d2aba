"""Tests of wsvis_tf/maskconsist/diagnostics.py on hand-made scenes."""

import numpy as np
from absl.testing import absltest

from tests.maskconsist import scenes
from wsvis_tf.maskconsist import diagnostics
from wsvis_tf.maskconsist import matching

H, W = 20, 30


def box(y1, x1, y2, x2):
  return scenes.box_mask(y1, x1, y2, x2, H, W)


def inst(masks, classes, scores=None):
  return scenes.instances(masks, classes, scores, H, W)


class ClassifyAddedTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    self.gt1, self.gt2 = box(0, 0, 10, 10), box(10, 15, 20, 25)
    self.truth = inst([self.gt1, self.gt2], [1, 2])
    self.before = inst([self.gt1], [1])  # covers gt1 only

  def test_sorts_each_added_label(self):
    near_gt1 = box(0, 0, 10, 8)          # IoU 0.8 with gt1 (covered)
    off = box(0, 20, 4, 25)              # touches nothing
    half_gt2 = box(10, 15, 20, 19)       # IoU 0.4 with gt2
    wrong_class = self.gt2               # gt2's mask, class 1
    after = inst([self.gt1, self.gt2, near_gt1, off, half_gt2, wrong_class],
                 [1, 2, 1, 2, 2, 1])
    got = diagnostics.classify_added(self.before, after, self.truth)
    self.assertEqual(got[diagnostics.ADDED], 5)
    self.assertEqual(got[diagnostics.NEW_INSTANCE], 1)   # gt2 itself
    self.assertEqual(got[diagnostics.DUPLICATE], 1)      # near_gt1
    self.assertEqual(got[diagnostics.FALSE_POSITIVE], 3)
    # Best same-class IoUs of the false positives: 0, 0.4, 0.
    self.assertAlmostEqual(got[diagnostics.FALSE_POSITIVE_IOU], 0.4)

  def test_a_new_instance_counts_once_covered_by_before(self):
    # gt2 was labelled before (at IoU 0.6): the same mask added again is a
    # duplicate, not a new instance.
    before = inst([self.gt1, box(10, 15, 20, 21)], [1, 2])
    after = inst([self.gt1, box(10, 15, 20, 21), self.gt2], [1, 2, 2])
    got = diagnostics.classify_added(before, after, self.truth)
    self.assertEqual(got[diagnostics.ADDED], 1)
    self.assertEqual(got[diagnostics.DUPLICATE], 1)
    self.assertEqual(got[diagnostics.NEW_INSTANCE], 0)

  def test_nothing_added_and_no_truth(self):
    got = diagnostics.classify_added(self.before, self.before, self.truth)
    self.assertEqual(got[diagnostics.ADDED], 0)
    after = inst([self.gt1, self.gt2], [1, 2])
    got = diagnostics.classify_added(self.before, after,
                                     inst([], []))
    self.assertEqual(got[diagnostics.FALSE_POSITIVE], 1)
    self.assertEqual(got[diagnostics.FALSE_POSITIVE_IOU], 0.0)

  def test_label_quality(self):
    labels = inst([self.gt1, box(10, 15, 20, 19), box(0, 0, 10, 10)],
                  [1, 2, 2])
    got = diagnostics.label_quality(labels, self.truth)
    # gt1 right; the gt2 part at IoU 0.4 wrong; gt1's mask as class 2 wrong.
    self.assertEqual(dict(got), {'labels': 3, 'correct': 1, 'truth': 2,
                                 'covered': 1})


class DiagnosePairTest(absltest.TestCase):

  def test_a_transfer_recovers_the_missed_instance(self):
    # Object X (class 3) in both frames, static; labelled in a, missed in b.
    # The model predicts it in both: Algorithm 1 sends a's prediction (over
    # a's label) to b, where it is the true instance nobody labelled.
    x = box(4, 4, 14, 16)
    zero = np.zeros([H, W, 2], np.float32)
    pred = inst([x], [3], [0.9])
    got = diagnostics.diagnose_pair(
        pred, pred, inst([x], [3]), inst([], []), inst([x], [3]),
        inst([x], [3]), zero, zero, matching.MatchingConfig())
    self.assertEqual(got['labels_before'], 1)
    self.assertEqual(got['labels_after'], 2)
    self.assertEqual(got[diagnostics.ADDED], 1)
    self.assertEqual(got[diagnostics.NEW_INSTANCE], 1)
    self.assertEqual(got[matching.STAT_MATCHED], 1)
    s = diagnostics.summary(got, 1)
    self.assertEqual(s['added_precision'], 1.0)
    self.assertEqual(s['new_instances_per_pair'], 1.0)

  def test_a_wrong_stable_prediction_is_a_false_positive(self):
    # The model's prediction in both frames is a part of X (a third of it);
    # a's label is that part too. Transferred to b it is a false positive.
    x = box(4, 4, 14, 16)
    part = box(4, 4, 14, 8)
    zero = np.zeros([H, W, 2], np.float32)
    pred = inst([part], [3], [0.9])
    got = diagnostics.diagnose_pair(
        pred, pred, inst([part], [3]), inst([], []), inst([x], [3]),
        inst([x], [3]), zero, zero, matching.MatchingConfig())
    self.assertEqual(got[diagnostics.FALSE_POSITIVE], 1)
    self.assertAlmostEqual(got[diagnostics.FALSE_POSITIVE_IOU], 40 / 120)
    self.assertEqual(diagnostics.summary(got, 1)['added_precision'], 0.0)


if __name__ == '__main__':
  absltest.main()
