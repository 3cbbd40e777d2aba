"""Contact sheets: a few frames per video with ground truth and flow.

One block per video: a row of frames with their ground-truth instances drawn
on (colour = track, text = class), and beneath it a row with the flow from
each frame to the next (ground-truth flow for procedural data, or any flow a
later stage computed), colour-coded with a shared scale per video.
"""

from typing import Callable, List, Mapping, Optional, Sequence

import cv2
import numpy as np

from wsvis_tf.core import keys
from wsvis_tf.core import mask_ops
from wsvis_tf.viz import overlays

FlowLookup = Callable[[Mapping[str, np.ndarray], int], Optional[np.ndarray]]


def ground_truth_flow(video: Mapping[str, np.ndarray],
                      t: int) -> Optional[np.ndarray]:
  """The dataset's own forward flow t -> t+1, when it has one."""
  flow = video.get(keys.GT_FLOW)
  if flow is None or t >= len(flow):
    return None
  return np.asarray(flow, np.float32)[t]


def _upscale(image: np.ndarray, factor: int, nearest: bool) -> np.ndarray:
  if factor == 1:
    return image
  return cv2.resize(image, None, fx=factor, fy=factor,
                    interpolation=cv2.INTER_NEAREST if nearest
                    else cv2.INTER_LINEAR)


def video_block(video: Mapping[str, np.ndarray], class_names: Sequence[str],
                frame_indices: Sequence[int],
                flow_for: FlowLookup = ground_truth_flow,
                min_tile_width: int = 240) -> List[List[np.ndarray]]:
  """Two rows of tiles (overlays, flows) for one numpy video example.

  Frames narrower than min_tile_width are upscaled by an integer factor so
  that labels stay legible.
  """
  frames = video[keys.FRAMES]
  factor = max(1, -(-min_tile_width // frames.shape[2]))
  track_ids = np.asarray(video[keys.TRACK_IDS])
  track_classes = np.asarray(video[keys.TRACK_CLASSES])
  flows = [flow_for(video, t) for t in frame_indices]
  mags = [np.hypot(f[..., 0], f[..., 1]).max() for f in flows if f is not None]
  scale = max(mags) if mags else 1.0
  vid = video[keys.VIDEO_ID]
  vid = keys.as_text(vid)
  top, bottom = [], []
  for t, flow in zip(frame_indices, flows):
    inst = _upscale(np.asarray(video[keys.INSTANCE_MAP][t])[..., 0],
                    factor, nearest=True)
    present = [k for k in range(1, len(track_ids) + 1) if (inst == k).any()]
    masks = mask_ops.instance_map_to_masks(inst, present)
    labels = [class_names[int(track_classes[k - 1])] for k in present]
    tile = overlays.draw_instances(_upscale(frames[t], factor, False), masks,
                                   labels, color_ids=[int(track_ids[k - 1])
                                                      for k in present])
    top.append(overlays.caption(tile, f'{vid}  t={t}'))
    if flow is None:
      flow_tile = np.zeros_like(tile)
      text = 'no flow'
    else:
      flow_tile = _upscale(overlays.draw_flow(flow, scale), factor, True)
      text = f'flow {t}->{t + 1}, max {scale:.1f} px'
    bottom.append(overlays.caption(flow_tile, text))
  return [top, bottom]


def contact_sheet(videos: Sequence[Mapping[str, np.ndarray]],
                  class_names: Sequence[str], frames_per_video: int = 5,
                  flow_for: FlowLookup = ground_truth_flow) -> np.ndarray:
  """A [H', W', 3] uint8 image with one two-row block per video.

  Frames are spread evenly over each video (the last frame is skipped, since
  it has no forward flow).
  """
  if not videos:
    raise ValueError('contact_sheet: no videos')
  rows = []
  for video in videos:
    num = len(video[keys.FRAMES])
    last = max(num - 2, 0)
    picks = np.unique(np.linspace(0, last, frames_per_video).round()
                      .astype(int))
    rows.extend(video_block(video, class_names, picks.tolist(), flow_for))
  return overlays.grid(rows)
