"""Pixel pairs of IRN: half-disk offsets, their paths, and shifted slices.

IRN (Ahn et al., CVPR 2019; official code `misc/indexing.py`, `PathIndex`)
relates every pixel i of a stride-4 map to the pixels j = i + (dy, dx) whose
offset lies in the half-disk

  dy = 0 and 0 < dx < r,   or   dy > 0 and dy^2 + dx^2 < r^2,

so each unordered pair is listed once (radius 10 in training, 5 in the
random walk). The path of an offset is the set of pixels (py, px) of the
offset's bounding box at distance < 1 from the segment (0, 0)-(dy, dx); it
contains both end points. Paper eq 1 takes the maximum boundary over the path.

Everything here works on [B, H, W, ...] tensors with shifted slices (never a
dense (HW)^2 matrix), in one of two layouts:

  'valid'  IRN's training layout: sources are the pixels whose every
           destination is inside the map, rows [0, H - f) and columns
           [f, W - f) with f = ceil(r) - 1 (the "radius floor");
  'same'   every pixel is a source; the map is padded by f on the left, the
           right and the bottom with a fill value (1.0 for a boundary map, as
           IRN's `propagate_to_edge` does, so that pairs leaving the image get
           affinity 0).

Gradients. `destinations` and `path_max` slice the same map dozens of times;
left to autodiff, the gradients of those slices are summed by one AddN whose
input order follows TensorFlow's traversal of the graph, which varies from
process to process (it follows object addresses), so float rounding made
two trainings with the same seed differ. Both carry a custom gradient that
sums the slices' contributions in a fixed order: the same value as autodiff
(ties of the maximum share the gradient equally, as tf.reduce_max's does),
reproducible bit for bit.
"""

from typing import Dict, List, Tuple

import numpy as np
import tensorflow as tf

VALID = 'valid'
SAME = 'same'


def half_disk_offsets(radius: int) -> np.ndarray:
  """The [P, 2] int32 (dy, dx) offsets of the radius-r half-disk.

  Order: dy = 0 row first (dx ascending), then rows dy = 1, 2, ... with dx
  ascending. IRN lists the same set grouped by path length; the order does
  not matter anywhere here.
  """
  if radius < 2:
    raise ValueError(f'radius must be >= 2 (a radius-1 half-disk is empty), '
                     f'got {radius}')
  offsets = [(0, dx) for dx in range(1, radius)]
  for dy in range(1, radius):
    for dx in range(-radius + 1, radius):
      if dy * dy + dx * dx < radius * radius:
        offsets.append((dy, dx))
  return np.asarray(offsets, np.int32)


def path_pixels(dy: int, dx: int) -> np.ndarray:
  """The [L, 2] (py, px) pixels of the path from (0, 0) to (dy, dx).

  IRN: a pixel of the offset's bounding box is on the path when its squared
  distance to the line through the origin and (dy, dx) is below 1. Sorted so
  that the destination comes first and the source last.
  """
  length_sq = dy * dy + dx * dx
  if length_sq == 0:
    raise ValueError('the zero offset has no path')
  pixels = []
  for py in range(min(0, dy), max(0, dy) + 1):
    for px in range(min(0, dx), max(0, dx) + 1):
      if (dy * px - dx * py) ** 2 < length_sq:
        pixels.append((py, px))
  pixels.sort(key=lambda p: -abs(p[0]) - abs(p[1]))
  return np.asarray(pixels, np.int32)


class PathIndex:
  """The pairs of one radius and how to slice them out of [B, H, W, ...] maps.

  Attributes:
    radius: r of the half-disk.
    radius_floor: f = ceil(r) - 1, the largest |dx| and dy of an offset.
    offsets: [P, 2] int32 (dy, dx).
    paths: P arrays [L_p, 2] of path pixels, destination first.
  """

  def __init__(self, radius: int):
    self.radius = int(radius)
    self.radius_floor = int(np.ceil(radius) - 1)
    self.offsets = half_disk_offsets(self.radius)
    self.paths: List[np.ndarray] = [path_pixels(int(dy), int(dx))
                                    for dy, dx in self.offsets]

  @property
  def num_offsets(self) -> int:
    return len(self.offsets)

  def output_size(self, height: int, width: int,
                  mode: str = VALID) -> Tuple[int, int]:
    """(h', w'): the grid of source pixels for an H x W map."""
    f = self.radius_floor
    if mode == SAME:
      return height, width
    if mode != VALID:
      raise ValueError(f'mode must be {VALID!r} or {SAME!r}, got {mode!r}')
    if height <= f or width <= 2 * f:
      raise ValueError(f'a {height}x{width} map is too small for radius '
                       f'{self.radius} pairs (needs > {f} rows and > {2 * f} '
                       'columns)')
    return height - f, width - 2 * f

  def pad(self, x: tf.Tensor, value: float) -> tf.Tensor:
    """Pads [B, H, W, ...] by f on the left, right and bottom ('same')."""
    f = self.radius_floor
    paddings = [[0, 0], [0, f], [f, f]] + [[0, 0]] * (x.shape.rank - 3)
    return tf.pad(x, paddings, constant_values=value)

  def _prepare(self, x: tf.Tensor, mode: str, pad_value: float
               ) -> Tuple[tf.Tensor, int, int]:
    x = tf.convert_to_tensor(x)
    if x.shape.rank is None or x.shape.rank < 3:
      raise ValueError(f'pairs need a [B, H, W, ...] tensor, got shape '
                       f'{x.shape}')
    height, width = x.shape[1], x.shape[2]
    if height is None or width is None:
      raise ValueError('pairs need a static height and width, got shape '
                       f'{x.shape}')
    out_h, out_w = self.output_size(height, width, mode)
    if mode == SAME:
      x = self.pad(x, pad_value)
    return x, out_h, out_w

  def _window(self, x: tf.Tensor, py: int, px: int, out_h: int,
              out_w: int) -> tf.Tensor:
    f = self.radius_floor
    return x[:, py:py + out_h, f + px:f + px + out_w]

  def _window_into(self, g: tf.Tensor, py: int, px: int,
                   shape: tf.TensorShape) -> tf.Tensor:
    """g [B, h', w', ...] placed at window (py, px) of a zero map of shape."""
    f = self.radius_floor
    out_h, out_w = g.shape[1], g.shape[2]
    paddings = ([[0, 0], [py, shape[1] - py - out_h],
                 [f + px, shape[2] - f - px - out_w]] +
                [[0, 0]] * (shape.rank - 3))
    return tf.pad(g, paddings)

  def _sum_windows(self, grads: Dict[Tuple[int, int], List[tf.Tensor]],
                   shape: tf.TensorShape) -> tf.Tensor:
    """The gradient of the map: every window's contributions, summed in a
    fixed order (sorted positions, then the order they were listed)."""
    total = None
    for key in sorted(grads):
      parts = grads[key]
      g = parts[0] if len(parts) == 1 else tf.add_n(parts)
      g = self._window_into(g, key[0], key[1], shape)
      total = g if total is None else total + g
    return total

  def sources(self, x: tf.Tensor, mode: str = VALID,
              pad_value: float = 0.0) -> tf.Tensor:
    """[B, H, W, ...] -> [B, h', w', ...]: the value at each pair's source."""
    x, out_h, out_w = self._prepare(x, mode, pad_value)
    return self._window(x, 0, 0, out_h, out_w)

  def destinations(self, x: tf.Tensor, mode: str = VALID,
                   pad_value: float = 0.0) -> tf.Tensor:
    """[B, H, W, ...] -> [B, P, h', w', ...]: the value at i + offset_p."""
    x, out_h, out_w = self._prepare(x, mode, pad_value)
    positions = [(int(dy), int(dx)) for dy, dx in self.offsets]

    def forward(x):
      return tf.stack([self._window(x, py, px, out_h, out_w)
                       for py, px in positions], axis=1)

    if not x.dtype.is_floating:
      return forward(x)

    @tf.custom_gradient
    def with_fixed_order_gradient(x):
      def grad(dy):
        return self._sum_windows(
            {key: [dy[:, p]] for p, key in enumerate(positions)}, x.shape)
      return forward(x), grad

    return with_fixed_order_gradient(x)

  def path_max(self, x: tf.Tensor, mode: str = VALID,
               pad_value: float = 1.0) -> tf.Tensor:
    """[B, H, W, ...] -> [B, P, h', w', ...]: the maximum of x over each
    pair's path, per trailing channel.

    Each distinct path pixel is sliced once and shared by every offset whose
    path contains it; the peak extra memory is one [B, L, h', w', ...]
    stack.
    """
    x, out_h, out_w = self._prepare(x, mode, pad_value)
    paths = [[(int(py), int(px)) for py, px in path] for path in self.paths]

    def path_values(x):
      """Per path, the [L, B, h', w', ...] stack of its pixels' windows."""
      cache: Dict[Tuple[int, int], tf.Tensor] = {}
      for path in paths:
        for key in path:
          if key not in cache:
            cache[key] = self._window(x, key[0], key[1], out_h, out_w)
      return [tf.stack([cache[key] for key in path], axis=0)
              for path in paths]

    def forward(x):
      return [tf.reduce_max(v, axis=0) for v in path_values(x)]

    if not x.dtype.is_floating:
      return tf.stack(forward(x), axis=1)

    @tf.custom_gradient
    def with_fixed_order_gradient(x):
      maxima = forward(x)

      def grad(dy):
        # tf.reduce_max's gradient: to the maximal entries, shared equally
        # among ties; then each window's contributions in a fixed order.
        grads: Dict[Tuple[int, int], List[tf.Tensor]] = {}
        for p, (path, values) in enumerate(zip(paths, path_values(x))):
          is_max = tf.cast(tf.equal(values, maxima[p][tf.newaxis]), dy.dtype)
          share = is_max / tf.reduce_sum(is_max, axis=0, keepdims=True)
          g = share * dy[:, p][tf.newaxis]
          for l, key in enumerate(path):
            grads.setdefault(key, []).append(g[l])
        return self._sum_windows(grads, x.shape)

      return tf.stack(maxima, axis=1), grad

    return with_fixed_order_gradient(x)

  def pair_displacements(self) -> np.ndarray:
    """[P, 2] float32 (dy, dx): x_j - x_i of every pair, in pixels."""
    return self.offsets.astype(np.float32)


def count_pairs(radius: int, height: int, width: int,
                mode: str = VALID) -> int:
  """Number of (i, j) pairs of an H x W map (P * h' * w')."""
  index = PathIndex(radius)
  out_h, out_w = index.output_size(height, width, mode)
  return index.num_offsets * out_h * out_w

