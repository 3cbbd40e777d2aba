"""Per-frame instance proposals -> per-video instance tracks, after UnOVOST.

The paper (sec 4.4, Table 3) turns the segmenter's per-frame masks into
tracks with UnOVOST (Luiten, Zulfikar, Leibe, WACV 2020) "with the same
hyper-parameters as the original work" (configs/unovost.yaml: overlap 0.2,
opt_flow 0.05, hungarian, no IoM, merging on; MAX_N_PROPOSALS 20). One
video, `track_video`:

  1. per frame: overlapping proposals resolved, at most 20 kept
     (proposals.resolve_overlaps);
  2. tracklets: masks of t moved to t+1 by flow, Hungarian matching on
     IoU > 0.05 (tracklets.build_tracklets);
  3. per-tracklet start, end, mean embedding / score / area
     (tracklets.tracklet_infos);
  4. trajectories: forest of predecessors by embedding distance, then path
     cutting (merging.merge_tracklets);
  5. ranking: a trajectory's key is mean_k(score_k * L_k) over its
     tracklets k in time order, score_k the tracklet's mean proposal score
     and L_k the cumulative length (frames) of tracklets 1..k, as UnOVOST's
     `merge_tracklets_ReID` computes it; the top 20 are kept (stable sort:
     emission order on ties).

Additions for video instance segmentation (UnOVOST tracks class-agnostic
objects and outputs no class or score):
  * category: the score-weighted vote of the track's proposals' classes
    (sum of scores per class, the largest wins; ties go to the smaller id),
    so one misclassified frame does not change the track's class;
  * score: the mean score of the track's proposals, a confidence in [0, 1]
    on the detector's scale, comparable across videos (the YouTube-VIS
    evaluator ranks a category's tracks of all videos together). The rank
    key, which grows with the track's length, orders the tracks of one
    video and is kept as Track.rank_score.
  * embeddings: the proposals' own, else embeddings.default_embeddings.
  * the per-frame cap: the released code caps only the output
    trajectories at MAX_N_PROPOSALS; each frame's proposals are capped at
    the same number here too (a frame cannot feed more tracks than are
    kept, and it bounds the Hungarian problems).
"""

import dataclasses
from typing import List, Optional

import numpy as np

from wsvis_tf.tracking import embeddings as embeddings_lib
from wsvis_tf.tracking import merging
from wsvis_tf.tracking import proposals as proposals_lib
from wsvis_tf.tracking import tracklets as tracklets_lib
from wsvis_tf.tracking import warping

# UnOVOST's MAX_N_PROPOSALS.
MAX_N_PROPOSALS = 20


@dataclasses.dataclass(frozen=True)
class TrackerConfig:
  """UnOVOST's hyper-parameters (configs/unovost.yaml) and our caps.

  Attributes:
    overlap_iou: Proposals of a frame overlap at IoU >= this (0.2).
    match_iou: Flow matching accepts IoU > this (opt_flow 0.05).
    max_proposals_per_frame: Proposals kept per frame, by score (20).
    max_tracks: Tracks kept per video, by rank (MAX_N_PROPOSALS = 20).
    merge: The path-cutting weights, or merging off (merging.MergeConfig).
  """
  overlap_iou: float = 0.2
  match_iou: float = 0.05
  max_proposals_per_frame: int = MAX_N_PROPOSALS
  max_tracks: int = MAX_N_PROPOSALS
  merge: merging.MergeConfig = dataclasses.field(
      default_factory=merging.MergeConfig)

  def __post_init__(self):
    for name in ('overlap_iou', 'match_iou'):
      value = getattr(self, name)
      if not 0.0 <= value <= 1.0:
        raise ValueError(f'TrackerConfig.{name} must be in [0, 1], got '
                         f'{value}')
    for name in ('max_proposals_per_frame', 'max_tracks'):
      if getattr(self, name) < 1:
        raise ValueError(f'TrackerConfig.{name} must be >= 1, got '
                         f'{getattr(self, name)}')


@dataclasses.dataclass
class Track:
  """One instance track over the T frames of a video.

  Attributes:
    proposal_ids: A [T] int64 array: on frame t, the index of the track's
      proposal in VideoPredictions.frames[t] (the caller's order), -1 where
      the track is absent.
    masks: T entries, the [H, W] bool mask on each frame or None.
    category_id: The 1-based category (score-weighted vote).
    score: Mean score of its proposals.
    rank_score: UnOVOST's ranking key (module docstring, step 5).
    tracklets: Number of tracklets merged into it.
  """
  proposal_ids: np.ndarray
  masks: List[Optional[np.ndarray]]
  category_id: int
  score: float
  rank_score: float
  tracklets: int

  @property
  def length(self) -> int:
    """Number of frames where the track has a mask."""
    return int((self.proposal_ids >= 0).sum())


def vote_category(class_ids: np.ndarray, scores: np.ndarray) -> int:
  """The class with the largest sum of scores (ties: the smallest id)."""
  class_ids = np.asarray(class_ids, np.int64)
  scores = np.asarray(scores, np.float64)
  classes = np.unique(class_ids)
  totals = [scores[class_ids == c].sum() for c in classes]
  return int(classes[int(np.argmax(totals))])


def rank_score(tracklet_scores: List[float],
               tracklet_lengths: List[int]) -> float:
  """mean_k(score_k * sum_{j <= k} length_j), tracklets in time order."""
  cumulative = np.cumsum(tracklet_lengths)
  return float(np.mean(np.asarray(tracklet_scores) * cumulative))


def _embeddings(video: proposals_lib.VideoPredictions,
                kept: List[np.ndarray]) -> List[np.ndarray]:
  """[N_t, D] embedding of each kept proposal, per frame."""
  out = []
  for t, (frame, keep) in enumerate(zip(video.frames, kept)):
    if video.has_embeddings and frame.embeddings is not None:
      out.append(frame.embeddings[keep].astype(np.float64))
    else:
      image = None if video.images is None else np.asarray(video.images[t])
      out.append(embeddings_lib.default_embeddings(
          image, frame.masks[keep]).astype(np.float64))
  return out


def track_video(video: proposals_lib.VideoPredictions,
                config: TrackerConfig = TrackerConfig()) -> List[Track]:
  """Tracks the instances of one video (module docstring).

  Args:
    video: The per-frame proposals, the flow and optionally the frames.
    config: Hyper-parameters (defaults: UnOVOST's).

  Returns:
    At most config.max_tracks tracks, best rank first. An empty video (no
    frames, or no proposals) gives [].

  Raises:
    ValueError: a flow of the wrong shape or with NaN/Inf (naming the video
      and the frame pair).
  """
  num_frames = len(video)
  kept = [proposals_lib.resolve_overlaps(
      f.masks, f.scores, config.overlap_iou, config.max_proposals_per_frame)
          for f in video.frames]
  masks = [f.masks[k] for f, k in zip(video.frames, kept)]

  def move(t, frame_masks):
    return warping.move_masks(frame_masks, video.flow(t),
                              video.flow_direction)

  tracklets = tracklets_lib.build_tracklets(masks, move, config.match_iou)
  if not tracklets:
    return []
  scores = [f.scores[k] for f, k in zip(video.frames, kept)]
  areas = [m.sum(axis=(1, 2)) for m in masks]
  infos = tracklets_lib.tracklet_infos(
      tracklets, _embeddings(video, kept), scores, areas)
  trajectories = merging.merge_tracklets(
      [i.start for i in infos], [i.end for i in infos],
      np.stack([i.embedding for i in infos]), num_frames, config.merge)

  tracks = []
  for trajectory in trajectories:
    trajectory = sorted(trajectory, key=lambda k: infos[k].start)
    proposal_ids = np.full([num_frames], -1, np.int64)
    track_masks: List[Optional[np.ndarray]] = [None] * num_frames
    track_scores, track_classes = [], []
    for k in trajectory:
      for t, j in zip(tracklets[k].frames(), tracklets[k].proposals):
        original = int(kept[t][j])
        proposal_ids[t] = original
        track_masks[t] = video.frames[t].masks[original]
        track_scores.append(video.frames[t].scores[original])
        track_classes.append(video.frames[t].class_ids[original])
    tracks.append(Track(
        proposal_ids=proposal_ids, masks=track_masks,
        category_id=vote_category(track_classes, track_scores),
        score=float(np.mean(track_scores)),
        rank_score=rank_score([infos[k].score for k in trajectory],
                              [len(tracklets[k].proposals)
                               for k in trajectory]),
        tracklets=len(trajectory)))
  order = sorted(range(len(tracks)), key=lambda i: -tracks[i].rank_score)
  return [tracks[i] for i in order[:config.max_tracks]]
