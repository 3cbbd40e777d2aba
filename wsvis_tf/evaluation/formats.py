"""Loading and validating the evaluation formats: COCO and YouTube-VIS.

Ground truth and results are checked here, before any metric runs, so that a
malformed input is a clear error naming the file and the field rather than a
silently wrong number (pycocotools asserts, KeyErrors or quietly ignores).

Formats (the standard ones, so that external tools can check our files):
  * frames, ground truth: COCO instances JSON {images: [{id, height, width}],
    categories: [{id, ...}], annotations: [{id, image_id, category_id,
    segmentation (polygons, RLE), iscrowd?, area?}]};
  * frames, results: [{image_id, category_id, segmentation (RLE), score}];
  * videos, ground truth: YouTube-VIS JSON {videos: [{id, height, width,
    length or file_names}], categories, annotations: [{id, video_id,
    category_id, segmentations: [polygons, RLE or null per frame],
    iscrowd?, areas?}]};
  * videos, results: [{video_id, category_id, score, segmentations:
    [RLE or null per frame]}].

Every loader accepts a path or the already parsed JSON value (the pipeline
calls them without files). Segmentations come out as pycocotools RLEs
({'size': [H, W], 'counts': bytes}).

Defaults where the standards leave a field out: `iscrowd` is 0; a missing
frame `area` / video `areas` is computed from the masks (the datasets store
exactly that). Annotation ids must be unique positive integers: pycocotools
records a match as the matched id and "0" as unmatched, so an id 0 would
silently turn its matches into false positives.
"""

import dataclasses
import json
import math
import os
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from wsvis_tf.core import mask_ops

Source = Union[str, os.PathLike, Mapping[str, Any], Sequence[Any]]
Rle = Dict[str, Any]

IN_MEMORY_GT = '<ground truth>'
IN_MEMORY_RESULTS = '<results>'


@dataclasses.dataclass
class CocoGroundTruth:
  """Validated COCO instance ground truth for frame evaluation.

  Attributes:
    source: The file it came from, or '<ground truth>' when in memory.
    dataset: A COCO dict ready for pycocotools.coco.COCO: images,
      categories and annotations, each annotation with a pycocotools RLE
      'segmentation', 'area', 'bbox', 'iscrowd'.
    image_sizes: image id -> (height, width).
    category_ids: The sorted category ids.
  """
  source: str
  dataset: Dict[str, Any]
  image_sizes: Dict[int, Tuple[int, int]]
  category_ids: List[int]


@dataclasses.dataclass(frozen=True)
class VideoInfo:
  height: int
  width: int
  length: int  # Number of frames.


@dataclasses.dataclass
class YtvisGroundTruth:
  """Validated YouTube-VIS ground truth for video evaluation.

  Attributes:
    source: The file it came from, or '<ground truth>' when in memory.
    videos: video id -> VideoInfo.
    category_ids: The sorted category ids.
    annotations: One dict per track: 'id', 'video_id', 'category_id',
      'iscrowd' (0/1), 'segmentations' (length-T list of pycocotools RLE or
      None), 'avg_area' (mean of the nonzero per-frame areas, 0 if none, as
      the youtubevos cocoapi computes it).
  """
  source: str
  videos: Dict[int, VideoInfo]
  category_ids: List[int]
  annotations: List[Dict[str, Any]]


def _name(source: Source, default: str) -> str:
  if isinstance(source, (str, os.PathLike)):
    return os.fspath(source)
  return default


def load_json(source: Source, default_name: str) -> Tuple[Any, str]:
  """Returns (parsed JSON, name for messages) from a path or a JSON value.

  Raises:
    FileNotFoundError: the path does not exist.
    ValueError: the file cannot be read or is not valid JSON.
  """
  name = _name(source, default_name)
  if not isinstance(source, (str, os.PathLike)):
    return source, name
  if not os.path.exists(source):
    raise FileNotFoundError(f'{name}: no such file')
  try:
    with open(source, 'r', encoding='utf-8') as f:
      return json.load(f), name
  except json.JSONDecodeError as e:
    raise ValueError(f'{name}: not valid JSON ({e})') from e
  except (OSError, UnicodeDecodeError) as e:
    raise ValueError(f'{name}: cannot be read ({e})') from e


def _field(entry: Any, key: str, where: str) -> Any:
  if not isinstance(entry, Mapping):
    raise ValueError(f'{where}: expected a JSON object, got '
                     f'{type(entry).__name__}')
  if key not in entry:
    raise ValueError(f'{where}: missing field "{key}"')
  return entry[key]


def _int_field(entry: Any, key: str, where: str, positive: bool = False
               ) -> int:
  value = _field(entry, key, where)
  # bool is an int in Python, but never a valid id or size.
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
    raise ValueError(f'{where}: field "{key}" must be an integer, got '
                     f'{value!r}')
  if positive and value <= 0:
    raise ValueError(f'{where}: field "{key}" must be positive, got {value}')
  return int(value)


def _score_field(entry: Any, where: str) -> float:
  value = _field(entry, 'score', where)
  if (isinstance(value, bool) or not isinstance(value, (int, float))
      or not math.isfinite(value)):
    raise ValueError(f'{where}: field "score" must be a finite number, got '
                     f'{value!r}')
  return float(value)


def _list_field(entry: Any, key: str, where: str) -> list:
  value = _field(entry, key, where)
  if not isinstance(value, list):
    raise ValueError(f'{where}: field "{key}" must be a list, got '
                     f'{type(value).__name__}')
  return value


def _iscrowd(entry: Mapping[str, Any], where: str) -> int:
  if 'iscrowd' not in entry:
    return 0
  value = entry['iscrowd']
  if value not in (0, 1, True, False):
    raise ValueError(f'{where}: field "iscrowd" must be 0 or 1, got '
                     f'{value!r}')
  return int(value)


def _segmentation(segm: Any, height: int, width: int, where: str) -> Rle:
  try:
    return mask_ops.to_coco_rle(segm, height, width)
  except (ValueError, TypeError, KeyError) as e:
    raise ValueError(f'{where}: {e}') from e


def _top_level(dataset: Any, name: str, keys: Sequence[str]) -> None:
  if not isinstance(dataset, Mapping):
    raise ValueError(f'{name}: expected a JSON object with {list(keys)}, got '
                     f'{type(dataset).__name__}')
  for key in keys:
    _list_field(dataset, key, name)


def _categories(dataset: Mapping[str, Any], name: str) -> List[int]:
  ids = []
  for i, cat in enumerate(dataset['categories']):
    ids.append(_int_field(cat, 'id', f'{name}: categories[{i}]'))
  duplicates = sorted({c for c in ids if ids.count(c) > 1})
  if duplicates:
    raise ValueError(f'{name}: categories: duplicate id(s) {duplicates}')
  return sorted(ids)


def _check_annotation_ids(ids: List[int], name: str) -> None:
  seen = set()
  for i, ann_id in enumerate(ids):
    if ann_id in seen:
      raise ValueError(f'{name}: annotations[{i}]: duplicate id {ann_id}')
    seen.add(ann_id)


def _results_list(results: Any, name: str) -> list:
  if not isinstance(results, list):
    raise ValueError(f'{name}: expected a JSON list of results, got '
                     f'{type(results).__name__}')
  return results


# ---------------------------------------------------------------- frames ---


def load_coco_ground_truth(source: Union[Source, CocoGroundTruth]
                           ) -> CocoGroundTruth:
  """Loads and validates COCO instance ground truth (path or dict)."""
  if isinstance(source, CocoGroundTruth):
    return source
  dataset, name = load_json(source, IN_MEMORY_GT)
  _top_level(dataset, name, ('images', 'annotations', 'categories'))
  category_ids = _categories(dataset, name)
  images, sizes = [], {}
  for i, image in enumerate(dataset['images']):
    where = f'{name}: images[{i}]'
    image_id = _int_field(image, 'id', where)
    if image_id in sizes:
      raise ValueError(f'{where}: duplicate id {image_id}')
    size = (_int_field(image, 'height', where, positive=True),
            _int_field(image, 'width', where, positive=True))
    sizes[image_id] = size
    images.append({'id': image_id, 'height': size[0], 'width': size[1]})
  known_categories = set(category_ids)
  annotations = []
  for i, ann in enumerate(dataset['annotations']):
    where = f'{name}: annotations[{i}]'
    ann_id = _int_field(ann, 'id', where, positive=True)
    image_id = _int_field(ann, 'image_id', where)
    if image_id not in sizes:
      raise ValueError(f'{where}: image_id {image_id} is not in images')
    category_id = _int_field(ann, 'category_id', where)
    if category_id not in known_categories:
      raise ValueError(f'{where}: category_id {category_id} is not in '
                       f'categories')
    rle = _segmentation(_field(ann, 'segmentation', where), *sizes[image_id],
                        f'{where}: segmentation')
    if 'area' in ann:
      area = ann['area']
      if (isinstance(area, bool) or not isinstance(area, (int, float))
          or not math.isfinite(area)):
        raise ValueError(f'{where}: field "area" must be a number, got '
                         f'{area!r}')
    else:
      area = mask_ops.area(rle)
    annotations.append({
        'id': ann_id, 'image_id': image_id, 'category_id': category_id,
        'segmentation': rle, 'area': float(area),
        'bbox': mask_ops.rle_to_coco_box(rle),
        'iscrowd': _iscrowd(ann, where)})
  _check_annotation_ids([a['id'] for a in annotations], name)
  return CocoGroundTruth(
      source=name,
      dataset={'images': images, 'annotations': annotations,
               'categories': [dict(c) for c in dataset['categories']]},
      image_sizes=sizes, category_ids=category_ids)


def load_coco_results(source: Source, ground_truth: CocoGroundTruth
                      ) -> List[Dict[str, Any]]:
  """Loads and validates COCO segmentation results against ground truth.

  Returns:
    The results as pycocotools' COCO.loadRes would prepare them: each with
    'id' (1-based position in the list), 'image_id', 'category_id', 'score',
    'segmentation' (pycocotools RLE), 'area', 'bbox', 'iscrowd' = 0.
  """
  results, name = load_json(source, IN_MEMORY_RESULTS)
  results = _results_list(results, name)
  known_categories = set(ground_truth.category_ids)
  out = []
  for i, res in enumerate(results):
    where = f'{name}: entry {i}'
    image_id = _int_field(res, 'image_id', where)
    if image_id not in ground_truth.image_sizes:
      raise ValueError(f'{where}: image_id {image_id} is not an image in '
                       f'{ground_truth.source}')
    category_id = _int_field(res, 'category_id', where)
    if category_id not in known_categories:
      raise ValueError(f'{where}: category_id {category_id} is not a '
                       f'category in {ground_truth.source}')
    score = _score_field(res, where)
    rle = _segmentation(_field(res, 'segmentation', where),
                        *ground_truth.image_sizes[image_id],
                        f'{where}: segmentation')
    out.append({'id': i + 1, 'image_id': image_id,
                'category_id': category_id, 'score': score,
                'segmentation': rle, 'area': float(mask_ops.area(rle)),
                'bbox': mask_ops.rle_to_coco_box(rle), 'iscrowd': 0})
  return out


# ---------------------------------------------------------------- videos ---


def _video_length(video: Mapping[str, Any], where: str) -> int:
  if 'length' in video:
    return _int_field(video, 'length', where, positive=True)
  if 'file_names' in video:
    names = _list_field(video, 'file_names', where)
    if not names:
      raise ValueError(f'{where}: field "file_names" is empty')
    return len(names)
  raise ValueError(f'{where}: missing field "length" (or "file_names")')


def _segmentation_sequence(entry: Mapping[str, Any], video: VideoInfo,
                           where: str) -> List[Optional[Rle]]:
  """Per-frame segmentations -> list of pycocotools RLE or None."""
  segms = _list_field(entry, 'segmentations', where)
  if len(segms) != video.length:
    raise ValueError(f'{where}: field "segmentations" has {len(segms)} '
                     f'entries, the video has {video.length} frames')
  out = []
  for t, segm in enumerate(segms):
    # youtubevos cocoapi: a falsy entry (null, [] polygons) is "no mask".
    if not segm:
      out.append(None)
    else:
      out.append(_segmentation(segm, video.height, video.width,
                               f'{where}: segmentations[{t}]'))
  return out


def _average_area(areas: Sequence[Optional[float]]) -> float:
  # youtubevos cocoapi (ytvos.loadRes, ytvoseval._prepare): the mean of the
  # truthy per-frame areas, i.e. frames without a mask or with an empty
  # mask do not count; 0 when no frame counts.
  nonzero = [a for a in areas if a]
  return float(np.mean(nonzero)) if nonzero else 0.0


def _stored_areas(ann: Mapping[str, Any], length: int, where: str
                  ) -> List[Optional[float]]:
  areas = _list_field(ann, 'areas', where)
  if len(areas) != length:
    raise ValueError(f'{where}: field "areas" has {len(areas)} entries, the '
                     f'video has {length} frames')
  for t, a in enumerate(areas):
    if a is not None and (isinstance(a, bool)
                          or not isinstance(a, (int, float))
                          or not math.isfinite(a)):
      raise ValueError(f'{where}: areas[{t}] must be a number or null, got '
                       f'{a!r}')
  return areas


def load_ytvis_ground_truth(source: Union[Source, YtvisGroundTruth]
                            ) -> YtvisGroundTruth:
  """Loads and validates YouTube-VIS ground truth (path or dict)."""
  if isinstance(source, YtvisGroundTruth):
    return source
  dataset, name = load_json(source, IN_MEMORY_GT)
  _top_level(dataset, name, ('videos', 'annotations', 'categories'))
  category_ids = _categories(dataset, name)
  videos = {}
  for i, video in enumerate(dataset['videos']):
    where = f'{name}: videos[{i}]'
    video_id = _int_field(video, 'id', where)
    if video_id in videos:
      raise ValueError(f'{where}: duplicate id {video_id}')
    videos[video_id] = VideoInfo(
        height=_int_field(video, 'height', where, positive=True),
        width=_int_field(video, 'width', where, positive=True),
        length=_video_length(video, where))
  known_categories = set(category_ids)
  annotations = []
  for i, ann in enumerate(dataset['annotations']):
    where = f'{name}: annotations[{i}]'
    ann_id = _int_field(ann, 'id', where, positive=True)
    video_id = _int_field(ann, 'video_id', where)
    if video_id not in videos:
      raise ValueError(f'{where}: video_id {video_id} is not in videos')
    category_id = _int_field(ann, 'category_id', where)
    if category_id not in known_categories:
      raise ValueError(f'{where}: category_id {category_id} is not in '
                       f'categories')
    video = videos[video_id]
    segms = _segmentation_sequence(ann, video, where)
    if 'areas' in ann:
      # The reference evaluator trusts the stored areas for area ranges.
      areas = _stored_areas(ann, video.length, where)
    else:
      areas = [None if s is None else mask_ops.area(s) for s in segms]
    annotations.append({
        'id': ann_id, 'video_id': video_id, 'category_id': category_id,
        'iscrowd': _iscrowd(ann, where), 'segmentations': segms,
        'avg_area': _average_area(areas)})
  _check_annotation_ids([a['id'] for a in annotations], name)
  return YtvisGroundTruth(source=name, videos=videos,
                          category_ids=category_ids, annotations=annotations)


def load_ytvis_results(source: Source, ground_truth: YtvisGroundTruth
                       ) -> List[Dict[str, Any]]:
  """Loads and validates YouTube-VIS results against ground truth.

  Returns:
    One dict per result, as the youtubevos cocoapi's loadRes prepares them:
    'id' (1-based position in the list), 'video_id', 'category_id',
    'score', 'segmentations' (list of pycocotools RLE or None), 'areas',
    'avg_area', 'iscrowd' = 0.
  """
  results, name = load_json(source, IN_MEMORY_RESULTS)
  results = _results_list(results, name)
  known_categories = set(ground_truth.category_ids)
  out = []
  for i, res in enumerate(results):
    where = f'{name}: entry {i}'
    video_id = _int_field(res, 'video_id', where)
    if video_id not in ground_truth.videos:
      raise ValueError(f'{where}: video_id {video_id} is not a video in '
                       f'{ground_truth.source}')
    category_id = _int_field(res, 'category_id', where)
    if category_id not in known_categories:
      raise ValueError(f'{where}: category_id {category_id} is not a '
                       f'category in {ground_truth.source}')
    score = _score_field(res, where)
    segms = _segmentation_sequence(res, ground_truth.videos[video_id], where)
    areas = [None if s is None else mask_ops.area(s) for s in segms]
    out.append({'id': i + 1, 'video_id': video_id,
                'category_id': category_id, 'score': score,
                'segmentations': segms, 'areas': areas,
                'avg_area': _average_area(areas), 'iscrowd': 0})
  return out
