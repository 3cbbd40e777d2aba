"""Tests for wsvis_tf.evaluation.video_ap (the YouTube-VIS metric)."""

from absl.testing import absltest
import numpy as np

from tests.evaluation import fixtures
from wsvis_tf.core import mask_ops
from wsvis_tf.evaluation import frame_ap
from wsvis_tf.evaluation import video_ap

H, W = 16, 20
box = lambda *b: fixtures.box_mask(H, W, b)  # pylint: disable=invalid-name


class SequenceIouTest(absltest.TestCase):

  def test_three_frames_with_a_missing_frame(self):
    # Frame 0: two 4x4 squares overlapping on 4x2: I = 8, U = 24.
    # Frame 1: only the ground truth has a mask (10 px): U += 10.
    # Frame 2: identical 6 px masks: I = 6, U = 6.
    # IoU = (8 + 0 + 6) / (24 + 10 + 6) = 14 / 40.
    det = [box(0, 0, 4, 4), None, box(5, 5, 7, 8)]
    gt = [box(0, 2, 4, 6), box(10, 10, 12, 15), box(5, 5, 7, 8)]
    enc = lambda seq: [None if m is None else mask_ops.encode(m) for m in seq]
    self.assertEqual(video_ap.sequence_iou(enc(det), enc(gt)), 14 / 40)
    self.assertEqual(video_ap.sequence_iou(enc(gt), enc(det)), 14 / 40)
    # Both absent everywhere: no union, IoU 0 (as the reference).
    self.assertEqual(video_ap.sequence_iou([None], [None]), 0.0)

  def test_evaluator_uses_the_sequence_iou(self):
    # The same pair as above has IoU .35 < .5: a false positive and a miss.
    gt = fixtures.ytvis_gt({1: (H, W, 3)}, [(1, 1, [
        box(0, 2, 4, 6), box(10, 10, 12, 15), box(5, 5, 7, 8)])])
    res = fixtures.ytvis_results([(1, 1, [box(0, 0, 4, 4), None,
                                          box(5, 5, 7, 8)], 0.9)])
    metrics = video_ap.evaluate_videos(gt, res)
    self.assertEqual(metrics['AP50'], 0.0)


class VideoApTest(absltest.TestCase):

  def test_perfect_predictions_give_one(self):
    tracks = [(1, 1, [box(0, 0, 5, 5), None, box(1, 1, 6, 6)]),
              (1, 2, [box(8, 8, 12, 16), box(8, 9, 12, 17), None]),
              (2, 1, [None, box(2, 2, 9, 9), box(3, 3, 9, 9)])]
    gt = fixtures.ytvis_gt({1: (H, W, 3), 2: (H, W, 3)}, tracks)
    res = fixtures.ytvis_results([t + (0.5 + 0.1 * i,)
                                  for i, t in enumerate(tracks)])
    metrics = video_ap.evaluate_videos(gt, res)
    self.assertEqual(set(metrics), {'mAP', 'AP50', 'AP75', 'AR1', 'AR10'})
    for value in metrics.values():
      self.assertAlmostEqual(value, 1.0, places=12)

  def test_no_ground_truth_gives_minus_one(self):
    gt = fixtures.ytvis_gt({1: (H, W, 2)}, [])
    res = fixtures.ytvis_results([(1, 1, [box(0, 0, 4, 4), None], 0.9)])
    for value in video_ap.evaluate_videos(gt, res).values():
      self.assertEqual(value, -1.0)

  def test_single_frame_videos_equal_frame_ap(self):
    # Invariant: with one frame per video the sequence IoU is the mask IoU,
    # so AP, AP50, AP75 (area 'all') equal the COCO frame evaluator's.
    rng = np.random.default_rng(1)
    frames, anns, dets = {}, [], []
    for image_id in range(1, 7):
      h, w = int(rng.integers(15, 40)), int(rng.integers(15, 40))
      frames[image_id] = (h, w)
      for _ in range(rng.integers(0, 4)):
        y0, x0 = rng.integers(0, h - 5), rng.integers(0, w - 5)
        mask = fixtures.box_mask(h, w, (y0, x0, y0 + rng.integers(3, 12),
                                        x0 + rng.integers(3, 12)))
        category = int(rng.integers(1, 3))
        anns.append((image_id, category, mask))
        for _ in range(rng.integers(0, 3)):
          dets.append((image_id, category if rng.random() < 0.8 else 3 -
                       category, np.roll(mask, rng.integers(-2, 3), 0),
                       float(np.round(rng.random(), 1))))
    frame_metrics = frame_ap.evaluate_frames(
        fixtures.coco_gt(frames, anns), fixtures.coco_results(dets))
    video_metrics = video_ap.evaluate_videos(
        fixtures.ytvis_gt({i: (h, w, 1) for i, (h, w) in frames.items()},
                          [(i, c, [m]) for i, c, m in anns]),
        fixtures.ytvis_results([(i, c, [m], s) for i, c, m, s in dets]))
    self.assertGreater(frame_metrics['AP'], 0.0)
    self.assertEqual(frame_metrics['AP'], video_metrics['mAP'])
    self.assertEqual(frame_metrics['AP50'], video_metrics['AP50'])
    self.assertEqual(frame_metrics['AP75'], video_metrics['AP75'])

  def test_greedy_matching_in_score_order(self):
    # 1-row intervals (2 frames alike): G1 = [0, 10), G2 = [2, 12);
    # A = [2, 11): IoU(A, G1) = 8/11, IoU(A, G2) = 9/10;
    # B = [4, 14): IoU(B, G1) = 6/14 < .5, IoU(B, G2) = 8/12.
    # A first: A takes its best, G2; B finds nothing left -> at IoU .5
    # recall [.5, .5], precision [1, .5]: AP50 = 51/101 (an optimal
    # assignment would give A-G1, B-G2 and 1.0). B first: B-G2, A-G1: 1.0.
    seg = lambda x0, x1: [box(0, x0, 1, x1)] * 2
    gt = fixtures.ytvis_gt({1: (H, W, 2)}, [(1, 1, seg(0, 10)),
                                            (1, 1, seg(2, 12))])
    a_first = fixtures.ytvis_results([(1, 1, seg(2, 11), 0.9),
                                      (1, 1, seg(4, 14), 0.8)])
    b_first = fixtures.ytvis_results([(1, 1, seg(2, 11), 0.8),
                                      (1, 1, seg(4, 14), 0.9)])
    self.assertAlmostEqual(video_ap.evaluate_videos(gt, a_first)['AP50'],
                           51 / 101, places=12)
    self.assertAlmostEqual(video_ap.evaluate_videos(gt, b_first)['AP50'],
                           1.0, places=12)

  def test_ar1_and_ar10_differ(self):
    # Two tracks of one class in one video, both found exactly: maxDets = 1
    # keeps only the best-scored result per (video, category).
    tracks = [(1, 1, [box(0, 0, 5, 5), box(0, 1, 5, 6)]),
              (1, 1, [box(8, 8, 14, 14), None])]
    gt = fixtures.ytvis_gt({1: (H, W, 2)}, tracks)
    res = fixtures.ytvis_results([tracks[0] + (0.9,), tracks[1] + (0.8,)])
    metrics = video_ap.evaluate_videos(gt, res)
    self.assertAlmostEqual(metrics['AR1'], 0.5, places=12)
    self.assertAlmostEqual(metrics['AR10'], 1.0, places=12)

  def test_crowd_track_is_ignored(self):
    # A result on a crowd track is neither a TP nor an FP.
    gt = fixtures.ytvis_gt({1: (H, W, 1)}, [(1, 1, [box(0, 0, 5, 5)]),
                                            (1, 1, [box(8, 8, 14, 14)])])
    gt['annotations'][1]['iscrowd'] = 1
    res = fixtures.ytvis_results([(1, 1, [box(8, 8, 14, 14)], 0.9),
                                  (1, 1, [box(0, 0, 5, 5)], 0.8)])
    self.assertAlmostEqual(video_ap.evaluate_videos(gt, res)['mAP'], 1.0,
                           places=12)

  def test_results_cut_to_100_per_video_and_category(self):
    # 100 higher-scored false positives push the true match out.
    gt = fixtures.ytvis_gt({1: (H, W, 1)}, [(1, 1, [box(0, 0, 5, 5)])])
    fps = [(1, 1, [box(10, 10, 12, 12)], 0.9)] * 100
    res = fixtures.ytvis_results(fps + [(1, 1, [box(0, 0, 5, 5)], 0.5)])
    self.assertEqual(video_ap.evaluate_videos(gt, res)['AP50'], 0.0)
    res = fixtures.ytvis_results(fps[:99] + [(1, 1, [box(0, 0, 5, 5)], 0.5)])
    self.assertGreater(video_ap.evaluate_videos(gt, res)['AP50'], 0.0)


if __name__ == '__main__':
  absltest.main()
