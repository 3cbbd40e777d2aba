"""Ground truth of per-video examples in the standard formats.

Works for any dataset whose examples carry the per-video keys of
`wsvis_tf.core.keys` as numpy values (e.g. `tfds.as_numpy` of a builder's
split, or `datasets.synthetic.synthetic.generate_videos`), so real and
procedural data share one code path:

  videos_to_ytvis_json  YouTube-VIS 2019 instances JSON (video metric);
  videos_to_coco_json   COCO instances JSON over annotated frames (AP50);
  write_ytvis_layout    JPEGImages/<video>/<frame>.jpg + the YTVIS JSON.

Ids are deterministic: videos are numbered 1, 2, ... in the order of
`examples`; COCO images 1, 2, ... over the exported frames in video order,
then frame order; annotations 1, 2, ... in the same order (YTVIS: one per
track, in video order then track order). Each annotation also records its
dataset `track_id` (TRACK_IDS); pycocotools and the YTVIS API ignore it.

Frames exported: by default the annotated ones only (ANNOTATED), as in the
YouTube-VIS 2019 train JSON, so that a video metric is not charged for
frames that have no ground truth; `all_frames=True` lists every frame and
gives the unannotated ones None masks.

Required keys per example: VIDEO_ID, FRAME_NAMES, INSTANCE_MAP, TRACK_IDS,
TRACK_CLASSES; ANNOTATED (default: all frames); FRAMES only for
write_ytvis_layout. The frame size is taken from INSTANCE_MAP.
"""

import os
from typing import (Any, Dict, Iterable, List, Mapping, Optional, Sequence,
                    Tuple)

import cv2
import numpy as np

from wsvis_tf.core import atomic_io
from wsvis_tf.core import keys
from wsvis_tf.core import mask_ops

Example = Mapping[str, Any]
JPEG_DIR = 'JPEGImages'


def jpeg_name(frame_name: str) -> str:
  """A frame's file name with a .jpg extension (what the layout writes)."""
  stem, ext = os.path.splitext(frame_name)
  return frame_name if ext.lower() in ('.jpg', '.jpeg') else stem + '.jpg'


def _categories(class_names: Sequence[str]) -> List[Dict[str, Any]]:
  return [{'id': i + 1, 'name': str(name)}
          for i, name in enumerate(class_names)]


class _Video:
  """The ground truth of one example, checked and decoded once."""

  def __init__(self, example: Example, num_classes: int, all_frames: bool):
    missing = [k for k in (keys.VIDEO_ID, keys.FRAME_NAMES, keys.INSTANCE_MAP,
                           keys.TRACK_IDS, keys.TRACK_CLASSES)
               if k not in example]
    if missing:
      raise ValueError(f'example lacks keys {missing}; it has '
                       f'{sorted(example)}')
    self.name = keys.as_text(example[keys.VIDEO_ID])
    instance_map = np.asarray(example[keys.INSTANCE_MAP])
    if instance_map.ndim == 4 and instance_map.shape[-1] == 1:
      instance_map = instance_map[..., 0]
    if instance_map.ndim != 3:
      raise ValueError(f'{self.name}: INSTANCE_MAP must be [T, H, W(, 1)], '
                       f'got {instance_map.shape}')
    self.instance_map = instance_map
    num_frames, self.height, self.width = instance_map.shape
    self.frame_names = [keys.as_text(n) for n in example[keys.FRAME_NAMES]]
    if len(self.frame_names) != num_frames:
      raise ValueError(f'{self.name}: {len(self.frame_names)} frame names '
                       f'for {num_frames} instance maps')
    annotated = np.asarray(example.get(keys.ANNOTATED,
                                       np.ones(num_frames, bool)), bool)
    if annotated.shape != (num_frames,):
      raise ValueError(f'{self.name}: ANNOTATED has shape {annotated.shape}, '
                       f'expected ({num_frames},)')
    self.annotated = annotated
    # Indices of the frames the JSON lists.
    self.frames = (list(range(num_frames)) if all_frames
                   else [int(t) for t in np.flatnonzero(annotated)])
    self.track_ids = np.asarray(example[keys.TRACK_IDS], np.int64).reshape(-1)
    self.track_classes = np.asarray(example[keys.TRACK_CLASSES],
                                    np.int64).reshape(-1)
    if self.track_ids.shape != self.track_classes.shape:
      raise ValueError(f'{self.name}: {self.track_ids.size} track ids but '
                       f'{self.track_classes.size} track classes')
    bad = (self.track_classes < 0) | (self.track_classes >= num_classes)
    if bad.any():
      raise ValueError(f'{self.name}: track classes {self.track_classes[bad]}'
                       f' outside [0, {num_classes})')
    if instance_map.max(initial=0) > self.track_ids.size:
      raise ValueError(f'{self.name}: INSTANCE_MAP holds value '
                       f'{instance_map.max()} but there are only '
                       f'{self.track_ids.size} tracks')

  def file_name(self, t: int) -> str:
    return f'{self.name}/{jpeg_name(self.frame_names[t])}'

  def segment(
      self, t: int, k: int
  ) -> Tuple[Optional[Dict[str, Any]], Optional[List[float]], Optional[int]]:
    """(RLE, [x, y, w, h], area) of track k in frame t; RLE None if absent."""
    mask = self.instance_map[t] == k + 1
    if not self.annotated[t] or not mask.any():
      return None, None, None
    rle = mask_ops.encode(mask)
    return rle, mask_ops.rle_to_coco_box(rle), mask_ops.area(rle)


def _info(description: str) -> Dict[str, Any]:
  return {'description': description, 'version': '1.0'}


class _YtvisWriter:
  """Accumulates the YTVIS JSON video by video (frames are never kept)."""

  def __init__(self, class_names: Sequence[str], all_frames: bool):
    self.class_names = list(class_names)
    self.all_frames = all_frames
    self.videos = []
    self.annotations = []

  def add(self, example: Example) -> _Video:
    video = _Video(example, len(self.class_names), self.all_frames)
    video_id = len(self.videos) + 1
    self.videos.append({
        'id': video_id, 'name': video.name, 'width': video.width,
        'height': video.height, 'length': len(video.frames),
        'file_names': [video.file_name(t) for t in video.frames]})
    for k in range(video.track_ids.size):
      segs, boxes, areas = [], [], []
      for t in video.frames:
        rle, box, area = video.segment(t, k)
        segs.append(rle)
        boxes.append(box)
        areas.append(area)
      if not any(s is not None for s in segs):
        continue  # Never visible on a listed frame: no ground truth.
      self.annotations.append({
          'id': len(self.annotations) + 1, 'video_id': video_id,
          'category_id': int(video.track_classes[k]) + 1, 'iscrowd': 0,
          'segmentations': segs, 'bboxes': boxes, 'areas': areas,
          'width': video.width, 'height': video.height,
          'length': len(video.frames),
          'track_id': int(video.track_ids[k])})
    return video

  def json(self) -> Dict[str, Any]:
    return {'info': _info('wsvis-tf ground truth (YouTube-VIS 2019 format)'),
            'licenses': [], 'videos': self.videos,
            'categories': _categories(self.class_names),
            'annotations': self.annotations}


def videos_to_ytvis_json(examples: Iterable[Example],
                         class_names: Sequence[str], *,
                         all_frames: bool = False) -> Dict[str, Any]:
  """YouTube-VIS 2019 instances JSON of per-video examples.

  Args:
    examples: per-video numpy dicts (keys.py); see the module docstring.
    class_names: names of the 0-based classes of TRACK_CLASSES.
    all_frames: list every frame, not only the annotated ones.

  Returns:
    {'videos': [{id, name, width, height, length, file_names}],
     'categories': [{id (1-based), name}],
     'annotations': [{id, video_id, category_id (1-based), iscrowd: 0,
       segmentations: [compressed RLE or None per listed frame],
       bboxes: [[x, y, w, h] or None], areas: [int or None], width, height,
       length, track_id}], 'info', 'licenses'}. A track absent (or not
    annotated) on a frame has None there; a track absent from every listed
    frame gets no annotation.
  """
  writer = _YtvisWriter(class_names, all_frames)
  for example in examples:
    writer.add(example)
  return writer.json()


def videos_to_coco_json(examples: Iterable[Example],
                        class_names: Sequence[str]) -> Dict[str, Any]:
  """COCO instances JSON over the annotated frames of per-video examples.

  Every annotated frame is an image, including frames without instances
  (needed to count false positives). Image ids are 1, 2, ... in video order
  then frame order; `video_id` is the video's 1-based position in `examples`
  (the id videos_to_ytvis_json gives it) and `frame_index` its index in
  the video.

  Returns:
    {'images': [{id, file_name '<video>/<frame>.jpg', height, width,
       video_id, frame_index}],
     'annotations': [{id, image_id, category_id (1-based), segmentation
       (compressed RLE), bbox [x, y, w, h], area, iscrowd: 0, track_id}],
     'categories': [{id, name}], 'info', 'licenses'}.
  """
  images, annotations = [], []
  for video_index, example in enumerate(examples):
    video = _Video(example, len(class_names), all_frames=False)
    for t in video.frames:
      image_id = len(images) + 1
      images.append({'id': image_id, 'file_name': video.file_name(t),
                     'height': video.height, 'width': video.width,
                     'video_id': video_index + 1, 'frame_index': t})
      for k in range(video.track_ids.size):
        rle, box, area = video.segment(t, k)
        if rle is None:
          continue
        annotations.append({
            'id': len(annotations) + 1, 'image_id': image_id,
            'category_id': int(video.track_classes[k]) + 1,
            'segmentation': rle, 'bbox': box, 'area': area, 'iscrowd': 0,
            'track_id': int(video.track_ids[k])})
  return {'info': _info('wsvis-tf ground truth (COCO instances format)'),
          'licenses': [], 'images': images, 'annotations': annotations,
          'categories': _categories(class_names)}


def write_ytvis_layout(examples: Iterable[Example],
                       class_names: Sequence[str], out_dir: str,
                       json_name: str = 'instances.json', *,
                       all_frames: bool = False,
                       jpeg_quality: int = 95) -> Dict[str, Any]:
  """Writes a YouTube-VIS style directory and returns its JSON.

  Layout: out_dir/JPEGImages/<video>/<frame>.jpg for the listed frames
  (FRAMES, [T, H, W, 3] uint8 RGB) and out_dir/<json_name> from
  videos_to_ytvis_json. Every file is written atomically and the JSON last,
  so its presence marks a complete export.
  """
  writer = _YtvisWriter(class_names, all_frames)
  for example in examples:
    video = writer.add(example)
    if keys.FRAMES not in example:
      raise ValueError(f'{video.name}: example lacks {keys.FRAMES!r}, '
                       'needed to write JPEGs')
    frames = np.asarray(example[keys.FRAMES])
    if frames.shape[1:] != (video.height, video.width, 3):
      raise ValueError(f'{video.name}: FRAMES has shape {frames.shape}, '
                       f'expected [T, {video.height}, {video.width}, 3]')
    for t in video.frames:
      ok, data = cv2.imencode(
          '.jpg', cv2.cvtColor(frames[t], cv2.COLOR_RGB2BGR),
          [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])
      if not ok:
        raise RuntimeError(f'could not encode {video.file_name(t)} as JPEG')
      atomic_io.write_bytes(
          os.path.join(out_dir, JPEG_DIR, video.file_name(t)), data.tobytes())
  gt = writer.json()
  atomic_io.write_json(os.path.join(out_dir, json_name), gt)
  return gt
