"""The optical flow that f-CAMs (eq 2) and f-Bound (eq 3) use for a frame.

Paper sec 4.2: the flow between consecutive frames, t -> t+1. Two sources:

  'stage'         the DDFlow 'flow' stage's FlowStore (t -> t+1, and
                  t -> t-1 for a video's last frame);
  'ground_truth'  the exact flow of the procedural dataset (GT_FLOW), to
                  measure flowIRN without DDFlow's errors or before it has
                  run. GT_FLOW has no flow out of the last frame; there the
                  previous frame's forward flow stands in (f-CAMs only
                  threshold its magnitude, which moves by a pixel or two).
"""

from typing import Callable, Mapping, Optional, Tuple

import numpy as np

from wsvis_tf.core import keys

SOURCES = ('stage', 'ground_truth')
FlowFn = Callable[[int], np.ndarray]


def ground_truth_flow_fn(video: Mapping[str, np.ndarray]) -> FlowFn:
  """t -> [H, W, 2] float32 exact forward flow of a synthetic video."""
  if keys.GT_FLOW not in video:
    raise ValueError('flow source "ground_truth" needs a dataset with exact '
                     'flow (the synthetic one); use the flow stage instead')
  gt = video[keys.GT_FLOW]
  if len(gt) == 0:
    raise ValueError(f'video {keys.as_text(video[keys.VIDEO_ID])} has one frame: no '
                     'flow')
  return lambda t: np.asarray(gt[min(t, len(gt) - 1)], np.float32)


def stage_flow_fn(flow_record, video: Mapping[str, np.ndarray],
                  size: Optional[Tuple[int, int]] = None) -> FlowFn:
  """t -> [H, W, 2] float32 flow of a video from a 'flow' stage record.

  Args:
    flow_record: The StageRecord of the DDFlow 'flow' stage.
    video: The per-video example (VIDEO_ID, FRAMES).
    size: Expected (H, W); the store raises if a file has another size.
  """
  # Imported here: the flow stage pulls in DDFlow, which CAM-only uses of
  # this module do not need.
  from wsvis_tf.pipeline.components import flow as flow_component  # pylint: disable=g-import-not-at-top
  store = flow_component.store_of(flow_record)
  video_id = keys.as_text(video[keys.VIDEO_ID])
  num_frames = len(video[keys.FRAMES])
  return lambda t: store.flow_for_frame(video_id, t, num_frames, size)


def frame_flow_fn(source: str, flow_record,
                  video: Mapping[str, np.ndarray]) -> FlowFn:
  """The flow function of a video for a source in SOURCES."""
  if source == 'ground_truth':
    return ground_truth_flow_fn(video)
  if source == 'stage':
    if flow_record is None:
      raise ValueError('flow source "stage" needs the flow stage\'s record')
    return stage_flow_fn(flow_record, video,
                         tuple(video[keys.FRAMES].shape[1:3]))
  raise ValueError(f'unknown flow source {source!r}; known: {SOURCES}')
