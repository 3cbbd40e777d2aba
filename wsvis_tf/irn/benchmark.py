"""Speed and memory of IRN instance inference on structured random inputs.

A scene is a stride-4 grid with a few elliptic instances: the boundary map
is high on each ellipse's outline (plus noise), the displacement inside an
ellipse points at its centre (zero outside), and each class's CAM is a
bump over its instances. That is what a trained IRN gives, so centroid
refinement, clustering, the walk and fragment scoring do their real amount
of work (a random boundary map would not).

Memory, two parts added up (an upper bound of the call's peak):
  * TensorFlow tensors: the peak of TensorFlow's CPU allocator during the
    call (tf.config.experimental.get_memory_info('CPU:0')['peak'] after
    reset_memory_stats; its BFC allocator rounds blocks up, so this slightly
    overstates). TF keeps freed blocks in its pool, so the process's
    resident size does not show them.
  * host (numpy) arrays: the peak resident set size (VmHWM in
    /proc/self/status, reset by writing 5 to /proc/self/clear_refs, Linux >=
    4.0) minus the resident size before the call, with glibc's mmap
    threshold pinned at 64 KiB (mallopt) so that freed arrays really leave
    the resident set. tracemalloc would see these but not TF's.
Where an interface is missing its part is NaN.
"""

import ctypes
import ctypes.util
import dataclasses
import time
from typing import Dict, List, Optional, Tuple

import numpy as np
import tensorflow as tf

from wsvis_tf.irn import inference
from wsvis_tf.irn import random_walk


@dataclasses.dataclass
class Scene:
  boundary: np.ndarray      # [h, w] float32
  displacement: np.ndarray  # [h, w, 2] float32 (dy, dx)
  cams: np.ndarray          # [C, h, w] float32
  keys: np.ndarray          # [C] int32
  image_size: Tuple[int, int]


def make_scene(height: int, width: int, num_instances: int = 4,
               num_classes: int = 2, seed: int = 0) -> Scene:
  """A structured random scene for an H x W frame (see module docstring)."""
  rng = np.random.default_rng(seed)
  h, w = -(-height // 4), -(-width // 4)
  ys, xs = np.mgrid[:h, :w].astype(np.float32)
  boundary = np.zeros((h, w), np.float32)
  displacement = np.zeros((h, w, 2), np.float32)
  cams = np.zeros((num_classes, h, w), np.float32)
  for k in range(num_instances):
    cy, cx = rng.uniform(0.2, 0.8) * h, rng.uniform(0.2, 0.8) * w
    ry, rx = rng.uniform(0.1, 0.22) * h, rng.uniform(0.1, 0.22) * w
    d = np.sqrt(((ys - cy) / ry) ** 2 + ((xs - cx) / rx) ** 2)
    inside = d < 1
    displacement[inside] = np.stack([cy - ys, cx - xs], -1)[inside]
    boundary = np.maximum(boundary, np.exp(-((d - 1) * min(ry, rx)) ** 2))
    cams[k % num_classes] = np.maximum(cams[k % num_classes],
                                       np.clip(1.2 - d, 0, 1))
  boundary = np.clip(boundary + rng.uniform(0, 0.1, (h, w)), 0, 1)
  return Scene(boundary.astype(np.float32), displacement, cams,
               np.arange(num_classes, dtype=np.int32), (height, width))


def _rss_kb(field: str) -> float:
  try:
    with open('/proc/self/status') as f:
      for line in f:
        if line.startswith(field + ':'):
          return float(line.split()[1])
  except OSError:
    pass
  return float('nan')


def pin_malloc_threshold(threshold: int = 64 * 1024) -> bool:
  """Makes glibc mmap (and so return to the OS) blocks >= threshold bytes."""
  try:
    libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
    return bool(libc.mallopt(-3, threshold))  # -3: M_MMAP_THRESHOLD
  except (OSError, AttributeError):
    return False


def _reset_tf_peak() -> bool:
  try:
    tf.config.experimental.reset_memory_stats('CPU:0')
    return True
  except (ValueError, RuntimeError):
    return False


def _tf_peak_mb() -> float:
  return tf.config.experimental.get_memory_info('CPU:0')['peak'] / 2 ** 20


def _reset_peak() -> bool:
  try:
    with open('/proc/self/clear_refs', 'w') as f:
      f.write('5')
    return True
  except OSError:
    return False


def measure(scene: Scene, repeats: int = 3,
            params: inference.InferenceParams = inference.InferenceParams()
            ) -> Dict[str, float]:
  """Median wall time (after one warm-up call) and peak extra memory."""
  pin_malloc_threshold()
  run = lambda: inference.instance_segmentation(
      scene.boundary, scene.displacement, scene.cams, scene.keys,
      scene.image_size, params)
  start = time.perf_counter()
  detections = run()  # XLA compiles the walk and the labelling here.
  first = time.perf_counter() - start
  times: List[float] = []
  tf_peaks: List[float] = []
  host_peaks: List[float] = []
  for _ in range(repeats):
    tf_ok = _reset_tf_peak()
    host_ok = _reset_peak()
    base = _rss_kb('VmRSS')
    start = time.perf_counter()
    run()
    times.append(time.perf_counter() - start)
    host_peaks.append((_rss_kb('VmHWM') - base) / 1024 if host_ok
                      else float('nan'))
    tf_peaks.append(_tf_peak_mb() if tf_ok else float('nan'))
  tf_mb, host_mb = float(np.max(tf_peaks)), float(np.max(host_peaks))
  return {'ms': 1000 * float(np.median(times)), 'first_ms': 1000 * first,
          'tf_mb': tf_mb, 'host_mb': host_mb, 'peak_mb': tf_mb + host_mb,
          'detections': len(detections)}


def dense_check(scene: Scene, exp_times: int = random_walk.EXP_TIMES
                ) -> Dict[str, float]:
  """IRN's dense walk (T^256 by squaring, float32 as IRN) vs the sparse one.

  Walks every instance CAM of the scene both ways; returns the dense time,
  the sparse time (same inputs) and their largest difference relative to
  the largest walked value. Memory (hw)^2: small scenes only.
  """
  centroids = inference.find_centroids(scene.displacement)
  instance_map, count = inference.cluster_centroids(centroids,
                                                    scene.displacement)
  x = inference.instance_cams(scene.cams, instance_map, count)
  random_walk.random_walk(x, scene.boundary, exp_times=exp_times)  # compile
  start = time.perf_counter()
  transition = random_walk.dense_transition_matrix(
      scene.boundary, exp_times=exp_times, dtype=np.float32)
  dense = (x * (1 - scene.boundary)).reshape(len(x), -1) @ transition
  dense_s = time.perf_counter() - start
  start = time.perf_counter()
  sparse = random_walk.random_walk(x, scene.boundary,
                                   exp_times=exp_times).numpy()
  sparse_s = time.perf_counter() - start
  scale = max(float(np.abs(dense).max()), 1e-12)
  return {'dense_ms': 1000 * dense_s, 'sparse_ms': 1000 * sparse_s,
          'channels': len(x),
          'max_rel_diff': float(np.abs(dense - sparse.reshape(len(x), -1))
                                .max() / scale)}


def parse_size(text: str) -> Optional[Tuple[int, int]]:
  """'480x854' -> (480, 854)."""
  try:
    h, w = text.lower().split('x')
    return int(h), int(w)
  except ValueError:
    raise ValueError(f'a size is HxW, e.g. 480x854, got {text!r}') from None
