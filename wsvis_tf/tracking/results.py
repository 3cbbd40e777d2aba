"""Tracks as YouTube-VIS results: one video, or a whole dataset.

The YouTube-VIS results format (shared/REFERENCES.md sec 5; what
`wsvis_tf.evaluation.formats.load_ytvis_results` and `video_ap` read) is a
JSON list of {video_id, category_id, score, segmentations}, segmentations
holding one compressed RLE ({'size': [H, W], 'counts': str}) or None per
frame the ground truth lists for the video.

`video_results` (one video) and `dataset_results` (videos grouped by id)
are what a pipeline stage, a Beam worker (one video per element) and the
tests all call.

Which frames: a YouTube-VIS video lists only some frames (every 5th in the
2019 release), while tracking wants consecutive frames. Track on the frames
you have, and pass `output_frames`, the indices (into the tracked frames)
of the frames the ground truth lists, in its order; by default every
tracked frame is listed. A track with no mask on any listed frame is left
out (the evaluator could never match it).
"""

from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence
from typing import Tuple

from wsvis_tf.core import mask_ops
from wsvis_tf.tracking import proposals as proposals_lib
from wsvis_tf.tracking import tracker as tracker_lib

# Keys of a YouTube-VIS results entry.
VIDEO_ID = 'video_id'
CATEGORY_ID = 'category_id'
SCORE = 'score'
SEGMENTATIONS = 'segmentations'


def track_to_result(track: tracker_lib.Track, video_id: int,
                    output_frames: Optional[Sequence[int]] = None
                    ) -> Optional[Dict[str, Any]]:
  """One YouTube-VIS results entry, or None if no listed frame has a mask.

  Args:
    track: A tracker.Track over T frames.
    video_id: The video's id in the ground truth JSON.
    output_frames: Indices in [0, T) of the frames to list (default: all).

  Returns:
    {video_id, category_id, score, segmentations: [RLE or None per listed
    frame]}, JSON-serialisable.
  """
  num_frames = len(track.masks)
  frames = range(num_frames) if output_frames is None else output_frames
  segmentations = []
  for t in frames:
    t = int(t)
    if not 0 <= t < num_frames:
      raise ValueError(f'video {video_id}: output frame {t} is outside the '
                       f'{num_frames} tracked frames')
    mask = track.masks[t]
    segmentations.append(None if mask is None else mask_ops.encode(mask))
  if all(s is None for s in segmentations):
    return None
  return {VIDEO_ID: int(video_id), CATEGORY_ID: int(track.category_id),
          SCORE: float(track.score), SEGMENTATIONS: segmentations}


def video_results(video_id: int, video: proposals_lib.VideoPredictions,
                  config: tracker_lib.TrackerConfig = (
                      tracker_lib.TrackerConfig()),
                  output_frames: Optional[Sequence[int]] = None
                  ) -> List[Dict[str, Any]]:
  """Tracks one video and returns its YouTube-VIS results entries.

  Args:
    video_id: The video's id in the ground truth JSON.
    video: Its per-frame proposals, flow and frames (proposals.py).
    config: Tracker hyper-parameters (default: UnOVOST's).
    output_frames: See track_to_result.

  Returns:
    At most config.max_tracks entries, best rank first.
  """
  entries = []
  for track in tracker_lib.track_video(video, config):
    entry = track_to_result(track, video_id, output_frames)
    if entry is not None:
      entries.append(entry)
  return entries


def dataset_results(
    videos: Iterable[Tuple[int, proposals_lib.VideoPredictions]],
    config: tracker_lib.TrackerConfig = tracker_lib.TrackerConfig(),
    output_frames: Optional[Mapping[int, Sequence[int]]] = None
) -> List[Dict[str, Any]]:
  """Tracks every video of a dataset: the concatenated results list.

  Args:
    videos: (video id, VideoPredictions) pairs, e.g. a generator that
      builds one video's predictions at a time.
    config: Tracker hyper-parameters.
    output_frames: Optional video id -> listed frame indices (videos not in
      it list every frame).

  Returns:
    The YouTube-VIS results list, in video order.

  Raises:
    ValueError: a video id appears twice.
  """
  results, seen = [], set()
  for video_id, video in videos:
    if video_id in seen:
      raise ValueError(f'dataset_results: video id {video_id} appears twice')
    seen.add(video_id)
    frames = None if output_frames is None else output_frames.get(video_id)
    results.extend(video_results(video_id, video, config, frames))
  return results
