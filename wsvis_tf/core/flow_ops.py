"""Optical-flow operations on core TensorFlow ops.

tensorflow-addons is not used (0.23 does not import with TF 2.20), so its
`dense_image_warp` is written here. Conventions:
  * flow is [..., H, W, 2] float32 in pixels, channel 0 = dx (columns),
    channel 1 = dy (rows), pointing from a pixel of the first frame to where
    it moves in the second frame;
  * `warp(image, flow)` is backward warping:
        out[b, y, x] = image[b](x + flow[b, y, x, 0], y + flow[b, y, x, 1])
    sampled bilinearly. With image = frame t+1 and flow = forward flow t->t+1
    it reconstructs frame t (away from occlusions). `dense_image_warp` (the
    tensorflow-addons convention, which subtracts the flow) is warp(im, -flow).
"""

from typing import Tuple, Union

import numpy as np
import tensorflow as tf

TensorLike = Union[tf.Tensor, np.ndarray]

PADDING_BORDER = 'border'
PADDING_ZEROS = 'zeros'


def _check_warp_shapes(image: tf.Tensor, flow: tf.Tensor) -> None:
  if image.shape.rank != 4:
    raise ValueError(f'warp: image must be [B, H, W, C], got {image.shape}')
  if flow.shape.rank != 4 or (flow.shape[-1] is not None
                              and flow.shape[-1] != 2):
    raise ValueError(f'warp: flow must be [B, H, W, 2], got {flow.shape}')
  for axis, name in ((0, 'batch'), (1, 'height'), (2, 'width')):
    a, b = image.shape[axis], flow.shape[axis]
    if a is not None and b is not None and a != b:
      raise ValueError(f'warp: image {name} {a} != flow {name} {b} '
                       f'(image {image.shape}, flow {flow.shape})')


def warp(image: TensorLike,
         flow: TensorLike,
         padding: str = PADDING_BORDER,
         return_valid: bool = False
        ) -> Union[tf.Tensor, Tuple[tf.Tensor, tf.Tensor]]:
  """Backward-warps a batch of images with a flow field, bilinearly.

  Differentiable with respect to both image and flow.

  Args:
    image: A [B, H, W, C] float tensor (other dtypes are cast to float32).
    flow: A [B, H, W, 2] float tensor, (dx, dy) in pixels.
    padding: 'border' replicates edge pixels for samples outside the image
      (as dense_image_warp does); 'zeros' treats outside pixels as 0.
    return_valid: Also return a [B, H, W, 1] float32 mask that is 1 where the
      sample point lies inside the image.

  Returns:
    A [B, H, W, C] float32 tensor (and the validity mask if requested).
  """
  if padding not in (PADDING_BORDER, PADDING_ZEROS):
    raise ValueError(f'warp: padding must be "border" or "zeros", got '
                     f'{padding!r}')
  image = tf.convert_to_tensor(image)
  if image.dtype != tf.float32:
    image = tf.cast(image, tf.float32)
  flow = tf.cast(tf.convert_to_tensor(flow), tf.float32)
  _check_warp_shapes(image, flow)
  shape = tf.shape(image)
  b, h, w, c = shape[0], shape[1], shape[2], shape[3]
  hf = tf.cast(h, tf.float32)
  wf = tf.cast(w, tf.float32)

  gy, gx = tf.meshgrid(tf.range(hf), tf.range(wf), indexing='ij')
  x = gx[None] + flow[..., 0]
  y = gy[None] + flow[..., 1]
  valid = tf.cast((x >= 0) & (x <= wf - 1) & (y >= 0) & (y <= hf - 1),
                  tf.float32)[..., None]

  flat = tf.reshape(image, [-1, c])
  base = tf.reshape(tf.range(b) * h * w, [-1, 1, 1])

  if padding == PADDING_BORDER:
    # Clamp the sample point, then the top-left corner to [0, size - 2], so
    # that the fractional weight stays in [0, 1] (edge replication).
    xc = tf.clip_by_value(x, 0.0, wf - 1)
    yc = tf.clip_by_value(y, 0.0, hf - 1)
    x0 = tf.clip_by_value(tf.floor(xc), 0.0, tf.maximum(wf - 2, 0.0))
    y0 = tf.clip_by_value(tf.floor(yc), 0.0, tf.maximum(hf - 2, 0.0))
    ax = (xc - x0)[..., None]
    ay = (yc - y0)[..., None]
    x0i = tf.cast(x0, tf.int32)
    y0i = tf.cast(y0, tf.int32)
    x1i = tf.minimum(x0i + 1, w - 1)
    y1i = tf.minimum(y0i + 1, h - 1)

    def gather(yi, xi):
      return tf.gather(flat, base + yi * w + xi)

    top = gather(y0i, x0i) * (1 - ax) + gather(y0i, x1i) * ax
    bottom = gather(y1i, x0i) * (1 - ax) + gather(y1i, x1i) * ax
    out = top * (1 - ay) + bottom * ay
  else:
    x0 = tf.floor(x)
    y0 = tf.floor(y)
    ax = (x - x0)[..., None]
    ay = (y - y0)[..., None]
    out = tf.zeros_like(flow[..., :1]) * tf.zeros([c])  # [B, H, W, C]
    for dy, wy in ((0.0, 1 - ay), (1.0, ay)):
      for dx, wx in ((0.0, 1 - ax), (1.0, ax)):
        xi = x0 + dx
        yi = y0 + dy
        inside = tf.cast((xi >= 0) & (xi <= wf - 1) & (yi >= 0) &
                         (yi <= hf - 1), tf.float32)[..., None]
        xi = tf.cast(tf.clip_by_value(xi, 0.0, wf - 1), tf.int32)
        yi = tf.cast(tf.clip_by_value(yi, 0.0, hf - 1), tf.int32)
        out += tf.gather(flat, base + yi * w + xi) * wx * wy * inside
  if return_valid:
    return out, valid
  return out


def dense_image_warp(image: TensorLike, flow: TensorLike) -> tf.Tensor:
  """tensorflow-addons' dense_image_warp: samples image at (y, x) - flow.

  Note tfa's flow channel order is (dy, dx); this takes the same order.
  """
  flow = tf.cast(tf.convert_to_tensor(flow), tf.float32)
  return warp(image, -tf.reverse(flow, axis=[-1]))


def resize_flow(flow: TensorLike, size: Tuple[int, int]) -> tf.Tensor:
  """Bilinearly resizes a [B, H, W, 2] flow and rescales its vectors.

  A displacement of d pixels at width W is d * W' / W pixels at width W'.
  """
  flow = tf.cast(tf.convert_to_tensor(flow), tf.float32)
  if flow.shape.rank != 4:
    raise ValueError(f'resize_flow: flow must be [B, H, W, 2], got '
                     f'{flow.shape}')
  in_hw = tf.cast(tf.shape(flow)[1:3], tf.float32)
  out = tf.image.resize(flow, size, method='bilinear')
  scale = tf.cast(tf.stack(size), tf.float32) / in_hw  # (sy, sx)
  return out * tf.stack([scale[1], scale[0]])


def flow_to_rgb(flow: np.ndarray, max_magnitude: float = None) -> np.ndarray:
  """Colour-codes a [H, W, 2] flow as a [H, W, 3] uint8 RGB image.

  Hue is the direction, saturation the magnitude relative to max_magnitude
  (default: the field's largest magnitude), value 1: zero motion is white, as
  in the Middlebury convention.
  """
  flow = np.asarray(flow, np.float32)
  if flow.ndim != 3 or flow.shape[-1] != 2:
    raise ValueError(f'flow_to_rgb: flow must be [H, W, 2], got {flow.shape}')
  flow = np.nan_to_num(flow)
  mag = np.hypot(flow[..., 0], flow[..., 1])
  if max_magnitude is None:
    max_magnitude = float(mag.max())
  max_magnitude = max(max_magnitude, 1e-6)
  ang = (np.degrees(np.arctan2(-flow[..., 1], -flow[..., 0])) + 180.0) / 2.0
  hsv = np.empty(flow.shape[:2] + (3,), np.uint8)
  hsv[..., 0] = np.clip(ang, 0, 179).astype(np.uint8)
  hsv[..., 1] = np.clip(mag / max_magnitude * 255.0, 0, 255).astype(np.uint8)
  hsv[..., 2] = 255
  import cv2  # pylint: disable=g-import-not-at-top
  return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def endpoint_error(flow: TensorLike, flow_gt: TensorLike,
                   mask: TensorLike = None) -> float:
  """Mean end-point error ||flow - flow_gt||_2 over mask (default: all)."""
  flow = np.asarray(flow, np.float64)
  flow_gt = np.asarray(flow_gt, np.float64)
  if flow.shape != flow_gt.shape:
    raise ValueError(f'endpoint_error: shapes differ {flow.shape} vs '
                     f'{flow_gt.shape}')
  err = np.linalg.norm(flow - flow_gt, axis=-1)
  if mask is None:
    return float(err.mean())
  mask = np.asarray(mask, bool).reshape(err.shape)
  return float(err[mask].mean()) if mask.any() else float('nan')
