"""In-graph conversions between image masks and box-relative masks.

Mask R-CNN predicts each instance's mask as an M x M grid inside its box
(tf-models: `detection_masks` [B, N, 28, 28], sigmoid probabilities) and
trains on ground-truth masks cropped to their boxes (`gt_masks`, 112 x 112).
This module maps between the two, on the graph, with one convention for
both directions so that they invert each other:

  * image coordinates are continuous, pixel k spans [k, k + 1) (its centre
    is k + 0.5); a box [y1, x1, y2, x2] (tf-models' yxyx, max exclusive)
    covers [y1, y2) x [x1, x2);
  * cell i of an M-cell box mask spans [y1 + i h / M, y1 + (i + 1) h / M),
    h = y2 - y1: its centre is y1 + (i + 0.5) h / M, as where tf-models'
    ROI align (sample_offset 0.5) samples the features the mask head turns
    into that cell.

`paste_masks` (box masks -> image) samples each image pixel centre in the
box mask bilinearly, the mask padded with one cell of zeros, so a pasted
mask fades to 0 over one cell at the box edge and is 0 outside; this is
what tf-models' numpy `ops/mask_ops.paste_instance_masks_v2` computes with
OpenCV (the reference in the tests). `crop_masks` (image -> box masks)
samples each cell centre in the image bilinearly. Both are one
`tf.image.crop_and_resize` call with boxes rewritten for that op's
convention (sample i of an S-sample crop of box [b1, b2] of a size-L input
sits at b1 (L - 1) + i (b2 - b1) (L - 1) / (S - 1), values outside [0, L - 1]
being the extrapolation value 0).

tf-models' Mask R-CNN parser crops with the image-normalised boxes directly
(`crop_and_resize(masks, boxes / [H, W, H, W])`), half a pixel off this
convention; wsvis-tf's MaskConsist input and label re-encoding use
`crop_masks` so that a pasted prediction and a cropped label agree.
"""

from typing import Union

import tensorflow as tf

_MIN_SIZE = 1e-3  # boxes thinner than this (padding) paste as empty


def paste_masks(masks: tf.Tensor, boxes: tf.Tensor,
                height: Union[int, tf.Tensor],
                width: Union[int, tf.Tensor]) -> tf.Tensor:
  """Pastes box-relative masks into an image canvas.

  Args:
    masks: [N, M, M'] float box masks (e.g. detection_masks of one image,
      probabilities in [0, 1]).
    boxes: [N, 4] float yxyx boxes in the canvas' pixel coordinates (max
      exclusive). A box thinner than 1e-3 pixels pastes as an empty mask
      (padding rows of detection outputs are all-zero boxes).
    height: H of the canvas (an int or a scalar int tensor).
    width: W of the canvas.

  Returns:
    [N, H, W] float32: each mask bilinearly resampled at the canvas pixel
    centres (module docstring), 0 outside its box.
  """
  masks = tf.convert_to_tensor(masks)
  masks = tf.cast(masks, tf.float32)
  boxes = tf.cast(boxes, tf.float32)
  mask_h = tf.shape(masks)[1]
  mask_w = tf.shape(masks)[2]
  # One cell of zeros around each mask: the bilinear sample then fades to 0
  # across the box edge, and beyond it crop_and_resize extrapolates 0.
  padded = tf.pad(masks, [[0, 0], [1, 1], [1, 1]])[..., tf.newaxis]
  y1, x1, y2, x2 = tf.unstack(boxes, axis=-1)
  box_h = y2 - y1
  box_w = x2 - x1
  valid = tf.logical_and(box_h > _MIN_SIZE, box_w > _MIN_SIZE)
  box_h = tf.maximum(box_h, _MIN_SIZE)
  box_w = tf.maximum(box_w, _MIN_SIZE)
  height = tf.convert_to_tensor(height, tf.int32)
  width = tf.convert_to_tensor(width, tf.int32)

  def axis(start, size, cells, samples):
    # Canvas pixel k (centre k + 0.5) is mask coordinate
    # u = (k + 0.5 - start) * cells / size - 0.5, i.e. padded index u + 1.
    cells = tf.cast(cells, tf.float32)
    length = cells + 2.0 - 1.0  # padded input size L minus 1
    step = cells / size
    first = (0.5 - start) * step + 0.5
    last = first + tf.cast(samples - 1, tf.float32) * step
    return first / length, last / length

  by1, by2 = axis(y1, box_h, mask_h, height)
  bx1, bx2 = axis(x1, box_w, mask_w, width)
  crop_boxes = tf.stack([by1, bx1, by2, bx2], axis=-1)
  num = tf.shape(masks)[0]
  pasted = tf.image.crop_and_resize(
      padded, crop_boxes, tf.range(num), tf.stack([height, width]),
      method='bilinear', extrapolation_value=0.0)[..., 0]
  return tf.where(valid[:, tf.newaxis, tf.newaxis], pasted,
                  tf.zeros_like(pasted))


def crop_masks(masks: tf.Tensor, boxes: tf.Tensor, size: int) -> tf.Tensor:
  """Crops image masks to their boxes and resizes them to size x size.

  The inverse of paste_masks: cell i of the result is the image sampled
  bilinearly at y1 + (i + 0.5) h / size (module docstring).

  Args:
    masks: [N, H, W] float or bool masks.
    boxes: [N, 4] float yxyx boxes in the masks' pixel coordinates (max
      exclusive).
    size: The side of the output masks (tf-models' mask_crop_size, 112).

  Returns:
    [N, size, size] float32 in [0, 1].
  """
  masks = tf.cast(masks, tf.float32)
  boxes = tf.cast(boxes, tf.float32)
  h = tf.cast(tf.shape(masks)[1], tf.float32)
  w = tf.cast(tf.shape(masks)[2], tf.float32)
  y1, x1, y2, x2 = tf.unstack(boxes, axis=-1)

  def axis(start, end, length):
    # Cell i's centre start + (i + 0.5) * extent / size, in the input's
    # pixel-index coordinates (minus 0.5), normalised by length - 1.
    step = (end - start) / size
    first = start + 0.5 * step - 0.5
    last = first + (size - 1) * step
    denom = tf.maximum(length - 1.0, 1.0)
    return first / denom, last / denom

  by1, by2 = axis(y1, y2, h)
  bx1, bx2 = axis(x1, x2, w)
  crop_boxes = tf.stack([by1, bx1, by2, bx2], axis=-1)
  return tf.image.crop_and_resize(
      masks[..., tf.newaxis], crop_boxes, tf.range(tf.shape(masks)[0]),
      [size, size], method='bilinear', extrapolation_value=0.0)[..., 0]


def masks_to_boxes(masks: tf.Tensor) -> tf.Tensor:
  """Tight yxyx boxes (max exclusive) of [..., H, W] binary masks.

  Args:
    masks: [..., H, W] bool or numeric (nonzero = inside).

  Returns:
    [..., 4] float32 boxes [ymin, xmin, ymax + 1, xmax + 1] in pixels; an
    empty mask gets [0, 0, 0, 0] (wsvis_tf.core.mask_ops.masks_to_boxes, in
    the graph).
  """
  inside = tf.cast(masks, tf.bool)
  rows = tf.reduce_any(inside, axis=-1)   # [..., H]
  cols = tf.reduce_any(inside, axis=-2)   # [..., W]

  def extent(any_along):
    n = tf.shape(any_along)[-1]
    index = tf.range(n)
    big = tf.fill(tf.shape(any_along), n)
    first = tf.reduce_min(tf.where(any_along, index, big), axis=-1)
    last = tf.reduce_max(tf.where(any_along, index, -tf.ones_like(big)),
                         axis=-1)
    return first, last + 1

  y1, y2 = extent(rows)
  x1, x2 = extent(cols)
  boxes = tf.cast(tf.stack([y1, x1, y2, x2], axis=-1), tf.float32)
  nonempty = tf.reduce_any(rows, axis=-1)
  return tf.where(nonempty[..., tf.newaxis], boxes, tf.zeros_like(boxes))
