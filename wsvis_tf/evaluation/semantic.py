"""Semantic IoU from instance predictions, accumulated Cityscapes-style.

Instance masks of a frame are merged into one semantic map (a class id per
pixel, `background` elsewhere), overlaps resolved by score: instances are
painted in increasing score order, so the highest score wins.

As the Cityscapes evaluation (cityscapesscripts evalPixelLevelSemanticLabeling)
does, intersections and unions are summed per class over the whole split and
divided once at the end (not averaged per image); pixels whose ground truth
is `ignore_label` count for no class. The mean is over the classes present
(union > 0) in the ground truth or the predictions, excluding `exclude_ids`
(by default the background 0: it is not a class here, but a prediction of a
class on ground-truth background is still a false positive of that class).
"""

from typing import Any, Dict, Iterable, Optional, Sequence, Union

import numpy as np

from wsvis_tf.core import mask_ops
from wsvis_tf.evaluation import formats
from wsvis_tf.evaluation import instances as instances_lib

FrameInstances = instances_lib.FrameInstances

BACKGROUND = 0
IGNORE_LABEL = 255  # Cityscapes' trainId for void pixels.

# Output keys.
MIOU = 'mIoU'
PER_CLASS = 'per_class'


def instances_to_semantic(frame: FrameInstances,
                          score_threshold: float = 0.0,
                          background: int = BACKGROUND) -> np.ndarray:
  """Merges instance masks into a [H, W] int32 map of class ids.

  Args:
    frame: The frame's instances (masks [N, H, W], class_ids, scores).
    score_threshold: Instances with score < this are left out.
    background: The value of pixels covered by no instance.

  Returns:
    A [H, W] int32 map; where instances overlap, the highest score wins
    (ties: the later instance in the list).
  """
  out = np.full((frame.height, frame.width), background, np.int32)
  order = np.argsort(frame.scores, kind='stable')
  for i in order:
    if frame.scores[i] >= score_threshold:
      out[frame.masks[i] != 0] = frame.class_ids[i]
  return out


class SemanticIoU:
  """Accumulates per-class intersection and union over a split.

  Usage: m = SemanticIoU(); m.update(gt_map, pred_map) per image;
  m.result().
  """

  def __init__(self, ignore_label: Optional[int] = IGNORE_LABEL,
               exclude_ids: Iterable[int] = (BACKGROUND,)):
    self._ignore_label = ignore_label
    self._exclude = set(int(c) for c in exclude_ids)
    self.intersection: Dict[int, int] = {}
    self.union: Dict[int, int] = {}

  def update(self, gt_map: np.ndarray, pred_map: np.ndarray) -> None:
    """Adds one image: [H, W] integer maps of class ids."""
    gt_map = np.asarray(gt_map)
    pred_map = np.asarray(pred_map)
    if gt_map.shape != pred_map.shape or gt_map.ndim != 2:
      raise ValueError(f'SemanticIoU.update: gt {gt_map.shape} and prediction '
                       f'{pred_map.shape} must be the same [H, W]')
    if self._ignore_label is not None:
      valid = gt_map != self._ignore_label
      gt_map, pred_map = gt_map[valid], pred_map[valid]
    classes = set(np.unique(gt_map).tolist()) | set(np.unique(pred_map)
                                                    .tolist())
    for c in sorted(classes - self._exclude):
      in_gt = gt_map == c
      in_pred = pred_map == c
      self.intersection[c] = (self.intersection.get(c, 0)
                              + int(np.count_nonzero(in_gt & in_pred)))
      self.union[c] = (self.union.get(c, 0)
                       + int(np.count_nonzero(in_gt | in_pred)))

  def result(self) -> Dict[str, Any]:
    """{'mIoU': mean over present classes (-1.0 if none), 'per_class'}."""
    per_class = {c: self.intersection[c] / u
                 for c, u in sorted(self.union.items()) if u > 0}
    miou = float(np.mean(list(per_class.values()))) if per_class else -1.0
    return {MIOU: miou, PER_CLASS: per_class}


def semantic_iou(gt_maps: Sequence[np.ndarray],
                 pred_maps: Sequence[np.ndarray],
                 ignore_label: Optional[int] = IGNORE_LABEL,
                 exclude_ids: Iterable[int] = (BACKGROUND,)
                 ) -> Dict[str, Any]:
  """Split-level semantic IoU of paired [H, W] class-id maps (see module)."""
  if len(gt_maps) != len(pred_maps):
    raise ValueError(f'semantic_iou: {len(gt_maps)} ground-truth maps but '
                     f'{len(pred_maps)} predicted maps')
  metric = SemanticIoU(ignore_label, exclude_ids)
  for gt_map, pred_map in zip(gt_maps, pred_maps):
    metric.update(gt_map, pred_map)
  return metric.result()


def semantic_iou_from_coco(
    ground_truth: Union[formats.Source, formats.CocoGroundTruth],
    results: Union[formats.Source, Sequence[Dict[str, Any]]],
    score_threshold: float = 0.5) -> Dict[str, Any]:
  """Semantic IoU of COCO instance results against COCO instance GT.

  Ground-truth instances (crowd regions included, with their class, as
  Cityscapes labels groups) and results with score >= score_threshold are
  merged per image with instances_to_semantic; every GT image counts.
  """
  ground_truth = formats.load_coco_ground_truth(ground_truth)
  results = formats.load_coco_results(results, ground_truth)
  by_image = {i: ([], []) for i in ground_truth.image_sizes}
  for ann in ground_truth.dataset['annotations']:
    by_image[ann['image_id']][0].append(ann)
  for res in results:
    by_image[res['image_id']][1].append(res)

  def frame(entries, height, width, scored):
    if not entries:
      return FrameInstances(np.zeros((0, height, width), np.uint8), [], [])
    return FrameInstances(
        np.stack([mask_ops.decode(e['segmentation']) for e in entries]),
        [e['category_id'] for e in entries],
        [e['score'] for e in entries] if scored else None)

  metric = SemanticIoU(ignore_label=None)
  for image_id, (gts, dts) in sorted(by_image.items()):
    height, width = ground_truth.image_sizes[image_id]
    metric.update(instances_to_semantic(frame(gts, height, width, False)),
                  instances_to_semantic(frame(dts, height, width, True),
                                        score_threshold))
  return metric.result()
