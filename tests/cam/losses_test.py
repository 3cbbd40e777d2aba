"""Tests of the multi-label soft-margin loss against hand computations."""

import math

import tensorflow as tf

from wsvis_tf.cam import losses


def _log_sigmoid(x):
  return -math.log1p(math.exp(-x))


class MultilabelSoftMarginLossTest(tf.test.TestCase):

  def test_hand_computed(self):
    logits = [[1.0, -2.0, 0.0], [3.0, 0.5, -1.0]]
    labels = [[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]]
    # Per example: -1/C sum_c [y log s(x) + (1 - y) log s(-x)].
    row0 = -(_log_sigmoid(1.0) + _log_sigmoid(2.0) + _log_sigmoid(0.0)) / 3
    row1 = -(_log_sigmoid(-3.0) + _log_sigmoid(0.5) + _log_sigmoid(-1.0)) / 3
    self.assertAllClose(losses.multilabel_soft_margin_loss(
        tf.constant(logits), tf.constant(labels), reduction='none'),
                        [row0, row1], atol=1e-6)
    self.assertAllClose(losses.multilabel_soft_margin_loss(
        tf.constant(logits), tf.constant(labels)), (row0 + row1) / 2,
                        atol=1e-6)
    # Row 0 by hand: (0.313262 + 0.126928 + 0.693147) / 3.
    self.assertAllClose(row0, 0.377779, atol=1e-6)

  def test_bool_labels_and_empty_label_set(self):
    loss = losses.multilabel_soft_margin_loss(
        tf.constant([[0.0, 0.0]]), tf.constant([[False, False]]))
    self.assertAllClose(loss, math.log(2.0), atol=1e-6)

  def test_large_logits_stay_finite(self):
    loss = losses.multilabel_soft_margin_loss(
        tf.constant([[1e4, -1e4]]), tf.constant([[0.0, 1.0]]))
    self.assertAllClose(loss, 1e4, rtol=1e-5)

  def test_nonfinite_examples_are_zero_and_counted(self):
    logits = tf.constant([[float('nan'), 1.0], [1.0, -1.0],
                          [float('inf'), 0.0]])
    labels = tf.constant([[1.0, 0.0], [1.0, 0.0], [0.0, 0.0]])
    per = losses.multilabel_soft_margin_loss(logits, labels, 'none')
    self.assertAllClose(per[0], 0.0)
    self.assertAllClose(per[2], 0.0)
    self.assertAllClose(per[1], -_log_sigmoid(1.0))
    self.assertTrue(tf.math.is_finite(
        losses.multilabel_soft_margin_loss(logits, labels)))
    self.assertEqual(int(losses.count_nonfinite(logits)), 2)

  def test_bad_reduction(self):
    with self.assertRaises(ValueError):
      losses.multilabel_soft_margin_loss(tf.zeros([1, 1]), tf.zeros([1, 1]),
                                         reduction='sum')


if __name__ == '__main__':
  tf.test.main()
