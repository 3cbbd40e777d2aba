"""The one tf.py_function between the MaskConsist train step and matching.

`consistent_labels_op` hands a batch of pairs to
`matching.consistent_labels` (numpy, scipy's Hungarian algorithm; paper sec
3.3) and returns the merged labels as fixed-size tensors:

  inputs (B pairs, frame a then b on axis 1; h x w the matching canvas):
    pred_masks    [B, 2, N, h, w] bool   pasted, binarised predictions
    pred_classes  [B, 2, N] int32        1-based (0 on padding rows)
    pred_boxes    [B, 2, N, 4] float32   yxyx, canvas pixels
    pred_scores   [B, 2, N] float32
    num_pred      [B, 2] int32           valid prediction rows
    label_masks   [B, 2, K, h, w] bool   the flowIRN pseudo-labels
    label_classes [B, 2, K] int32        -1 padded
    flow_ab, flow_ba [B, h, w, 2] float32
  outputs:
    masks         [B, 2, K, h, w] bool   the new labels, False padded
    classes       [B, 2, K] int32        -1 padded
    source        [B, 2, K] int32        index of the input label a new
                                         label is a copy of, -1 if it is
                                         new (transferred), so callers can
                                         keep that label's own encoding
    stats         [B, len(STAT_KEYS)] int32

Labels beyond K = max_num_instances are dropped (flowIRN labels come first,
so only transferred ones can be) and counted in STAT_TRUNCATED.
"""

from typing import Dict, Sequence

import numpy as np
import tensorflow as tf

from wsvis_tf.maskconsist import matching

# Stats added to matching.STAT_KEYS by this wrapper (sums over both frames).
STAT_LABELS_BEFORE = 'labels_before'
STAT_LABELS_AFTER = 'labels_after'
STAT_TRUNCATED = 'truncated'
STAT_KEYS = matching.STAT_KEYS + (STAT_LABELS_BEFORE, STAT_LABELS_AFTER,
                                  STAT_TRUNCATED)

MASKS = 'masks'
CLASSES = 'classes'
SOURCE = 'source'
STATS = 'stats'


def _labels(masks: np.ndarray, classes: np.ndarray) -> matching.Instances:
  keep = classes > 0
  return matching.Instances.from_masks(masks[keep], classes[keep])


def _predictions(masks, classes, boxes, scores, count) -> matching.Instances:
  count = int(count)
  keep = np.flatnonzero(classes[:count] > 0)
  return matching.Instances(masks[keep], classes[keep], boxes[keep],
                            scores[keep])


def _source_index(new: matching.Instances,
                  old: matching.Instances) -> np.ndarray:
  """For each new label, the index of an identical old label, else -1."""
  index = {}
  for i in range(len(old)):
    index.setdefault((int(old.classes[i]), old.masks[i].tobytes()), i)
  return np.array([index.get((int(new.classes[k]),
                              new.masks[k].astype(bool).tobytes()), -1)
                   for k in range(len(new))], np.int32)


def consistent_labels_batch(pred_masks, pred_classes, pred_boxes,
                            pred_scores, num_pred, label_masks,
                            label_classes, flow_ab, flow_ba,
                            config: matching.MatchingConfig
                           ) -> Dict[str, np.ndarray]:
  """The numpy body of consistent_labels_op (same arguments, as arrays)."""
  pred_masks = np.asarray(pred_masks, bool)
  label_masks = np.asarray(label_masks, bool)
  batch, _, k, h, w = label_masks.shape
  out_masks = np.zeros((batch, 2, k, h, w), bool)
  out_classes = np.full((batch, 2, k), -1, np.int32)
  out_source = np.full((batch, 2, k), -1, np.int32)
  stats = np.zeros((batch, len(STAT_KEYS)), np.int32)
  for p in range(batch):
    preds = [_predictions(pred_masks[p, f], np.asarray(pred_classes[p, f]),
                          np.asarray(pred_boxes[p, f]),
                          np.asarray(pred_scores[p, f]), num_pred[p, f])
             for f in range(2)]
    olds = [_labels(label_masks[p, f], np.asarray(label_classes[p, f]))
            for f in range(2)]
    new_a, new_b, pair_stats = matching.consistent_labels(
        preds[0], preds[1], olds[0], olds[1], np.asarray(flow_ab[p]),
        np.asarray(flow_ba[p]), config)
    missing = set(matching.STAT_KEYS) - set(pair_stats)
    if missing:
      raise ValueError(f'matching.consistent_labels returned no stats '
                       f'{sorted(missing)}')
    truncated = 0
    for f, (new, old) in enumerate(((new_a, olds[0]), (new_b, olds[1]))):
      n = min(len(new), k)
      truncated += len(new) - n
      out_masks[p, f, :n] = new.masks[:n]
      out_classes[p, f, :n] = new.classes[:n]
      out_source[p, f, :n] = _source_index(new, old)[:n]
    pair_stats = dict(pair_stats)
    pair_stats[STAT_LABELS_BEFORE] = len(olds[0]) + len(olds[1])
    pair_stats[STAT_LABELS_AFTER] = int((out_classes[p] > 0).sum())
    pair_stats[STAT_TRUNCATED] = truncated
    stats[p] = [pair_stats[key] for key in STAT_KEYS]
  return {MASKS: out_masks, CLASSES: out_classes, SOURCE: out_source,
          STATS: stats}


def consistent_labels_op(pred_masks: tf.Tensor, pred_classes: tf.Tensor,
                         pred_boxes: tf.Tensor, pred_scores: tf.Tensor,
                         num_pred: tf.Tensor, label_masks: tf.Tensor,
                         label_classes: tf.Tensor, flow_ab: tf.Tensor,
                         flow_ba: tf.Tensor,
                         config: matching.MatchingConfig
                        ) -> Dict[str, tf.Tensor]:
  """matching.consistent_labels on each pair of a batch, in the graph.

  Arguments and outputs: see the module docstring. The outputs have the
  static shapes of label_masks / label_classes.
  """
  inputs = [tf.cast(pred_masks, tf.bool), tf.cast(pred_classes, tf.int32),
            tf.cast(pred_boxes, tf.float32),
            tf.cast(pred_scores, tf.float32), tf.cast(num_pred, tf.int32),
            tf.cast(label_masks, tf.bool), tf.cast(label_classes, tf.int32),
            tf.cast(flow_ab, tf.float32), tf.cast(flow_ba, tf.float32)]

  def body(*arrays):
    out = consistent_labels_batch(*[a.numpy() for a in arrays], config)
    return [out[MASKS], out[CLASSES], out[SOURCE], out[STATS]]

  masks, classes, source, stats = tf.py_function(
      body, inputs, [tf.bool, tf.int32, tf.int32, tf.int32],
      name='maskconsist_matching')
  masks.set_shape(label_masks.shape)
  classes.set_shape(label_classes.shape)
  source.set_shape(label_classes.shape)
  stats.set_shape([label_classes.shape[0], len(STAT_KEYS)])
  return {MASKS: masks, CLASSES: classes, SOURCE: source, STATS: stats}


def stats_dict(stats: tf.Tensor,
               names: Sequence[str] = STAT_KEYS) -> Dict[str, tf.Tensor]:
  """[B, S] stats -> {name: [B]}."""
  return {name: stats[:, i] for i, name in enumerate(names)}
