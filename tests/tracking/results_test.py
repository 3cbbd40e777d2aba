"""Tests for wsvis_tf.tracking.results: YouTube-VIS results of tracks."""

import json

from absl.testing import absltest
import numpy as np

from tests.tracking import scenes
from wsvis_tf.core import mask_ops
from wsvis_tf.evaluation import formats
from wsvis_tf.evaluation import video_ap
from wsvis_tf.tracking import proposals
from wsvis_tf.tracking import results
from wsvis_tf.tracking import tracker

RED, BLUE = (220, 30, 30), (30, 30, 220)


def two_object_scene():
  # Red (class 1) throughout; blue (class 2) enters on frame 2.
  red = scenes.Square([(4, 2 + 2 * t) for t in range(6)], RED, score=0.9)
  blue = scenes.Square([None, None] + [(18, 30 - 2 * t) for t in range(4)],
                       BLUE, class_id=2, score=0.6)
  return scenes.Scene([red, blue])


def ground_truth(scene, video_id, frames=None):
  """YouTube-VIS ground truth of a scene: one annotation per object."""
  frames = list(range(scene.num_frames)) if frames is None else frames
  anns = []
  for k, obj in enumerate(scene.objects):
    segs = []
    for t in frames:
      m = scene.visible(t)[k]
      segs.append(mask_ops.encode(m) if m.any() else None)
    anns.append({'id': k + 1, 'video_id': video_id,
                 'category_id': obj.class_id, 'segmentations': segs})
  return {'videos': [{'id': video_id, 'height': scene.height,
                      'width': scene.width, 'length': len(frames)}],
          'categories': [{'id': 1}, {'id': 2}], 'annotations': anns}


class VideoResultsTest(absltest.TestCase):

  def test_entries_are_valid_and_perfect(self):
    scene = two_object_scene()
    entries = results.video_results(7, scene.video(proposals.FORWARD))
    self.assertLen(entries, 2)
    json.dumps(entries)  # JSON-serialisable.
    self.assertEqual(set(entries[0]), {results.VIDEO_ID, results.CATEGORY_ID,
                                       results.SCORE, results.SEGMENTATIONS})
    self.assertEqual([e[results.CATEGORY_ID] for e in entries], [1, 2])
    np.testing.assert_allclose([e[results.SCORE] for e in entries],
                               [0.9, 0.6], rtol=1e-6)
    blue = entries[1][results.SEGMENTATIONS]
    self.assertEqual(blue[:2], [None, None])
    np.testing.assert_array_equal(mask_ops.decode(blue[3]),
                                  scene.visible(3)[1])
    gt = ground_truth(scene, 7)
    loaded = formats.load_ytvis_results(entries,
                                        formats.load_ytvis_ground_truth(gt))
    self.assertLen(loaded, 2)
    for value in video_ap.evaluate_videos(gt, entries).values():
      self.assertAlmostEqual(value, 1.0)

  def test_output_frames(self):
    # List frames 0 and 3 only (as a ground truth that annotates every
    # third frame would); blue is absent on 0.
    scene = two_object_scene()
    entries = results.video_results(3, scene.video(), output_frames=[0, 3])
    self.assertEqual([len(e[results.SEGMENTATIONS]) for e in entries],
                     [2, 2])
    self.assertIsNone(entries[1][results.SEGMENTATIONS][0])
    gt = ground_truth(scene, 3, frames=[0, 3])
    self.assertAlmostEqual(video_ap.evaluate_videos(gt, entries)['mAP'], 1.0)
    # Blue has no mask on frames 0 and 1: no entry for it.
    entries = results.video_results(3, scene.video(), output_frames=[0, 1])
    self.assertEqual([e[results.CATEGORY_ID] for e in entries], [1])
    with self.assertRaisesRegex(ValueError, 'video 3: output frame 6 is '
                                'outside the 6 tracked frames'):
      results.video_results(3, scene.video(), output_frames=[0, 6])

  def test_empty_video(self):
    self.assertEqual(results.video_results(1, proposals.VideoPredictions([])),
                     [])


class DatasetResultsTest(absltest.TestCase):

  def test_same_as_per_video(self):
    scene = two_object_scene()
    single = scenes.Scene([scene.objects[0]])
    videos = [(5, scene.video()), (9, single.video())]
    got = results.dataset_results(videos, output_frames={9: [1, 2]})
    want = (results.video_results(5, scene.video()) +
            results.video_results(9, single.video(), output_frames=[1, 2]))
    self.assertEqual(got, want)
    self.assertEqual([e[results.VIDEO_ID] for e in got], [5, 5, 9])
    config = tracker.TrackerConfig(max_tracks=1)
    self.assertLen(results.dataset_results(videos, config), 2)

  def test_duplicate_video(self):
    video = two_object_scene().video()
    with self.assertRaisesRegex(ValueError, 'video id 4 appears twice'):
      results.dataset_results([(4, video), (4, video)])


if __name__ == '__main__':
  absltest.main()
