"""Tests for wsvis_tf.tracking.benchmark on the procedural `tiny` dataset.

The tiny config (6 frames of 64 x 80, 4 train + 2 validation videos, 18
ground-truth tracks) is built into a temporary directory as
tests/datasets/synthetic_test.py does. The tracker gets the ground-truth
masks without their ids and the exact flow.
"""

import re
import tempfile

from absl.testing import absltest
import numpy as np
import tensorflow_datasets as tfds

from datasets.synthetic import synthetic
from wsvis_tf.core import keys
from wsvis_tf.evaluation import video_ap
from wsvis_tf.tracking import benchmark
from wsvis_tf.tracking import merging
from wsvis_tf.tracking import proposals
from wsvis_tf.tracking import tracker
from wsvis_tf.tracking import warping


class GroundTruthTrackingTest(absltest.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.tmp = tempfile.TemporaryDirectory()
    builder = synthetic.prepare('tiny', cls.tmp.name)
    cls.class_names = synthetic.class_names(builder)
    cls.examples = [ex for split in ('train', 'validation')
                    for ex in tfds.as_numpy(builder.as_dataset(
                        split=split, shuffle_files=False))]

  @classmethod
  def tearDownClass(cls):
    cls.tmp.cleanup()
    super().tearDownClass()

  def test_proposals_are_the_anonymous_ground_truth(self):
    shuffled = False
    for i, ex in enumerate(self.examples):
      video = benchmark.proposals_from_example(ex, benchmark.EXACT_FLOW, i)
      instance_map = ex[keys.INSTANCE_MAP][..., 0]
      self.assertEqual(video.name, keys.as_text(ex[keys.VIDEO_ID]))
      self.assertEqual(video.flow_direction, proposals.FORWARD)
      for t, frame in enumerate(video.frames):
        ids = [k for k in np.unique(instance_map[t]) if k > 0]
        # Which ground-truth instance each proposal is.
        got = [int(np.unique(instance_map[t][m])[0]) for m in frame.masks]
        self.assertCountEqual(got, ids)
        shuffled |= got != sorted(got)
        for m, k in zip(frame.masks, got):
          np.testing.assert_array_equal(m, instance_map[t] == k)
        self.assertEqual(frame.class_ids.tolist(),
                         [int(ex[keys.TRACK_CLASSES][k - 1]) + 1
                          for k in got])
        np.testing.assert_array_equal(frame.scores, 1.0)
        if t + 1 < len(video):
          np.testing.assert_array_equal(video.flow(t), ex[keys.GT_FLOW][t])
      no_flow = benchmark.proposals_from_example(ex, benchmark.NO_FLOW, i)
      self.assertIsNone(no_flow.flow(0))
    self.assertTrue(shuffled)  # The ids cannot leak through the order.

  def test_ground_truth_masks_give_high_video_ap(self):
    # 18 ground-truth tracks: losing or wrongly merging one caps recall,
    # hence AP50, at 17/18 < 0.95. So AP50 >= 0.95 means every track was
    # recovered at sequence IoU >= 0.5 (a spare fragment at most).
    got = {r.name: r for r in benchmark.run(self.examples,
                                            self.class_names)}
    self.assertEqual(got[benchmark.EXACT_FLOW].gt_tracks_per_video, 3.0)
    for mode in benchmark.FLOW_MODES:
      self.assertGreaterEqual(got[mode].metrics[video_ap.AP50], 0.95,
                              msg=mode)
      self.assertGreater(got[mode].seconds_per_video, 0)

  def test_strided_frames_need_the_flow(self):
    # Frames 0 and 3 only (the objects move 2.4-6 px between them): the
    # chained exact flow still finds every track (17 here: one missed caps
    # AP50 at 16/17 < 0.95); assuming no motion loses some.
    video = benchmark.proposals_from_example(self.examples[0],
                                             frame_stride=3)
    self.assertLen(video, 2)
    np.testing.assert_allclose(
        video.flow(0), warping.compose_forward(
            self.examples[0][keys.GT_FLOW][0:3].astype(np.float32)))
    got = {r.name: r.metrics[video_ap.AP50] for r in benchmark.run(
        self.examples, self.class_names, frame_stride=3)}
    self.assertGreaterEqual(got[benchmark.EXACT_FLOW], 0.95)
    self.assertLess(got[benchmark.NO_FLOW], got[benchmark.EXACT_FLOW])

  def test_a_tracker_that_links_nothing_scores_low(self):
    # Control: no frame-to-frame match (IoU > 1 never holds) and no merge
    # leave one-frame tracks, whose sequence IoU is at most 1/6 of a
    # 6-frame track: AP50 collapses. The metric does see linking.
    config = tracker.TrackerConfig(
        match_iou=1.0, merge=merging.MergeConfig(enabled=False))
    result, = benchmark.run(self.examples, self.class_names,
                            [benchmark.EXACT_FLOW], config)
    self.assertLess(result.metrics[video_ap.AP50], 0.3)

  def test_table_and_result_line(self):
    results = benchmark.run(self.examples[:1], self.class_names)
    table = benchmark.table(results)
    self.assertIn('AP50', table.splitlines()[0])
    self.assertLen(table.splitlines(), 4)
    line = benchmark.result_line(results)
    self.assertRegex(line, re.compile(
        r'^RESULT ap50_exact_flow=[0-9.]+ ap50_no_flow=[0-9.]+ '
        r'seconds_per_video=[0-9.]+$'))

  def test_bad_flow_mode(self):
    with self.assertRaisesRegex(ValueError, 'flow_mode'):
      benchmark.proposals_from_example(self.examples[0], 'dis')
    with self.assertRaisesRegex(ValueError, 'frame_stride'):
      benchmark.proposals_from_example(self.examples[0], frame_stride=0)


if __name__ == '__main__':
  absltest.main()
