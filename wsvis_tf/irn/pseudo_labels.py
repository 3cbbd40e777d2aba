"""Instance pseudo-labels as COCO instances JSON (IRN: step/make_cocoann.py).

Each training frame is one COCO image whose file_name is
'<video_id>/<frame file>' the YouTube-VIS way (the frame name with a .jpg
extension, as the data stage's ground truth names it) and whose id is the
ground truth's id of the same file, so pycocotools can score the
pseudo-labels against train_frames.json directly. Each detection with a
score >= min_score (IRN: 1e-5) is an annotation with a compressed RLE mask,
its area and box, iscrowd 0 and the detection score.

Generation is resumable: every frame's annotations are written to their
own small JSON file (atomically) as soon as they are computed, and a rerun
reads those instead of recomputing; the final JSON is assembled and written
last, atomically. A run that finds no instance at all still writes a valid
JSON with zero annotations (and logs a warning), so downstream stages see
"no pseudo-labels" explicitly rather than a missing file.
"""

import json
import os
from typing import Any, Dict, List, Mapping, Optional, Sequence

from absl import logging

from wsvis_tf.core import atomic_io
from wsvis_tf.core import mask_ops
from wsvis_tf.irn import inference


def coco_file_name(video_id: str, frame_name: str) -> str:
  """'<video_id>/<frame stem>.jpg': the ground truth's file_name of a frame."""
  stem, ext = os.path.splitext(frame_name)
  if ext.lower() not in ('.jpg', '.jpeg'):
    frame_name = stem + '.jpg'
  return f'{video_id}/{frame_name}'


def detections_to_annotations(detections: inference.Detections,
                              min_score: float = 1e-5
                              ) -> List[Dict[str, Any]]:
  """COCO annotations (no ids yet) of a frame's detections above min_score.

  category_id is the 0-based class + 1 (the data stage's categories).
  """
  out = []
  for n in range(len(detections)):
    score = float(detections.scores[n])
    if score < min_score:
      continue
    rle = mask_ops.encode(detections.mask(n))
    out.append({'category_id': int(detections.classes[n]) + 1,
                'segmentation': rle, 'area': float(mask_ops.area(rle)),
                'bbox': mask_ops.rle_to_coco_box(rle), 'iscrowd': 0,
                'score': round(score, 6)})
  return out


class PartialResults:
  """Per-frame annotation files under a directory (the resume cache)."""

  def __init__(self, root: str):
    self.root = root

  def path(self, video_id: str, frame_name: str) -> str:
    stem = os.path.splitext(os.path.basename(frame_name))[0]
    return os.path.join(self.root, video_id, stem + '.json')

  def get(self, video_id: str, frame_name: str
          ) -> Optional[List[Dict[str, Any]]]:
    """The frame's saved annotations, or None if not computed yet."""
    path = self.path(video_id, frame_name)
    if not os.path.exists(path):
      return None
    with open(path) as f:
      return json.load(f)['annotations']

  def put(self, video_id: str, frame_name: str,
          annotations: Sequence[Mapping[str, Any]]) -> None:
    atomic_io.write_json(self.path(video_id, frame_name),
                         {'annotations': list(annotations)})


def assemble(images: Sequence[Mapping[str, Any]],
             categories: Sequence[Mapping[str, Any]],
             annotations: Mapping[int, Sequence[Mapping[str, Any]]],
             description: str = 'wsvis-tf pseudo-labels') -> Dict[str, Any]:
  """The COCO instances JSON.

  Args:
    images: [{'id', 'file_name', 'height', 'width', ...}] in order.
    categories: [{'id', 'name'}].
    annotations: image id -> that image's annotations (without ids).
    description: The 'info' description.

  Returns:
    {'info', 'licenses', 'images', 'categories', 'annotations'} with
    annotation ids 1, 2, ... in image order.
  """
  known = {image['id'] for image in images}
  unknown = sorted(set(annotations) - known)
  if unknown:
    raise ValueError(f'annotations for unknown image ids {unknown[:5]}')
  out_annotations = []
  for image in images:
    for ann in annotations.get(image['id'], ()):
      out_annotations.append({'id': len(out_annotations) + 1,
                              'image_id': image['id'], **ann})
  return {'info': {'description': description, 'version': '1.0'},
          'licenses': [], 'images': [dict(i) for i in images],
          'categories': [dict(c) for c in categories],
          'annotations': out_annotations}


def write(path: str, coco: Mapping[str, Any]) -> None:
  """Writes the JSON atomically; warns when it holds no annotation."""
  if not coco['annotations']:
    logging.warning('No pseudo-label at all on %d frames: writing an empty '
                    'pseudo-label set to %s', len(coco['images']), path)
  atomic_io.write_json(path, coco)


def as_results(coco: Mapping[str, Any]) -> List[Dict[str, Any]]:
  """The annotations as a COCO results list (for frame AP)."""
  return [{'image_id': a['image_id'], 'category_id': a['category_id'],
           'segmentation': a['segmentation'], 'score': a['score']}
          for a in coco['annotations']]
