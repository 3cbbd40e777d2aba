"""Tiny hand-built COCO / YouTube-VIS inputs for the evaluation tests."""

import json
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from wsvis_tf.core import mask_ops

Box = Tuple[int, int, int, int]  # (y0, x0, y1, x1), max exclusive.


def box_mask(height: int, width: int, box: Box) -> np.ndarray:
  """A [height, width] uint8 mask, 1 inside box."""
  mask = np.zeros((height, width), np.uint8)
  y0, x0, y1, x1 = box
  mask[y0:y1, x0:x1] = 1
  return mask


def coco_gt(image_sizes: Dict[int, Tuple[int, int]],
            annotations: Sequence[Tuple[int, int, np.ndarray]],
            categories: Sequence[int] = (1, 2),
            crowd: Sequence[int] = ()) -> Dict[str, Any]:
  """COCO GT dict; annotations are (image_id, category_id, mask).

  Annotation ids are 1.. in order; those listed in `crowd` get iscrowd 1.
  """
  return {
      'images': [{'id': i, 'height': h, 'width': w}
                 for i, (h, w) in sorted(image_sizes.items())],
      'categories': [{'id': c, 'name': f'class{c}'} for c in categories],
      'annotations': [{'id': k + 1, 'image_id': image_id,
                       'category_id': category_id,
                       'segmentation': mask_ops.encode(mask),
                       'area': int(mask.sum()),
                       'iscrowd': int(k + 1 in crowd)}
                      for k, (image_id, category_id, mask)
                      in enumerate(annotations)]}


def coco_results(detections: Sequence[Tuple[int, int, np.ndarray, float]]
                 ) -> List[Dict[str, Any]]:
  """COCO results; detections are (image_id, category_id, mask, score)."""
  return [{'image_id': i, 'category_id': c, 'segmentation': mask_ops.encode(m),
           'score': s} for i, c, m, s in detections]


def _encode_sequence(masks: Sequence[Optional[np.ndarray]]
                     ) -> List[Optional[Dict[str, Any]]]:
  return [None if m is None else mask_ops.encode(m) for m in masks]


def ytvis_gt(videos: Dict[int, Tuple[int, int, int]],
             tracks: Sequence[Tuple[int, int, Sequence[Optional[np.ndarray]]]],
             categories: Sequence[int] = (1, 2)) -> Dict[str, Any]:
  """YouTube-VIS GT; videos: id -> (height, width, length); tracks are
  (video_id, category_id, per-frame masks or None). Ids 1.. in order."""
  return {
      'videos': [{'id': v, 'height': h, 'width': w, 'length': t,
                  'file_names': [f'v{v}/{k:05d}.jpg' for k in range(t)]}
                 for v, (h, w, t) in sorted(videos.items())],
      'categories': [{'id': c, 'name': f'class{c}'} for c in categories],
      'annotations': [{'id': k + 1, 'video_id': v, 'category_id': c,
                       'iscrowd': 0, 'segmentations': _encode_sequence(ms),
                       'areas': [None if m is None else int(m.sum())
                                 for m in ms]}
                      for k, (v, c, ms) in enumerate(tracks)]}


def ytvis_results(
    tracks: Sequence[Tuple[int, int, Sequence[Optional[np.ndarray]], float]]
) -> List[Dict[str, Any]]:
  """YouTube-VIS results; tracks are (video_id, category_id, masks, score)."""
  return [{'video_id': v, 'category_id': c, 'score': s,
           'segmentations': _encode_sequence(ms)} for v, c, ms, s in tracks]


def write_json(directory: str, name: str, value: Any) -> str:
  path = os.path.join(directory, name)
  with open(path, 'w') as f:
    json.dump(value, f)
  return path
