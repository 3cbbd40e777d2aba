"""DDFlow's unsupervised losses and occlusion check, as pure tensor functions.

Sources (REFERENCES.md sec 3; DDFlow: ddflow_model.py, utils.occlusion):
  * robust penalty   sum(mask * (|d| + eps)^q) / (2 sum(mask)), q = 0.4;
  * photometric      robust(img1 - warp(img2, f_fw)) (+ the symmetric term);
  * census           7x7 ternary transform of grey * 255, t / sqrt(0.81 + t^2),
                     soft Hamming d^2 / (0.1 + d^2) summed over the 49
                     channels, 3 px border masked, then the robust penalty;
  * occlusion        forward-backward consistency check;
  * distillation     robust(teacher - student) on pixels occluded for the
                     student but not for the teacher, both directions / 2;
  * smoothness       (not in DDFlow, optional) edge-aware first-order
                     smoothness of the flow, UnFlow / ARFlow style.

Images are [B, H, W, 3] float32 RGB in [0, 1]; flows [B, H, W, 2] float32
(dx, dy) in pixels; masks [B, H, W, 1] float32 in {0, 1}. Every loss returns
a float32 scalar whose denominator carries an epsilon (an empty mask gives
0); the training step wraps each term in `guard_finite` and skips updates
whose loss or gradient is not finite.
"""

from typing import Tuple

import numpy as np
import tensorflow as tf

from wsvis_tf.core import flow_ops

_EPS = 1e-6


def guard_finite(loss: tf.Tensor) -> tf.Tensor:
  """Returns loss, or 0 where it is NaN/Inf (XLA-compatible, no branch).

  The training step also skips the update of a step whose total is not
  finite and counts it; this keeps one bad term from poisoning the sum.
  """
  return tf.where(tf.math.is_finite(loss), loss, tf.zeros_like(loss))


def abs_robust_loss(diff: tf.Tensor, mask: tf.Tensor, q: float = 0.4,
                    epsilon: float = 0.01) -> tf.Tensor:
  """DDFlow's generalised Charbonnier: sum(mask (|d| + eps)^q) / (2 sum(mask)).

  Args:
    diff: [B, H, W, C] float32 differences.
    mask: [B, H, W, 1] (or broadcastable) float32 weights.
    q: The exponent (0.4).
    epsilon: Added to |d| (0.01).

  Returns:
    A float32 scalar. The "2" in the denominator is DDFlow's, kept so that
    loss values compare with the original.
  """
  diff = tf.convert_to_tensor(diff, tf.float32)
  mask = tf.convert_to_tensor(mask, tf.float32)
  penalty = tf.pow(tf.abs(diff) + epsilon, q) * mask
  norm = tf.reduce_sum(mask * tf.ones_like(diff[..., :1])) * 2.0 + _EPS
  return tf.reduce_sum(penalty) / norm


def ternary_transform(image: tf.Tensor, max_distance: int = 3) -> tf.Tensor:
  """Soft census (ternary) transform over a (2m+1)^2 patch.

  Args:
    image: [B, H, W, 3] float32 RGB in [0, 1].
    max_distance: m; 3 gives DDFlow's 7x7 patch.

  Returns:
    [B, H, W, (2m+1)^2] float32: for each neighbour n of pixel p,
    t / sqrt(0.81 + t^2) with t = 255 (grey(n) - grey(p)); neighbours outside
    the image count as grey 0 (zero padding, as DDFlow's conv2d 'SAME').
  """
  size = 2 * max_distance + 1
  grey = tf.image.rgb_to_grayscale(tf.cast(image, tf.float32)) * 255.0
  # One-hot kernels pick each neighbour (DDFlow: conv2d with an identity).
  kernel = tf.constant(np.eye(size * size).reshape(size, size, 1, size * size),
                       tf.float32)
  patches = tf.nn.conv2d(grey, kernel, strides=1, padding='SAME')
  t = patches - grey
  return t / tf.sqrt(0.81 + tf.square(t))


def soft_hamming(t1: tf.Tensor, t2: tf.Tensor) -> tf.Tensor:
  """[B, H, W, 1] sum over channels of d^2 / (0.1 + d^2), d = t1 - t2."""
  d2 = tf.square(t1 - t2)
  return tf.reduce_sum(d2 / (0.1 + d2), axis=-1, keepdims=True)


def border_mask(like: tf.Tensor, border: int) -> tf.Tensor:
  """[B, H, W, 1] float32: 0 within `border` pixels of the edge, else 1."""
  shape = tf.shape(like)
  h, w = shape[1], shape[2]
  ys = tf.range(h)
  xs = tf.range(w)
  inside_y = (ys >= border) & (ys < h - border)
  inside_x = (xs >= border) & (xs < w - border)
  m = tf.cast(inside_y[:, None] & inside_x[None, :], tf.float32)
  return tf.tile(m[None, :, :, None], [shape[0], 1, 1, 1])


def census_loss(image1: tf.Tensor, image2_warped: tf.Tensor, mask: tf.Tensor,
                max_distance: int = 3, q: float = 0.4,
                epsilon: float = 0.01) -> tf.Tensor:
  """Census loss between a frame and the other frame warped onto it.

  DDFlow: census_loss. The robust penalty of the soft Hamming distance of
  the two ternary transforms, on mask times a border mask of max_distance.

  Args:
    image1: [B, H, W, 3] float32 in [0, 1].
    image2_warped: [B, H, W, 3] float32, the second frame warped by the flow.
    mask: [B, H, W, 1] float32, e.g. 1 - occlusion.
    max_distance: The census radius (3: 7x7).
    q: See abs_robust_loss.
    epsilon: See abs_robust_loss.

  Returns:
    A float32 scalar.
  """
  dist = soft_hamming(ternary_transform(image1, max_distance),
                      ternary_transform(image2_warped, max_distance))
  mask = tf.cast(mask, tf.float32) * border_mask(image1, max_distance)
  return abs_robust_loss(dist, mask, q, epsilon)


def photometric_loss(image1: tf.Tensor, image2_warped: tf.Tensor,
                     mask: tf.Tensor, q: float = 0.4,
                     epsilon: float = 0.01) -> tf.Tensor:
  """DDFlow's 'abs_robust_mean': robust(image1 - warped image2) on mask."""
  return abs_robust_loss(tf.cast(image1, tf.float32) - image2_warped, mask, q,
                         epsilon)


def forward_backward_occlusion(flow_fw: tf.Tensor, flow_bw: tf.Tensor,
                               alpha1: float = 0.01, alpha2: float = 0.5
                              ) -> Tuple[tf.Tensor, tf.Tensor]:
  """Occlusion masks from the forward-backward check (DDFlow: utils.occlusion).

  A pixel p of frame 1 is occluded when the backward flow at p + f_fw(p) does
  not send it back:
    |f_fw + warp(f_bw, f_fw)|^2 > alpha1 (|f_fw|^2 + |warp(f_bw, f_fw)|^2)
                                   + alpha2,
  and symmetrically for frame 2. A pixel whose flow leaves the frame
  (p + f_fw(p) outside the image) is occluded too: it has no match in the
  other frame. DDFlow's warp reads zeros outside the image, so its check
  fails there; warping with border padding alone would instead compare the
  flow with the edge pixel's and let the census loss score out-of-frame
  pixels against the wrong ones.

  Args:
    flow_fw: [B, H, W, 2] float32, frame 1 -> 2.
    flow_bw: [B, H, W, 2] float32, frame 2 -> 1.
    alpha1: Relative tolerance (0.01).
    alpha2: Absolute tolerance in squared pixels (0.5).

  Returns:
    (occ_fw, occ_bw), each [B, H, W, 1] float32 in {0, 1} (1 = occluded),
    without gradient.
  """
  flow_fw = tf.stop_gradient(tf.cast(flow_fw, tf.float32))
  flow_bw = tf.stop_gradient(tf.cast(flow_bw, tf.float32))

  def occluded(f, g):
    g_warped, inside = flow_ops.warp(g, f, return_valid=True)
    mismatch = tf.reduce_sum(tf.square(f + g_warped), -1, keepdims=True)
    mag = (tf.reduce_sum(tf.square(f), -1, keepdims=True) +
           tf.reduce_sum(tf.square(g_warped), -1, keepdims=True))
    inconsistent = tf.cast(mismatch > alpha1 * mag + alpha2, tf.float32)
    return tf.maximum(inconsistent, 1.0 - inside)

  return occluded(flow_fw, flow_bw), occluded(flow_bw, flow_fw)


def distillation_loss(teacher_flow: tf.Tensor, student_flow: tf.Tensor,
                      student_occlusion: tf.Tensor,
                      teacher_occlusion: tf.Tensor, q: float = 0.4,
                      epsilon: float = 0.01) -> tf.Tensor:
  """DDFlow's data-distillation term for one direction.

  Robust loss of (teacher - student) on pixels occluded for the student (on
  its patch) but not for the teacher (on the full frame):
  clip(occ_student - occ_teacher, 0, 1). The caller averages the two
  directions.

  Args:
    teacher_flow: [B, H, W, 2] float32, the teacher's flow cropped to the
      student's patch.
    student_flow: [B, H, W, 2] float32.
    student_occlusion: [B, H, W, 1] float32 in {0, 1}.
    teacher_occlusion: [B, H, W, 1] float32 in {0, 1}, cropped likewise.

  Returns:
    A float32 scalar (0 where no pixel qualifies).
  """
  valid = tf.clip_by_value(tf.cast(student_occlusion, tf.float32) -
                           tf.cast(teacher_occlusion, tf.float32), 0.0, 1.0)
  return abs_robust_loss(tf.stop_gradient(tf.cast(teacher_flow, tf.float32)) -
                         student_flow, tf.stop_gradient(valid), q, epsilon)


def edge_aware_smoothness_loss(image: tf.Tensor, flow: tf.Tensor,
                               edge_constant: float = 10.0) -> tf.Tensor:
  """First-order edge-aware smoothness of a flow (not part of DDFlow).

  UnFlow / ARFlow style: for each of the x and y neighbour differences,
    mean over pixels and flow channels of
      exp(-edge_constant * mean_c |I(p') - I(p)|) * |f(p') - f(p)|,
  and the x and y terms averaged. Textureless regions, where the census and
  photometric losses carry no signal, take the flow of their surroundings;
  image edges (where objects' flows differ) are penalised less.

  Args:
    image: [B, H, W, C] float32 in [0, 1], the frame the flow starts from.
    flow: [B, H, W, 2] float32 in pixels.
    edge_constant: How fast the weight falls with the image gradient (per
      unit of [0, 1] intensity).

  Returns:
    A float32 scalar (0 for a constant flow).
  """
  image = tf.cast(image, tf.float32)
  flow = tf.cast(flow, tf.float32)
  dx_flow = flow[:, :, 1:] - flow[:, :, :-1]
  dy_flow = flow[:, 1:] - flow[:, :-1]
  dx_image = image[:, :, 1:] - image[:, :, :-1]
  dy_image = image[:, 1:] - image[:, :-1]

  def term(d_image, d_flow):
    weight = tf.exp(-edge_constant *
                    tf.reduce_mean(tf.abs(d_image), -1, keepdims=True))
    return tf.reduce_mean(weight * tf.abs(d_flow))

  return 0.5 * (term(dx_image, dx_flow) + term(dy_image, dy_flow))
