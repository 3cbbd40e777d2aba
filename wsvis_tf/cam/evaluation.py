"""Semantic quality of CAMs and IR labels against ground truth (eval only).

IRN's eval_cam: prepend a constant background plane (0.15) to the frame's
`high_res` CAMs, take the argmax, map back to class ids, and accumulate a
confusion matrix over all frames; the IoU of each class (background
included) and their mean (NaN classes skipped) are reported. The ground
truth here is the semantic map of a synthetic or YouTube-VIS-style instance
map: 0 background, class + 1 on the pixels of a track of that class.
"""

from typing import Dict, Optional, Sequence

import numpy as np

IGNORE = 255


def semantic_from_instances(instance_map: np.ndarray,
                            track_classes: Sequence[int]) -> np.ndarray:
  """[H, W] uint8: 0 background, c + 1 where a track of class c is visible.

  Args:
    instance_map: [H, W] or [H, W, 1] ints, 0 background, k > 0 track k-1.
    track_classes: [N] 0-based class of each track.
  """
  inst = np.asarray(instance_map)
  if inst.ndim == 3:
    inst = inst[..., 0]
  lut = np.concatenate([[0], np.asarray(track_classes, np.int64) + 1])
  if inst.max(initial=0) >= len(lut):
    raise ValueError(f'instance map refers to track {inst.max() - 1} but '
                     f'only {len(track_classes)} tracks are given')
  return lut[inst].astype(np.uint8)


def cams_to_semantic(high_res: np.ndarray, class_keys: np.ndarray,
                     threshold: float = 0.15) -> np.ndarray:
  """IRN eval_cam labelling: [K, H, W] CAMs -> [H, W] uint8 (0 or c + 1)."""
  high_res = np.asarray(high_res)
  padded = np.concatenate(
      [np.full((1,) + high_res.shape[1:], threshold, high_res.dtype),
       high_res], axis=0)
  lut = np.concatenate([[0], np.asarray(class_keys, np.int64) + 1])
  return lut[np.argmax(padded, axis=0)].astype(np.uint8)


class SemanticConfusion:
  """A confusion matrix over num_classes + 1 labels (0 = background)."""

  def __init__(self, num_classes: int):
    self.n = num_classes + 1
    self.matrix = np.zeros((self.n, self.n), np.int64)

  def add(self, prediction: np.ndarray, ground_truth: np.ndarray) -> None:
    """Adds [H, W] label maps; pixels with IGNORE in either are skipped."""
    pred = np.asarray(prediction).astype(np.int64).ravel()
    gt = np.asarray(ground_truth).astype(np.int64).ravel()
    if pred.shape != gt.shape:
      raise ValueError(f'prediction {np.shape(prediction)} and ground truth '
                       f'{np.shape(ground_truth)} differ in size')
    keep = (pred != IGNORE) & (gt != IGNORE)
    pred, gt = pred[keep], gt[keep]
    if pred.size and max(pred.max(), gt.max()) >= self.n:
      raise ValueError(f'label {max(pred.max(), gt.max())} outside the '
                       f'{self.n - 1} classes + background')
    self.matrix += np.bincount(gt * self.n + pred,
                               minlength=self.n * self.n).reshape(self.n,
                                                                  self.n)

  def iou(self) -> np.ndarray:
    """[num_classes + 1] IoU per label, NaN for labels never seen."""
    tp = np.diag(self.matrix).astype(np.float64)
    denom = self.matrix.sum(0) + self.matrix.sum(1) - tp
    with np.errstate(invalid='ignore', divide='ignore'):
      return np.where(denom > 0, tp / np.maximum(denom, 1), np.nan)

  def miou(self) -> float:
    iou = self.iou()
    return float(np.nanmean(iou)) if np.isfinite(iou).any() else float('nan')

  def pixel_accuracy(self) -> float:
    total = self.matrix.sum()
    return float(np.trace(self.matrix) / total) if total else float('nan')


def ir_label_stats(label: np.ndarray, ground_truth: np.ndarray,
                   stats: Optional[Dict[str, int]] = None) -> Dict[str, int]:
  """Accumulates pixel counts of an IR label map against ground truth.

  Keys: pixels, ignored, fg_labelled, fg_correct (labelled fg pixels whose
  class is right), bg_labelled, bg_correct, gt_fg, gt_fg_found (ground-truth
  fg pixels labelled with their class).
  """
  stats = dict(stats or {})
  label = np.asarray(label)
  gt = np.asarray(ground_truth)
  fg = (label != 0) & (label != IGNORE)
  bg = label == 0
  add = {
      'pixels': label.size,
      'ignored': int((label == IGNORE).sum()),
      'fg_labelled': int(fg.sum()),
      'fg_correct': int((fg & (label == gt)).sum()),
      'bg_labelled': int(bg.sum()),
      'bg_correct': int((bg & (gt == 0)).sum()),
      'gt_fg': int((gt > 0).sum()),
      'gt_fg_found': int(((gt > 0) & (label == gt)).sum()),
  }
  for k, v in add.items():
    stats[k] = stats.get(k, 0) + v
  return stats


def summarize_ir_stats(stats: Dict[str, int]) -> Dict[str, float]:
  """Precision of fg / bg labels, fg recall and ignored share."""
  def ratio(a, b):
    return round(stats.get(a, 0) / stats[b], 4) if stats.get(b) else None
  return {'ir_fg_precision': ratio('fg_correct', 'fg_labelled'),
          'ir_bg_precision': ratio('bg_correct', 'bg_labelled'),
          'ir_fg_recall': ratio('gt_fg_found', 'gt_fg'),
          'ir_ignored_share': ratio('ignored', 'pixels')}
