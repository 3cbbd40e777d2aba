"""Tests for wsvis_tf.evaluation.frame_ap (COCO mask AP)."""

import contextlib
import io

from absl.testing import absltest
import numpy as np
from pycocotools import coco as coco_api
from pycocotools import cocoeval

from tests.evaluation import fixtures
from wsvis_tf.evaluation import frame_ap

H, W = 24, 32
A = fixtures.box_mask(H, W, (2, 2, 10, 12))
B = fixtures.box_mask(H, W, (12, 16, 22, 30))


class FrameApTest(absltest.TestCase):

  def test_perfect_predictions_give_one(self):
    gt = fixtures.coco_gt({1: (H, W), 2: (H, W)},
                          [(1, 1, A), (1, 2, B), (2, 1, B)])
    res = fixtures.coco_results([(1, 1, A, 0.9), (1, 2, B, 0.8),
                                 (2, 1, B, 0.7)])
    metrics = frame_ap.evaluate_frames(gt, res)
    self.assertEqual(set(metrics), {'AP', 'AP50', 'AP75'})
    for value in metrics.values():
      self.assertAlmostEqual(value, 1.0, places=12)

  def test_missed_instance(self):
    # 2 GT, 1 exact detection: precision 1 up to recall 0.5, then nothing:
    # 51 of the 101 recall points (0, .01, ..., .50) have precision 1.
    gt = fixtures.coco_gt({1: (H, W)}, [(1, 1, A), (1, 1, B)])
    res = fixtures.coco_results([(1, 1, A, 0.9)])
    metrics = frame_ap.evaluate_frames(gt, res)
    for value in metrics.values():
      self.assertAlmostEqual(value, 51 / 101, places=12)

  def test_duplicate_detection_ranked_between_true_positives(self):
    # Scores: A (TP of gt A) .9, duplicate of A .8 (FP), B (TP) .7.
    # recall [.5, .5, 1], precision [1, .5, 2/3] -> envelope [1, 2/3, 2/3]:
    # 51 recall points at 1, 50 at 2/3.
    gt = fixtures.coco_gt({1: (H, W)}, [(1, 1, A), (1, 1, B)])
    res = fixtures.coco_results([(1, 1, A, 0.9), (1, 1, A, 0.8),
                                 (1, 1, B, 0.7)])
    expected = (51 + 50 * 2 / 3) / 101
    for value in frame_ap.evaluate_frames(gt, res).values():
      self.assertAlmostEqual(value, expected, places=9)

  def test_duplicate_detection_ranked_last_costs_nothing(self):
    # The FP comes after full recall: the precision envelope stays 1.
    gt = fixtures.coco_gt({1: (H, W)}, [(1, 1, A)])
    res = fixtures.coco_results([(1, 1, A, 0.9), (1, 1, A, 0.8)])
    self.assertAlmostEqual(frame_ap.evaluate_frames(gt, res)['AP'], 1.0,
                           places=12)

  def test_wrong_class(self):
    # Class 1 has GT and no detection (AP 0); class 2 has no GT (-1, left
    # out of the mean).
    gt = fixtures.coco_gt({1: (H, W)}, [(1, 1, A)])
    res = fixtures.coco_results([(1, 2, A, 0.9)])
    self.assertEqual(frame_ap.evaluate_frames(gt, res),
                     {'AP': 0.0, 'AP50': 0.0, 'AP75': 0.0})

  def test_no_ground_truth_gives_minus_one(self):
    gt = fixtures.coco_gt({1: (H, W)}, [])
    res = fixtures.coco_results([(1, 2, A, 0.9)])
    self.assertEqual(frame_ap.evaluate_frames(gt, res),
                     {'AP': -1.0, 'AP50': -1.0, 'AP75': -1.0})

  def test_empty_results(self):
    gt = fixtures.coco_gt({1: (H, W)}, [(1, 1, A)])
    self.assertEqual(frame_ap.evaluate_frames(gt, [])['AP'], 0.0)

  def test_random_case_matches_pycocotools_directly(self):
    rng = np.random.default_rng(0)
    sizes = {i: (int(rng.integers(20, 60)), int(rng.integers(20, 60)))
             for i in range(1, 6)}

    def random_mask(h, w):
      y0, x0 = rng.integers(0, h - 4), rng.integers(0, w - 4)
      return fixtures.box_mask(h, w, (y0, x0, y0 + rng.integers(3, 20),
                                      x0 + rng.integers(3, 20)))

    anns, dets = [], []
    for i, (h, w) in sizes.items():
      for _ in range(rng.integers(0, 4)):
        mask = random_mask(h, w)
        category = int(rng.integers(1, 3))
        anns.append((i, category, mask))
        if rng.random() < 0.8:  # A shifted detection of it.
          dets.append((i, category, np.roll(mask, rng.integers(-3, 4), 1),
                       float(rng.random())))
      for _ in range(rng.integers(0, 3)):  # False positives.
        dets.append((i, int(rng.integers(1, 3)), random_mask(h, w),
                     float(rng.random())))
    gt = fixtures.coco_gt(sizes, anns, crowd=(2,))
    res = fixtures.coco_results(dets)
    ours = frame_ap.evaluate_frames(gt, res)

    with contextlib.redirect_stdout(io.StringIO()):
      coco_gt = coco_api.COCO()
      coco_gt.dataset = fixtures.coco_gt(sizes, anns, crowd=(2,))
      coco_gt.createIndex()
      coco_dt = coco_gt.loadRes(fixtures.coco_results(dets))
      evaluator = cocoeval.COCOeval(coco_gt, coco_dt, iouType='segm')
      evaluator.evaluate()
      evaluator.accumulate()
      evaluator.summarize()
    self.assertGreater(evaluator.stats[0], 0.0)
    self.assertEqual([ours['AP'], ours['AP50'], ours['AP75']],
                     list(evaluator.stats[:3]))


if __name__ == '__main__':
  absltest.main()
