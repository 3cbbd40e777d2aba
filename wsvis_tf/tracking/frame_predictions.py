"""A split's COCO frame predictions -> per-video tracks (YouTube-VIS results).

The predict stages (wsvis_tf/pipeline/components/segmenter.py) and any
other segmenter write per-frame predictions as a COCO instances JSON with
scores: images {id, file_name '<video>/<frame file>', frame_index, height,
width}, annotations {image_id, category_id (1-based), segmentation
(compressed RLE), score}. This module

  * reads and checks such a file and groups it per video and frame
    (`load`), naming the file and the entry at fault on bad input;
  * checks one video's frames against the dataset's (`check_video`): a
    predictions file that names a frame the dataset lacks is an error
    naming the file and the frame, never silently tracked;
  * tracks one video (`track_video`): its frames' proposals, the flow
    between the tracked frames and the frames themselves (for the default
    appearance embedding) into tracker.track_video, and the tracks as
    YouTube-VIS results entries on the frames the ground truth lists.

Plain functions on numpy and JSON values, one video at a time: what a
pipeline stage, a Beam worker (one video per element) or a binary calls.

Which flow: `flow_between(read_flow, frames)` gives the tracker's FlowFn.
When the tracked frames are consecutive (a held-out video, every frame
predicted) it is the backward flow t+1 -> t, as `evaluation/temporal.py`
warps masks for TC; when they skip frames (a training split whose
annotated frames are every k-th), the forward flows t -> t+1 over each gap
are chained (warping.compose_forward), as the tracker benchmark does for
YouTube-VIS' every-5th-frame listing.
"""

import dataclasses
import json
import math
from typing import (Any, Callable, Dict, List, Mapping, Optional, Sequence,
                    Tuple, Union)

import numpy as np

from wsvis_tf.core import mask_ops
from wsvis_tf.tracking import proposals as proposals_lib
from wsvis_tf.tracking import results as results_lib
from wsvis_tf.tracking import tracker as tracker_lib
from wsvis_tf.tracking import warping

# (a, b) -> the [H, W, 2] float32 flow a -> b of one video.
ReadFlow = Callable[[int, int], np.ndarray]


@dataclasses.dataclass
class FramePrediction:
  """One predicted frame of a predictions file.

  Attributes:
    file_name: '<video>/<frame file>', as in the file.
    frame_index: The frame's 0-based index in its video.
    height, width: The frame size the masks have.
    annotations: The frame's annotations (dicts with category_id,
      segmentation, score), possibly none.
  """
  file_name: str
  frame_index: int
  height: int
  width: int
  annotations: List[Dict[str, Any]]


# video name -> frame index -> FramePrediction.
PredictionIndex = Dict[str, Dict[int, FramePrediction]]


def _field(entry: Any, key: str, where: str) -> Any:
  if not isinstance(entry, dict) or key not in entry:
    raise ValueError(f'{where} lacks field {key!r}')
  return entry[key]


def _int(entry: Any, key: str, where: str, minimum: int) -> int:
  value = _field(entry, key, where)
  if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
    raise ValueError(f'{where}: {key} must be an integer >= {minimum}, got '
                     f'{value!r}')
  return value


def load(source: Union[str, Mapping[str, Any]],
         name: Optional[str] = None,
         scores: bool = True) -> PredictionIndex:
  """Reads a COCO frame predictions file and groups it per video and frame.

  Args:
    source: A path to the JSON, or its parsed dict.
    name: What to call it in errors (default: the path, or '<predictions>').
    scores: Every annotation must have a score (predictions). False reads
      a ground-truth file of the same layout, whose annotations have none.

  Returns:
    {video name: {frame index: FramePrediction}}; the video name is the
    part of file_name before its last '/'.

  Raises:
    FileNotFoundError: a missing file.
    ValueError: naming the file and the entry: not JSON, no images or
      annotations list, an image without a '<video>/<frame>' file_name or
      an integer frame_index, height or width, two images of one frame, an
      annotation of an unknown image, with a category id < 1, a non-finite
      score or a segmentation that is not an RLE of the image's size.
  """
  if isinstance(source, str):
    name = name or source
    try:
      with open(source) as f:
        data = json.load(f)
    except ValueError as e:
      raise ValueError(f'{name}: not a JSON file: {e}') from e
  else:
    name = name or '<predictions>'
    data = source
  if not isinstance(data, dict):
    raise ValueError(f'{name}: expected a COCO JSON object, got '
                     f'{type(data).__name__}')
  for key in ('images', 'annotations'):
    if not isinstance(data.get(key), list):
      raise ValueError(f'{name}: lacks the {key!r} list of a COCO JSON')
  by_id: Dict[int, Tuple[str, int]] = {}
  index: PredictionIndex = {}
  for i, image in enumerate(data['images']):
    where = f'{name}: images[{i}]'
    image_id = _int(image, 'id', where, 0)
    file_name = _field(image, 'file_name', where)
    if not isinstance(file_name, str) or '/' not in file_name.strip('/'):
      raise ValueError(f'{where}: file_name must be \'<video>/<frame '
                       f'file>\', got {file_name!r}')
    where = f'{name}: image {file_name!r}'
    frame_index = _int(image, 'frame_index', where, 0)
    height = _int(image, 'height', where, 1)
    width = _int(image, 'width', where, 1)
    video = file_name.rsplit('/', 1)[0]
    if image_id in by_id:
      raise ValueError(f'{where}: image id {image_id} appears twice')
    frames = index.setdefault(video, {})
    if frame_index in frames:
      raise ValueError(f'{where}: frame {frame_index} of video {video!r} '
                       f'appears twice (also as '
                       f'{frames[frame_index].file_name!r})')
    frames[frame_index] = FramePrediction(file_name, frame_index, height,
                                          width, [])
    by_id[image_id] = (video, frame_index)
  for i, ann in enumerate(data['annotations']):
    where = f'{name}: annotations[{i}]'
    image_id = _field(ann, 'image_id', where)
    if image_id not in by_id:
      raise ValueError(f'{where}: image_id {image_id!r} is not an image of '
                       'the file')
    frame = index[by_id[image_id][0]][by_id[image_id][1]]
    where = f'{where} (frame {frame.file_name!r})'
    _int(ann, 'category_id', where, 1)
    if scores or 'score' in ann:
      score = _field(ann, 'score', where)
      if (isinstance(score, bool) or not isinstance(score, (int, float))
          or not math.isfinite(score)):
        raise ValueError(f'{where}: score must be a finite number, got '
                         f'{score!r}')
    segmentation = _field(ann, 'segmentation', where)
    if (not isinstance(segmentation, dict)
        or list(segmentation.get('size', ())) != [frame.height, frame.width]
        or 'counts' not in segmentation):
      raise ValueError(f'{where}: segmentation must be an RLE of size '
                       f'[{frame.height}, {frame.width}] (the image\'s), got '
                       f'{str(segmentation)[:80]}')
    frame.annotations.append(ann)
  return index


def check_video(name: str, video: str,
                predictions: Mapping[int, FramePrediction],
                file_names: Sequence[str],
                frame_size: Tuple[int, int]) -> None:
  """Checks one video's predicted frames against the dataset's frames.

  Args:
    name: The predictions file, for errors.
    video: The video's name.
    predictions: Its frames in the file ({frame index: FramePrediction}).
    file_names: The dataset's '<video>/<frame file>' of every frame, in
      frame order.
    frame_size: The dataset's (H, W).

  Raises:
    ValueError: naming the file and the frame: a frame index the video
      does not have, a file_name that is not the dataset's at that index,
      or a size that is not the frame's.
  """
  for t, frame in sorted(predictions.items()):
    if t >= len(file_names):
      raise ValueError(f'{name}: frame {frame.file_name!r} (frame_index '
                       f'{t}) is not in the dataset: video {video!r} has '
                       f'{len(file_names)} frames')
    if frame.file_name != file_names[t]:
      raise ValueError(f'{name}: frame {frame.file_name!r} is not in the '
                       f'dataset: frame {t} of video {video!r} is '
                       f'{file_names[t]!r}')
    if (frame.height, frame.width) != tuple(frame_size):
      raise ValueError(f'{name}: frame {frame.file_name!r} is '
                       f'{frame.height}x{frame.width}, the dataset\'s frame '
                       f'is {frame_size[0]}x{frame_size[1]}')


def unknown_videos(name: str, index: PredictionIndex,
                   videos: Sequence[str]) -> None:
  """Raises ValueError naming the file and a frame of a video not in videos.
  """
  unknown = sorted(set(index) - set(videos))
  if unknown:
    frames = index[unknown[0]]
    first = frames[min(frames)].file_name
    raise ValueError(f'{name}: frame {first!r} is not in the dataset: no '
                     f'video {unknown[0]!r} in the split ({len(unknown)} '
                     f'unknown videos: {unknown[:5]})')


def frame_proposals(frame: FramePrediction, min_score: float = 0.0
                   ) -> proposals_lib.FrameProposals:
  """The tracker's proposals of a frame: annotations with score >= min_score.

  Returns:
    FrameProposals with masks [N, H, W] bool, scores [N] float32 and
    class_ids [N] int64 (the 1-based category ids).
  """
  kept = [a for a in frame.annotations if a['score'] >= min_score]
  if not kept:
    return proposals_lib.FrameProposals.empty(frame.height, frame.width)
  return proposals_lib.FrameProposals(
      masks=np.stack([mask_ops.decode(a['segmentation']) for a in kept]),
      scores=np.array([a['score'] for a in kept], np.float32),
      class_ids=np.array([a['category_id'] for a in kept], np.int64))


def flow_between(read_flow: Optional[ReadFlow], frames: Sequence[int]
                ) -> Tuple[Optional[proposals_lib.FlowFn], str]:
  """(flow_fn, direction) over the tracked frames (module docstring).

  Args:
    read_flow: (a, b) -> flow a -> b of the video (e.g. FlowStore.read),
      or None for zero motion.
    frames: The tracked frame indices, increasing.

  Returns:
    flow_fn(k), the flow between frames[k] and frames[k + 1], and its
    direction: BACKWARD (flow frames[k+1] -> frames[k]) when every step is
    one frame, else FORWARD (the chained flows t -> t+1 over the gap).
  """
  frames = [int(t) for t in frames]
  if any(b <= a for a, b in zip(frames, frames[1:])):
    raise ValueError(f'tracked frames must increase, got {frames}')
  if read_flow is None:
    return None, proposals_lib.BACKWARD
  if all(b - a == 1 for a, b in zip(frames, frames[1:])):
    return (lambda k: read_flow(frames[k + 1], frames[k]),
            proposals_lib.BACKWARD)

  def chained(k: int) -> np.ndarray:
    a, b = frames[k], frames[k + 1]
    if b - a == 1:
      return read_flow(a, b)
    return warping.compose_forward([read_flow(t, t + 1) for t in range(a, b)])

  return chained, proposals_lib.FORWARD


def listed_frames(name: str, video: str, tracked_file_names: Sequence[str],
                  listed_file_names: Sequence[str]) -> List[int]:
  """Positions in the tracked frames of the frames the ground truth lists.

  Raises:
    ValueError: a listed frame was not predicted (naming the file, the
      video and the frame).
  """
  position = {f: k for k, f in enumerate(tracked_file_names)}
  out = []
  for file_name in listed_file_names:
    if file_name not in position:
      raise ValueError(f'{name}: the ground truth lists frame {file_name!r} '
                       f'of video {video!r}, which the predictions lack')
    out.append(position[file_name])
  return out


def track_video(
    video_id: int, video: str, predictions: Mapping[int, FramePrediction],
    read_flow: Optional[ReadFlow] = None,
    images: Optional[Sequence[np.ndarray]] = None,
    listed_file_names: Optional[Sequence[str]] = None,
    config: tracker_lib.TrackerConfig = tracker_lib.TrackerConfig(),
    min_score: float = 0.0, name: str = '<predictions>'
) -> List[Dict[str, Any]]:
  """Tracks one video's frame predictions: its YouTube-VIS results entries.

  Args:
    video_id: The video's id in the ground truth JSON.
    video: Its name (file_name prefix).
    predictions: {frame index: FramePrediction}; all its frames are
      tracked, in frame order.
    read_flow: (a, b) -> the video's flow a -> b, or None (zero motion).
    images: Optional frames of the video indexed by frame index ([T, H, W,
      3] uint8); the tracked ones feed the default appearance embedding.
    listed_file_names: The ground truth's file_names of the video (the
      frames a results entry lists); None lists every tracked frame.
    config: Tracker hyper-parameters (UnOVOST's by default).
    min_score: Proposals below this score are left out.
    name: The predictions file, for errors.

  Returns:
    Entries {video_id, category_id, score, segmentations: [compressed RLE
    or None per listed frame]}, best rank first; the entry's position in
    the list is its track's rank within the video.
  """
  frames = sorted(predictions)
  flow_fn, direction = flow_between(read_flow, frames)
  tracked = proposals_lib.VideoPredictions(
      frames=[frame_proposals(predictions[t], min_score) for t in frames],
      flow_fn=flow_fn, flow_direction=direction,
      images=(None if images is None
              else [np.asarray(images[t]) for t in frames]),
      name=f'{name}: video {video!r}')
  output = None
  if listed_file_names is not None:
    output = listed_frames(name, video,
                           [predictions[t].file_name for t in frames],
                           listed_file_names)
  return results_lib.video_results(video_id, tracked, config, output)
