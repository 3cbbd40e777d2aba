"""Frame pairs for unsupervised flow training, with DDFlow's augmentation.

Training needs no labels: every (t, t + d) pair of every training video, for
d in the config's frame_distances. Frames are kept in memory as one uint8
array (the procedural default is ~40 MB) and pairs as indices into it.

The distillation stage also needs the teacher's full-frame predictions for
every pair (DDFlow stores them as 16-bit PNGs; here one float16 .npz next to
the checkpoints), and crops a random patch of each example (DDFlow: 224x640
patches of 320x896 crops) so that the student sees borders the teacher saw
past.
"""

import dataclasses
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from wsvis_tf.core import keys

IMAGE1 = 'image1'
IMAGE2 = 'image2'
TEACHER_FW = 'teacher_flow_fw'
TEACHER_BW = 'teacher_flow_bw'
TEACHER_OCC_FW = 'teacher_occ_fw'
TEACHER_OCC_BW = 'teacher_occ_bw'


@dataclasses.dataclass
class PairData:
  """Frames of many videos and the pairs to train on.

  Attributes:
    frames: [N, H, W, 3] uint8, every frame of every video, video after video.
    pairs: [P, 2] int32 indices into frames: (first, second) of each pair.
  """
  frames: np.ndarray
  pairs: np.ndarray

  @property
  def image_size(self) -> Tuple[int, int]:
    return int(self.frames.shape[1]), int(self.frames.shape[2])


def check_video(video_id: str, frames: np.ndarray) -> None:
  """Raises ValueError unless frames is a [T >= 2, H, W, 3] uint8 video."""
  frames = np.asarray(frames)
  if frames.ndim != 4 or frames.shape[-1] != 3:
    raise ValueError(f'video {video_id}: frames must be [T, H, W, 3], got '
                     f'{frames.shape}')
  if frames.shape[0] < 2:
    raise ValueError(f'video {video_id} has {frames.shape[0]} frame(s); '
                     'optical flow needs at least 2 frames')


def collect_pairs(videos: Iterable[Mapping[str, np.ndarray]],
                  distances: Sequence[int]) -> PairData:
  """All (t, t + d) pairs of numpy video examples (keys.FRAMES, VIDEO_ID).

  Raises ValueError if a video has fewer than 2 frames, or if videos differ
  in frame size (training batches need one size).
  """
  frames: List[np.ndarray] = []
  pairs = []
  offset = 0
  size = None
  for video in videos:
    vid = video.get(keys.VIDEO_ID, b'?')
    vid = keys.as_text(vid)
    f = np.asarray(video[keys.FRAMES])
    check_video(vid, f)
    if size is None:
      size = f.shape[1:3]
    elif f.shape[1:3] != size:
      raise ValueError(f'video {vid} has frames of size {f.shape[1:3]}, '
                       f'earlier videos {size}: flow training needs frames '
                       'of one size (resize them when building the dataset)')
    t = len(f)
    for d in distances:
      for a in range(t - d):
        pairs.append((offset + a, offset + a + d))
    frames.append(f.astype(np.uint8))
    offset += t
  if not frames:
    raise ValueError('no videos to train flow on')
  if not pairs:
    raise ValueError(f'videos too short for frame distances {distances}')
  return PairData(np.concatenate(frames), np.asarray(pairs, np.int32))


def _flip(x: Dict[str, tf.Tensor], axis: int) -> Dict[str, tf.Tensor]:
  """Flips every [H, W, C] tensor along axis (1: columns, 0: rows).

  Flows change sign in the flipped component (dx for columns, dy for rows).
  """
  sign = tf.constant([-1.0, 1.0] if axis == 1 else [1.0, -1.0])
  out = {}
  for k, v in x.items():
    v = tf.reverse(v, [axis])
    if k in (TEACHER_FW, TEACHER_BW):
      v = v * sign
    out[k] = v
  return out


def _swap(x: Dict[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
  """Swaps the frames of a pair (and the teacher's two directions)."""
  out = dict(x)
  out[IMAGE1], out[IMAGE2] = x[IMAGE2], x[IMAGE1]
  if TEACHER_FW in x:
    out[TEACHER_FW], out[TEACHER_BW] = x[TEACHER_BW], x[TEACHER_FW]
    out[TEACHER_OCC_FW], out[TEACHER_OCC_BW] = (x[TEACHER_OCC_BW],
                                                x[TEACHER_OCC_FW])
  return out


def _random_crop(x: Dict[str, tf.Tensor], size: Tuple[int, int],
                 seed: tf.Tensor) -> Dict[str, tf.Tensor]:
  h, w = tf.shape(x[IMAGE1])[0], tf.shape(x[IMAGE1])[1]
  oy = tf.random.stateless_uniform([], seed, 0, h - size[0] + 1, tf.int32)
  ox = tf.random.stateless_uniform([], seed + 1, 0, w - size[1] + 1, tf.int32)
  return {k: v[oy:oy + size[0], ox:ox + size[1]] for k, v in x.items()}


def make_dataset(data: PairData, batch_size: int, seed: int,
                 flip: bool = True, temporal_swap: bool = True,
                 teacher: Optional[Mapping[str, np.ndarray]] = None,
                 patch_size: Optional[Tuple[int, int]] = None
                ) -> tf.data.Dataset:
  """An endless, shuffled dataset of batches {IMAGE1, IMAGE2 (, TEACHER_*)}.

  Images are [B, H, W, 3] float32 in [0, 1]. With a teacher (arrays of
  [P, H, W, 2] float16 flows and [P, H, W, 1] occlusion, aligned with
  data.pairs), each example carries the teacher's predictions and is cropped
  to patch_size (before batching, so all crops of a batch have one size).
  """
  frames = tf.constant(data.frames)
  num = len(data.pairs)
  index = tf.data.Dataset.range(num).shuffle(
      min(num, 10000), seed=seed, reshuffle_each_iteration=True).repeat()
  index = tf.data.Dataset.zip(
      (index, tf.data.Dataset.random(seed=seed).batch(2)))
  pairs = tf.constant(data.pairs)
  teacher_t = None
  if teacher is not None:
    teacher_t = {k: tf.constant(teacher[k]) for k in
                 (TEACHER_FW, TEACHER_BW, TEACHER_OCC_FW, TEACHER_OCC_BW)}

  def example(i, rand):
    rand = tf.cast(rand % (2**31 - 1), tf.int32)
    ab = tf.gather(pairs, i)
    x = {IMAGE1: tf.cast(tf.gather(frames, ab[0]), tf.float32) / 255.0,
         IMAGE2: tf.cast(tf.gather(frames, ab[1]), tf.float32) / 255.0}
    if teacher_t is not None:
      for k, v in teacher_t.items():
        x[k] = tf.cast(tf.gather(v, i), tf.float32)
    coins = tf.random.stateless_uniform([3], rand, 0.0, 1.0)
    if flip:
      x = tf.cond(coins[0] < 0.5, lambda: _flip(x, 1), lambda: x)
      x = tf.cond(coins[1] < 0.5, lambda: _flip(x, 0), lambda: x)
    if temporal_swap:
      x = tf.cond(coins[2] < 0.5, lambda: _swap(x), lambda: x)
    if patch_size is not None:
      x = _random_crop(x, patch_size, rand + 7)
    return x

  return (index.map(example, num_parallel_calls=tf.data.AUTOTUNE)
          .batch(batch_size, drop_remainder=True)
          .prefetch(2))


def compute_teacher(predict_fn, data: PairData, batch_size: int = 8
                   ) -> Dict[str, np.ndarray]:
  """The teacher's full-frame flows and occlusion for every pair.

  Args:
    predict_fn: (image1, image2) [B, H, W, 3] float32 -> (flow_fw, flow_bw,
      occ_fw, occ_bw) numpy arrays.
    data: The pairs.
    batch_size: Pairs per call.

  Returns:
    {TEACHER_FW, TEACHER_BW: [P, H, W, 2] float16,
     TEACHER_OCC_FW, TEACHER_OCC_BW: [P, H, W, 1] uint8}.
  """
  out = {TEACHER_FW: [], TEACHER_BW: [], TEACHER_OCC_FW: [],
         TEACHER_OCC_BW: []}
  for start in range(0, len(data.pairs), batch_size):
    ab = data.pairs[start:start + batch_size]
    im1 = data.frames[ab[:, 0]].astype(np.float32) / 255.0
    im2 = data.frames[ab[:, 1]].astype(np.float32) / 255.0
    fw, bw, ofw, obw = predict_fn(im1, im2)
    out[TEACHER_FW].append(np.asarray(fw, np.float16))
    out[TEACHER_BW].append(np.asarray(bw, np.float16))
    out[TEACHER_OCC_FW].append(np.asarray(ofw, np.uint8))
    out[TEACHER_OCC_BW].append(np.asarray(obw, np.uint8))
  return {k: np.concatenate(v) for k, v in out.items()}


def pairs_from_source(source, split: str,
                      distances: Sequence[int]) -> PairData:
  """collect_pairs over a VideoSource split (wsvis_tf.data.sources)."""
  videos = ({keys.VIDEO_ID: v[keys.VIDEO_ID], keys.FRAMES: v[keys.FRAMES]}
            for v in tfds.as_numpy(source.videos(split)))
  return collect_pairs(videos, distances)


def eval_pairs_from_source(source, split: str, num_pairs: int,
                           distance: int = 1
                          ) -> List[Tuple[np.ndarray, np.ndarray, np.ndarray]]:
  """Up to num_pairs (frame t, frame t + 1, ground-truth flow) triples.

  Spread over the split's videos; empty if the dataset has no GT_FLOW (only
  procedural data has it) or num_pairs is 0.
  """
  if num_pairs <= 0 or distance != 1:
    return []
  if keys.GT_FLOW not in source.builder.info.features:
    return []
  videos = list(tfds.as_numpy(source.videos(split)))
  out = []
  per_video = max(1, -(-num_pairs // max(len(videos), 1)))
  for v in videos:
    frames, gt = v[keys.FRAMES], v[keys.GT_FLOW]
    picks = np.unique(np.linspace(0, len(gt) - 1, per_video).round()
                      .astype(int))
    for t in picks:
      out.append((frames[t], frames[t + 1], gt[t].astype(np.float32)))
  return out[:num_pairs]
