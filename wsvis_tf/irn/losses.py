"""IRN's losses and flowIRN's flow-boundary loss: pure functions of tensors.

Shapes: B batch, (h, w) the stride-4 map, P offsets of a `PathIndex`, and
(h', w') its source grid ('valid' layout: h' = h - f, w' = w - 2f). Pair
tensors are [B, P, h', w'] float32. Every loss returns a float32 scalar that
is replaced by 0 when it is not finite (a batch without pairs of some kind
gives 0, as IRN's `sum / (count + 1e-5)` does).

  path_affinity         paper eq 1 (IRN): a_ij = 1 - max_{k on path} B(k)
  pair_labels           IRN `GetAffinityLabelFromIndices`
  boundary_loss         IRN's inter-pixel affinity loss (pos bg/fg, neg)
  displacement_loss     IRN's displacement loss (fg, bg)
  flow_gradient         F' of paper eq 3 (appendix A.1)
  pair_flow_difference  d_ij of eq 3: F' (or F) difference of a pair
  flow_boundary_loss    paper eq 3, the f-Bound loss
  irn_total_loss        IRN's total (+ f-Bound for flowIRN)
"""

from typing import Dict, Mapping, Optional

import tensorflow as tf

from wsvis_tf.irn import path_index as path_index_lib

# Keys of the pair-label dict.
BG_POS = 'bg_pos'
FG_POS = 'fg_pos'
NEG = 'neg'
# Keys of the loss dicts.
LOSS_POS = 'affinity_pos'
LOSS_NEG = 'affinity_neg'
LOSS_DP_FG = 'displacement_fg'
LOSS_DP_BG = 'displacement_bg'
LOSS_FLOW_BOUNDARY = 'flow_boundary'
LOSS_TOTAL = 'total'

IGNORE_LABEL = 255
_EPS = 1e-5  # IRN's epsilon in the logs and the normalisers.


def guard_finite(loss: tf.Tensor) -> tf.Tensor:
  """Returns loss, or 0 when it is NaN or Inf (see train_lib for updates)."""
  loss = tf.convert_to_tensor(loss, tf.float32)
  return tf.where(tf.math.is_finite(loss), loss, tf.zeros_like(loss))


def path_affinity(boundary: tf.Tensor, index: path_index_lib.PathIndex,
                  mode: str = path_index_lib.VALID) -> tf.Tensor:
  """Paper eq 1: a_ij = 1 - max of the boundary map on the path i -> j.

  Args:
    boundary: [B, h, w] float boundary probabilities in [0, 1] (sigmoid of
      the edge logits).
    index: The pairs.
    mode: 'valid' (training) or 'same' (inference; the map is padded with
      1.0, so a pair leaving the image has affinity 0, as in IRN).

  Returns:
    [B, P, h', w'] float32 affinities in [0, 1].
  """
  boundary = tf.cast(boundary, tf.float32)
  return 1.0 - index.path_max(boundary, mode, pad_value=1.0)


def pair_labels(labels: tf.Tensor, num_classes: int,
                index: path_index_lib.PathIndex) -> Dict[str, tf.Tensor]:
  """IRN's pair labels from a stride-4 IR label map.

  A pair is valid when both labels are < num_classes + 1 (so 255, the
  ignore label, is excluded); it is a background positive when both are 0,
  a foreground positive when both are the same class > 0, a negative when
  they differ.

  Args:
    labels: [B, h, w] int IR labels at stride 4 (0 background, c + 1 class
      c, 255 ignore), e.g. the full-size labels downscaled x0.25 (nearest).
    num_classes: C, the number of object classes.
    index: The pairs.

  Returns:
    {BG_POS, FG_POS, NEG}: [B, P, h', w'] float32 0/1 masks.
  """
  labels = tf.cast(labels, tf.int32)
  src = index.sources(labels)[:, tf.newaxis]
  dst = index.destinations(labels)
  valid = tf.logical_and(src < num_classes + 1, dst < num_classes + 1)
  equal = tf.equal(src, dst)
  positive = tf.logical_and(equal, valid)
  as_float = lambda m: tf.cast(m, tf.float32)
  return {
      BG_POS: as_float(tf.logical_and(positive, tf.equal(src, 0))),
      FG_POS: as_float(tf.logical_and(positive, src > 0)),
      NEG: as_float(tf.logical_and(tf.logical_not(equal), valid)),
  }


def _masked_mean(values: tf.Tensor, mask: tf.Tensor,
                 normaliser: float = 1.0) -> tf.Tensor:
  """sum(values * mask) / (normaliser * sum(mask) + eps), as IRN."""
  return (tf.reduce_sum(values * mask) /
          (normaliser * tf.reduce_sum(mask) + _EPS))


def boundary_loss(affinity: tf.Tensor, labels: Mapping[str, tf.Tensor]
                  ) -> Dict[str, tf.Tensor]:
  """IRN's affinity (class-boundary) loss.

    L_pos = 1/2 mean_{bg pos}(-log(a + eps)) + 1/2 mean_{fg pos}(-log(a + eps))
    L_neg = mean_{neg}(-log(1 + eps - a))

  Args:
    affinity: [B, P, h', w'] from path_affinity.
    labels: pair_labels() of the same pairs.

  Returns:
    {LOSS_POS, LOSS_NEG}: float32 scalars.
  """
  affinity = tf.clip_by_value(tf.cast(affinity, tf.float32), 0.0, 1.0)
  pos_term = -tf.math.log(affinity + _EPS)
  bg = _masked_mean(pos_term, labels[BG_POS])
  fg = _masked_mean(pos_term, labels[FG_POS])
  neg = _masked_mean(-tf.math.log(1.0 + _EPS - affinity), labels[NEG])
  return {LOSS_POS: guard_finite(bg / 2.0 + fg / 2.0),
          LOSS_NEG: guard_finite(neg)}


def displacement_loss(displacement: tf.Tensor,
                      labels: Mapping[str, tf.Tensor],
                      index: path_index_lib.PathIndex
                      ) -> Dict[str, tf.Tensor]:
  """IRN's displacement loss.

    fg pos pairs: |(D_i - D_j) - (x_j - x_i)|_1, so x_i + D_i = x_j + D_j
                  (every pixel of an instance points at one centroid);
    bg pos pairs: |D_i - D_j|_1;
  each summed over the 2 channels and divided by 2 * (number of pairs).

  Args:
    displacement: [B, h, w, 2] float, (dy, dx) in stride-4 pixels.
    labels: pair_labels() of the same pairs.
    index: The pairs.

  Returns:
    {LOSS_DP_FG, LOSS_DP_BG}: float32 scalars.
  """
  displacement = tf.cast(displacement, tf.float32)
  if displacement.shape.rank != 4 or displacement.shape[-1] != 2:
    raise ValueError(f'displacement must be [B, h, w, 2], got '
                     f'{displacement.shape}')
  src = index.sources(displacement)[:, tf.newaxis]     # [B, 1, h', w', 2]
  dst = index.destinations(displacement)              # [B, P, h', w', 2]
  diff = src - dst                                    # D_i - D_j
  offsets = tf.constant(index.pair_displacements())[tf.newaxis, :,
                                                    tf.newaxis, tf.newaxis]
  fg_term = tf.reduce_sum(tf.abs(diff - offsets), axis=-1)
  bg_term = tf.reduce_sum(tf.abs(diff), axis=-1)
  return {
      LOSS_DP_FG: guard_finite(_masked_mean(fg_term, labels[FG_POS], 2.0)),
      LOSS_DP_BG: guard_finite(_masked_mean(bg_term, labels[BG_POS], 2.0)),
  }


def flow_gradient(flow: tf.Tensor) -> tf.Tensor:
  """F' of paper eq 3: the spatial Jacobian of a flow field.

  Finite differences are numpy.gradient's: central differences
  (F(x + 1) - F(x - 1)) / 2 inside, one-sided differences on the first and
  last row/column, in the flow's own pixels (so a flow resized to stride 4
  with its vectors rescaled gives stride-4 pixels per stride-4 pixel, which
  is the full-resolution derivative for a smooth field). Where the
  differences are taken (on the stride-4 grid, or at the input resolution
  and then pooled to it) is input_pipeline.flow_gradient_at_stride's
  choice; lambda = 2 is only meaningful relative to it: on the stride-4 grid
  a motion edge of J input pixels gives |F'| = J / 8, at the input
  resolution J / 2.

  The paper calls F'(i) "a two-dimensional vector denoting the gradient of
  the optical flow with respect to (x_i, y_i)"; appendix A.1 derives
  dF_x/dx and says the same holds along y. We keep both derivatives of both
  flow components, (dFx/dx, dFy/dx, dFx/dy, dFy/dy): with only
  (dFx/dx, dFy/dy), two objects sliding past each other along their common
  border (a shear, e.g. one moving up and one down) would give no signal.

  Args:
    flow: [B, h, w, 2] float, channel 0 = dx, channel 1 = dy.

  Returns:
    [B, h, w, 4] float32.
  """
  flow = tf.cast(flow, tf.float32)
  if flow.shape.rank != 4 or flow.shape[-1] != 2:
    raise ValueError(f'flow must be [B, h, w, 2], got {flow.shape}')

  def gradient(x, axis):
    n = x.shape[axis]
    if n is None or n < 2:
      raise ValueError(f'flow_gradient needs >= 2 pixels along axis {axis}, '
                       f'got shape {x.shape}')
    take = lambda a, b: tf.gather(x, tf.range(a, b), axis=axis)
    first = take(1, 2) - take(0, 1)
    last = take(n - 1, n) - take(n - 2, n - 1)
    if n == 2:
      return tf.concat([first, last], axis=axis)
    middle = (take(2, n) - take(0, n - 2)) / 2.0
    return tf.concat([first, middle, last], axis=axis)

  return tf.concat([gradient(flow, 2), gradient(flow, 1)], axis=-1)


ENDPOINTS = 'endpoints'
PATH = 'path'
PAIR_DIFFERENCES = (ENDPOINTS, PATH)


def pair_flow_difference(feature: tf.Tensor,
                         index: path_index_lib.PathIndex,
                         how: str = ENDPOINTS) -> tf.Tensor:
  """d_ij, the weight of eq 3: how differently the two ends of a pair move.

  feature is what eq 3 compares, per pixel: F' (flow_gradient, the paper)
  or the flow F itself (FlowBoundaryConfig.feature). Then

    ENDPOINTS  d_ij = ||G(i) - G(j)||, eq 3 as written (G = F' or F);
    PATH       d_ij = ||max_k G(k) - min_k G(k)|| over the pixels k of the
               path of eq 1 (componentwise), i.e. how much G changes
               anywhere between i and j.

  PATH is never below ENDPOINTS (both ends are on the path). With G = F'
  it is what eq 3 needs next to a path-maximum affinity: F' only changes
  at a motion edge, so a pair with its ends inside two objects that move
  differently has F'(i) = F'(j), and with ENDPOINTS the term
  lambda |1 - a_ij| pulls it together, lowering the boundary on the edge
  (a_ij is the maximum of B over the path, and the edge lies on the paths
  of more pairs than it ends). Measured on the procedural data (exact
  flow, frames x2, radius 10, lambda 2, F' at the input resolution): with
  ENDPOINTS 15 % of the object-background pairs and 13 % of the pairs
  inside one object have d_ij > lambda, so the loss barely tells them
  apart; with PATH 50 % against 19 %, and 96 % of the pairs joining two
  instances. With G = F, ENDPOINTS already separates them (97 % against
  1 %): the flow differs across a motion edge whether or not an end is
  on it.

  Args:
    feature: [B, h, w, C] F' (C = 4) or F (C = 2) on the pairs' grid.
    index: The pairs.
    how: ENDPOINTS or PATH.

  Returns:
    [B, P, h', w'] float32 ('valid' layout).
  """
  feature = tf.cast(feature, tf.float32)
  if how == ENDPOINTS:
    diff = index.sources(feature)[:, tf.newaxis] - index.destinations(
        feature)
  elif how == PATH:
    diff = (index.path_max(feature, pad_value=0.0) +
            index.path_max(-feature, pad_value=0.0))
  else:
    raise ValueError(f'pair difference must be one of {PAIR_DIFFERENCES}, '
                     f'got {how!r}')
  return tf.sqrt(tf.reduce_sum(tf.square(diff), axis=-1))


def flow_boundary_loss(affinity: tf.Tensor, feature: tf.Tensor,
                       index: path_index_lib.PathIndex,
                       flow_weight: float = 2.0,
                       valid: Optional[tf.Tensor] = None,
                       pair_difference: str = ENDPOINTS,
                       max_difference: Optional[float] = None,
                       pull: bool = True) -> tf.Tensor:
  """Paper eq 3, the f-Bound loss, over IRN's pairs.

    L = mean over pairs (i, j) of d_ij a_ij + lambda |1 - a_ij|,

  d_ij = ||F'(i) - F'(j)|| as the paper writes it, or one of the forms of
  pair_flow_difference. The paper writes the sum over j in N_i for a pixel
  i; we average over all pairs of the batch (that is, the per-pixel sum
  divided by |N_i| and averaged over pixels), as IRN normalises its own
  pair losses, so that the balance with them does not depend on the crop
  size, the batch size or the radius. lambda keeps its meaning: per pair,
  the loss decreases with a_ij exactly when d_ij < lambda, i.e. pairs whose
  motion differs by more than lambda are pushed apart and the others
  together.

  Args:
    affinity: [B, P, h', w'] from path_affinity ('valid' layout).
    feature: [B, h, w, 4] F' (flow_gradient) or [B, h, w, 2] flow, on the
      grid of the boundary map the affinity came from. Not differentiated.
    index: The pairs.
    flow_weight: lambda (paper sec 4.2: 2).
    valid: Optional [B, h, w] bool/float, pixels with a real flow (e.g. not
      crop padding); a pair counts when both ends are valid (with PATH,
      when every pixel of its path is).
    pair_difference: ENDPOINTS (eq 3 as written) or PATH.
    max_difference: If set, d_ij is clipped to it. The per-pair gradient in
      a_ij is d_ij - lambda: pairs are pulled together with at most lambda
      but, as written, pushed apart without bound, in proportion to how
      much faster one end moves than the other. Clipped at 2 lambda the
      push is at most as strong as the pull, and one fast object no longer
      outweighs the rest of the batch (wsvis_tf/irn/README.md). None: eq 3
      as written.
    pull: True is eq 3: per pair d_ij a_ij + lambda |1 - a_ij|, which pushes
      pairs with d_ij > lambda apart and pulls every other pair together.
      False keeps the push only, per pair max(d_ij - lambda, 0) a_ij (eq 3
      minus its pull, up to the constant lambda): motion edges become
      boundaries, and pairs without a motion difference are left to IRN's
      own terms. Eq 3's pull also acts on pairs the IR labels call
      negative or ignore (a static object and the background move alike),
      against IRN's negative-pair term; IRN's positive-pair term already
      pulls the pairs the labels call alike.

  Returns:
    float32 scalar.
  """
  if max_difference is not None and max_difference <= 0:
    raise ValueError(f'max_difference must be positive or None, got '
                     f'{max_difference}')
  affinity = tf.cast(affinity, tf.float32)
  feature = tf.stop_gradient(tf.cast(feature, tf.float32))
  if feature.shape.rank != 4 or feature.shape[-1] not in (2, 4):
    raise ValueError(f'feature must be [B, h, w, 4] (flow_gradient) or '
                     f'[B, h, w, 2] (flow), got {feature.shape}')
  pairs = (feature.shape[0], index.num_offsets) + index.output_size(
      feature.shape[1], feature.shape[2])
  if pairs != tuple(affinity.shape[:4]):
    raise ValueError(f'flow feature pairs {pairs} do not match the '
                     f'affinity {affinity.shape}: the flow must be on the '
                     'boundary map\'s grid')
  distance = pair_flow_difference(feature, index, pair_difference)
  if max_difference is not None:
    distance = tf.minimum(distance, float(max_difference))
  if pull:
    per_pair = distance * affinity + flow_weight * tf.abs(1.0 - affinity)
  else:
    per_pair = tf.nn.relu(distance - flow_weight) * affinity
  if valid is None:
    return guard_finite(tf.reduce_mean(per_pair))
  valid = tf.cast(valid, tf.float32)
  if pair_difference == PATH:
    mask = 1.0 - index.path_max(1.0 - valid, pad_value=1.0)
  else:
    mask = index.sources(valid)[:, tf.newaxis] * index.destinations(valid)
  return guard_finite(tf.reduce_sum(per_pair * mask) /
                      tf.maximum(tf.reduce_sum(mask), 1.0))


def irn_total_loss(losses: Mapping[str, tf.Tensor],
                   flow_boundary_weight: float = 1.0) -> tf.Tensor:
  """IRN: (L_pos + L_neg) / 2 + (L_dp_fg + L_dp_bg) / 2 [+ f-Bound].

  flowIRN (paper sec 3.2) trains "with the above loss and the original
  losses in IRN": LOSS_FLOW_BOUNDARY, when present, is added with weight
  flow_boundary_weight (1 in the paper).
  """
  total = ((losses[LOSS_POS] + losses[LOSS_NEG]) / 2.0 +
           (losses[LOSS_DP_FG] + losses[LOSS_DP_BG]) / 2.0)
  if LOSS_FLOW_BOUNDARY in losses:
    total += flow_boundary_weight * losses[LOSS_FLOW_BOUNDARY]
  return guard_finite(total)
