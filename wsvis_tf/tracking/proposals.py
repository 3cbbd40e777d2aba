"""The tracker's input: per-frame instance proposals of one video.

A video is a `VideoPredictions`: one `FrameProposals` per frame (the
segmenter's instances on that frame), an optional flow function and the
optional frames themselves (for the default appearance embedding,
`embeddings.py`). Everything is numpy; nothing here needs TensorFlow.

Flow between consecutive frames t and t+1 comes from `flow_fn(t)`, t in
[0, T-2], in the project's convention (`wsvis_tf/core/flow_ops.py`: [H, W, 2]
float pixels, channel 0 = dx, channel 1 = dy) and in one of two directions,
declared by `flow_direction`:

  BACKWARD  flow_fn(t) is the flow t+1 -> t: pixel (x, y) of frame t+1 shows
            the point at (x + u, y + v) of frame t. Masks of t are carried to
            t+1 by backward bilinear warping, as
            `wsvis_tf/evaluation/temporal.py` does (`FlowStore.read(video,
            t + 1, t)` gives this flow).
  FORWARD   flow_fn(t) is the flow t -> t+1: pixel (x, y) of frame t moves to
            (x + u, y + v) in frame t+1. Masks of t are carried to t+1 by
            forward splatting (`warping.py`). The procedural dataset's exact
            GT_FLOW[t] and `FlowStore.read(video, t, t + 1)` are this flow.

Without flow (`flow_fn` None, or `flow_fn(t)` returning None for a pair) the
masks of t are compared with those of t+1 where they are: zero motion.

Proposal overlap resolution and the per-frame cap (UnOVOST step 1) are here
too: `resolve_overlaps`.
"""

import dataclasses
from typing import Callable, List, Optional, Sequence

import numpy as np

from wsvis_tf.tracking import warping

BACKWARD = warping.BACKWARD
FORWARD = warping.FORWARD
FLOW_DIRECTIONS = (BACKWARD, FORWARD)

# t -> the [H, W, 2] flow between frames t and t+1 (see the module
# docstring for its direction), or None where it is unknown.
FlowFn = Callable[[int], Optional[np.ndarray]]


def array_flow_fn(flows: np.ndarray) -> FlowFn:
  """A FlowFn over a [T - 1, H, W, 2] array: flows[t] between t and t+1."""
  flows = np.asarray(flows)
  if flows.ndim != 4 or flows.shape[-1] != 2:
    raise ValueError(f'array_flow_fn: flows must be [T - 1, H, W, 2], got '
                     f'{list(flows.shape)}')

  def flow_fn(t: int) -> np.ndarray:
    if not 0 <= t < len(flows):
      raise ValueError(f'no flow between frames {t} and {t + 1}: the array '
                       f'holds {len(flows)} flows (frames 0..{len(flows)})')
    return flows[t]

  return flow_fn


@dataclasses.dataclass
class FrameProposals:
  """The instance proposals (predictions) of one frame.

  Attributes:
    masks: A [N, H, W] bool array (any nonzero input counts as inside).
    scores: A [N] float32 array of finite confidences.
    class_ids: A [N] int64 array of 1-based category ids.
    embeddings: An optional [N, D] float32 array of appearance features
      (e.g. the detector's ROI features); None to let the tracker compute
      its default embedding (embeddings.py).
  """
  masks: np.ndarray
  scores: np.ndarray
  class_ids: np.ndarray
  embeddings: Optional[np.ndarray] = None

  def __post_init__(self):
    masks = np.asarray(self.masks)
    if masks.ndim != 3:
      raise ValueError(f'FrameProposals: masks must be [N, H, W], got shape '
                       f'{masks.shape}')
    self.masks = masks != 0
    n = masks.shape[0]
    self.scores = np.asarray(self.scores, np.float32).reshape(-1)
    self.class_ids = np.asarray(self.class_ids).reshape(-1)
    if self.scores.shape != (n,) or self.class_ids.shape != (n,):
      raise ValueError(f'FrameProposals: {n} masks but scores of shape '
                       f'{self.scores.shape} and class_ids of shape '
                       f'{self.class_ids.shape}')
    if not np.all(np.isfinite(self.scores)):
      raise ValueError(f'FrameProposals: scores must be finite, got '
                       f'{self.scores.tolist()}')
    if n and not np.issubdtype(self.class_ids.dtype, np.integer):
      raise ValueError(f'FrameProposals: class_ids must be integers, got '
                       f'dtype {self.class_ids.dtype}')
    self.class_ids = self.class_ids.astype(np.int64)
    if np.any(self.class_ids < 1):
      raise ValueError(f'FrameProposals: class_ids are 1-based category ids, '
                       f'got {self.class_ids.tolist()}')
    if self.embeddings is not None:
      emb = np.asarray(self.embeddings, np.float32)
      if emb.ndim != 2 or emb.shape[0] != n:
        raise ValueError(f'FrameProposals: embeddings must be [{n}, D], got '
                         f'shape {emb.shape}')
      if not np.all(np.isfinite(emb)):
        raise ValueError('FrameProposals: embeddings must be finite')
      self.embeddings = emb

  def __len__(self) -> int:
    return self.masks.shape[0]

  @property
  def size(self):
    """(H, W) of the frame."""
    return self.masks.shape[1:]

  @classmethod
  def from_instances(cls, instances,
                     embeddings: Optional[np.ndarray] = None
                     ) -> 'FrameProposals':
    """From `wsvis_tf.evaluation.instances.FrameInstances` (+ embeddings)."""
    return cls(masks=instances.masks, scores=instances.scores,
               class_ids=instances.class_ids, embeddings=embeddings)

  @classmethod
  def empty(cls, height: int, width: int) -> 'FrameProposals':
    """A frame without proposals."""
    return cls(np.zeros((0, height, width), bool), np.zeros([0], np.float32),
               np.zeros([0], np.int64))


@dataclasses.dataclass
class VideoPredictions:
  """Everything the tracker reads about one video.

  Attributes:
    frames: T FrameProposals of consecutive frames 0..T-1, all of one size
      (H, W). T may be 0 (no tracks).
    flow_fn: t -> flow between frames t and t+1, see the module docstring;
      None for zero motion everywhere.
    flow_direction: BACKWARD or FORWARD, the direction of flow_fn's flows.
    images: Optional [T, H, W, 3] uint8 frames (or a length-T sequence of
      [H, W, 3]); only read for the default appearance embedding when the
      proposals carry no embeddings.
    name: For error messages, e.g. the video id.
  """
  frames: Sequence[FrameProposals]
  flow_fn: Optional[FlowFn] = None
  flow_direction: str = BACKWARD
  images: Optional[Sequence[np.ndarray]] = None
  name: str = 'video'

  def __post_init__(self):
    self.frames = list(self.frames)
    if self.flow_direction not in FLOW_DIRECTIONS:
      raise ValueError(f'{self.name}: flow_direction must be one of '
                       f'{FLOW_DIRECTIONS}, got {self.flow_direction!r}')
    for t, frame in enumerate(self.frames):
      if not isinstance(frame, FrameProposals):
        raise ValueError(f'{self.name}: frame {t} is a '
                         f'{type(frame).__name__}, expected FrameProposals')
      if frame.size != self.frames[0].size:
        raise ValueError(f'{self.name}: frame {t} masks are '
                         f'{list(frame.size)}, frame 0 masks are '
                         f'{list(self.frames[0].size)}')
    with_embeddings = [f.embeddings is not None for f in self.frames if len(f)]
    if any(with_embeddings) and not all(with_embeddings):
      missing = [t for t, f in enumerate(self.frames)
                 if len(f) and f.embeddings is None]
      raise ValueError(f'{self.name}: some frames carry embeddings and frames '
                       f'{missing} do not; give all or none')
    dims = {f.embeddings.shape[1] for f in self.frames
            if f.embeddings is not None and len(f)}
    if len(dims) > 1:
      raise ValueError(f'{self.name}: embeddings of different sizes '
                       f'{sorted(dims)} across frames')
    if self.images is not None:
      if len(self.images) != len(self.frames):
        raise ValueError(f'{self.name}: {len(self.images)} images for '
                         f'{len(self.frames)} frames')
      for t, image in enumerate(self.images):
        shape = np.shape(image)
        if shape != tuple(self.frames[t].size) + (3,):
          raise ValueError(f'{self.name}: image {t} has shape {shape}, '
                           f'expected {list(self.frames[t].size) + [3]}')

  def __len__(self) -> int:
    return len(self.frames)

  @property
  def has_embeddings(self) -> bool:
    return any(f.embeddings is not None for f in self.frames)

  def flow(self, t: int) -> Optional[np.ndarray]:
    """The checked [H, W, 2] float32 flow between frames t and t+1, or None.

    Raises:
      ValueError: the flow has the wrong shape or non-finite values.
    """
    if self.flow_fn is None:
      return None
    flow = self.flow_fn(t)
    if flow is None:
      return None
    flow = np.asarray(flow, np.float32)
    want = tuple(self.frames[t].size) + (2,)
    if flow.shape != want:
      raise ValueError(f'{self.name}: {self.flow_direction} flow between '
                       f'frames {t} and {t + 1} has shape {list(flow.shape)},'
                       f' expected [H, W, 2] = {list(want)}')
    if not np.all(np.isfinite(flow)):
      raise ValueError(f'{self.name}: {self.flow_direction} flow between '
                       f'frames {t} and {t + 1} has NaN/Inf values')
    return flow


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """[N, H, W] x [M, H, W] binary masks -> [N, M] float64 IoU.

  Exact (pixel counts in float64), so that IoU thresholds such as UnOVOST's
  "> 0.05" and ">= 0.2" hold at equality; mask_ops.mask_iou rounds to
  float32 (float32(0.05) > 0.05). 0 where both masks are empty.
  """
  a = np.asarray(a).reshape(len(a), -1) != 0
  b = np.asarray(b).reshape(len(b), -1) != 0
  if a.shape[1] != b.shape[1]:
    raise ValueError(f'iou_matrix: mask sizes differ: {a.shape[1]} vs '
                     f'{b.shape[1]} pixels')
  a = a.astype(np.float64)
  b = b.astype(np.float64)
  inter = a @ b.T
  union = a.sum(1)[:, None] + b.sum(1)[None, :] - inter
  return np.where(union > 0, inter / np.maximum(union, 1), 0.0)


def resolve_overlaps(masks: np.ndarray, scores: np.ndarray,
                     overlap_iou: float, max_proposals: int) -> np.ndarray:
  """UnOVOST step 1: drops overlapping proposals, keeps the best ones.

  UnOVOST (`remove_overlap_props`): a proposal whose IoU with an
  already-kept one is >= overlap_iou is resolved in favour of the higher
  score, repeated until no kept pair overlaps. Visiting proposals in
  descending score order (ties: lower index first), a newcomer never beats
  a kept one, so this is greedy NMS at overlap_iou. Then at most
  max_proposals are kept, by score. Empty masks are dropped first: they
  cannot be matched to anything.

  Args:
    masks: A [N, H, W] bool array.
    scores: A [N] float array.
    overlap_iou: IoU at or above which two proposals overlap (UnOVOST: 0.2).
    max_proposals: The cap (UnOVOST's MAX_N_PROPOSALS = 20).

  Returns:
    The [K] int64 indices of the kept proposals in descending score order,
    K <= min(N, max_proposals).
  """
  order = np.argsort(-np.asarray(scores, np.float64), kind='stable')
  order = order[masks[order].any(axis=(1, 2))]
  if order.size == 0:
    return order.astype(np.int64)
  ious = iou_matrix(masks[order], masks[order])
  kept: List[int] = []
  for i in range(order.size):
    if len(kept) >= max_proposals:
      break
    if not kept or ious[i, kept].max() < overlap_iou:
      kept.append(i)
  return order[kept].astype(np.int64)
