"""Tests for wsvis_tf.tracking.tracker on hand-made scenes (scenes.py)."""

from absl.testing import absltest
import numpy as np

from tests.tracking import scenes
from wsvis_tf.tracking import merging
from wsvis_tf.tracking import proposals
from wsvis_tf.tracking import tracker

RED, BLUE = (220, 30, 30), (30, 30, 220)
FLOWS = (proposals.BACKWARD, proposals.FORWARD, None)
NO_MERGE = tracker.TrackerConfig(merge=merging.MergeConfig(enabled=False))


def moving(start, step, frames):
  """Corners start + t * step, t = 0..frames-1."""
  return [(start[0] + t * step[0], start[1] + t * step[1])
          for t in range(frames)]


class SingleObjectTest(absltest.TestCase):

  def test_moving_square_keeps_one_track(self):
    scene = scenes.Scene([scenes.Square(moving((2, 2), (1, 3), 8), RED,
                                        class_id=2, score=0.8)])
    for flow in FLOWS:
      tracks = tracker.track_video(scene.video(flow))
      self.assertLen(tracks, 1, msg=flow)
      track = tracks[0]
      self.assertEqual(track.proposal_ids.tolist(), [0] * 8)
      self.assertEqual(track.length, 8)
      self.assertEqual(track.category_id, 2)
      self.assertAlmostEqual(track.score, 0.8, places=6)
      self.assertEqual(track.tracklets, 1)
      # One tracklet of 8 frames: rank = 0.8 * 8.
      self.assertAlmostEqual(track.rank_score, 6.4, places=5)
      for t, mask in enumerate(track.masks):
        np.testing.assert_array_equal(mask, scene.frame(t).masks[0])

  def test_frame_without_proposals(self):
    # The detector misses the square on frame 2: two tracklets, merged.
    scene = scenes.Scene([scenes.Square(moving((2, 2), (0, 2), 5), RED,
                                        missed=[2])])
    self.assertEmpty(scene.frame(2))
    for flow in FLOWS:
      tracks = tracker.track_video(scene.video(flow))
      self.assertLen(tracks, 1)
      self.assertEqual(tracks[0].proposal_ids.tolist(), [0, 0, -1, 0, 0])
      self.assertIsNone(tracks[0].masks[2])
      self.assertEqual(tracks[0].tracklets, 2)
    self.assertLen(tracker.track_video(scene.video(), NO_MERGE), 2)


class CrossingTest(absltest.TestCase):

  def crossing(self):
    # Red (behind) moves right, blue (in front) left, 2 px a frame, on the
    # same rows; they coincide on frame 6. The detector misses red on
    # frames 5-7, while it is (mostly) behind blue.
    red = scenes.Square(moving((12, 8), (0, 2), 12), RED, missed=[5, 6, 7])
    blue = scenes.Square(moving((12, 32), (0, -2), 12), BLUE, class_id=2)
    return scenes.Scene([red, blue])

  def test_occluded_object_keeps_its_identity(self):
    scene = self.crossing()
    for flow in FLOWS:
      tracks = tracker.track_video(scene.video(flow))
      self.assertLen(tracks, 2, msg=flow)
      ids = sorted(scene.identities(t) for t in tracks)
      # Object 0 (red): frames 0-4 and 8-11, one track; object 1 throughout.
      self.assertEqual(ids, [[0] * 5 + [None] * 3 + [0] * 4, [1] * 12])
      red = [t for t in tracks if t.category_id == 1][0]
      self.assertEqual(red.tracklets, 2)

  def test_without_merging_the_occluded_object_is_split(self):
    tracks = tracker.track_video(self.crossing().video(), NO_MERGE)
    self.assertLen(tracks, 3)

  def test_flow_keeps_identities_of_fast_objects(self):
    # 8 px a frame towards each other: from frame 1 to 2 each square lands
    # half on the other's old place. Compared where they are (no flow), the
    # pairs swap; moved by the flow (either direction), they do not.
    red = scenes.Square(moving((12, 6), (0, 8), 4), RED)
    blue = scenes.Square(moving((12, 34), (0, -8), 4), BLUE)
    scene = scenes.Scene([red, blue])
    for flow in (proposals.BACKWARD, proposals.FORWARD):
      tracks = tracker.track_video(scene.video(flow), NO_MERGE)
      self.assertCountEqual([scene.identities(t) for t in tracks],
                            [[0] * 4, [1] * 4], msg=flow)
    tracks = tracker.track_video(scene.video(None), NO_MERGE)
    self.assertNotIn([0] * 4, [scene.identities(t) for t in tracks])


class AppearanceTest(absltest.TestCase):

  def swap_rows(self):
    # Red on top, blue below; both hidden on frames 4-6; they come back
    # with rows swapped (red where blue was). Only colour tells them apart.
    def corners(row, other):
      return [(row, 4 + 2 * t) if t < 4 else
              None if t < 7 else (other, 4 + 2 * t) for t in range(10)]
    return scenes.Scene([scenes.Square(corners(2, 20), RED),
                         scenes.Square(corners(20, 2), BLUE)])

  def test_colour_embedding_bridges_the_gap(self):
    scene = self.swap_rows()
    tracks = tracker.track_video(scene.video(proposals.FORWARD))
    self.assertCountEqual([scene.identities(t) for t in tracks],
                          [[0] * 4 + [None] * 3 + [0] * 3,
                           [1] * 4 + [None] * 3 + [1] * 3])

  def test_geometry_alone_is_fooled(self):
    scene = self.swap_rows()
    tracks = tracker.track_video(scene.video(proposals.FORWARD,
                                             with_images=False))
    self.assertCountEqual([scene.identities(t) for t in tracks],
                          [[0] * 4 + [None] * 3 + [1] * 3,
                           [1] * 4 + [None] * 3 + [0] * 3])

  def test_given_embeddings_are_used(self):
    # ROI features that (wrongly) say red came back where it was.
    scene = self.swap_rows()
    video = scene.video(proposals.FORWARD)
    for t, f in enumerate(video.frames):
      _, objects = scene.frame_and_objects(t)
      rows = [scene.objects[i].corners[t][0] for i in objects]
      f.embeddings = np.array([[float(r == 2), float(r != 2)] for r in rows],
                              np.float32).reshape(len(f), 2)
    tracks = tracker.track_video(
        proposals.VideoPredictions(video.frames, video.flow_fn,
                                   video.flow_direction, video.images))
    self.assertCountEqual([scene.identities(t) for t in tracks],
                          [[0] * 4 + [None] * 3 + [1] * 3,
                           [1] * 4 + [None] * 3 + [0] * 3])


class ProposalHandlingTest(absltest.TestCase):

  def test_overlapping_proposals_resolved_to_higher_score(self):
    scene = scenes.Scene([scenes.Square(moving((4, 4), (0, 2), 4), RED)])
    video = scene.video()
    # On frame 2, a second proposal shifted by 2 px (IoU 48 / 80 >= 0.2).
    for dup_score, want in ((0.5, 0), (0.95, 1)):
      f = video.frames[2]
      dup = np.roll(f.masks[0], 2, axis=0)
      frames = list(video.frames)
      frames[2] = proposals.FrameProposals(
          np.stack([f.masks[0], dup]), [0.9, dup_score], [1, 1])
      tracks = tracker.track_video(proposals.VideoPredictions(
          frames, video.flow_fn, images=video.images))
      self.assertLen(tracks, 1)
      self.assertEqual(tracks[0].proposal_ids.tolist(), [0, 0, want, 0])

  def test_matching_rejects_iou_at_threshold(self):
    # Frame 1 is a 10 x 11 box overlapping frame 0's 10 x 10 box on one
    # column: IoU = 10 / 200 = 0.05 -> not matched (two tracks without
    # merging); a 10 x 10 box there: IoU = 10 / 190 -> matched.
    h, w = 16, 32
    a = np.zeros((h, w), bool)
    a[:10, :10] = True
    for width, want in ((11, 2), (10, 1)):
      b = np.zeros((h, w), bool)
      b[:10, 9:9 + width] = True
      frames = [proposals.FrameProposals(m[None], [0.9], [1]) for m in (a, b)]
      self.assertLen(tracker.track_video(
          proposals.VideoPredictions(frames), NO_MERGE), want)

  def test_top_20(self):
    # 25 disjoint static squares on 3 frames, scores 0.01 .. 0.25.
    squares = [scenes.Square([(6 * (i // 5), 6 * (i % 5))] * 3, RED,
                             size=4, score=0.01 * (i + 1)) for i in range(25)]
    scene = scenes.Scene(squares, height=30, width=30)
    # Default: each frame keeps its 20 best proposals.
    tracks = tracker.track_video(scene.video())
    self.assertLen(tracks, 20)
    self.assertEqual([round(t.score, 2) for t in tracks],
                     [round(0.01 * i, 2) for i in range(25, 5, -1)])
    # All proposals kept per frame: the video keeps the 20 best tracks.
    config = tracker.TrackerConfig(max_proposals_per_frame=30)
    tracks = tracker.track_video(scene.video(), config)
    self.assertLen(tracks, 20)
    self.assertAlmostEqual(tracks[-1].score, 0.06, places=6)

  def test_rank_is_score_times_length(self):
    # A: 0.9 on 2 frames (1.8); B: 0.5 on 6 (3.0); C: 0.6 on 4 (2.4).
    def present(row, n):
      return [(row, 2) if t < n else None for t in range(6)]
    scene = scenes.Scene([
        scenes.Square(present(0, 2), RED, size=4, score=0.9),
        scenes.Square(present(10, 6), RED, size=4, score=0.5),
        scenes.Square(present(20, 4), RED, size=4, score=0.6)])
    config = tracker.TrackerConfig(max_tracks=2)
    tracks = tracker.track_video(scene.video(), config)
    self.assertEqual([t.length for t in tracks], [6, 4])
    np.testing.assert_allclose([t.rank_score for t in tracks], [3.0, 2.4],
                               rtol=1e-6)

  def test_category_vote(self):
    scene = scenes.Scene([scenes.Square(moving((4, 4), (0, 2), 3), RED)])
    video = scene.video()
    for f, c, s in zip(video.frames, (2, 1, 1), (0.7, 0.4, 0.4)):
      f.class_ids[:] = c
      f.scores[:] = s
    track, = tracker.track_video(video)
    self.assertEqual(track.category_id, 1)  # 0.8 against 0.7.
    self.assertAlmostEqual(track.score, 0.5, places=6)


class EmptyAndBadInputTest(absltest.TestCase):

  def test_empty_video(self):
    self.assertEqual(tracker.track_video(proposals.VideoPredictions([])), [])
    empty = [proposals.FrameProposals.empty(8, 8)] * 4
    self.assertEqual(tracker.track_video(proposals.VideoPredictions(
        empty, flow_fn=lambda t: np.zeros((8, 8, 2)))), [])

  def test_masks_of_the_wrong_size(self):
    scene = scenes.Scene([scenes.Square(moving((4, 4), (0, 2), 3), RED)])
    frames = [scene.frame(t) for t in range(3)]
    frames[1] = proposals.FrameProposals(frames[1].masks[:, :, :-1], [0.9],
                                         [1])
    with self.assertRaisesRegex(ValueError,
                                r'clip: frame 1 masks are \[32, 47\]'):
      proposals.VideoPredictions(frames, name='clip')

  def test_flow_of_the_wrong_shape(self):
    scene = scenes.Scene([scenes.Square(moving((4, 4), (0, 2), 3), RED)])
    video = scene.video()
    video.flow_fn = lambda t: np.zeros((16, 24, 2), np.float32)
    with self.assertRaisesRegex(
        ValueError, r'scene: backward flow between frames 0 and 1 has shape '
        r'\[16, 24, 2\], expected \[H, W, 2\] = \[32, 48, 2\]'):
      tracker.track_video(video)


class HelpersTest(absltest.TestCase):

  def test_vote_category(self):
    self.assertEqual(tracker.vote_category([3, 1, 3], [0.2, 0.5, 0.2]), 1)
    self.assertEqual(tracker.vote_category([3, 1, 3], [0.3, 0.5, 0.3]), 3)
    self.assertEqual(tracker.vote_category([4, 2], [0.5, 0.5]), 2)  # Tie.

  def test_rank_score(self):
    # Tracklets in time order: 0.5 * 2, then 1.0 * (2 + 3): mean 3.0.
    self.assertAlmostEqual(tracker.rank_score([0.5, 1.0], [2, 3]), 3.0)

  def test_config_checks(self):
    with self.assertRaisesRegex(ValueError, 'match_iou'):
      tracker.TrackerConfig(match_iou=1.5)
    with self.assertRaisesRegex(ValueError, 'max_tracks'):
      tracker.TrackerConfig(max_tracks=0)


if __name__ == '__main__':
  absltest.main()
