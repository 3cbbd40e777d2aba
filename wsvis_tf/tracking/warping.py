"""Carrying binary masks from frame t to frame t+1 with optical flow, numpy.

UnOVOST compares each proposal of frame t, moved to t+1 by optical flow
(its `forward_segmentation`), with the proposals of t+1. Two ways to move a
mask, one per flow direction (`proposals.py` module docstring):

  warp_backward(masks, flow t+1 -> t): out[y, x] = mask(x + u, y + v),
      sampled bilinearly with border replication and binarised at >= 0.5:
      `flow_ops.warp` (PADDING_BORDER) and `temporal.warp_masks` in numpy,
      so the tracker needs no TensorFlow. Exact where frame t+1's pixel was
      visible in t.
  splat_forward(masks, flow t -> t+1): every pixel p of the mask at t adds
      its bilinear weights to the four pixels around p + flow(p) in t+1;
      pixels that collect >= 0.5 are inside. For a translation by any
      (sub-pixel) d the interior of the moved mask collects exactly 1.
      The weights are deliberately not normalised by what all of frame t's
      pixels send there: where a moving object lands on background that
      stays put (its leading edge), both send 1, and the normalised value
      0.5 would cut the object's leading edge at the threshold. Pixels that
      nothing lands on (a mask stretched by a diverging flow) stay outside;
      for matching at IoU > 0.05 a few such holes do not matter.

compose_forward chains forward flows t -> t+1 -> ... -> t+k (for tracking
on every k-th frame with per-frame flows, e.g. the benchmark's stride).
"""

from typing import Sequence

import numpy as np

# Flow directions (proposals.py module docstring): 'backward' is the flow
# t+1 -> t, 'forward' the flow t -> t+1.
BACKWARD = 'backward'
FORWARD = 'forward'

# Paper appendix A.2 / temporal.BINARY_THRESHOLD: a warped soft mask is
# inside at >= 0.5.
BINARY_THRESHOLD = 0.5


def _check(masks: np.ndarray, flow: np.ndarray, name: str):
  masks = np.asarray(masks)
  flow = np.asarray(flow, np.float32)
  if masks.ndim != 3:
    raise ValueError(f'{name}: masks must be [N, H, W], got {masks.shape}')
  if flow.shape != masks.shape[1:] + (2,):
    raise ValueError(f'{name}: flow must be [H, W, 2] = '
                     f'{list(masks.shape[1:]) + [2]}, got {list(flow.shape)}')
  return masks != 0, flow


def warp_backward(masks: np.ndarray, flow: np.ndarray) -> np.ndarray:
  """Backward-warps masks of frame t onto frame t+1.

  Args:
    masks: A [N, H, W] binary array on frame t.
    flow: A [H, W, 2] float array, the flow t+1 -> t in pixels (dx, dy).

  Returns:
    A [N, H, W] bool array on frame t+1 (see the module docstring).
  """
  masks, flow = _check(masks, flow, 'warp_backward')
  n, h, w = masks.shape
  if n == 0:
    return np.zeros(masks.shape, bool)
  gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
  # flow_ops.warp, PADDING_BORDER: clamp the sample point into the image,
  # then the top-left corner to [0, size - 2] so weights stay in [0, 1].
  x = np.clip(gx + flow[..., 0], 0.0, w - 1)
  y = np.clip(gy + flow[..., 1], 0.0, h - 1)
  x0 = np.clip(np.floor(x), 0.0, max(w - 2, 0))
  y0 = np.clip(np.floor(y), 0.0, max(h - 2, 0))
  ax, ay = x - x0, y - y0
  x0, y0 = x0.astype(np.int64), y0.astype(np.int64)
  x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
  m = masks.astype(np.float32)
  top = m[:, y0, x0] * (1 - ax) + m[:, y0, x1] * ax
  bottom = m[:, y1, x0] * (1 - ax) + m[:, y1, x1] * ax
  return top * (1 - ay) + bottom * ay >= BINARY_THRESHOLD


def splat_forward(masks: np.ndarray, flow: np.ndarray) -> np.ndarray:
  """Forward-splats masks of frame t onto frame t+1.

  Args:
    masks: A [N, H, W] binary array on frame t.
    flow: A [H, W, 2] float array, the flow t -> t+1 in pixels (dx, dy).

  Returns:
    A [N, H, W] bool array on frame t+1 (see the module docstring); parts
    that move out of the image are lost.
  """
  masks, flow = _check(masks, flow, 'splat_forward')
  n, h, w = masks.shape
  out = np.zeros((n, h * w), np.float32)
  if n == 0:
    return out.reshape(masks.shape).astype(bool)
  gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
  x = gx + flow[..., 0]
  y = gy + flow[..., 1]
  x0 = np.floor(x)
  y0 = np.floor(y)
  ax = x - x0
  ay = y - y0
  flat = masks.reshape(n, -1)
  for dy, wy in ((0, 1 - ay), (1, ay)):
    for dx, wx in ((0, 1 - ax), (1, ax)):
      xi = x0 + dx
      yi = y0 + dy
      inside = (xi >= 0) & (xi <= w - 1) & (yi >= 0) & (yi <= h - 1)
      target = (yi[inside] * w + xi[inside]).astype(np.int64)
      weight = (wx * wy)[inside]
      for i in range(n):
        src = flat[i][inside.reshape(-1)]
        out[i] += np.bincount(target[src], weight[src], minlength=h * w)
  return (out >= BINARY_THRESHOLD).reshape(masks.shape)


def compose_forward(flows: Sequence[np.ndarray]) -> np.ndarray:
  """Chains forward flows t -> t+1 -> ... -> t+k into one flow t -> t+k.

  A pixel p of frame t goes to p1 = p + flows[0](p), then to p1 +
  flows[1](p1), ...; flows[i] is sampled bilinearly at the non-integer
  points (border replication). Exact for piecewise translations away
  from motion boundaries; there, the sample mixes the two sides.

  Args:
    flows: k >= 1 arrays [H, W, 2], flows[i] the forward flow t+i -> t+i+1.

  Returns:
    A [H, W, 2] float32 array, the forward flow t -> t+k.
  """
  if len(flows) == 0:  # pylint: disable=g-explicit-length-test
    raise ValueError('compose_forward: needs at least one flow')
  total = np.asarray(flows[0], np.float32).copy()
  h, w = total.shape[:2]
  gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
  for flow in flows[1:]:
    flow = np.asarray(flow, np.float32)
    if flow.shape != total.shape:
      raise ValueError(f'compose_forward: flows of shapes {total.shape} and '
                       f'{flow.shape}')
    x = np.clip(gx + total[..., 0], 0.0, w - 1)
    y = np.clip(gy + total[..., 1], 0.0, h - 1)
    x0 = np.minimum(np.floor(x), max(w - 2, 0)).astype(np.int64)
    y0 = np.minimum(np.floor(y), max(h - 2, 0)).astype(np.int64)
    ax = (x - x0)[..., None]
    ay = (y - y0)[..., None]
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    top = flow[y0, x0] * (1 - ax) + flow[y0, x1] * ax
    bottom = flow[y1, x0] * (1 - ax) + flow[y1, x1] * ax
    total = total + top * (1 - ay) + bottom * ay
  return total


def move_masks(masks: np.ndarray, flow, direction: str) -> np.ndarray:
  """Masks of frame t on frame t+1: warped, splatted, or as they are.

  Args:
    masks: A [N, H, W] binary array on frame t.
    flow: The [H, W, 2] flow between t and t+1, or None (zero motion).
    direction: BACKWARD (flow t+1 -> t) or FORWARD (flow t -> t+1).

  Returns:
    A [N, H, W] bool array.
  """
  if flow is None:
    return np.asarray(masks) != 0
  if direction == BACKWARD:
    return warp_backward(masks, flow)
  if direction == FORWARD:
    return splat_forward(masks, flow)
  raise ValueError(f'move_masks: direction must be {BACKWARD!r} or '
                   f'{FORWARD!r}, got {direction!r}')
