"""Flow extraction into a FlowStore: every pair a later stage reads.

For each video of T frames (paper sec 4.2):
  * (t, t + 1) and (t + 1, t) for every t: f-CAMs and f-Bound use frame t's
    flow to t + 1 (t - 1 for the last frame), FlowStore.flow_for_frame;
  * (a, b) and (b, a) for every (a, b) of wsvis_tf.data.pairs.pair_indices(T,
    delta, annotated): MaskConsist warps predictions between paired frames.
One bidirectional DDFlow call gives both directions of a pair. Files that
exist are skipped, so an interrupted extraction resumes per file.
"""

from typing import Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

from absl import logging
import numpy as np

from wsvis_tf.core import keys
from wsvis_tf.data import pairs as pairs_lib
from wsvis_tf.flow import flow_store as store_lib

# (frames1, frames2) [B, H, W, 3] float32 in [0, 1] -> (fw, bw) [B, H, W, 2].
PredictFn = Callable[[np.ndarray, np.ndarray], Tuple[np.ndarray, np.ndarray]]


def required_pairs(num_frames: int, delta: int,
                   annotated: Optional[np.ndarray] = None
                  ) -> List[Tuple[int, int]]:
  """Sorted ordered (a, b) pairs whose flow a -> b a video needs.

  Raises ValueError for a video of fewer than 2 frames.
  """
  if num_frames < 2:
    raise ValueError(f'a video of {num_frames} frame(s) has no optical flow; '
                     'flow needs at least 2 frames')
  out: Set[Tuple[int, int]] = set()
  for t in range(num_frames - 1):
    out.update({(t, t + 1), (t + 1, t)})
  for a, b in pairs_lib.pair_indices(num_frames, delta, annotated):
    out.update({(int(a), int(b)), (int(b), int(a))})
  return sorted(out)


def extract_video(predict_fn: PredictFn, store: store_lib.FlowStore,
                  video_id: str, frames: np.ndarray,
                  pairs: Iterable[Tuple[int, int]], batch_size: int = 8
                 ) -> Dict[str, int]:
  """Computes and writes the missing flows of one video.

  Args:
    predict_fn: The bidirectional flow model.
    store: Where flows go.
    video_id: The video's id.
    frames: [T, H, W, 3] uint8.
    pairs: Ordered (a, b) pairs to store.
    batch_size: Frame pairs per model call.

  Returns:
    {'written': n, 'skipped': n} counts of flow files.
  """
  frames = np.asarray(frames)
  if frames.ndim != 4 or frames.shape[-1] != 3:
    raise ValueError(f'video {video_id}: frames must be [T, H, W, 3], got '
                     f'{frames.shape}')
  if len(frames) < 2:
    raise ValueError(f'video {video_id} has {len(frames)} frame(s); optical '
                     'flow needs at least 2')
  pairs = list(pairs)
  todo = sorted({(min(a, b), max(a, b)) for a, b in pairs
                 if not store.exists(video_id, a, b)})
  wanted = set(pairs)
  skipped = sum(1 for a, b in pairs if store.exists(video_id, a, b))
  written = 0
  for i in range(0, len(todo), batch_size):
    chunk = todo[i:i + batch_size]
    im1 = frames[[a for a, _ in chunk]].astype(np.float32) / 255.0
    im2 = frames[[b for _, b in chunk]].astype(np.float32) / 255.0
    fw, bw = predict_fn(im1, im2)
    for (a, b), f, g in zip(chunk, fw, bw):
      for (x, y), flow in (((a, b), f), ((b, a), g)):
        if (x, y) in wanted and not store.exists(video_id, x, y):
          store.write(video_id, x, y, flow)
          written += 1
  return {'written': written, 'skipped': skipped}


def extract_video_example(predict_fn: PredictFn,
                          store: store_lib.FlowStore,
                          video: Mapping[str, np.ndarray], delta: int,
                          batch_size: int = 8) -> Dict[str, int]:
  """extract_video on a numpy video example (VIDEO_ID, FRAMES, ANNOTATED).

  The per-video work of the flow stage, in-process or on Beam
  (wsvis_tf.pipeline.per_video): every pair of required_pairs.

  Returns:
    {'written': n, 'skipped': n} counts of flow files.
  """
  vid = keys.as_text(video[keys.VIDEO_ID])
  frames = np.asarray(video[keys.FRAMES])
  annotated = video.get(keys.ANNOTATED)
  pairs = required_pairs(len(frames), delta, annotated)
  return extract_video(predict_fn, store, vid, frames, pairs, batch_size)


def extract_videos(predict_fn: PredictFn, store: store_lib.FlowStore,
                   videos: Iterable[Mapping[str, np.ndarray]], delta: int,
                   batch_size: int = 8,
                   progress: Optional[Callable[[int], None]] = None
                  ) -> Dict[str, int]:
  """extract_video over numpy video examples (VIDEO_ID, FRAMES, ANNOTATED).

  Returns counts of videos, flow files written and skipped.
  """
  totals = {'videos': 0, 'written': 0, 'skipped': 0}
  for video in videos:
    counts = extract_video_example(predict_fn, store, video, delta,
                                   batch_size)
    totals['videos'] += 1
    totals['written'] += counts['written']
    totals['skipped'] += counts['skipped']
    if progress:
      progress(totals['videos'])
  logging.info('flow extraction: %s', totals)
  return totals


def model_predict_fn(model) -> PredictFn:
  """A PredictFn from a DDFlow model (wsvis_tf.flow.model)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from wsvis_tf.flow import model as model_lib  # pylint: disable=g-import-not-at-top

  @tf.function(reduce_retracing=True)
  def predict(im1, im2):
    out = model((im1, im2), training=False)
    return out[model_lib.FLOW_FW], out[model_lib.FLOW_BW]

  def fn(im1, im2):
    fw, bw = predict(tf.constant(im1, tf.float32), tf.constant(im2,
                                                               tf.float32))
    return fw.numpy(), bw.numpy()
  return fn
