"""Tests for wsvis_tf.evaluation.semantic (Cityscapes-style semantic IoU)."""

from absl.testing import absltest
import numpy as np

from tests.evaluation import fixtures
from wsvis_tf.evaluation import instances
from wsvis_tf.evaluation import semantic


def _instances(boxes, classes, scores):
  return instances.FrameInstances(
      np.stack([fixtures.box_mask(4, 4, b) for b in boxes]), classes, scores)


class SemanticTest(absltest.TestCase):

  def test_higher_score_painted_last(self):
    # Class 1 on columns 0-2 and class 2 on columns 2-3 overlap on column 2.
    frame = _instances([(0, 0, 4, 3), (0, 2, 4, 4)], [1, 2], [0.9, 0.5])
    np.testing.assert_array_equal(semantic.instances_to_semantic(frame)[0],
                                  [1, 1, 1, 2])
    frame.scores = np.array([0.5, 0.9], np.float32)
    np.testing.assert_array_equal(semantic.instances_to_semantic(frame)[0],
                                  [1, 1, 2, 2])
    np.testing.assert_array_equal(
        semantic.instances_to_semantic(frame, score_threshold=0.6)[0],
        [0, 0, 2, 2])

  def test_hand_case_accumulated_over_the_split(self):
    # Image 1: GT class 1 on columns 0-1, class 2 on columns 2-3; the
    # prediction has class 1 on columns 0-2, class 2 on column 3.
    #   class 1: I 8, U 12; class 2: I 4, U 8.
    gt1 = np.array([[1, 1, 2, 2]] * 4)
    pred1 = semantic.instances_to_semantic(
        _instances([(0, 0, 4, 3), (0, 2, 4, 4)], [1, 2], [0.9, 0.5]))
    # Image 2: GT background, row 0 void (255); class 2 predicted on rows
    # 0-1: row 0 is ignored, row 1 is 4 false-positive pixels of class 2.
    gt2 = np.zeros((4, 4), np.int64)
    gt2[0] = 255
    pred2 = semantic.instances_to_semantic(
        _instances([(0, 0, 2, 4)], [2], [0.7]))
    result = semantic.semantic_iou([gt1, gt2], [pred1, pred2])
    # Split totals: class 1 8/12, class 2 4/12 (per-image averaging would
    # give class 2 (1/2 + 0)/2 instead); background is not a class.
    self.assertEqual(result['per_class'], {1: 8 / 12, 2: 4 / 12})
    self.assertAlmostEqual(result['mIoU'], 0.5, places=12)

  def test_nothing_present(self):
    self.assertEqual(
        semantic.semantic_iou([np.zeros((2, 2))], [np.zeros((2, 2))])['mIoU'],
        -1.0)

  def test_from_coco(self):
    gt = fixtures.coco_gt({1: (4, 4)}, [(1, 1, fixtures.box_mask(
        4, 4, (0, 0, 4, 2))), (1, 2, fixtures.box_mask(4, 4, (0, 2, 4, 4)))])
    res = fixtures.coco_results([
        (1, 1, fixtures.box_mask(4, 4, (0, 0, 4, 3)), 0.9),
        (1, 2, fixtures.box_mask(4, 4, (0, 2, 4, 4)), 0.5),
        (1, 2, fixtures.box_mask(4, 4, (0, 0, 4, 4)), 0.1)])  # Below 0.5.
    result = semantic.semantic_iou_from_coco(gt, res)
    self.assertEqual(result['per_class'], {1: 8 / 12, 2: 4 / 8})


if __name__ == '__main__':
  absltest.main()
