"""Merging tracklets across gaps: UnOVOST's forest path cutting (step 4).

A tracklet ends where flow matching loses its object (occlusion, a missed
detection, the object leaving the frame); the object's next tracklet starts
later. UnOVOST joins them by appearance (facts in shared/REFERENCES.md sec
4, `merge_tracklets_ReID` of the released code), in two phases:

Forest. Distances are the L2 distances between the tracklets' mean
  embeddings divided by the largest such distance in the video (so in
  [0, 1]). Visiting tracklets by start frame (then end, then index), each
  tracklet k starting at frame s gets as predecessor the tracklet j with
  end_j < s at the smallest distance. Tie rule: if that nearest j is itself
  the predecessor of the second nearest j' (j -> j' is already a chain),
  k links to j' instead, so that k continues the chain rather than forking
  it at j. A tracklet with no earlier-ending tracklet is a root. There is
  no distance threshold: every tracklet that can have a predecessor gets
  one; wrong links are undone by the cutting below, which may leave a
  child in a trajectory of its own.

Cutting. For each tree (roots by index): enumerate its root-to-leaf paths
  and choose the one maximising
      coverage_weight * sum_{k in path}(end_k - start_k) / T
      + similarity_weight * max_{k < l in path} (1 - distance(k, l))
  (UnOVOST: 0.9 and 0.1; the similarity term is 0 for a one-tracklet path;
  T is the number of frames; end - start as in the released code, so a
  one-frame tracklet adds no coverage). Ties (within 1e-9) go to the path
  whose last tracklet ends latest, then to the first path in depth-first
  order (children by index). That path is emitted as a trajectory and cut
  out of the tree; the subtrees hanging off it (children of its tracklets
  that are not on it) become trees of their own, processed the same way
  right away (depth first), then the next original tree.

Choices the description leaves open, made here: when all embeddings are
equal (the largest distance is 0) every distance is 0; the distance-order
ties among candidates go to the earlier (start, end, index).
"""

import dataclasses
from typing import List, Sequence

import numpy as np

# Scores within this are a tie in the path choice.
_TIE_TOLERANCE = 1e-9


@dataclasses.dataclass(frozen=True)
class MergeConfig:
  """UnOVOST's path-cutting weights (configs/unovost.yaml: no_merge False).

  Attributes:
    enabled: False: every tracklet is a trajectory (UnOVOST's no_merge).
    coverage_weight: Weight of the temporal coverage of a path (0.9).
    similarity_weight: Weight of its best embedding similarity (0.1).
  """
  enabled: bool = True
  coverage_weight: float = 0.9
  similarity_weight: float = 0.1


def normalised_distances(embeddings: np.ndarray) -> np.ndarray:
  """[K, D] embeddings -> [K, K] L2 distances / their maximum, in [0, 1]."""
  embeddings = np.asarray(embeddings, np.float64)
  if embeddings.ndim != 2:
    raise ValueError(f'normalised_distances: embeddings must be [K, D], got '
                     f'{embeddings.shape}')
  diff = embeddings[:, None, :] - embeddings[None, :, :]
  dist = np.sqrt((diff ** 2).sum(axis=-1))
  largest = dist.max(initial=0.0)
  return dist / largest if largest > 0 else np.zeros_like(dist)


def link_predecessors(starts: Sequence[int], ends: Sequence[int],
                      distances: np.ndarray) -> np.ndarray:
  """The forest: each tracklet's predecessor (module docstring).

  Args:
    starts: [K] first frame of each tracklet.
    ends: [K] last frame of each tracklet (inclusive).
    distances: [K, K] normalised embedding distances.

  Returns:
    A [K] int64 array: the predecessor's index, or -1 for a root.
  """
  k_count = len(starts)
  parents = np.full([k_count], -1, np.int64)
  order = sorted(range(k_count), key=lambda k: (starts[k], ends[k], k))
  for k in order:
    candidates = sorted(
        (j for j in range(k_count) if ends[j] < starts[k]),
        key=lambda j: (distances[k, j], starts[j], ends[j], j))
    if not candidates:
      continue
    best = candidates[0]
    if len(candidates) >= 2 and parents[candidates[1]] == best:
      best = candidates[1]
    parents[k] = best
  return parents


def _root_paths(root: int, children: List[List[int]]) -> List[List[int]]:
  """Every root-to-leaf path of a tree, depth first, children by index."""
  paths = []
  stack = [[root]]
  while stack:
    path = stack.pop()
    kids = children[path[-1]]
    if not kids:
      paths.append(path)
    for child in reversed(kids):
      stack.append(path + [child])
  return paths


def cut_paths(parents: np.ndarray, starts: Sequence[int],
              ends: Sequence[int], distances: np.ndarray, num_frames: int,
              config: MergeConfig = MergeConfig()) -> List[List[int]]:
  """Cuts the forest into trajectories (module docstring).

  Args:
    parents: [K] predecessor indices from link_predecessors (-1: root).
    starts, ends: [K] first and last frame of each tracklet.
    distances: [K, K] normalised embedding distances.
    num_frames: T, the number of frames of the video.
    config: The path score's weights.

  Returns:
    The trajectories in the order they were emitted, each a list of
    tracklet indices from root to leaf; together they hold every tracklet
    exactly once.
  """
  k_count = len(parents)
  children = [[] for _ in range(k_count)]
  for k in range(k_count):
    if parents[k] >= 0:
      children[parents[k]].append(k)

  def score(path):
    coverage = sum(ends[k] - starts[k] for k in path) / max(num_frames, 1)
    similarity = max((1.0 - distances[a, b] for i, a in enumerate(path)
                      for b in path[i + 1:]), default=0.0)
    return (config.coverage_weight * coverage
            + config.similarity_weight * similarity)

  trajectories = []
  stack = [k for k in reversed(range(k_count)) if parents[k] < 0]
  while stack:
    root = stack.pop()
    paths = _root_paths(root, children)
    scores = [score(p) for p in paths]
    top = max(scores)
    tied = [i for i, s in enumerate(scores) if s >= top - _TIE_TOLERANCE]
    # max returns the first of equal keys: depth-first order breaks ties.
    best = paths[max(tied, key=lambda i: ends[paths[i][-1]])]
    trajectories.append(best)
    on_path = set(best)
    new_roots = sorted(c for k in best for c in children[k]
                       if c not in on_path)
    stack.extend(reversed(new_roots))
  return trajectories


def merge_tracklets(starts: Sequence[int], ends: Sequence[int],
                    embeddings: np.ndarray, num_frames: int,
                    config: MergeConfig = MergeConfig()) -> List[List[int]]:
  """UnOVOST step 4: tracklets -> trajectories (lists of tracklet indices).

  Args:
    starts, ends: [K] first and last frame of each tracklet.
    embeddings: [K, D] mean embedding of each tracklet.
    num_frames: T, the number of frames of the video.
    config: MergeConfig; config.enabled False gives one trajectory per
      tracklet.

  Returns:
    As cut_paths; each trajectory's tracklets are in time order.
  """
  if len(starts) == 0:
    return []
  if not config.enabled:
    return [[k] for k in range(len(starts))]
  distances = normalised_distances(embeddings)
  parents = link_predecessors(starts, ends, distances)
  return cut_paths(parents, starts, ends, distances, num_frames, config)
