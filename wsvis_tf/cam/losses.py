"""The CAM classifier's loss (IRN: train_cam.py, multilabel_soft_margin_loss).

  loss(x, y) = -1/C sum_c [ y_c log sigmoid(x_c) + (1 - y_c) log sigmoid(-x_c) ]

per example, C the number of classes; the batch loss is its mean. This is
torch.nn.functional.multilabel_soft_margin_loss, which IRN trains with.
"""

import tensorflow as tf


def multilabel_soft_margin_loss(logits: tf.Tensor, labels: tf.Tensor,
                                reduction: str = 'mean') -> tf.Tensor:
  """Multi-label soft-margin loss of image-level class scores.

  Args:
    logits: [B, C] float class scores (before any sigmoid).
    labels: [B, C] multi-hot targets in {0, 1} (any float or bool dtype).
    reduction: 'mean' (a scalar, the batch mean) or 'none' ([B]).

  Returns:
    A float32 scalar or [B] tensor. Examples whose loss is not finite (a
    NaN or Inf logit) count as 0, so one bad example cannot poison a step;
    use `count_nonfinite` to detect them.
  """
  if reduction not in ('mean', 'none'):
    raise ValueError(f'reduction must be "mean" or "none", got {reduction!r}')
  logits = tf.cast(logits, tf.float32)
  labels = tf.cast(labels, tf.float32)
  # log_sigmoid is stable for large |x| (no log(0)).
  per_class = (labels * tf.math.log_sigmoid(logits) +
               (1.0 - labels) * tf.math.log_sigmoid(-logits))
  per_example = -tf.reduce_mean(per_class, axis=-1)
  per_example = tf.where(tf.math.is_finite(per_example), per_example,
                         tf.zeros_like(per_example))
  if reduction == 'none':
    return per_example
  return tf.reduce_mean(per_example)


def count_nonfinite(logits: tf.Tensor) -> tf.Tensor:
  """Number of examples (rows of [B, C] logits) with a NaN or Inf score."""
  bad = tf.logical_not(tf.reduce_all(tf.math.is_finite(
      tf.cast(logits, tf.float32)), axis=-1))
  return tf.reduce_sum(tf.cast(bad, tf.int32))
