"""The on-disk flow store: what later stages (f-CAMs, f-Bound, MaskConsist)
read.

Layout: <root>/<video_id>/<a:05d>_<b:05d>.npy holds the forward flow from
frame a to frame b of the video as a float16 [H, W, 2] array of (dx, dy)
pixel displacements (wsvis_tf.core.flow_ops conventions: pixel p of frame a
moves to p + flow[p] in frame b, so `flow_ops.warp(frame_b, flow)` rebuilds
frame a). Both directions of a pair are separate files: (a, b) and (b, a).

Writes are atomic (temporary file, then rename); `read` validates what it
loads and raises FlowStoreError naming the file on a missing, truncated,
wrongly shaped or non-finite flow, so a corrupt artifact never reaches a
model silently.
"""

import io
import os
import re
from typing import List, Optional, Tuple

import numpy as np

from wsvis_tf.core import atomic_io

_NAME = re.compile(r'^(\d{5,})_(\d{5,})\.npy$')
DTYPE = np.float16


class FlowStoreError(ValueError):
  """A flow file is missing, unreadable or invalid."""


def _video_dir_name(video_id) -> str:
  if isinstance(video_id, bytes):
    video_id = video_id.decode('utf-8')
  video_id = str(video_id)
  if not video_id or video_id in ('.', '..') or os.sep in video_id:
    raise ValueError(f'invalid video id for the flow store: {video_id!r}')
  return video_id


class FlowStore:
  """Forward flows between frame pairs of videos, under one root directory."""

  def __init__(self, root: str):
    self.root = root

  def path(self, video_id, a: int, b: int) -> str:
    """<root>/<video_id>/<a:05d>_<b:05d>.npy."""
    if a < 0 or b < 0:
      raise ValueError(f'frame indices must be >= 0, got ({a}, {b})')
    if a == b:
      raise ValueError(f'a flow needs two different frames, got ({a}, {b})')
    return os.path.join(self.root, _video_dir_name(video_id),
                        f'{int(a):05d}_{int(b):05d}.npy')

  def exists(self, video_id, a: int, b: int) -> bool:
    return os.path.exists(self.path(video_id, a, b))

  def write(self, video_id, a: int, b: int, flow: np.ndarray) -> str:
    """Writes flow a -> b ([H, W, 2], stored as float16) atomically.

    Raises ValueError on a wrong shape or non-finite values (nothing is
    written), or if the values overflow float16.
    """
    flow = np.asarray(flow)
    if flow.ndim != 3 or flow.shape[-1] != 2:
      raise ValueError(f'flow {video_id} {a}->{b} must be [H, W, 2], got '
                       f'{flow.shape}')
    if not np.isfinite(flow).all():
      raise ValueError(f'flow {video_id} {a}->{b} has NaN/Inf values; not '
                       'written')
    half = flow.astype(DTYPE)
    if not np.isfinite(half).all():
      raise ValueError(f'flow {video_id} {a}->{b} overflows float16 (max '
                       f'|flow| {np.abs(flow).max():.1f})')
    buf = io.BytesIO()
    np.save(buf, half, allow_pickle=False)
    path = self.path(video_id, a, b)
    atomic_io.write_bytes(path, buf.getvalue())
    return path

  def read(self, video_id, a: int, b: int,
           expected_size: Optional[Tuple[int, int]] = None) -> np.ndarray:
    """Flow a -> b as a float32 [H, W, 2] array.

    Args:
      video_id: The video's id.
      a: Source frame index.
      b: Target frame index.
      expected_size: Optional (H, W) the flow must have.

    Raises:
      FlowStoreError: naming the file, if it is missing, truncated or not a
        float16 [H, W, 2] array, has the wrong size, or holds NaN/Inf.
    """
    path = self.path(video_id, a, b)
    if not os.path.exists(path):
      raise FlowStoreError(f'missing flow file {path} (video {video_id}, '
                           f'frames {a}->{b}); run the flow stage first')
    try:
      flow = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
      raise FlowStoreError(f'corrupt or truncated flow file {path}: {e}') from e
    if flow.dtype != DTYPE or flow.ndim != 3 or flow.shape[-1] != 2:
      raise FlowStoreError(f'flow file {path} holds a {flow.dtype} '
                           f'{flow.shape} array, expected float16 [H, W, 2]')
    if expected_size is not None and tuple(flow.shape[:2]) != tuple(
        expected_size):
      raise FlowStoreError(f'flow file {path} is {flow.shape[:2]}, expected '
                           f'{tuple(expected_size)}')
    if not np.isfinite(flow).all():
      bad = int((~np.isfinite(flow)).sum())
      raise FlowStoreError(f'flow file {path} has {bad} NaN/Inf values')
    return flow.astype(np.float32)

  def flow_for_frame(self, video_id, t: int, num_frames: int,
                     expected_size: Optional[Tuple[int, int]] = None
                    ) -> np.ndarray:
    """The flow f-CAMs and f-Bound use for frame t (paper sec 4.2).

    Flow t -> t + 1, or t -> t - 1 for the last frame (which has no next
    frame). A float32 [H, W, 2] array.
    """
    if num_frames < 2:
      raise ValueError(f'video {video_id} has {num_frames} frame(s); flow '
                       'needs at least 2')
    if not 0 <= t < num_frames:
      raise ValueError(f'frame {t} out of range for a {num_frames}-frame '
                       f'video {video_id}')
    b = t + 1 if t + 1 < num_frames else t - 1
    return self.read(video_id, t, b, expected_size)

  def pairs(self, video_id) -> List[Tuple[int, int]]:
    """The (a, b) pairs stored for a video, sorted."""
    d = os.path.join(self.root, _video_dir_name(video_id))
    if not os.path.isdir(d):
      return []
    out = []
    for name in os.listdir(d):
      m = _NAME.match(name)
      if m:
        out.append((int(m.group(1)), int(m.group(2))))
    return sorted(out)

  def video_ids(self) -> List[str]:
    if not os.path.isdir(self.root):
      return []
    return sorted(n for n in os.listdir(self.root)
                  if os.path.isdir(os.path.join(self.root, n)))
