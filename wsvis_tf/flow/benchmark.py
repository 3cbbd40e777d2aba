"""Flow accuracy and speed on ground truth: DDFlow against classical flow.

Classical baselines are OpenCV's DIS (`cv2.DISOpticalFlow`, a preset) and
Farneback (`cv2.calcOpticalFlowFarneback`, OpenCV's sample parameters), both
on greyscale frames. EPE is the mean end-point error over all pixels of a
pair, averaged over pairs; time is wall time per frame pair (forward flow
only for the classical methods; DDFlow's bidirectional call, which also gives
the backward flow, counts whole). EPE is also split into moving pixels
(ground-truth motion of at least MOVING_THRESHOLD pixels: on the procedural
videos, the objects) and static ones (the drifting background), each the
mean over all such pixels of all pairs.
"""

import dataclasses
import time
from typing import Callable, Dict, Iterable, List, Mapping, Sequence, Tuple

import cv2
import numpy as np

from wsvis_tf.core import flow_ops
from wsvis_tf.core import keys

# (frame1, frame2) uint8 [H, W, 3] -> [H, W, 2] float32 forward flow.
FlowFn = Callable[[np.ndarray, np.ndarray], np.ndarray]

# Pixels whose ground-truth motion is at least this many pixels are 'moving'
# (procedural objects move 1.2-3 px a frame, the camera 0.15-0.6 px).
MOVING_THRESHOLD = 1.0

DIS_PRESETS = {'ultrafast': cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
               'fast': cv2.DISOPTICAL_FLOW_PRESET_FAST,
               'medium': cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}


def _grey(frame: np.ndarray) -> np.ndarray:
  return cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)


def dis_flow_fn(preset: str = 'medium') -> FlowFn:
  """OpenCV DIS optical flow with a preset (ultrafast, fast, medium)."""
  if preset not in DIS_PRESETS:
    raise ValueError(f'unknown DIS preset {preset!r}; known: '
                     f'{sorted(DIS_PRESETS)}')
  dis = cv2.DISOpticalFlow_create(DIS_PRESETS[preset])

  def fn(a, b):
    return dis.calc(_grey(a), _grey(b), None)
  return fn


def farneback_flow_fn() -> FlowFn:
  """Farneback with OpenCV's sample parameters (pyr 0.5, 3 levels, win 15)."""

  def fn(a, b):
    return cv2.calcOpticalFlowFarneback(_grey(a), _grey(b), None, 0.5, 3, 15,
                                        3, 5, 1.2, 0)
  return fn


def zero_flow_fn() -> FlowFn:
  """Zero flow: the reference any method must beat."""

  def fn(a, b):
    del b
    return np.zeros(a.shape[:2] + (2,), np.float32)
  return fn


def ddflow_flow_fn(predict_fn) -> FlowFn:
  """A FlowFn from extract.PredictFn (batch of one pair, forward flow)."""

  def fn(a, b):
    fw, _ = predict_fn(a[None].astype(np.float32) / 255.0,
                       b[None].astype(np.float32) / 255.0)
    return fw[0]
  return fn


@dataclasses.dataclass
class Result:
  name: str
  epe: float
  epe_non_occluded: float
  ms_per_pair: float
  pairs: int
  epe_moving: float = float('nan')
  epe_static: float = float('nan')


def ground_truth_pairs(videos: Iterable[Mapping[str, np.ndarray]]
                      ) -> List[Tuple[np.ndarray, ...]]:
  """(frame t, frame t + 1, gt flow, gt occlusion) of every (t, t + 1)."""
  out = []
  for v in videos:
    if keys.GT_FLOW not in v:
      raise ValueError('benchmark needs ground-truth flow (keys.GT_FLOW); '
                       'only the procedural dataset has it')
    frames = v[keys.FRAMES]
    gt = np.asarray(v[keys.GT_FLOW], np.float32)
    occ = v.get(keys.GT_OCCLUSION)
    for t in range(len(gt)):
      out.append((frames[t], frames[t + 1], gt[t],
                  None if occ is None else np.asarray(occ[t], bool)))
  return out


def run(methods: Mapping[str, FlowFn], pairs: Sequence[Tuple[np.ndarray, ...]],
        warmup: int = 2) -> List[Result]:
  """EPE (all pixels, non-occluded pixels) and ms per pair of each method.

  The first `warmup` pairs are run once untimed (graph tracing, caches).
  """
  results = []
  for name, fn in methods.items():
    for a, b, *_ in pairs[:warmup]:
      fn(a, b)
    epe, epe_noc, seconds = [], [], 0.0
    # [sum, count] of the errors of moving and of static pixels.
    moving, static = np.zeros(2), np.zeros(2)
    for a, b, gt, occ in pairs:
      start = time.perf_counter()
      flow = fn(a, b)
      seconds += time.perf_counter() - start
      epe.append(flow_ops.endpoint_error(flow, gt))
      if occ is not None:
        epe_noc.append(flow_ops.endpoint_error(flow, gt, ~occ))
      err = np.linalg.norm(np.asarray(flow, np.float64) - gt, axis=-1)
      is_moving = np.linalg.norm(gt, axis=-1) >= MOVING_THRESHOLD
      moving += [err[is_moving].sum(), is_moving.sum()]
      static += [err[~is_moving].sum(), (~is_moving).sum()]
    results.append(Result(
        name, float(np.mean(epe)),
        float(np.nanmean(epe_noc)) if epe_noc else float('nan'),
        1000.0 * seconds / max(len(pairs), 1), len(pairs),
        moving[0] / moving[1] if moving[1] else float('nan'),
        static[0] / static[1] if static[1] else float('nan')))
  return results


def table(results: Sequence[Result]) -> str:
  lines = [f'{"method":24s} {"EPE":>8s} {"EPE noc":>8s} {"moving":>8s} '
           f'{"static":>8s} {"ms/pair":>9s} {"pairs":>6s}']
  for r in results:
    lines.append(f'{r.name:24s} {r.epe:8.4f} {r.epe_non_occluded:8.4f} '
                 f'{r.epe_moving:8.4f} {r.epe_static:8.4f} '
                 f'{r.ms_per_pair:9.2f} {r.pairs:6d}')
  return '\n'.join(lines)


def result_line(results: Mapping[str, Result]) -> str:
  """RESULT ddflow_epe=... dis_epe=... farneback_epe=... ddflow_ms=... dis_ms=..."""
  d, s, f = results['ddflow'], results['dis'], results['farneback']
  return (f'RESULT ddflow_epe={d.epe:.4f} dis_epe={s.epe:.4f} '
          f'farneback_epe={f.epe:.4f} ddflow_ms={d.ms_per_pair:.1f} '
          f'dis_ms={s.ms_per_pair:.1f}')
