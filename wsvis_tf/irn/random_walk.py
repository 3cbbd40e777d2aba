"""IRN's random walk (`propagate_to_edge`) as sparse propagation steps.

IRN (official `misc/indexing.py`) builds, for an h x w stride-4 map, a dense
(hw)^2 affinity matrix A: A_ij = a_ij (paper eq 1) for every pair of the
radius-5 half-disk in both directions, A_ii = 1, 0 elsewhere. It raises it
element-wise to beta (10), normalises the columns,

  T = A^beta D^-1,  D = diag(d),  d_j = sum_i (A^beta)_ij,

squares T exp_times (8) times and returns rw = x T^(2^8) for the row vector
x = vec(x0 * (1 - edge)) of every instance CAM.

Without the dense matrix: A^beta is symmetric, so for a column vector y,

  (y^T T)_j = sum_i y_i (A^beta)_ij / d_j = (1 / d_j) sum_i (A^beta)_ji y_i,

i.e. one step is y <- D^-1 A^beta y: each pixel takes the average of its
radius-5 neighbourhood (the full disk: the 34 half-disk offsets, their 34
mirrors and itself) weighted by a^beta. And x T^256 = x T T ... T (256
factors, matrix products being associative), so 256 such steps give exactly
IRN's rw, up to float rounding. One step costs 69 multiply-adds per pixel
and channel instead of a dense (hw)^2 product; nothing of size (hw)^2 is
ever formed, so a 480x854 frame (120x214 at stride 4) walks in a few MB.

The per-pixel weights are the 69 maps

  self:     1 / d_j
  forward:  a(j, j + o)^beta / d_j        (o one of the 34 offsets)
  backward: a(j - o, j)^beta / d_j        (the mirrored pair)

with a(., .) = 0 for pairs leaving the image (IRN pads the edge map with 1).
The walk itself is one XLA-compiled `tf.while_loop` whose state is kept
padded by f = 4 pixels, so each step is one fused loop over the map.
"""

from typing import Tuple

import numpy as np
import tensorflow as tf

from wsvis_tf.irn import losses
from wsvis_tf.irn import path_index as path_index_lib

# IRN's inference settings (run_sample.py, make_ins_seg_labels.py).
WALK_RADIUS = 5
BETA = 10.0
EXP_TIMES = 8
# Channels are walked in groups of this many so that XLA compiles one
# program per map size, not one per number of instance CAMs.
CHANNEL_GROUP = 4


def transition_weights(boundary: tf.Tensor, radius: int = WALK_RADIUS,
                       beta: float = BETA) -> Tuple[tf.Tensor, np.ndarray]:
  """Per-pixel weights of one walk step.

  Args:
    boundary: [h, w] float boundary probabilities in [0, 1].
    radius: Walk radius (IRN: 5).
    beta: Exponent of the affinities (IRN: 10).

  Returns:
    (weights [2P + 1, h, w] float32: self, then P forward, then P backward
    maps as in the module docstring; offsets [2P + 1, 2] int32 (dy, dx): the
    neighbour each map multiplies, (0, 0) first).
  """
  boundary = tf.convert_to_tensor(boundary, tf.float32)
  if boundary.shape.rank != 2:
    raise ValueError(f'boundary must be [h, w], got {boundary.shape}')
  index = path_index_lib.PathIndex(radius)
  f = index.radius_floor
  height, width = boundary.shape
  # [P, h, w]: a(j, j + o) for every source pixel j; 0 when j + o is outside.
  forward = losses.path_affinity(boundary[tf.newaxis], index,
                                 mode=path_index_lib.SAME)[0]
  forward = tf.pow(tf.clip_by_value(forward, 0.0, 1.0), beta)
  # backward[p][j] = forward[p][j - o_p]: shift every map by +o_p.
  padded = tf.pad(forward, [[0, 0], [f, f], [f, f]])
  backward = tf.stack([
      padded[p, f - dy:f - dy + height, f - dx:f - dx + width]
      for p, (dy, dx) in enumerate(index.offsets)])
  degree = 1.0 + tf.reduce_sum(forward, 0) + tf.reduce_sum(backward, 0)
  weights = tf.concat([tf.ones([1, height, width]), forward, backward],
                      axis=0) / degree[tf.newaxis]
  offsets = np.concatenate([np.zeros((1, 2), np.int32), index.offsets,
                            -index.offsets], axis=0)
  return weights, offsets


def _make_walk(offsets: Tuple[Tuple[int, int], ...], pad: int):
  """An XLA-compiled function (x [C, h, w], weights, steps) -> walked x."""

  @tf.function(jit_compile=True, autograph=False)
  def walk(x, weights, steps):
    height, width = x.shape[1], x.shape[2]

    def body(i, padded):
      out = None
      for k, (dy, dx) in enumerate(offsets):
        term = weights[k][tf.newaxis] * padded[:, pad + dy:pad + dy + height,
                                               pad + dx:pad + dx + width]
        out = term if out is None else out + term
      return i + 1, tf.pad(out, [[0, 0], [pad, pad], [pad, pad]])

    padded = tf.pad(x, [[0, 0], [pad, pad], [pad, pad]])
    _, padded = tf.while_loop(lambda i, _: i < steps, body,
                              (tf.constant(0), padded))
    return padded[:, pad:pad + height, pad:pad + width]

  return walk


_WALKS = {}


def propagate(x: tf.Tensor, weights: tf.Tensor, offsets: np.ndarray,
              steps: int) -> tf.Tensor:
  """Applies `steps` walk steps y <- D^-1 A^beta y to every channel of x.

  Args:
    x: [C, h, w] float maps.
    weights, offsets: from transition_weights.
    steps: Number of steps (IRN: 2^exp_times = 256).

  Returns:
    [C, h, w] float32.
  """
  x = tf.convert_to_tensor(x, tf.float32)
  weights = tf.convert_to_tensor(weights, tf.float32)
  if x.shape.rank != 3 or x.shape[1:] != weights.shape[1:]:
    raise ValueError(f'x must be [C, h, w] on the weights\' grid '
                     f'{weights.shape[1:]}, got {x.shape}')
  key = tuple(map(tuple, np.asarray(offsets).tolist()))
  pad = int(np.abs(offsets).max())
  if (key, pad) not in _WALKS:
    _WALKS[(key, pad)] = _make_walk(key, pad)
  walk = _WALKS[(key, pad)]
  channels, height, width = x.shape
  if channels == 0:
    return x
  # An even width makes every weight map a multiple of 2^k bytes when h is
  # a multiple of a power of two (96x96, 128x128, ...): the 69 maps then
  # share cache sets and a step runs ~10x slower. One extra column of zero
  # weights (a pixel nobody walks to or from) avoids it and changes nothing.
  extra = 1 - width % 2
  if extra:
    x = tf.pad(x, [[0, 0], [0, 0], [0, extra]])
    weights = tf.pad(weights, [[0, 0], [0, 0], [0, extra]])
  groups = -(-channels // CHANNEL_GROUP)
  x = tf.pad(x, [[0, groups * CHANNEL_GROUP - channels], [0, 0], [0, 0]])
  steps = tf.constant(steps, tf.int32)
  out = [walk(x[g * CHANNEL_GROUP:(g + 1) * CHANNEL_GROUP], weights, steps)
         for g in range(groups)]
  return tf.concat(out, axis=0)[:channels, :, :width]


def random_walk(x: tf.Tensor, boundary: tf.Tensor,
                radius: int = WALK_RADIUS, beta: float = BETA,
                exp_times: int = EXP_TIMES) -> tf.Tensor:
  """IRN's `propagate_to_edge`: x (1 - edge) T^(2^exp_times), sparsely.

  Args:
    x: [C, h, w] float maps (IRN: the instance CAMs).
    boundary: [h, w] float boundary probabilities.
    radius, beta, exp_times: IRN's 5, 10, 8.

  Returns:
    [C, h, w] float32 walked maps.
  """
  x = tf.convert_to_tensor(x, tf.float32)
  boundary = tf.convert_to_tensor(boundary, tf.float32)
  if x.shape.rank != 3 or x.shape[1:] != boundary.shape:
    raise ValueError(f'x [C, h, w] and boundary [h, w] must share a grid, '
                     f'got {x.shape} and {boundary.shape}')
  weights, offsets = transition_weights(boundary, radius, beta)
  return propagate(x * (1.0 - boundary)[tf.newaxis], weights, offsets,
                   2 ** exp_times)


def dense_transition_matrix(boundary: np.ndarray, radius: int = WALK_RADIUS,
                            beta: float = BETA, exp_times: int = EXP_TIMES,
                            dtype=np.float64) -> np.ndarray:
  """IRN's dense T^(2^exp_times), for tests and the benchmark only.

  Builds the (hw)^2 matrix exactly as IRN's `propagate_to_edge` does (pad
  the edge map with 1 left, right and bottom; pairs of the half-disk both
  ways; identity; power beta; column normalisation; repeated squaring), in
  numpy. Memory is (hw)^2: keep maps small.
  """
  boundary = np.asarray(boundary, dtype)
  height, width = boundary.shape
  index = path_index_lib.PathIndex(radius)
  f = index.radius_floor
  padded = np.pad(boundary, ((0, f), (f, f)), constant_values=1.0)
  n = height * width
  affinity = np.eye(n, dtype=dtype)
  ys, xs = np.mgrid[:height, :width]
  for (dy, dx), path in zip(index.offsets, index.paths):
    path_max = np.max([padded[ys + py, xs + f + px] for py, px in path], 0)
    ys2, xs2 = ys + dy, xs + dx
    inside = (ys2 < height) & (xs2 >= 0) & (xs2 < width)
    i = (ys * width + xs)[inside]
    j = (ys2 * width + xs2)[inside]
    affinity[i, j] = 1.0 - path_max[inside]
    affinity[j, i] = 1.0 - path_max[inside]
  transition = affinity ** beta
  transition /= transition.sum(axis=0, keepdims=True)
  for _ in range(exp_times):
    transition = transition @ transition
  return transition


def dense_random_walk(x: np.ndarray, boundary: np.ndarray,
                      radius: int = WALK_RADIUS, beta: float = BETA,
                      exp_times: int = EXP_TIMES) -> np.ndarray:
  """IRN's dense walk rw = vec(x (1 - edge)) T^(2^exp_times) (reference)."""
  x = np.asarray(x, np.float64)
  channels, height, width = x.shape
  transition = dense_transition_matrix(boundary, radius, beta, exp_times)
  rows = (x * (1.0 - np.asarray(boundary, np.float64))).reshape(channels, -1)
  return (rows @ transition).reshape(channels, height, width)
