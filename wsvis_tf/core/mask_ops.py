"""Binary masks, boxes and COCO run-length encoding (RLE), on pycocotools.

Conventions (the COCO ones, so that any external tool can read our files):
  * a mask is a [H, W] array, nonzero = inside;
  * an RLE is a dict {'size': [H, W], 'counts': str}, 'counts' being
    pycocotools' compressed string (JSON-serialisable);
  * a COCO box is [x, y, w, h] in pixels; a "yxyx" box is
    [ymin, xmin, ymax, xmax] in pixels (tf-models' convention), max exclusive.
"""

from typing import Any, Dict, Iterable, List, Mapping, Sequence, Union

import numpy as np
from pycocotools import mask as coco_mask

Rle = Dict[str, Any]


def encode(mask: np.ndarray) -> Rle:
  """Encodes one [H, W] binary mask as a JSON-serialisable compressed RLE."""
  mask = np.asarray(mask)
  if mask.ndim != 2:
    raise ValueError(f'encode() wants a [H, W] mask, got shape {mask.shape}')
  rle = coco_mask.encode(np.asfortranarray(mask != 0, dtype=np.uint8))
  return {'size': [int(rle['size'][0]), int(rle['size'][1])],
          'counts': rle['counts'].decode('ascii')}


def encode_many(masks: np.ndarray) -> List[Rle]:
  """Encodes a [N, H, W] stack of binary masks."""
  masks = np.asarray(masks)
  if masks.ndim != 3:
    raise ValueError(f'encode_many() wants [N, H, W], got {masks.shape}')
  return [encode(m) for m in masks]


def _to_coco_rle(rle: Mapping[str, Any], height: int = None,
                 width: int = None) -> Dict[str, Any]:
  """Any COCO segmentation (RLE str/bytes/list counts) -> pycocotools RLE."""
  if 'size' not in rle or 'counts' not in rle:
    raise ValueError(f'RLE needs "size" and "counts", got keys {sorted(rle)}')
  h, w = (int(v) for v in rle['size'])
  if height is not None and (h, w) != (height, width):
    raise ValueError(f'RLE size {[h, w]} does not match the image size '
                     f'{[height, width]}')
  counts = rle['counts']
  if isinstance(counts, list):  # Uncompressed RLE.
    if sum(counts) != h * w:
      raise ValueError(f'uncompressed RLE counts sum to {sum(counts)}, '
                       f'expected {h} * {w} = {h * w}')
    return coco_mask.frPyObjects({'size': [h, w], 'counts': counts}, h, w)
  if isinstance(counts, str):
    counts = counts.encode('ascii')
  if not isinstance(counts, bytes):
    raise ValueError(f'RLE counts must be str, bytes or list, got '
                     f'{type(counts).__name__}')
  return {'size': [h, w], 'counts': counts}


def decode(rle: Mapping[str, Any]) -> np.ndarray:
  """Decodes a compressed or uncompressed RLE to a [H, W] uint8 mask."""
  return coco_mask.decode(_to_coco_rle(rle)).astype(np.uint8)


def to_coco_rle(segmentation: Union[Mapping[str, Any], Sequence[Any]],
                height: int, width: int) -> Dict[str, Any]:
  """Any COCO segmentation (polygons or RLE) -> compressed pycocotools RLE.

  Raises ValueError when the segmentation's size is not [height, width].
  """
  if isinstance(segmentation, Mapping):
    return _to_coco_rle(segmentation, height, width)
  if isinstance(segmentation, (list, tuple)):  # Polygons.
    polygons = [list(map(float, p)) for p in segmentation]
    for p in polygons:
      if len(p) < 6 or len(p) % 2:
        raise ValueError(f'a polygon needs an even number >= 6 of '
                         f'coordinates, got {len(p)}')
    return coco_mask.merge(coco_mask.frPyObjects(polygons, height, width))
  raise ValueError(f'segmentation must be an RLE dict or a polygon list, got '
                   f'{type(segmentation).__name__}')


def area(rle: Mapping[str, Any]) -> int:
  return int(coco_mask.area(_to_coco_rle(rle)))


def rle_to_coco_box(rle: Mapping[str, Any]) -> List[float]:
  """[x, y, w, h] of an RLE's tight bounding box (zeros when empty)."""
  return [float(v) for v in coco_mask.toBbox(_to_coco_rle(rle))]


def masks_to_boxes(masks: np.ndarray) -> np.ndarray:
  """[N, H, W] masks -> [N, 4] float32 yxyx boxes (max exclusive).

  An empty mask gets the box [0, 0, 0, 0].
  """
  masks = np.asarray(masks) != 0
  if masks.ndim != 3:
    raise ValueError(f'masks_to_boxes() wants [N, H, W], got {masks.shape}')
  boxes = np.zeros((masks.shape[0], 4), np.float32)
  rows = masks.any(axis=2)
  cols = masks.any(axis=1)
  for i in range(masks.shape[0]):
    ys = np.flatnonzero(rows[i])
    xs = np.flatnonzero(cols[i])
    if ys.size:
      boxes[i] = [ys[0], xs[0], ys[-1] + 1, xs[-1] + 1]
  return boxes


def yxyx_to_xywh(boxes: np.ndarray) -> np.ndarray:
  boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
  return np.stack([boxes[:, 1], boxes[:, 0], boxes[:, 3] - boxes[:, 1],
                   boxes[:, 2] - boxes[:, 0]], axis=1)


def xywh_to_yxyx(boxes: np.ndarray) -> np.ndarray:
  boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
  return np.stack([boxes[:, 1], boxes[:, 0], boxes[:, 1] + boxes[:, 3],
                   boxes[:, 0] + boxes[:, 2]], axis=1)


def mask_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """[N, H, W] x [M, H, W] binary masks -> [N, M] IoU (0 where both empty)."""
  a = np.asarray(a).reshape(len(a), -1).astype(np.float32) > 0
  b = np.asarray(b).reshape(len(b), -1).astype(np.float32) > 0
  if a.shape[1] != b.shape[1]:
    raise ValueError(f'mask sizes differ: {a.shape[1]} vs {b.shape[1]} pixels')
  a = a.astype(np.float32)
  b = b.astype(np.float32)
  inter = a @ b.T
  union = a.sum(1)[:, None] + b.sum(1)[None, :] - inter
  return np.where(union > 0, inter / np.maximum(union, 1), 0.0)


def mask_iom(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """Intersection over the smaller mask's area (paper sec 3.3, IoM-NMS)."""
  a = (np.asarray(a).reshape(len(a), -1) > 0).astype(np.float32)
  b = (np.asarray(b).reshape(len(b), -1) > 0).astype(np.float32)
  if a.shape[1] != b.shape[1]:
    raise ValueError(f'mask sizes differ: {a.shape[1]} vs {b.shape[1]} pixels')
  inter = a @ b.T
  smaller = np.minimum(a.sum(1)[:, None], b.sum(1)[None, :])
  return np.where(smaller > 0, inter / np.maximum(smaller, 1), 0.0)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """[N, 4] x [M, 4] yxyx boxes -> [N, M] IoU."""
  a = np.asarray(a, np.float64).reshape(-1, 4)
  b = np.asarray(b, np.float64).reshape(-1, 4)
  ymin = np.maximum(a[:, None, 0], b[None, :, 0])
  xmin = np.maximum(a[:, None, 1], b[None, :, 1])
  ymax = np.minimum(a[:, None, 2], b[None, :, 2])
  xmax = np.minimum(a[:, None, 3], b[None, :, 3])
  inter = np.clip(ymax - ymin, 0, None) * np.clip(xmax - xmin, 0, None)
  area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
  area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
  union = area_a[:, None] + area_b[None, :] - inter
  return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def instance_map_to_masks(instance_map: np.ndarray,
                          ids: Iterable[int]) -> np.ndarray:
  """[H, W] id map -> [len(ids), H, W] uint8 masks, one per id."""
  instance_map = np.asarray(instance_map)
  if instance_map.ndim == 3 and instance_map.shape[-1] == 1:
    instance_map = instance_map[..., 0]
  ids = list(ids)
  if not ids:
    return np.zeros((0,) + instance_map.shape, np.uint8)
  return np.stack([(instance_map == k) for k in ids]).astype(np.uint8)
