"""Tests of the py_function wrapper of matching.consistent_labels."""

import numpy as np
import tensorflow as tf

from wsvis_tf.maskconsist import matching
from wsvis_tf.maskconsist import matching_op

H, W = 24, 32


def _rect(y1, x1, y2, x2):
  m = np.zeros((H, W), bool)
  m[y1:y2, x1:x2] = True
  return m


def _pair(k=3, n=4):
  """One pair: an object of class 2 moving 3 px right from a to b.

  flowIRN labels it on frame a only (missed on b), the model predicts it on
  both frames: MaskConsist must transfer it to b. Frame a also has a class-1
  label the model does not predict.
  """
  obj_a, obj_b = _rect(4, 5, 14, 15), _rect(4, 8, 14, 18)
  pred_masks = np.zeros((1, 2, n, H, W), bool)
  pred_classes = np.zeros((1, 2, n), np.int32)
  pred_boxes = np.zeros((1, 2, n, 4), np.float32)
  pred_scores = np.zeros((1, 2, n), np.float32)
  for f, mask in enumerate((obj_a, obj_b)):
    pred_masks[0, f, 0] = mask
    pred_classes[0, f, 0] = 2
    pred_boxes[0, f, 0] = matching.masks_to_boxes(mask[None])[0]
    pred_scores[0, f, 0] = 0.9
  # A padding row beyond num_pred that must be ignored.
  pred_masks[0, 1, 1] = _rect(0, 0, 20, 30)
  pred_classes[0, 1, 1] = 2
  pred_scores[0, 1, 1] = 0.99
  num_pred = np.array([[1, 1]], np.int32)
  label_masks = np.zeros((1, 2, k, H, W), bool)
  label_classes = -np.ones((1, 2, k), np.int32)
  label_masks[0, 0, 0] = _rect(18, 20, 23, 30)
  label_classes[0, 0, 0] = 1
  if k > 1:
    label_masks[0, 0, 1] = obj_a
    label_classes[0, 0, 1] = 2
  flow_ab = np.zeros((1, H, W, 2), np.float32)
  flow_ab[..., 0] = 3.0
  flow_ba = -flow_ab
  return dict(pred_masks=pred_masks, pred_classes=pred_classes,
              pred_boxes=pred_boxes, pred_scores=pred_scores,
              num_pred=num_pred, label_masks=label_masks,
              label_classes=label_classes, flow_ab=flow_ab, flow_ba=flow_ba)


class ConsistentLabelsOpTest(tf.test.TestCase):

  def test_transfer_to_the_frame_that_missed_it(self):
    inputs = _pair()
    out = matching_op.consistent_labels_op(
        **{k: tf.constant(v) for k, v in inputs.items()},
        config=matching.MatchingConfig())
    self.assertEqual(out[matching_op.MASKS].shape, (1, 2, 3, H, W))
    classes = out[matching_op.CLASSES].numpy()
    source = out[matching_op.SOURCE].numpy()
    masks = out[matching_op.MASKS].numpy()
    # Frame a keeps its two labels (copies: their own indices).
    self.assertAllEqual(classes[0, 0], [1, 2, -1])
    self.assertAllEqual(source[0, 0], [0, 1, -1])
    # Frame b gets the object: warp(a's prediction) U b's prediction.
    self.assertAllEqual(classes[0, 1], [2, -1, -1])
    self.assertAllEqual(source[0, 1], [-1, -1, -1])
    self.assertAllEqual(masks[0, 1, 0], _rect(4, 8, 14, 18))
    self.assertFalse(masks[0, 1, 1:].any())
    stats = matching_op.stats_dict(out[matching_op.STATS])
    self.assertEqual(int(stats[matching.STAT_MATCHED][0]), 1)
    self.assertEqual(int(stats[matching.STAT_TRANSFERRED_B][0]), 1)
    self.assertEqual(int(stats[matching.STAT_TRANSFERRED_A][0]), 0)
    self.assertEqual(int(stats[matching.STAT_CANDIDATES_B][0]), 1)
    self.assertEqual(int(stats[matching_op.STAT_LABELS_BEFORE][0]), 2)
    self.assertEqual(int(stats[matching_op.STAT_LABELS_AFTER][0]), 3)
    self.assertEqual(int(stats[matching_op.STAT_TRUNCATED][0]), 0)

  def test_inter_frame_off(self):
    out = matching_op.consistent_labels_batch(
        **_pair(), config=matching.MatchingConfig(inter_frame=False))
    # Without matching, the warped prediction of a alone is transferred.
    self.assertAllEqual(out[matching_op.CLASSES][0, 1], [2, -1, -1])
    self.assertAllEqual(out[matching_op.MASKS][0, 1, 0], _rect(4, 8, 14, 18))
    stats = matching_op.stats_dict(out[matching_op.STATS])
    self.assertEqual(int(stats[matching.STAT_MATCHED][0]), 0)

  def test_no_transfer_without_a_label_of_the_class(self):
    # Keep only frame a's class-1 label: the class-2 prediction overlaps no
    # flowIRN label of its class (Algorithm 1, line 4).
    inputs = _pair(k=1)
    out = matching_op.consistent_labels_batch(
        **inputs, config=matching.MatchingConfig())
    self.assertAllEqual(out[matching_op.CLASSES], [[[1], [-1]]])
    stats = matching_op.stats_dict(out[matching_op.STATS])
    self.assertEqual(int(stats[matching.STAT_MATCHED][0]), 1)
    self.assertEqual(int(stats[matching.STAT_TRANSFERRED_B][0]), 0)

  def test_truncates_to_k_and_counts(self):
    inputs = _pair(k=1)
    # Frame a's single slot holds the object label; b receives it.
    inputs['label_masks'][0, 0, 0] = _rect(4, 5, 14, 15)
    inputs['label_classes'][0, 0, 0] = 2
    # And b already has a label of class 3: with K = 1 the transferred one
    # does not fit.
    inputs['label_masks'][0, 1, 0] = _rect(18, 0, 24, 6)
    inputs['label_classes'][0, 1, 0] = 3
    out = matching_op.consistent_labels_batch(
        **inputs, config=matching.MatchingConfig())
    self.assertAllEqual(out[matching_op.CLASSES][0, 1], [3])
    stats = matching_op.stats_dict(out[matching_op.STATS])
    self.assertEqual(int(stats[matching_op.STAT_TRUNCATED][0]), 1)

  def test_in_a_tf_function(self):
    inputs = {k: tf.constant(v) for k, v in _pair().items()}
    fn = tf.function(lambda x: matching_op.consistent_labels_op(
        **x, config=matching.MatchingConfig()))
    out = fn(inputs)
    self.assertEqual(out[matching_op.STATS].shape,
                     (1, len(matching_op.STAT_KEYS)))
    self.assertAllEqual(out[matching_op.CLASSES][0, 1], [2, -1, -1])


if __name__ == '__main__':
  tf.test.main()
