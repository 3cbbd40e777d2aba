"""Flow-amplified CAMs, f-CAMs (paper sec 3.2, eq 2).

  f-CAM_c(x) = CAM_c(x) * A ** [ ||F(x)||_2 > T ],
  T = Percentile_p( ||F(x)||_2 over the frame's pixels )

with F the forward optical flow of the frame (t -> t+1, paper sec 4.2).
Paper values: YouTube-VIS A = 2, p = 80; Cityscapes A = 5, p = 50. The
percentile is numpy's (linear interpolation), so with p = 80 about a fifth of
the pixels (those strictly above T) are amplified; a frame without motion
(all magnitudes equal) has no pixel above T and is left unchanged.

The factor multiplies every class's map alike ("applied to CAMs of all
classes equally, preserving the relative ordering of class scores"). There
is no renormalisation afterwards: amplified maps can exceed 1, which is the
point, since IRN's fixed fg / bg thresholds (0.30 / 0.05) then mark more of
the moving object as confident foreground.

Sizes: the flow must be the frame's full size [H, W, 2]. CAMs at full size
use it directly; CAMs at stride s (IRN's `cam`, s = 4, shape
[K, ceil(H/s), ceil(W/s)]) use the mean flow magnitude of each s x s cell
(cells cut by the frame border average their pixels inside the frame),
compared with the same full-resolution T. Any other CAM size is an error.
"""

from typing import Dict

import numpy as np

from wsvis_tf.cam import extraction


def flow_magnitude(flow: np.ndarray) -> np.ndarray:
  """||F(x)||_2 of [H, W, 2] flow: [H, W] float32."""
  flow = np.asarray(flow, np.float32)
  if flow.ndim != 3 or flow.shape[-1] != 2:
    raise ValueError(f'flow must be [H, W, 2], got shape {flow.shape}')
  return np.sqrt(np.sum(np.square(flow), axis=-1))


def motion_threshold(magnitude: np.ndarray, percentile: float) -> float:
  """T = the percentile-th percentile of the frame's flow magnitudes."""
  if not 0.0 <= percentile <= 100.0:
    raise ValueError(f'percentile must be in [0, 100], got {percentile}')
  return float(np.percentile(magnitude, percentile))


def _cell_mean(magnitude: np.ndarray, stride: int) -> np.ndarray:
  """Mean over stride x stride cells, partial border cells included."""
  h, w = magnitude.shape
  hs, ws = extraction.strided_size((h, w), stride)
  padded = np.zeros((hs * stride, ws * stride), np.float64)
  count = np.zeros_like(padded)
  padded[:h, :w] = magnitude
  count[:h, :w] = 1.0
  sums = padded.reshape(hs, stride, ws, stride).sum(axis=(1, 3))
  counts = count.reshape(hs, stride, ws, stride).sum(axis=(1, 3))
  return (sums / counts).astype(np.float32)


def amplification_map(flow: np.ndarray, amplification: float,
                      percentile: float, stride: int = 1) -> np.ndarray:
  """The factor A ** [||F|| > T] at CAM resolution.

  Args:
    flow: [H, W, 2] forward flow of the frame, in pixels.
    amplification: A (>= 1 amplifies; 1 is a no-op).
    percentile: p, with T = Percentile_p(||F||) over the frame.
    stride: 1 for full-size CAMs, s for CAMs of size ceil(H/s) x ceil(W/s).

  Returns:
    [ceil(H/stride), ceil(W/stride)] float32 with values 1 or A.
  """
  if amplification <= 0:
    raise ValueError(f'amplification must be positive, got {amplification}')
  if stride < 1:
    raise ValueError(f'stride must be >= 1, got {stride}')
  magnitude = flow_magnitude(flow)
  threshold = motion_threshold(magnitude, percentile)
  if stride > 1:
    magnitude = _cell_mean(magnitude, stride)
  return np.where(magnitude > threshold, np.float32(amplification),
                  np.float32(1.0))


def flow_amplified_cams(cams: np.ndarray, flow: np.ndarray,
                        amplification: float, percentile: float,
                        stride: int = 1) -> np.ndarray:
  """Paper eq 2 on [K, h, w] CAMs of every class at once.

  Args:
    cams: [K, h, w] class activation maps (K may be 0).
    flow: [H, W, 2] forward flow of the frame at full resolution.
    amplification: A.
    percentile: p of T = Percentile_p(||F||).
    stride: The CAMs' stride: (h, w) must be (ceil(H/s), ceil(W/s)).

  Returns:
    [K, h, w] float32 f-CAMs (not renormalised).

  Raises:
    ValueError: flow is not [H, W, 2] or does not match the CAMs' size at
      the given stride.
  """
  cams = np.asarray(cams, np.float32)
  if cams.ndim != 3:
    raise ValueError(f'cams must be [K, h, w], got shape {cams.shape}')
  flow = np.asarray(flow)
  if flow.ndim != 3 or flow.shape[-1] != 2:
    raise ValueError(f'flow must be [H, W, 2], got shape {flow.shape}')
  expected = extraction.strided_size(flow.shape[:2], stride)
  if tuple(cams.shape[1:]) != expected:
    raise ValueError(
        f'flow of size {flow.shape[:2]} does not fit CAMs of size '
        f'{cams.shape[1:]} at stride {stride} (expected CAMs of {expected}): '
        'the flow must be computed on the full-size frame the CAMs are of')
  return cams * amplification_map(flow, amplification, percentile,
                                  stride)[np.newaxis]


def amplify_cam_dict(cams: Dict[str, np.ndarray], flow: np.ndarray,
                     amplification: float, percentile: float
                    ) -> Dict[str, np.ndarray]:
  """f-CAMs of a CAM npz dict: both `cam` (stride 4) and `high_res`."""
  out = dict(cams)
  out[extraction.NPZ_HIGH_RES] = flow_amplified_cams(
      cams[extraction.NPZ_HIGH_RES], flow, amplification, percentile, 1)
  out[extraction.NPZ_CAM] = flow_amplified_cams(
      cams[extraction.NPZ_CAM], flow, amplification, percentile,
      extraction.CAM_STRIDE)
  return out
