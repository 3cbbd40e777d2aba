"""Pseudo-labels: from the COCO JSON to Mask R-CNN's label tensors.

Numpy side (plain functions, also for other stages and tests):
  * `annotations_to_instances`: one frame's COCO annotations -> masks
    [N, H, W] uint8, boxes [N, 4] float32 yxyx (max exclusive), classes [N]
    int32 (1-based, tf-models' convention: 0 is background);
  * `PseudoLabels`: the pseudo_labels stage's JSON (IRN: make_cocoann), by
    frame ('<video>/<frame file>', irn/pseudo_labels.coco_file_name), with
    the checks that keep a bad file from training silently.

Graph side (the input pipeline and the MaskConsist train step):
  * `pad_instances`: -1 padding to max_num_instances (tf-models' Parser);
  * `rpn_targets` / `rpn_targets_batch`: tf-models' RpnAnchorLabeler per
    image (on the real boxes only, so padding is never force-matched);
  * `boxes_and_box_masks`: whole masks on a canvas -> gt_boxes and the
    box-cropped gt_masks (core/box_masks.crop_masks).
"""

import collections
import dataclasses
from typing import Any, Dict, Iterable, List, Mapping, Sequence, Tuple

import numpy as np
import tensorflow as tf

from official.vision.ops import anchor
from wsvis_tf.core import atomic_io
from wsvis_tf.core import box_masks
from wsvis_tf.core import mask_ops
from wsvis_tf.irn import pseudo_labels as pseudo_lib

PAD = -1


@dataclasses.dataclass
class FrameInstances:
  """One frame's instances (numpy).

  Attributes:
    masks: [N, H, W] uint8 0/1.
    boxes: [N, 4] float32 yxyx pixels, max exclusive (tight boxes of masks).
    classes: [N] int32, 1-based.
  """
  masks: np.ndarray
  boxes: np.ndarray
  classes: np.ndarray

  def __len__(self) -> int:
    return int(self.classes.shape[0])


def empty_instances(height: int, width: int) -> FrameInstances:
  return FrameInstances(np.zeros((0, height, width), np.uint8),
                        np.zeros((0, 4), np.float32),
                        np.zeros((0,), np.int32))


def annotations_to_instances(annotations: Sequence[Mapping[str, Any]],
                             height: int, width: int, num_classes: int,
                             where: str = '') -> FrameInstances:
  """One frame's COCO annotations as arrays.

  Crowd annotations are skipped (tf-models' Parser,
  skip_crowd_during_training) and so are empty masks (tf-models drops empty
  boxes); a frame without annotations gives N = 0 (trains on background).

  Args:
    annotations: COCO annotations of the frame, each with 'category_id'
      (1..num_classes) and 'segmentation' (RLE or polygons).
    height: H of the frame.
    width: W of the frame.
    num_classes: C, the dataset's number of classes.
    where: Names the frame and file in error messages.

  Returns:
    The frame's FrameInstances.

  Raises:
    ValueError: a category id outside 1..C or a mask of another size,
      naming `where`.
  """
  masks, classes = [], []
  for ann in annotations:
    if ann.get('iscrowd', 0):
      continue
    category = ann.get('category_id')
    if (not isinstance(category, (int, np.integer)) or
        not 1 <= category <= num_classes):
      raise ValueError(f'{where}: category_id {category!r} is outside the '
                       f'dataset\'s classes 1..{num_classes}')
    try:
      rle = mask_ops.to_coco_rle(ann['segmentation'], height, width)
    except (KeyError, ValueError) as e:
      raise ValueError(f'{where}: bad segmentation for a {height}x{width} '
                       f'frame: {e}') from e
    mask = mask_ops.decode(rle)
    if mask.any():
      masks.append(mask)
      classes.append(int(category))
  if not masks:
    return empty_instances(height, width)
  masks = np.stack(masks).astype(np.uint8)
  return FrameInstances(masks, mask_ops.masks_to_boxes(masks),
                        np.asarray(classes, np.int32))


class PseudoLabels:
  """A pseudo-label COCO JSON, by frame.

  Checks at load: categories are 1..C with the dataset's class names (when
  the file names them), every annotation's category is in 1..C and names a
  listed image, and no file_name is listed twice.
  """

  def __init__(self, path: str, class_names: Sequence[str]):
    self.path = path
    self.num_classes = len(class_names)
    try:
      coco = atomic_io.read_json(path)
    except FileNotFoundError as e:
      raise ValueError(f'pseudo-label file {path!r} does not exist (the '
                       'pseudo_labels stage writes it)') from e
    for field in ('images', 'annotations'):
      if field not in coco:
        raise ValueError(f'pseudo-label file {path}: no {field!r} list; not '
                         'a COCO instances JSON')
    self._check_categories(coco.get('categories') or [], class_names)
    self._images: Dict[str, Dict[str, Any]] = {}
    id_to_name = {}
    for image in coco['images']:
      name = image['file_name']
      if name in self._images:
        raise ValueError(f'pseudo-label file {path}: frame {name} is listed '
                         'twice')
      self._images[name] = image
      id_to_name[image['id']] = name
    self._annotations: Dict[str, List[Dict[str, Any]]] = (
        collections.defaultdict(list))
    for ann in coco['annotations']:
      name = id_to_name.get(ann.get('image_id'))
      if name is None:
        raise ValueError(f'pseudo-label file {path}: annotation '
                         f'{ann.get("id")} names image id '
                         f'{ann.get("image_id")}, which is not listed')
      category = ann.get('category_id')
      if (not isinstance(category, int) or
          not 1 <= category <= self.num_classes):
        raise ValueError(
            f'pseudo-label file {path}: frame {name} has category_id '
            f'{category!r}, outside the dataset\'s classes '
            f'1..{self.num_classes}')
      self._annotations[name].append(ann)

  def _check_categories(self, categories: List[Mapping[str, Any]],
                        class_names: Sequence[str]) -> None:
    for category in categories:
      cid, name = category.get('id'), category.get('name')
      if not isinstance(cid, int) or not 1 <= cid <= len(class_names):
        raise ValueError(f'pseudo-label file {self.path}: category id '
                         f'{cid!r} is outside the dataset\'s classes '
                         f'1..{len(class_names)}')
      if name is not None and name != class_names[cid - 1]:
        raise ValueError(f'pseudo-label file {self.path}: category {cid} is '
                         f'{name!r}, the dataset\'s class {cid} is '
                         f'{class_names[cid - 1]!r}')

  @staticmethod
  def frame_key(video_id: str, frame_name: str) -> str:
    """The file_name of a frame in the JSON."""
    return pseudo_lib.coco_file_name(video_id, frame_name)

  def __contains__(self, key: str) -> bool:
    return key in self._images

  def frame_keys(self) -> List[str]:
    return sorted(self._images)

  def num_annotations(self, key: str) -> int:
    return len(self._annotations.get(key, ()))

  def instances(self, video_id: str, frame_name: str, height: int,
                width: int) -> FrameInstances:
    """The frame's instances; ValueError if the file does not list it."""
    key = self.frame_key(video_id, frame_name)
    if key not in self._images:
      raise ValueError(f'frame {key} has no entry in pseudo-label file '
                       f'{self.path} (a training pair needs pseudo-labels on '
                       'both frames; list every frame the pairs use, e.g. '
                       'the cam stage with annotated_only=False)')
    return annotations_to_instances(self._annotations.get(key, ()), height,
                                    width, self.num_classes,
                                    f'{key} in {self.path}')

  def check_frames_exist(self, dataset_keys: Iterable[str],
                         what: str) -> None:
    """Raises ValueError if the JSON lists frames the dataset lacks."""
    unknown = sorted(set(self._images) - set(dataset_keys))
    if unknown:
      raise ValueError(f'pseudo-label file {self.path} names {len(unknown)} '
                       f'frame(s) that {what} lacks, e.g. {unknown[:3]}')


# --- Graph side. --------------------------------------------------------------


def pad_to(x: tf.Tensor, size: int, value) -> tf.Tensor:
  """Clips or pads [N, ...] x along axis 0 to size with value."""
  n = tf.shape(x)[0]
  x = x[:size]
  paddings = [[0, tf.maximum(size - n, 0)]] + [[0, 0]] * (len(x.shape) - 1)
  x = tf.pad(x, paddings, constant_values=value)
  return tf.ensure_shape(x, [size] + x.shape.as_list()[1:])


def pad_instances(boxes: tf.Tensor, classes: tf.Tensor, masks: tf.Tensor,
                  max_instances: int
                  ) -> Tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
  """Clips or pads [N, ...] instances to max_instances with -1 (tf-models).

  Returns:
    ([K, 4] float32, [K] int32, [K, ...] float32), K = max_instances.
  """
  return (pad_to(tf.cast(boxes, tf.float32), max_instances, float(PAD)),
          pad_to(tf.cast(classes, tf.int32), max_instances, PAD),
          pad_to(tf.cast(masks, tf.float32), max_instances, float(PAD)))


def make_anchor_labeler(parser_config) -> anchor.RpnAnchorLabeler:
  """tf-models' RPN labeler with a Parser config's thresholds."""
  return anchor.RpnAnchorLabeler(parser_config.rpn_match_threshold,
                                 parser_config.rpn_unmatched_threshold,
                                 parser_config.rpn_batch_size_per_im,
                                 parser_config.rpn_fg_fraction)


def rpn_targets(labeler: anchor.RpnAnchorLabeler,
                anchor_boxes: Mapping[str, tf.Tensor], boxes: tf.Tensor,
                classes: tf.Tensor
                ) -> Tuple[Dict[str, tf.Tensor], Dict[str, tf.Tensor]]:
  """RPN targets of one image from its (possibly padded) instances.

  Args:
    labeler: make_anchor_labeler's.
    anchor_boxes: {level: [h_l, w_l, 4 A]}.
    boxes: [K, 4] canvas pixels; rows with class <= 0 are padding.
    classes: [K] int.

  Returns:
    ({level: [h_l, w_l, A] int32}, {level: [h_l, w_l, 4 A] float32}), as
    tf-models' Parser computes them.
  """
  keep = classes > 0
  boxes = tf.boolean_mask(tf.cast(boxes, tf.float32), keep)
  classes = tf.cast(tf.boolean_mask(classes, keep), tf.float32)
  return labeler.label_anchors(anchor_boxes, boxes, classes[:, tf.newaxis])


def rpn_targets_batch(labeler: anchor.RpnAnchorLabeler,
                      anchor_boxes: Mapping[str, tf.Tensor],
                      boxes: tf.Tensor, classes: tf.Tensor
                      ) -> Tuple[Dict[str, tf.Tensor], Dict[str, tf.Tensor]]:
  """rpn_targets for a batch: anchor_boxes {level: [B, ...]}, boxes [B, K, 4].
  """
  score_spec = {
      level: tf.TensorSpec(a.shape[1:3].as_list() + [a.shape[3] // 4],
                           tf.int32) for level, a in anchor_boxes.items()}
  box_spec = {level: tf.TensorSpec(a.shape[1:], tf.float32)
              for level, a in anchor_boxes.items()}

  def one(args):
    anchors, b, c = args
    return rpn_targets(labeler, anchors, b, c)

  # One image at a time: the labeler subsamples anchors with a stateful
  # tf.random.shuffle, whose draws parallel iterations would share in
  # thread order (core/training.seed_everything), so a seeded run would not
  # repeat itself.
  return tf.map_fn(one, (dict(anchor_boxes), boxes, classes),
                   fn_output_signature=(score_spec, box_spec),
                   parallel_iterations=1)


def boxes_and_box_masks(masks: tf.Tensor, classes: tf.Tensor, stride: int,
                        crop_size: int) -> Tuple[tf.Tensor, tf.Tensor]:
  """Mask R-CNN box labels of whole masks on a (strided) canvas.

  Args:
    masks: [K, h, w] bool whole masks on the canvas at 1 / stride.
    classes: [K] int, rows with class <= 0 (or an empty mask) are padding.
    stride: The canvas' stride: boxes come back in network-input pixels.
    crop_size: tf-models' mask_crop_size.

  Returns:
    gt_boxes [K, 4] float32 (network-input pixels, -1 on padding rows) and
    gt_masks [K, crop_size, crop_size] float32 (crop_masks of the canvas
    masks, -1 on padding rows).
  """
  boxes = box_masks.masks_to_boxes(masks)
  crops = box_masks.crop_masks(masks, boxes, crop_size)
  valid = tf.logical_and(classes > 0, boxes[:, 2] > boxes[:, 0])
  boxes = tf.where(valid[:, tf.newaxis], boxes * float(stride),
                   tf.fill(tf.shape(boxes), float(PAD)))
  crops = tf.where(valid[:, tf.newaxis, tf.newaxis], crops,
                   tf.fill(tf.shape(crops), float(PAD)))
  return boxes, crops


def reencode_labels(masks: tf.Tensor, classes: tf.Tensor, source: tf.Tensor,
                    gt_boxes: tf.Tensor, gt_masks: tf.Tensor, stride: int,
                    crop_size: int) -> Tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
  """Mask R-CNN box labels of merged labels, keeping unchanged ones' own.

  A label that is a copy of an input label (source >= 0) keeps that label's
  gt_boxes / gt_masks as the input pipeline made them (from the full-size
  masks, so MaskConsist and the baseline train on the same encoding of the
  flowIRN labels); a new label is encoded from its canvas mask
  (boxes_and_box_masks).

  Args:
    masks: [B, K, h, w] bool labels on the matching canvas.
    classes: [B, K] int32, -1 padded.
    source: [B, K] int32 index into the input labels, -1 for new ones.
    gt_boxes: [B, K, 4] the input labels' boxes (network-input pixels).
    gt_masks: [B, K, S, S] their box masks.
    stride: The matching canvas' stride.
    crop_size: S.

  Returns:
    (gt_boxes [B, K, 4], gt_classes [B, K] int32, gt_masks [B, K, S, S]),
    -1 padded, for MaskConsistModel.train_heads.
  """
  batch, k = classes.shape[0], classes.shape[1]
  h, w = masks.shape[2], masks.shape[3]
  flat_masks = tf.reshape(masks, [-1, h, w])
  flat_classes = tf.reshape(classes, [-1])
  new_boxes, new_crops = boxes_and_box_masks(flat_masks, flat_classes,
                                             stride, crop_size)
  new_boxes = tf.reshape(new_boxes, [batch, k, 4])
  new_crops = tf.reshape(new_crops, [batch, k, crop_size, crop_size])
  index = tf.maximum(source, 0)
  old_boxes = tf.gather(gt_boxes, index, batch_dims=1)
  old_crops = tf.gather(gt_masks, index, batch_dims=1)
  keep_old = source >= 0
  boxes = tf.where(keep_old[..., tf.newaxis], old_boxes, new_boxes)
  crops = tf.where(keep_old[..., tf.newaxis, tf.newaxis], old_crops,
                   new_crops)
  valid = tf.logical_and(classes > 0, boxes[..., 2] > boxes[..., 0])
  boxes = tf.where(valid[..., tf.newaxis], boxes, float(PAD))
  crops = tf.where(valid[..., tf.newaxis, tf.newaxis], crops, float(PAD))
  classes = tf.where(valid, tf.cast(classes, tf.int32), PAD)
  return boxes, classes, tf.cast(crops, gt_masks.dtype)
