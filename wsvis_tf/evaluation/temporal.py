"""Temporal consistency (TC) of frame predictions (paper sec 4.4, Tab. 6).

After Liu et al. ECCV 2020 ("Efficient semantic video segmentation with
per-frame inference"), who compare a frame's prediction with the previous
frame's prediction warped by optical flow; the paper replaces their mIoU
with mask AP50:

  TC(t, t+1) = AP50 of the predictions at t+1, with as ground truth the
               predictions at t whose score >= score_threshold, warped to
               t+1 (bilinear, then binarised at 0.5: paper appendix A.2) and
               keeping their class.
  TC         = the mean of TC(t, t+1) over the pairs where it is defined.

Flow direction. Warping is backward (`flow_ops.warp`: out[y, x] = in(x + u,
y + v)), so carrying a mask from frame t onto frame t+1's pixel grid needs,
for each pixel of t+1, where it came from in t: the BACKWARD flow t+1 -> t,
i.e. flow[y, x] = (u, v) such that pixel (x, y) of frame t+1 shows the point
at (x + u, y + v) of frame t. A forward flow t -> t+1 is the wrong field
here (it is indexed by frame t's pixels). For a translation by (+dx, +dy)
from t to t+1, the backward flow is the constant (-dx, -dy).

Choices the paper leaves open, made here: warped masks are binarised with
>= 0.5; warped ground truth that is empty (it left the image) is dropped (no
prediction at t+1 could match it); a pair without any ground truth (no
prediction at t above the threshold) has no AP and is left out of the mean.
"""

from typing import List, Sequence

import numpy as np

from wsvis_tf.core import flow_ops
from wsvis_tf.evaluation import formats
from wsvis_tf.evaluation import frame_ap
from wsvis_tf.evaluation import instances as instances_lib

FrameInstances = instances_lib.FrameInstances

# Default score above which predictions at t become TC ground truth; the
# paper does not state it, 0.5 is the usual Mask R-CNN visualisation cut.
DEFAULT_SCORE_THRESHOLD = 0.5
# Paper appendix A.2: the warped soft mask is binarised at 0.5.
BINARY_THRESHOLD = 0.5


def warp_masks(masks: np.ndarray, backward_flow: np.ndarray) -> np.ndarray:
  """Warps binary masks from frame t onto frame t+1 (paper appendix A.2).

  Args:
    masks: A [N, H, W] binary array on frame t.
    backward_flow: A [H, W, 2] float array, the flow t+1 -> t in pixels
      (channel 0 = dx, 1 = dy), see the module docstring.

  Returns:
    A [N, H, W] uint8 0/1 array on frame t+1: bilinear warp with border
    replication, then >= 0.5.
  """
  masks = np.asarray(masks)
  backward_flow = np.asarray(backward_flow, np.float32)
  if masks.ndim != 3:
    raise ValueError(f'warp_masks: masks must be [N, H, W], got {masks.shape}')
  if backward_flow.shape != masks.shape[1:] + (2,):
    raise ValueError(f'warp_masks: flow must be [H, W, 2] = '
                     f'{list(masks.shape[1:]) + [2]}, got '
                     f'{list(backward_flow.shape)}')
  if masks.shape[0] == 0:
    return np.zeros(masks.shape, np.uint8)
  # The N masks are the channels of one image: one warp call.
  image = np.transpose(masks != 0, (1, 2, 0)).astype(np.float32)[None]
  warped = flow_ops.warp(image, backward_flow[None]).numpy()[0]
  return np.transpose(warped >= BINARY_THRESHOLD, (2, 0, 1)).astype(np.uint8)


def pair_ap50(previous: FrameInstances, current: FrameInstances,
              backward_flow: np.ndarray,
              score_threshold: float = DEFAULT_SCORE_THRESHOLD) -> float:
  """TC of one frame pair: AP50 of `current` against warped `previous`.

  Args:
    previous: Predictions on frame t.
    current: Predictions on frame t+1 (all of them, ranked by score).
    backward_flow: A [H, W, 2] flow t+1 -> t (see the module docstring).
    score_threshold: Predictions at t with score >= this become ground truth.

  Returns:
    AP50 in [0, 1], or -1.0 when frame t gives no (non-empty) ground truth.
  """
  if (previous.height, previous.width) != (current.height, current.width):
    raise ValueError(f'pair_ap50: frame sizes differ: '
                     f'{[previous.height, previous.width]} vs '
                     f'{[current.height, current.width]}')
  reference = previous.select(previous.scores >= score_threshold)
  warped = warp_masks(reference.masks, backward_flow)
  keep = warped.any(axis=(1, 2))
  if not keep.any():
    return -1.0
  reference = FrameInstances(warped[keep], reference.class_ids[keep])
  categories = sorted(set(reference.class_ids.tolist())
                      | set(current.class_ids.tolist()))
  gt = {'images': [{'id': 1, 'height': current.height,
                    'width': current.width}],
        'categories': [{'id': c} for c in categories],
        'annotations': [dict(r, id=i + 1, iscrowd=0) for i, r in
                        enumerate(reference.to_coco_results(image_id=1))]}
  ground_truth = formats.load_coco_ground_truth(gt)
  results = formats.load_coco_results(current.to_coco_results(image_id=1),
                                      ground_truth)
  stats = frame_ap.run_quietly(frame_ap.frame_evaluator(ground_truth,
                                                        results))
  return float(stats[frame_ap.STAT_AP50])


def temporal_consistency(
    predictions: Sequence[FrameInstances],
    backward_flows: np.ndarray,
    score_threshold: float = DEFAULT_SCORE_THRESHOLD) -> float:
  """TC of a sequence of frames (paper Tab. 6), mean over frame pairs.

  The mean of pair_values; see there for the arguments. Returns -1.0 if TC
  is defined for no pair.
  """
  values = pair_values(predictions, backward_flows, score_threshold)
  return float(np.mean(values)) if values else -1.0


def pair_values(
    predictions: Sequence[FrameInstances],
    backward_flows: np.ndarray,
    score_threshold: float = DEFAULT_SCORE_THRESHOLD) -> List[float]:
  """TC(t, t+1) of each consecutive pair where it is defined.

  A model with few predictions above score_threshold defines TC on few
  pairs: pool these values over videos (and report their count) rather
  than averaging per-video means.

  Args:
    predictions: T >= 2 FrameInstances of consecutive frames 0..T-1 (or of
      frames t, t + delta, ... with the matching flows).
    backward_flows: A [T - 1, H, W, 2] array; backward_flows[i] is the flow
      from frame i+1 to frame i (see the module docstring).
    score_threshold: See pair_ap50.

  Returns:
    pair_ap50 of the pairs (i, i+1) where it is defined, in order.
  """
  backward_flows = np.asarray(backward_flows, np.float32)
  if len(predictions) < 2:
    raise ValueError(f'temporal_consistency: needs >= 2 frames, got '
                     f'{len(predictions)}')
  if backward_flows.ndim != 4 or len(backward_flows) != len(predictions) - 1:
    raise ValueError(f'temporal_consistency: backward_flows must be '
                     f'[{len(predictions) - 1}, H, W, 2], got '
                     f'{list(backward_flows.shape)}')
  values = [pair_ap50(predictions[i], predictions[i + 1], backward_flows[i],
                      score_threshold)
            for i in range(len(predictions) - 1)]
  return [v for v in values if v >= 0]
