"""tf.data pipelines from per-video examples to frames and (t, t+delta) pairs.

A video example has the keys of `wsvis_tf.core.keys` (FRAMES [T, H, W, 3],
FRAME_LABELS [T, C], ANNOTATED [T], ...). Training uses the annotated frames
as anchors (YouTube-VIS annotates every 5th frame; synthetic data all), and
pairs each anchor t with a partner frame at distance delta (paper sec 4.2:
delta = 5 for YouTube-VIS, 3 for Cityscapes):

  partner(t) = t + delta   if t + delta < T,
               t - delta   otherwise, if t - delta >= 0,
               the frame farthest from t otherwise (a video shorter than
               delta + 1 frames still yields pairs, at a smaller distance).

So every anchor frame appears in exactly one pair as frame "a", and at the end
of a video the pair looks backwards; DELTA records the signed offset b - a.
A video with fewer than two frames has no pairs and is an error.
"""

from typing import Dict, Optional

import numpy as np
import tensorflow as tf

from wsvis_tf.core import keys


def pair_indices(num_frames: int, delta: int,
                 anchors: Optional[np.ndarray] = None) -> np.ndarray:
  """Returns the [P, 2] int32 array of (a, b) frame indices of a video.

  Args:
    num_frames: T, the number of frames in the video (>= 2).
    delta: The desired distance between paired frames (>= 1).
    anchors: Optional [T] bool array, the frames that may be frame "a"
      (default: all frames).
  """
  if delta < 1:
    raise ValueError(f'delta must be >= 1, got {delta}')
  if num_frames < 2:
    raise ValueError(f'a video needs at least 2 frames to form pairs, got '
                     f'{num_frames}')
  t = np.arange(num_frames)
  farthest = np.where(t > (num_frames - 1) / 2, 0, num_frames - 1)
  partner = np.where(t + delta < num_frames, t + delta,
                     np.where(t - delta >= 0, t - delta, farthest))
  if anchors is not None:
    anchors = np.asarray(anchors, bool)
    if anchors.shape != (num_frames,):
      raise ValueError(f'anchors must have shape ({num_frames},), got '
                       f'{anchors.shape}')
    t, partner = t[anchors], partner[anchors]
  return np.stack([t, partner], axis=1).astype(np.int32)


def _pair_indices_tf(num_frames: tf.Tensor, delta: int,
                     anchors: tf.Tensor) -> tf.Tensor:
  """Graph version of pair_indices (same rule); returns [P, 2] int32."""
  t = tf.range(num_frames)
  farthest = tf.where(tf.cast(t, tf.float32) >
                      tf.cast(num_frames - 1, tf.float32) / 2.0,
                      0, num_frames - 1)
  partner = tf.where(t + delta < num_frames, t + delta,
                     tf.where(t - delta >= 0, t - delta, farthest))
  pairs = tf.stack([t, partner], axis=1)
  return tf.boolean_mask(pairs, anchors)


def _frame_features(video: Dict[str, tf.Tensor], index: tf.Tensor,
                    with_ground_truth: bool) -> Dict[str, tf.Tensor]:
  out = {
      keys.IMAGE: tf.gather(video[keys.FRAMES], index),
      keys.LABELS: tf.cast(tf.gather(video[keys.FRAME_LABELS], index),
                           tf.float32),
      keys.FRAME_INDEX: tf.cast(index, tf.int32),
      keys.FRAME_NAME: tf.gather(video[keys.FRAME_NAMES], index),
  }
  if with_ground_truth:
    out[keys.INSTANCE_MAP] = tf.gather(video[keys.INSTANCE_MAP], index)
  return out


def video_to_frames(video: Dict[str, tf.Tensor],
                    annotated_only: bool = True,
                    with_ground_truth: bool = False) -> tf.data.Dataset:
  """A dataset of single frames (IMAGE, LABELS, FRAME_INDEX, ...) of a video."""
  num_frames = tf.shape(video[keys.FRAMES])[0]
  index = tf.range(num_frames)
  if annotated_only:
    index = tf.boolean_mask(index, video[keys.ANNOTATED])
  video_id = video[keys.VIDEO_ID]

  def frame(i):
    out = _frame_features(video, i, with_ground_truth)
    out[keys.VIDEO_ID] = video_id
    return out

  return tf.data.Dataset.from_tensor_slices(index).map(frame)


def video_to_pairs(video: Dict[str, tf.Tensor], delta: int,
                   annotated_only: bool = True,
                   with_ground_truth: bool = False) -> tf.data.Dataset:
  """A dataset of (t, partner(t)) pairs of one video; see module docstring.

  Each element has VIDEO_ID, DELTA and every frame key twice, suffixed _a
  (the anchor t) and _b (its partner), e.g. 'image_a', 'image_b'.
  """
  if delta < 1:
    raise ValueError(f'delta must be >= 1, got {delta}')
  num_frames = tf.shape(video[keys.FRAMES])[0]
  video_id = video[keys.VIDEO_ID]
  check = tf.debugging.Assert(
      num_frames >= 2,
      ['video_to_pairs: a video needs at least 2 frames to form pairs; video',
       video_id, 'has', num_frames])
  with tf.control_dependencies([check]):
    anchors = (video[keys.ANNOTATED] if annotated_only
               else tf.ones([num_frames], tf.bool))
    pairs = _pair_indices_tf(num_frames, delta, anchors)

  def pair(ab):
    out = {keys.VIDEO_ID: video_id, keys.DELTA: ab[1] - ab[0]}
    for which, index in (('a', ab[0]), ('b', ab[1])):
      for k, v in _frame_features(video, index, with_ground_truth).items():
        out[keys.pair_key(k, which)] = v
    return out

  return tf.data.Dataset.from_tensor_slices(pairs).map(pair)


def frames_dataset(videos: tf.data.Dataset, annotated_only: bool = True,
                   with_ground_truth: bool = False) -> tf.data.Dataset:
  """Flattens a dataset of videos into a dataset of frames, in video order."""
  return videos.flat_map(
      lambda v: video_to_frames(v, annotated_only, with_ground_truth))


def pairs_dataset(videos: tf.data.Dataset, delta: int,
                  annotated_only: bool = True,
                  with_ground_truth: bool = False) -> tf.data.Dataset:
  """Flattens a dataset of videos into a dataset of frame pairs."""
  return videos.flat_map(
      lambda v: video_to_pairs(v, delta, annotated_only, with_ground_truth))
