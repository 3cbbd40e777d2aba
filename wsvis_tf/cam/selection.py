"""Choosing a CAM model's checkpoint by its held-out classification loss.

Not in IRN or the paper. With cross-fitting (CamConfig.cross_fit_folds =
k > 1) model i never trains on the videos of fold i, whose CAMs it makes.
Those frames' class labels -- the weak supervision every frame has -- then
measure how well the model classifies frames it has not seen, at every
checkpoint, for free. A classifier trained from scratch on a few dozen
videos can fit them by each video's background; its loss on unseen videos
rises while its training loss keeps falling, and its CAMs on them spread
over the background (measured in wsvis_tf/cam/README.md). Keeping the
checkpoint with the lowest held-out loss stops such a model before it
memorises.

The loss is the training loss (multilabel soft margin), on whole frames
resized by one scale (the extraction's first, the scale CAMs are made at),
without augmentation.
"""

from typing import Callable, Iterable, List, Sequence, Tuple

import numpy as np
import tensorflow as tf

from wsvis_tf.cam import losses
from wsvis_tf.cam import model as model_lib


def heldout_loss(model: model_lib.CamNet,
                 frames: Iterable[Tuple[np.ndarray, np.ndarray]],
                 scale: float = 1.0) -> float:
  """Mean multilabel soft-margin loss of a CamNet on frames.

  Args:
    model: The CamNet.
    frames: (image [H, W, 3] uint8, labels [C] 0/1) pairs.
    scale: Frames are resized by it (bicubic) before the network.

  Returns:
    The mean loss over the frames.

  Raises:
    ValueError: no frames.
  """

  @tf.function(reduce_retracing=True)
  def frame_loss(image, labels):
    size = tf.cast(tf.round(tf.cast(tf.shape(image)[:2], tf.float32) *
                            scale), tf.int32)
    image = tf.clip_by_value(tf.image.resize(
        tf.cast(image, tf.float32), tf.maximum(size, 1), method='bicubic'),
                             0.0, 255.0)
    logits = model(image[tf.newaxis], training=False)[model_lib.LOGITS]
    return losses.multilabel_soft_margin_loss(logits, labels[tf.newaxis])

  total, count = 0.0, 0
  for image, labels in frames:
    total += float(frame_loss(tf.convert_to_tensor(image),
                              tf.cast(labels, tf.float32)))
    count += 1
  if not count:
    raise ValueError('heldout_loss needs at least one frame')
  return total / count


def select_checkpoint(
    model: model_lib.CamNet, checkpoints: Sequence[str],
    frames_fn: Callable[[], Iterable[Tuple[np.ndarray, np.ndarray]]],
    scale: float = 1.0) -> Tuple[str, List[float]]:
  """The checkpoint with the lowest held-out loss, and every loss.

  Args:
    model: A CamNet of the checkpoints' architecture; left holding the
      chosen checkpoint's weights.
    checkpoints: Checkpoint prefixes (model_lib.restore_cam_model), in
      training order; ties go to the later one.
    frames_fn: Returns the held-out (image, labels) pairs, once per call.
    scale: See heldout_loss.

  Raises:
    ValueError: no checkpoints.
  """
  if not checkpoints:
    raise ValueError('select_checkpoint needs at least one checkpoint')
  values = []
  for path in checkpoints:
    model_lib.restore_cam_model(model, path)
    values.append(heldout_loss(model, frames_fn(), scale))
  best = min(range(len(values)), key=lambda i: (values[i], -i))
  model_lib.restore_cam_model(model, checkpoints[best])
  return checkpoints[best], values
