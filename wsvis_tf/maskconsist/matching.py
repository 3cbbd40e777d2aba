"""MaskConsist's label transfer between two frames (paper sec 3.3), in numpy.

At every training iteration MaskConsist takes a pair of frames (a, b) =
(t, t + delta), the current Mask R-CNN's predictions on both and their
flowIRN pseudo-labels, and adds to each frame's labels the predictions of the
other frame that are temporally stable and overlap a flowIRN label:

  1. Intra-frame matching (Fig. 3a, `expand_intra_frame`): the candidate set
     P_exp of a frame is its top predictions plus, for every flowIRN label,
     the union of the predictions of the label's class whose box overlaps
     the label's box by IoU > 0.5 (early predictions are fragmented; their
     union is the whole object).
  2. Inter-frame matching (Fig. 3b, `match_inter_frame`): a bipartite graph
     between P_exp^a and P_exp^b with weights
       e_ij = [c_i = c_j] * IoU(W_{a->b}(m_i), m_j),
     W_{a->b} the bilinear warp of a mask from frame a onto frame b by the
     optical flow, solved by the Hungarian algorithm
     (scipy.optimize.linear_sum_assignment); pairs of weight 0 are no match.
  3. Temporally consistent labels (Fig. 3c, Algorithm 1, `transfer`): a
     matched prediction p_i of frame a whose box overlaps a flowIRN label of
     frame a of its class by box IoU > 0.5 is warped onto b and merged
     (mask union) with its match p_j; the result is a new label of b. The
     same runs from b to a.
  4. Combination (`combine`): P_maskCon U P_fIRN, with IoM-NMS: a mask whose
     intersection over the smaller mask's area with a kept mask of its
     class exceeds 0.5 is dropped.

Choices the paper leaves open, made here:
  * Warping (paper appendix A.2) is backward and bilinear: to carry a mask
    from frame a onto frame b, each pixel x of b samples the mask of a at
    x + flow_ba(x), flow_ba the flow b -> a; samples outside the frame read
    0 (an object leaving the frame is not stretched along the border); the
    result is binarised at 0.5. Both flows of a pair are inputs.
  * The candidate predictions are those with score >= min_score (the
    inference threshold, 0.05), at most max_predictions (100) by score;
    masks given as probabilities are binarised at mask_threshold (0.5);
    empty masks are dropped.
  * A union in step 1 needs at least two predictions (the union of one is
    the prediction itself); labels selecting the same predictions give one
    union. Its score is its members' highest, its box the union's tight box.
  * Without inter-frame matching (Table 5's ablation), every candidate that
    passes Algorithm 1's flowIRN-overlap test is warped and transferred
    alone (there is no match to merge it with).
  * What IoM-NMS keeps (`iom_priority`). The paper suppresses "smaller
    masks that are contained within the others" to avoid "label
    redundancy" and "false positives corresponding to partial masks from
    inter-frame matching", MaskConsist being there to recover *missing*
    instances. 'labels_first' (the default) keeps every flowIRN label and
    adds a transferred mask only where it does not overlap (IoM <= 0.5) a
    label or a larger transferred mask: transfers fill in missing
    instances, and among transfers the partial ones go. 'larger_first'
    visits all masks from the largest down, so a transferred mask also
    replaces a smaller flowIRN label it contains. Measured on correct
    labels (the procedural ground truth as pseudo-labels, exact flow, 800
    quick steps): 'larger_first' took validation AP50 from 0.756 (plain
    Mask R-CNN) to 0.31, because Merge (a union) is larger than either
    mask, replaces the label, the model learns the larger mask, and the
    next unions grow again (wsvis_tf/maskconsist/README.md). Masks of
    different classes never suppress each other (an object in front of
    one of another class keeps both). Without IoM-NMS the two sets are
    simply concatenated.
  * Transferred labels get the tight box of their mask, as flowIRN labels
    do; a transferred mask that is empty after warping is dropped.

Masks are [N, H, W] bool, boxes [N, 4] float32 (y1, x1, y2, x2) in pixels
with exclusive maxima (wsvis_tf/core/mask_ops.py), classes [N] int32
(1-based category ids, as tf-models' Mask R-CNN uses them), flows [H, W, 2]
float32 (dx, dy) in pixels with flow_ab moving pixels of frame a to frame b.
Everything here is plain numpy and scipy; the train step calls
`consistent_labels` through one tf.py_function.
"""

import dataclasses
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from scipy import optimize

# Keys of the stats dict returned by consistent_labels.
STAT_CANDIDATES_A = 'candidates_a'
STAT_CANDIDATES_B = 'candidates_b'
STAT_EXPANDED_A = 'expanded_a'
STAT_EXPANDED_B = 'expanded_b'
STAT_MATCHED = 'matched'
STAT_TRANSFERRED_A = 'transferred_a'
STAT_TRANSFERRED_B = 'transferred_b'
STAT_SUPPRESSED = 'suppressed'
IOM_PRIORITIES = ('labels_first', 'larger_first')
STAT_KEYS = (STAT_CANDIDATES_A, STAT_CANDIDATES_B, STAT_EXPANDED_A,
             STAT_EXPANDED_B, STAT_MATCHED, STAT_TRANSFERRED_A,
             STAT_TRANSFERRED_B, STAT_SUPPRESSED)


@dataclasses.dataclass(frozen=True)
class MatchingConfig:
  """MaskConsist's settings (paper sec 4.2 values as defaults).

  Attributes:
    intra_frame: Step 1 (Table 5's Intra-F).
    inter_frame: Step 2 (Inter-F); off, step 3 transfers every candidate
      that passes the flowIRN-overlap test, unmerged.
    iom_nms: IoM-NMS in step 4.
    intra_box_iou: Box IoU above which a prediction joins a flowIRN label's
      union in step 1 (0.5).
    transfer_box_iou: Algorithm 1's box IoU with a flowIRN label of the
      prediction's own frame (0.5).
    iom_threshold: IoM above which IoM-NMS drops a mask (0.5).
    iom_priority: 'labels_first' (flowIRN labels are always kept;
      transferred masks fill in where no label is) or 'larger_first'
      (larger masks win, labels included); see the module docstring.
    max_predictions: Top predictions per frame by score (100).
    min_score: Predictions below it are not candidates (0.05, the
      inference threshold).
    mask_threshold: Probability masks are binarised at it (0.5).
  """
  intra_frame: bool = True
  inter_frame: bool = True
  iom_nms: bool = True
  intra_box_iou: float = 0.5
  transfer_box_iou: float = 0.5
  iom_threshold: float = 0.5
  iom_priority: str = 'labels_first'
  max_predictions: int = 100
  min_score: float = 0.05
  mask_threshold: float = 0.5

  def __post_init__(self):
    for name in ('intra_box_iou', 'transfer_box_iou', 'iom_threshold',
                 'mask_threshold'):
      value = getattr(self, name)
      if not 0.0 <= value <= 1.0:
        raise ValueError(f'MatchingConfig.{name} must be in [0, 1], got '
                         f'{value!r}')
    if self.iom_priority not in IOM_PRIORITIES:
      raise ValueError(f'MatchingConfig.iom_priority must be one of '
                       f'{IOM_PRIORITIES}, got {self.iom_priority!r}')
    if self.max_predictions < 0:
      raise ValueError(f'MatchingConfig.max_predictions must be >= 0, got '
                       f'{self.max_predictions!r}')


@dataclasses.dataclass
class Instances:
  """Instances of one frame: predictions or labels.

  Attributes:
    masks: [N, H, W] bool (float probabilities are accepted by
      `select_predictions`, which binarises them).
    classes: [N] int32 category ids (1-based).
    boxes: [N, 4] float32 yxyx pixel boxes, exclusive maxima.
    scores: [N] float32, or None for labels.
  """
  masks: np.ndarray
  classes: np.ndarray
  boxes: np.ndarray
  scores: Optional[np.ndarray] = None

  def __post_init__(self):
    self.masks = np.asarray(self.masks)
    if self.masks.ndim != 3:
      raise ValueError(f'Instances.masks must be [N, H, W], got shape '
                       f'{self.masks.shape}')
    n = self.masks.shape[0]
    self.classes = np.asarray(self.classes, np.int32).reshape(-1)
    self.boxes = np.asarray(self.boxes, np.float32).reshape(-1, 4)
    if self.scores is not None:
      self.scores = np.asarray(self.scores, np.float32).reshape(-1)
    for name, value in (('classes', self.classes), ('boxes', self.boxes),
                        ('scores', self.scores)):
      if value is not None and value.shape[0] != n:
        raise ValueError(f'Instances.{name} has {value.shape[0]} entries for '
                         f'{n} masks')

  def __len__(self) -> int:
    return self.masks.shape[0]

  @property
  def size(self) -> Tuple[int, int]:
    return self.masks.shape[1], self.masks.shape[2]

  @classmethod
  def empty(cls, height: int, width: int, with_scores: bool = False
           ) -> 'Instances':
    return cls(np.zeros((0, height, width), bool), np.zeros([0], np.int32),
               np.zeros([0, 4], np.float32),
               np.zeros([0], np.float32) if with_scores else None)

  @classmethod
  def from_masks(cls, masks: np.ndarray, classes: Sequence[int],
                 scores: Optional[Sequence[float]] = None) -> 'Instances':
    """Instances whose boxes are their masks' tight boxes."""
    masks = np.asarray(masks) != 0
    return cls(masks, classes, masks_to_boxes(masks), scores)

  def subset(self, index) -> 'Instances':
    index = np.asarray(index, np.int64).reshape(-1)
    return Instances(self.masks[index], self.classes[index],
                     self.boxes[index],
                     None if self.scores is None else self.scores[index])


def masks_to_boxes(masks: np.ndarray) -> np.ndarray:
  """[N, H, W] masks -> [N, 4] float32 tight yxyx boxes (exclusive max).

  An empty mask gets [0, 0, 0, 0]. Vectorised over N.
  """
  masks = np.asarray(masks) != 0
  n, h, w = masks.shape
  rows = masks.any(axis=2)
  cols = masks.any(axis=1)
  has = rows.any(axis=1)
  y1 = np.argmax(rows, axis=1)
  y2 = h - np.argmax(rows[:, ::-1], axis=1)
  x1 = np.argmax(cols, axis=1)
  x2 = w - np.argmax(cols[:, ::-1], axis=1)
  boxes = np.stack([y1, x1, y2, x2], axis=1).astype(np.float32)
  boxes[~has] = 0.0
  return boxes.reshape(n, 4)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """[N, 4] x [M, 4] yxyx boxes -> [N, M] float64 IoU (0 for empty unions)."""
  a = np.asarray(a, np.float64).reshape(-1, 4)
  b = np.asarray(b, np.float64).reshape(-1, 4)
  ymin = np.maximum(a[:, None, 0], b[None, :, 0])
  xmin = np.maximum(a[:, None, 1], b[None, :, 1])
  ymax = np.minimum(a[:, None, 2], b[None, :, 2])
  xmax = np.minimum(a[:, None, 3], b[None, :, 3])
  inter = np.clip(ymax - ymin, 0, None) * np.clip(xmax - xmin, 0, None)
  area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1],
                                                         0, None)
  area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1],
                                                         0, None)
  union = area_a[:, None] + area_b[None, :] - inter
  return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def _flat(masks: np.ndarray) -> np.ndarray:
  masks = np.asarray(masks) != 0
  n = masks.shape[0]
  return masks.reshape(n, int(np.prod(masks.shape[1:]))).astype(np.float32)


def mask_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """[N, H, W] x [M, H, W] binary masks -> [N, M] float32 IoU."""
  fa, fb = _flat(a), _flat(b)
  if fa.shape[1] != fb.shape[1]:
    raise ValueError(f'mask_iou: mask sizes differ, {np.shape(a)[1:]} vs '
                     f'{np.shape(b)[1:]}')
  inter = fa @ fb.T
  union = fa.sum(1)[:, None] + fb.sum(1)[None, :] - inter
  return np.where(union > 0, inter / np.maximum(union, 1.0), 0.0)


def mask_iom(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """[N, H, W] x [M, H, W] -> [N, M] intersection over the smaller area."""
  fa, fb = _flat(a), _flat(b)
  if fa.shape[1] != fb.shape[1]:
    raise ValueError(f'mask_iom: mask sizes differ, {np.shape(a)[1:]} vs '
                     f'{np.shape(b)[1:]}')
  inter = fa @ fb.T
  smaller = np.minimum(fa.sum(1)[:, None], fb.sum(1)[None, :])
  return np.where(smaller > 0, inter / np.maximum(smaller, 1.0), 0.0)


def _check_flow(flow: np.ndarray, size: Tuple[int, int], name: str
               ) -> np.ndarray:
  flow = np.asarray(flow, np.float32)
  if flow.shape != (size[0], size[1], 2):
    raise ValueError(f'{name} must be [H, W, 2] = [{size[0]}, {size[1]}, 2] '
                     f'(the masks\' size), got {list(flow.shape)}')
  if not np.all(np.isfinite(flow)):
    raise ValueError(f'{name} has non-finite values')
  return flow


def warp_masks(masks: np.ndarray, flow_to_source: np.ndarray) -> np.ndarray:
  """Carries masks from a source frame onto a target frame (bilinear).

  Args:
    masks: [N, H, W] binary masks on the source frame.
    flow_to_source: [H, W, 2] float32 flow from the target frame to the
      source frame: pixel x of the target samples the source at
      x + flow_to_source[x] (e.g. flow_ba to carry masks of a onto b).

  Returns:
    [N, H, W] bool masks on the target frame: bilinear samples (0 outside
    the source frame) >= 0.5. As every backward warp (the paper's
    grid_sample, appendix A.2), a pixel the object uncovers in the target
    samples the source where the object was, unless the flow there points
    elsewhere: the mask is carried there too.
  """
  masks = np.asarray(masks)
  if masks.ndim != 3:
    raise ValueError(f'warp_masks: masks must be [N, H, W], got shape '
                     f'{masks.shape}')
  n, h, w = masks.shape
  flow = _check_flow(flow_to_source, (h, w), 'warp_masks: flow_to_source')
  if n == 0:
    return np.zeros((0, h, w), bool)
  gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
  x = (gx + flow[..., 0]).reshape(-1)
  y = (gy + flow[..., 1]).reshape(-1)
  x0 = np.floor(x).astype(np.int64)
  y0 = np.floor(y).astype(np.int64)
  fx = x - x0
  fy = y - y0
  flat = (masks != 0).reshape(n, -1).astype(np.float32)
  out = np.zeros((n, h * w), np.float32)
  # The four corners; a corner outside the frame contributes 0.
  for dy, dx, weight in ((0, 0, (1 - fy) * (1 - fx)), (0, 1, (1 - fy) * fx),
                         (1, 0, fy * (1 - fx)), (1, 1, fy * fx)):
    yy, xx = y0 + dy, x0 + dx
    inside = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w) & (weight > 0)
    if not inside.any():
      continue
    idx = yy[inside] * w + xx[inside]
    out[:, inside] += flat[:, idx] * weight[inside][None, :]
  return (out >= 0.5).reshape(n, h, w)


def _warp_rows(masks: np.ndarray, flow_to_source: np.ndarray,
               rows: np.ndarray) -> np.ndarray:
  """warp_masks of masks[rows] ([N] bool); the other rows stay empty."""
  out = np.zeros(np.shape(masks), bool)
  if np.any(rows):
    out[rows] = warp_masks(np.asarray(masks)[rows], flow_to_source)
  return out


def select_predictions(predictions: Instances, config: MatchingConfig
                      ) -> Instances:
  """The candidate predictions: score >= min_score, top max_predictions,
  binarised at mask_threshold, non-empty masks only."""
  n = len(predictions)
  scores = (predictions.scores if predictions.scores is not None else
            np.ones([n], np.float32))
  order = np.argsort(-scores, kind='stable')
  order = order[scores[order] >= config.min_score][:config.max_predictions]
  masks = predictions.masks[order]
  if masks.dtype != bool:
    masks = masks >= config.mask_threshold
  keep = _flat(masks).any(axis=1)
  order, masks = order[keep], masks[keep]
  return Instances(masks, predictions.classes[order],
                   predictions.boxes[order], scores[order])


def expand_intra_frame(predictions: Instances, labels: Instances,
                       box_iou_threshold: float) -> Tuple[Instances, int]:
  """P_exp: the predictions plus the unions of those matching each label.

  For each flowIRN label, the predictions of its class whose box overlaps
  the label's box by IoU > box_iou_threshold are merged (mask union) into
  one more candidate, when there are at least two of them (paper sec 3.3,
  Fig. 3a). Identical member sets give one union.

  Returns:
    (expanded instances: the predictions first, then the unions; the
     number of unions added).
  """
  if not len(predictions) or not len(labels):
    return predictions, 0
  overlap = box_iou(predictions.boxes, labels.boxes) > box_iou_threshold
  overlap &= predictions.classes[:, None] == labels.classes[None, :]
  seen = set()
  masks, classes, scores = [], [], []
  for k in range(len(labels)):
    members = np.flatnonzero(overlap[:, k])
    key = tuple(members.tolist())
    if len(members) < 2 or key in seen:
      continue
    seen.add(key)
    masks.append(predictions.masks[members].any(axis=0))
    classes.append(labels.classes[k])
    member_scores = (predictions.scores[members]
                     if predictions.scores is not None else [1.0])
    scores.append(float(np.max(member_scores)))
  if not masks:
    return predictions, 0
  unions = Instances.from_masks(np.stack(masks), classes,
                                scores if predictions.scores is not None
                                else None)
  return concat([predictions, unions]), len(masks)


def concat(parts: Sequence[Instances]) -> Instances:
  """The instances of several sets of one frame, in order."""
  if not parts:
    raise ValueError('concat: nothing to concatenate')
  sizes = {p.size for p in parts}
  if len(sizes) != 1:
    raise ValueError(f'concat: instances of different frame sizes {sizes}')
  with_scores = all(p.scores is not None for p in parts)
  return Instances(
      np.concatenate([p.masks.astype(bool) for p in parts]),
      np.concatenate([p.classes for p in parts]),
      np.concatenate([p.boxes for p in parts]),
      np.concatenate([p.scores for p in parts]) if with_scores else None)


def match_weights(candidates_a: Instances, candidates_b: Instances,
                  warped_a: np.ndarray) -> np.ndarray:
  """e_ij = [c_i = c_j] IoU(W_{a->b}(m_i), m_j), [N_a, N_b] float32.

  warped_a are the candidates of a already carried onto b.
  """
  same = candidates_a.classes[:, None] == candidates_b.classes[None, :]
  if not len(candidates_a) or not len(candidates_b):
    return np.zeros(same.shape, np.float32)
  return (mask_iou(warped_a, candidates_b.masks) * same).astype(np.float32)


def hungarian_matching(weights: np.ndarray) -> List[Tuple[int, int]]:
  """One-to-one (i, j) pairs of maximal total weight, weight > 0 only."""
  weights = np.asarray(weights, np.float64)
  if weights.ndim != 2:
    raise ValueError(f'weights must be a matrix, got shape {weights.shape}')
  if not weights.size:
    return []
  rows, cols = optimize.linear_sum_assignment(weights, maximize=True)
  return [(int(i), int(j)) for i, j in zip(rows, cols) if weights[i, j] > 0]


def overlaps_label(candidates: Instances, labels: Instances,
                   box_iou_threshold: float) -> np.ndarray:
  """[N] bool: box IoU > threshold with a label of the same class (Alg. 1
  line 4)."""
  if not len(candidates) or not len(labels):
    return np.zeros([len(candidates)], bool)
  overlap = box_iou(candidates.boxes, labels.boxes) > box_iou_threshold
  overlap &= candidates.classes[:, None] == labels.classes[None, :]
  return overlap.any(axis=1)


def transfer(matches: Sequence[Tuple[int, int]], source: Instances,
             target: Instances, source_labels: Instances,
             warped_source: np.ndarray, box_iou_threshold: float
            ) -> Instances:
  """Algorithm 1: new labels of the target frame from the source frame.

  Args:
    matches: (i, j) pairs, i a source candidate, j a target candidate.
    source: The source frame's candidates P_exp.
    target: The target frame's candidates.
    source_labels: The source frame's flowIRN labels P_fIRN.
    warped_source: [N_source, H, W] bool, source masks carried onto the
      target frame.
    box_iou_threshold: Algorithm 1's box IoU (0.5).

  Returns:
    P_maskCon of the target: Merge(W(p_i), p_j) for each match whose p_i
    overlaps a same-class source label, class c_i, tight boxes; empty
    merged masks are dropped.
  """
  h, w = target.size
  ok = overlaps_label(source, source_labels, box_iou_threshold)
  masks, classes = [], []
  for i, j in matches:
    if not ok[i]:
      continue
    merged = warped_source[i] | (target.masks[j] != 0)
    if merged.any():
      masks.append(merged)
      classes.append(source.classes[i])
  if not masks:
    return Instances.empty(h, w)
  return Instances.from_masks(np.stack(masks), classes)


def transfer_unmatched(source: Instances, source_labels: Instances,
                       warped_source: np.ndarray, box_iou_threshold: float
                      ) -> Instances:
  """Without inter-frame matching: every candidate passing Algorithm 1's
  overlap test, warped, unmerged (Table 5's Inter-F ablation)."""
  ok = overlaps_label(source, source_labels, box_iou_threshold)
  keep = [i for i in np.flatnonzero(ok) if warped_source[i].any()]
  h, w = source.size
  if not keep:
    return Instances.empty(h, w)
  return Instances.from_masks(warped_source[keep], source.classes[keep])


def iom_nms(instances: Instances, threshold: float,
            num_protected: int = 0) -> np.ndarray:
  """Indices kept by IoM-NMS, in input order.

  The first num_protected instances (the flowIRN labels with
  'labels_first') are kept unconditionally and visited first; the others
  from the largest area to the smallest (ties: input order). A visited
  mask is dropped when its IoM with an already kept mask of the same class
  exceeds threshold. num_protected = 0 is plain larger-first IoM-NMS.
  """
  n = len(instances)
  if n == 0:
    return np.zeros([0], np.int64)
  flat = _flat(instances.masks)
  areas = flat.sum(1)
  rest = np.arange(num_protected, n)
  order = list(range(num_protected)) + list(
      rest[np.argsort(-areas[rest], kind='stable')])
  iom = mask_iom(instances.masks, instances.masks)
  kept: List[int] = []
  for i in order:
    if i < num_protected:
      kept.append(int(i))
      continue
    if areas[i] == 0:
      continue
    if any(instances.classes[k] == instances.classes[i] and
           iom[i, k] > threshold for k in kept):
      continue
    kept.append(int(i))
  return np.array(sorted(kept), np.int64)


def combine(labels: Instances, transferred: Instances, config: MatchingConfig
           ) -> Tuple[Instances, int]:
  """P_maskCon U P_fIRN (with IoM-NMS if on); returns (labels, #dropped)."""
  if not len(transferred):
    return labels, 0
  merged = concat([Instances(labels.masks.astype(bool), labels.classes,
                             labels.boxes), transferred])
  if not config.iom_nms:
    return merged, 0
  protected = len(labels) if config.iom_priority == 'labels_first' else 0
  keep = iom_nms(merged, config.iom_threshold, protected)
  return merged.subset(keep), len(merged) - len(keep)


def consistent_labels(pred_a: Instances, pred_b: Instances,
                      labels_a: Instances, labels_b: Instances,
                      flow_ab: np.ndarray, flow_ba: np.ndarray,
                      config: MatchingConfig = MatchingConfig()
                     ) -> Tuple[Instances, Instances, Dict[str, int]]:
  """MaskConsist's labels of a frame pair (paper sec 3.3, Algorithm 1).

  Args:
    pred_a, pred_b: The current model's predictions on frames a and b
      (masks pasted into the frame, bool or probabilities; scores).
    labels_a, labels_b: The flowIRN pseudo-labels of a and b.
    flow_ab: [H, W, 2] flow a -> b (pixel x of a moves to x + flow_ab[x]).
    flow_ba: [H, W, 2] flow b -> a.
    config: MatchingConfig.

  Returns:
    (new labels of a, new labels of b, stats): each frame's flowIRN labels
    combined with what was transferred from the other frame; stats counts
    (STAT_KEYS).

  Raises:
    ValueError: frames of different sizes, flows of the wrong shape.
  """
  size = labels_a.size
  for name, inst in (('pred_a', pred_a), ('pred_b', pred_b),
                     ('labels_b', labels_b)):
    if inst.size != size:
      raise ValueError(f'consistent_labels: {name} masks are '
                       f'{inst.size[0]}x{inst.size[1]}, labels_a '
                       f'{size[0]}x{size[1]}; both frames of a pair must '
                       'have one size')
  flow_ab = _check_flow(flow_ab, size, 'flow_ab')
  flow_ba = _check_flow(flow_ba, size, 'flow_ba')
  stats = dict.fromkeys(STAT_KEYS, 0)
  cand_a = select_predictions(pred_a, config)
  cand_b = select_predictions(pred_b, config)
  stats[STAT_CANDIDATES_A], stats[STAT_CANDIDATES_B] = len(cand_a), len(cand_b)
  if config.intra_frame:
    cand_a, stats[STAT_EXPANDED_A] = expand_intra_frame(
        cand_a, labels_a, config.intra_box_iou)
    cand_b, stats[STAT_EXPANDED_B] = expand_intra_frame(
        cand_b, labels_b, config.intra_box_iou)
  # Only the warps the result reads (a's candidates on b, b's on a): with
  # matching, a's of a class b has (the weights), then b's that Algorithm 1
  # transfers; without it, those over a label of their own frame.
  ok_a = overlaps_label(cand_a, labels_a, config.transfer_box_iou)
  ok_b = overlaps_label(cand_b, labels_b, config.transfer_box_iou)
  if config.inter_frame:
    warped_a = _warp_rows(cand_a.masks, flow_ba,
                          np.isin(cand_a.classes, cand_b.classes))
    matches = hungarian_matching(match_weights(cand_a, cand_b, warped_a))
    stats[STAT_MATCHED] = len(matches)
    sent_b = np.isin(np.arange(len(cand_b)), [j for _, j in matches])
    warped_b = _warp_rows(cand_b.masks, flow_ab, sent_b & ok_b)
    to_b = transfer(matches, cand_a, cand_b, labels_a, warped_a,
                    config.transfer_box_iou)
    to_a = transfer([(j, i) for i, j in matches], cand_b, cand_a, labels_b,
                    warped_b, config.transfer_box_iou)
  else:
    to_b = transfer_unmatched(cand_a, labels_a,
                              _warp_rows(cand_a.masks, flow_ba, ok_a),
                              config.transfer_box_iou)
    to_a = transfer_unmatched(cand_b, labels_b,
                              _warp_rows(cand_b.masks, flow_ab, ok_b),
                              config.transfer_box_iou)
  stats[STAT_TRANSFERRED_A], stats[STAT_TRANSFERRED_B] = len(to_a), len(to_b)
  new_a, dropped_a = combine(labels_a, to_a, config)
  new_b, dropped_b = combine(labels_b, to_b, config)
  stats[STAT_SUPPRESSED] = dropped_a + dropped_b
  return new_a, new_b, stats
