"""Tests for wsvis_tf.data.pairs."""

import numpy as np
import tensorflow as tf

from wsvis_tf.core import keys
from wsvis_tf.data import pairs


def make_video(num_frames, annotated=None, name='vid', height=4, width=5):
  frames = np.stack([np.full((height, width, 3), i, np.uint8)
                     for i in range(num_frames)])
  labels = np.zeros((num_frames, 3), bool)
  labels[np.arange(num_frames), np.arange(num_frames) % 3] = True
  return {
      keys.VIDEO_ID: tf.constant(name),
      keys.FRAMES: tf.constant(frames),
      keys.FRAME_NAMES: tf.constant([f'{i:05d}.jpg' for i in range(num_frames)]),
      keys.FRAME_LABELS: tf.constant(labels),
      keys.ANNOTATED: tf.constant(
          np.ones(num_frames, bool) if annotated is None else annotated),
      keys.INSTANCE_MAP: tf.constant(
          frames[..., :1].astype(np.uint16) + 100),
  }


class PairIndicesTest(tf.test.TestCase):

  def test_hand_cases(self):
    # T=7, delta=3: 0..3 look forward; 4..6 look back.
    self.assertAllEqual(pairs.pair_indices(7, 3),
                        [[0, 3], [1, 4], [2, 5], [3, 6], [4, 1], [5, 2],
                         [6, 3]])
    # T=3, delta=5: shorter than delta + 1: the farthest frame.
    self.assertAllEqual(pairs.pair_indices(3, 5), [[0, 2], [1, 2], [2, 0]])
    self.assertAllEqual(pairs.pair_indices(2, 1), [[0, 1], [1, 0]])
    # Anchors restrict frame a, not frame b (YouTube-VIS: every 5th frame).
    anchors = np.zeros(12, bool)
    anchors[::5] = True
    self.assertAllEqual(pairs.pair_indices(12, 5, anchors),
                        [[0, 5], [5, 10], [10, 5]])

  def test_errors(self):
    with self.assertRaisesRegex(ValueError, 'at least 2 frames'):
      pairs.pair_indices(1, 1)
    with self.assertRaisesRegex(ValueError, 'delta'):
      pairs.pair_indices(5, 0)
    with self.assertRaisesRegex(ValueError, 'anchors'):
      pairs.pair_indices(5, 1, np.ones(4, bool))

  def test_graph_rule_matches_numpy_rule(self):
    rng = np.random.default_rng(0)
    for num_frames in range(2, 13):
      for delta in (1, 2, 3, 5, 13):
        anchors = rng.uniform(size=num_frames) > 0.3
        got = pairs._pair_indices_tf(tf.constant(num_frames), delta,
                                     tf.constant(anchors))
        self.assertAllEqual(got, pairs.pair_indices(num_frames, delta,
                                                    anchors))


class DatasetTest(tf.test.TestCase):

  def test_pairs_carry_the_right_frames_and_labels(self):
    annotated = np.array([True, False, True, False, True, True])
    videos = tf.data.Dataset.from_tensors(make_video(6, annotated, 'v1'))
    videos = videos.concatenate(tf.data.Dataset.from_tensors(
        make_video(3, name='v2')))
    got = list(pairs.pairs_dataset(videos, delta=2,
                                   with_ground_truth=True).as_numpy_iterator())
    ab = [(g[keys.VIDEO_ID], g['frame_index_a'], g['frame_index_b'])
          for g in got]
    self.assertEqual(ab, [(b'v1', 0, 2), (b'v1', 2, 4), (b'v1', 4, 2),
                          (b'v1', 5, 3), (b'v2', 0, 2), (b'v2', 1, 2),
                          (b'v2', 2, 0)])
    for g in got:
      for which in 'ab':
        i = g[f'frame_index_{which}']
        self.assertAllEqual(g[f'image_{which}'],
                            np.full((4, 5, 3), i, np.uint8))
        self.assertEqual(g[f'frame_name_{which}'], f'{i:05d}.jpg'.encode())
        self.assertEqual(np.argmax(g[f'labels_{which}']), i % 3)
        self.assertEqual(g[f'labels_{which}'].dtype, np.float32)
        self.assertEqual(int(g[f'instance_map_{which}'][0, 0, 0]), i + 100)
      self.assertEqual(g[keys.DELTA], g['frame_index_b'] - g['frame_index_a'])

  def test_frames(self):
    videos = tf.data.Dataset.from_tensors(
        make_video(4, np.array([False, True, False, True])))
    got = list(pairs.frames_dataset(videos).as_numpy_iterator())
    self.assertEqual([g[keys.FRAME_INDEX] for g in got], [1, 3])
    self.assertNotIn(keys.INSTANCE_MAP, got[0])
    self.assertEqual(got[1][keys.IMAGE][0, 0, 0], 3)

  def test_single_frame_video_fails_naming_the_video(self):
    videos = tf.data.Dataset.from_tensors(make_video(1, name='lonely'))
    with self.assertRaisesRegex(tf.errors.InvalidArgumentError,
                                'at least 2 frames.*lonely'):
      list(pairs.pairs_dataset(videos, delta=1).as_numpy_iterator())


if __name__ == '__main__':
  tf.test.main()
