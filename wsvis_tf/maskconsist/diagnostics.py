"""What MaskConsist's label transfer adds, scored against ground truth.

MaskConsist (paper sec 3.3) can only help where the labels it adds are
better than nothing: an instance the flowIRN labels missed, with a mask
close to the truth. These functions run `matching.consistent_labels` on a
frame pair, as the train step does, and sort every label the combination
added (one that is not a flowIRN label of the frame) by the ground truth:

  new_instance    IoU > iou_threshold with a same-class true instance that
                  no flowIRN label of the frame covers at that IoU (the
                  case MaskConsist is for);
  duplicate       the same, but the true instance is already covered;
  false_positive  no same-class true instance at IoU > iou_threshold
                  (`false_positive_iou` sums their best IoU, to tell partial
                  masks from spurious ones).

`label_quality` scores the flowIRN labels themselves the same way
(precision and coverage at the IoU threshold), the yardstick for the added
ones. Ground truth is only read here, never by training;
experiments/diagnose_maskconsist.py runs this over a work dir.
"""

import collections
from typing import Counter, Dict

import numpy as np

from wsvis_tf.maskconsist import matching

NEW_INSTANCE = 'new_instance'
DUPLICATE = 'duplicate'
FALSE_POSITIVE = 'false_positive'
FALSE_POSITIVE_IOU = 'false_positive_iou'
ADDED = 'added'


def _class_iou(a: matching.Instances, b: matching.Instances) -> np.ndarray:
  """[N_a, N_b] mask IoU, 0 between different classes."""
  if not len(a) or not len(b):
    return np.zeros([len(a), len(b)], np.float32)
  same = a.classes[:, None] == b.classes[None, :]
  return matching.mask_iou(a.masks, b.masks) * same


def added_labels(before: matching.Instances,
                 after: matching.Instances) -> matching.Instances:
  """The labels of `after` whose mask is none of `before`'s."""
  if not len(after) or not len(before):
    return after
  flat_after = after.masks.reshape(len(after), -1)
  flat_before = before.masks.reshape(len(before), -1)
  kept = [i for i in range(len(after))
          if not any(np.array_equal(flat_after[i], m) for m in flat_before)]
  return after.subset(kept)


def classify_added(before: matching.Instances, after: matching.Instances,
                   truth: matching.Instances,
                   iou_threshold: float = 0.5) -> Counter[str]:
  """Counts of the labels `after` adds to `before`, by the ground truth.

  Args:
    before: A frame's flowIRN labels.
    after: Its labels after MaskConsist's combination.
    truth: The frame's true instances.
    iou_threshold: Mask IoU above which a label is its true instance.

  Returns:
    Counter with ADDED, NEW_INSTANCE, DUPLICATE, FALSE_POSITIVE and
    FALSE_POSITIVE_IOU (the false positives' best same-class IoU, summed).
  """
  added = added_labels(before, after)
  counts = collections.Counter({ADDED: len(added), NEW_INSTANCE: 0,
                                DUPLICATE: 0, FALSE_POSITIVE: 0,
                                FALSE_POSITIVE_IOU: 0.0})
  if not len(added):
    return counts
  iou = _class_iou(added, truth)
  covered = (_class_iou(before, truth) > iou_threshold).any(axis=0)
  for i in range(len(added)):
    best = float(iou[i].max()) if len(truth) else 0.0
    if best <= iou_threshold:
      counts[FALSE_POSITIVE] += 1
      counts[FALSE_POSITIVE_IOU] += best
    elif covered[int(iou[i].argmax())]:
      counts[DUPLICATE] += 1
    else:
      counts[NEW_INSTANCE] += 1
  return counts


def label_quality(labels: matching.Instances, truth: matching.Instances,
                  iou_threshold: float = 0.5) -> Counter[str]:
  """'labels', 'correct' (IoU > threshold with a same-class true instance),
  'truth', 'covered' (true instances some label matches so)."""
  iou = _class_iou(labels, truth) > iou_threshold
  return collections.Counter({
      'labels': len(labels), 'correct': int(iou.any(axis=1).sum()),
      'truth': len(truth), 'covered': int(iou.any(axis=0).sum())})


def diagnose_pair(pred_a: matching.Instances, pred_b: matching.Instances,
                  labels_a: matching.Instances, labels_b: matching.Instances,
                  truth_a: matching.Instances, truth_b: matching.Instances,
                  flow_ab: np.ndarray, flow_ba: np.ndarray,
                  config: matching.MatchingConfig,
                  iou_threshold: float = 0.5) -> Counter[str]:
  """classify_added over both frames of a pair, plus the matching's stats.

  The arguments are consistent_labels's, and each frame's true instances.
  Returns a Counter summed over the two frames: classify_added's keys,
  'labels_before', 'labels_after', and consistent_labels's stats.
  """
  new_a, new_b, stats = matching.consistent_labels(
      pred_a, pred_b, labels_a, labels_b, flow_ab, flow_ba, config)
  counts = collections.Counter(stats)
  for before, after, truth in ((labels_a, new_a, truth_a),
                               (labels_b, new_b, truth_b)):
    counts['labels_before'] += len(before)
    counts['labels_after'] += len(after)
    counts.update(classify_added(before, after, truth, iou_threshold))
  return counts


def summary(counts: Dict[str, float], pairs: int) -> Dict[str, float]:
  """Per-pair rates and the added labels' precision from summed counts."""
  pairs = max(pairs, 1)
  added = counts.get(ADDED, 0)
  right = counts.get(NEW_INSTANCE, 0) + counts.get(DUPLICATE, 0)
  return {
      'pairs': pairs,
      'labels_before_per_pair': counts.get('labels_before', 0) / pairs,
      'labels_after_per_pair': counts.get('labels_after', 0) / pairs,
      'added_per_pair': added / pairs,
      'new_instances_per_pair': counts.get(NEW_INSTANCE, 0) / pairs,
      'false_positives_per_pair': counts.get(FALSE_POSITIVE, 0) / pairs,
      'added_precision': right / added if added else float('nan'),
      'false_positive_mean_iou': (
          counts.get(FALSE_POSITIVE_IOU, 0.0) / counts[FALSE_POSITIVE]
          if counts.get(FALSE_POSITIVE) else float('nan')),
  }
