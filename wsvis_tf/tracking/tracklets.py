"""Tracklets: proposals linked frame to frame by flow (UnOVOST steps 1-3).

UnOVOST (Luiten, Zulfikar, Leibe, WACV 2020; facts in shared/REFERENCES.md
sec 4), for consecutive frames t and t+1:

  1. each frame's proposals are first resolved (proposals.resolve_overlaps:
     IoU >= 0.2 with a kept one, the higher score stays; at most 20);
  2. the proposals of t, moved to t+1 by the optical flow (warping.py), are
     compared with those of t+1 by mask IoU; the Hungarian algorithm
     (scipy.optimize.linear_sum_assignment on -IoU) pairs them, and a pair
     is accepted when its IoU > 0.05. A proposal of t+1 paired with one of
     t extends that proposal's tracklet; an unpaired one starts a new
     tracklet. A tracklet is therefore a run of consecutive frames with
     exactly one proposal each.
  3. per tracklet: its first and last frame, the mean of its proposals'
     embeddings, scores and mask areas.

Where the released code differs, this follows the description: its loop
never starts a tracklet from a proposal of the last frame that nothing
continues into (an off-by-one); here every unpaired proposal, the last
frame's too, starts one.
"""

import dataclasses
from typing import Callable, List, Sequence, Tuple

import numpy as np
from scipy import optimize

from wsvis_tf.tracking import proposals


@dataclasses.dataclass
class Tracklet:
  """A run of proposals on consecutive frames.

  Attributes:
    start: First frame index.
    proposals: Proposal index on frames start, start + 1, ..., end (indices
      into the arrays the builder was given for each frame).
  """
  start: int
  proposals: List[int]

  @property
  def end(self) -> int:
    """Last frame index (inclusive)."""
    return self.start + len(self.proposals) - 1

  def frames(self) -> range:
    return range(self.start, self.end + 1)


@dataclasses.dataclass(frozen=True)
class TrackletInfo:
  """UnOVOST's `get_tracklets_info` summary of one tracklet.

  Attributes:
    start: First frame index.
    end: Last frame index (inclusive).
    embedding: [D] float64 mean of the proposals' embeddings.
    score: Mean proposal score.
    area: Mean mask area in pixels.
  """
  start: int
  end: int
  embedding: np.ndarray
  score: float
  area: float


def hungarian_match(iou: np.ndarray, min_iou: float
                    ) -> List[Tuple[int, int]]:
  """Pairs rows and columns of an IoU matrix (UnOVOST `match_hungarian`).

  Args:
    iou: A [M, N] float array.
    min_iou: Pairs of the optimal assignment with IoU <= min_iou are dropped.

  Returns:
    The accepted (row, column) pairs, rows ascending.
  """
  iou = np.asarray(iou, np.float64)
  if iou.ndim != 2:
    raise ValueError(f'hungarian_match: iou must be [M, N], got {iou.shape}')
  if iou.size == 0:
    return []
  rows, cols = optimize.linear_sum_assignment(-iou)
  return [(int(r), int(c)) for r, c in zip(rows, cols) if iou[r, c] > min_iou]


def build_tracklets(
    masks: Sequence[np.ndarray],
    move: Callable[[int, np.ndarray], np.ndarray],
    min_iou: float) -> List[Tracklet]:
  """Links each frame's proposals to the next frame's (step 2 above).

  Args:
    masks: T arrays [N_t, H, W] bool, the resolved proposals of each frame.
    move: (t, masks of frame t) -> those masks on frame t+1 (flow-warped).
    min_iou: Matching accepts IoU > min_iou (UnOVOST: 0.05).

  Returns:
    The tracklets, in order of creation: by start frame, then by proposal
    index within that frame.
  """
  tracklets: List[Tracklet] = []
  # Proposal index in the previous frame -> the tracklet it ends.
  active = {}
  for t, current in enumerate(masks):
    links = {}
    if t > 0 and active and len(current):
      moved = move(t - 1, masks[t - 1])
      iou = proposals.iou_matrix(moved, current)
      for i, j in hungarian_match(iou, min_iou):
        links[j] = active[i]
    active = {}
    for j in range(len(current)):
      if j in links:
        tracklets[links[j]].proposals.append(j)
        active[j] = links[j]
      else:
        active[j] = len(tracklets)
        tracklets.append(Tracklet(start=t, proposals=[j]))
  return tracklets


def tracklet_infos(tracklets: Sequence[Tracklet],
                   embeddings: Sequence[np.ndarray],
                   scores: Sequence[np.ndarray],
                   areas: Sequence[np.ndarray]) -> List[TrackletInfo]:
  """UnOVOST step 3: start, end and the means of each tracklet.

  Args:
    tracklets: From build_tracklets.
    embeddings: T arrays [N_t, D], the proposals' embeddings per frame.
    scores: T arrays [N_t], their scores.
    areas: T arrays [N_t], their mask areas.

  Returns:
    One TrackletInfo per tracklet, same order.
  """
  infos = []
  for tr in tracklets:
    pairs = list(zip(tr.frames(), tr.proposals))
    infos.append(TrackletInfo(
        start=tr.start, end=tr.end,
        embedding=np.mean([embeddings[t][j] for t, j in pairs], axis=0,
                          dtype=np.float64),
        score=float(np.mean([scores[t][j] for t, j in pairs])),
        area=float(np.mean([areas[t][j] for t, j in pairs]))))
  return infos
