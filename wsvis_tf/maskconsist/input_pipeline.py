"""tf.data input of MaskConsist: frame pairs with pseudo-labels and flow.

Pairs. Every annotated frame t of the split is frame "a" of one pair (t, b)
(wsvis_tf/data/pairs.py pair_indices: b = t + delta, or t - delta at the end
of a video), in the source's video order. Each frame of a pair carries its
pseudo-labels from the pseudo_labels stage's JSON (labels.PseudoLabels; a
frame listed with no annotation trains on background; a frame the JSON does
not list is an error, as is a JSON naming frames the split lacks) and, with
MaskConsist, the pair carries the flows a -> b and b -> a of the flow stage
(FlowStore; a missing or misshapen file is an error naming it).

Parsing follows tf-models' Mask R-CNN Parser (dataloaders/maskrcnn_input.py)
for each frame: normalize_image, random horizontal flip, the scale jitter /
crop / pad geometry of preprocess_ops.resize_and_crop_image (same image_info
[[H, W], [desired h, w], [scale y, x], [offset y, x]], same padded canvas),
resize_and_crop_boxes, RpnAnchorLabeler targets on the anchor generator's
boxes, -1 padding to max_num_instances. Departures, and why:
  * both frames of a pair get the same flip, scale and crop offset (the
    flows must map frame a's canvas onto frame b's): the geometry is drawn
    once per pair, here, rather than inside resize_and_crop_image;
  * random draws are stateless, keyed on (data seed, element position in
    the shuffled stream), so a run is reproducible from its seed (tf-models
    uses stateful ops);
  * gt_masks are cropped with core/box_masks.crop_masks (tf-models: crop_and
    _resize with image-normalised boxes, half a pixel off the paste
    convention the MaskConsist step uses).

With MaskConsist each frame also gets its pseudo-labels as whole masks
(keys.FULL_MASKS) and the pair its two flows (keys.FLOW_AB, keys.FLOW_BA),
resampled (bilinearly, masks then binarised at 0.5) onto the matching
canvas: the network input canvas at 1 / matching_stride; flows are
rescaled to its pixels and flipped with the images (dx negated).

A parsed pair is (images [2, Hp, Wp, 3], labels {key: [2, ...]}) except the
two flows ([h, w, 2] each); batches add a leading B (pairs).
"""

import dataclasses
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping
from typing import Optional, Tuple

from absl import logging
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from official.vision.ops import anchor
from official.vision.ops import preprocess_ops
from wsvis_tf.core import box_masks
from wsvis_tf.core import keys as core_keys
from wsvis_tf.data import pairs as pairs_lib
from wsvis_tf.flow import flow_store as flow_store_lib
from wsvis_tf.maskconsist import keys
from wsvis_tf.maskconsist import labels as labels_lib

VideosFn = Callable[[], Iterable[Mapping[str, Any]]]

# Keys of the raw (decoded, not yet augmented) pair elements.
RAW_INDEX = 'index'
RAW_IMAGES = 'images'         # [2, H, W, 3] uint8
RAW_FLOWS = 'flows'           # [2, H, W, 2] float16: a -> b, b -> a
_RAW_MASKS = ('masks_a', 'masks_b')       # [N, H, W] uint8
_RAW_BOXES = ('boxes_a', 'boxes_b')       # [N, 4] float32 original pixels
_RAW_CLASSES = ('classes_a', 'classes_b')  # [N] int32


@dataclasses.dataclass(frozen=True)
class PairSpec:
  """One training pair: frames a and b (indices) of a video."""
  video_id: str
  a: int
  b: int
  name_a: str
  name_b: str
  # Whether frame b is annotated (frame a always is).
  annotated_b: bool = True


# --- Numpy side. --------------------------------------------------------------


def source_videos_fn(source, split: str, with_frames: bool = True
                    ) -> VideosFn:
  """Per-video numpy dicts of a VideoSource split, decoding only what is used.

  Args:
    source: A wsvis_tf.data.sources.VideoSource (prepared).
    split: The split.
    with_frames: Decode keys.FRAMES (False: the metadata pass).

  Returns:
    A function returning an iterator of dicts with VIDEO_ID, FRAME_NAMES,
    ANNOTATED (and FRAMES), in the source's fixed order.
  """
  if split not in source.splits:
    raise ValueError(f'dataset {source.builder.info.full_name} has no split '
                     f'{split!r}; it has {source.splits}')
  wanted = {core_keys.VIDEO_ID: True, core_keys.FRAME_NAMES: True,
            core_keys.ANNOTATED: True}
  if with_frames:
    wanted[core_keys.FRAMES] = True

  def videos():
    ds = source.builder.as_dataset(
        split=split, shuffle_files=False,
        decoders=tfds.decode.PartialDecoding(wanted))
    return tfds.as_numpy(ds)

  return videos


def list_pairs(videos: Iterable[Mapping[str, Any]], delta: int
              ) -> Tuple[List[PairSpec], List[str]]:
  """The pairs of a split, and the pseudo-label keys of all its frames.

  Args:
    videos: Per-video dicts with VIDEO_ID, FRAME_NAMES, ANNOTATED.
    delta: Pair distance (pairs.pair_indices).

  Returns:
    ([PairSpec] in video order, ['<video>/<frame>.jpg' of every frame]).
  """
  specs, frame_keys = [], []
  for video in videos:
    video_id = core_keys.as_text(video[core_keys.VIDEO_ID])
    names = [core_keys.as_text(n) for n in video[core_keys.FRAME_NAMES]]
    annotated = np.asarray(video[core_keys.ANNOTATED], bool)
    frame_keys.extend(labels_lib.PseudoLabels.frame_key(video_id, n)
                      for n in names)
    for a, b in pairs_lib.pair_indices(len(names), delta, annotated):
      specs.append(PairSpec(video_id, int(a), int(b), names[a], names[b],
                            bool(annotated[b])))
  return specs, frame_keys


def pair_example(frame_a: np.ndarray, frame_b: np.ndarray,
                 instances_a: labels_lib.FrameInstances,
                 instances_b: labels_lib.FrameInstances,
                 flow_ab: Optional[np.ndarray] = None,
                 flow_ba: Optional[np.ndarray] = None,
                 where: str = '') -> Dict[str, np.ndarray]:
  """A raw pair element (numpy), after checking that its parts fit.

  Args:
    frame_a: [H, W, 3] uint8 frame t.
    frame_b: [H, W, 3] uint8 frame t + delta.
    instances_a: Frame a's pseudo-labels (labels.FrameInstances).
    instances_b: Frame b's.
    flow_ab: Optional [H, W, 2] flow a -> b (both flows or neither).
    flow_ba: Optional [H, W, 2] flow b -> a.
    where: Names the pair in error messages.

  Returns:
    {RAW_IMAGES, masks_a/b, boxes_a/b, classes_a/b[, RAW_FLOWS]}.

  Raises:
    ValueError: frames of different sizes or not RGB, masks of another
      size, flows of the wrong shape.
  """
  frame_a, frame_b = np.asarray(frame_a), np.asarray(frame_b)
  for name, frame in (('a', frame_a), ('b', frame_b)):
    if frame.ndim != 3 or frame.shape[-1] != 3:
      raise ValueError(f'{where}: frame {name} must be [H, W, 3], got '
                       f'{frame.shape}')
  if frame_a.shape != frame_b.shape:
    raise ValueError(f'{where}: the frames of a pair differ in size: '
                     f'{frame_a.shape[:2]} and {frame_b.shape[:2]}')
  size = frame_a.shape[:2]
  out = {RAW_IMAGES: np.stack([frame_a, frame_b]).astype(np.uint8)}
  for i, inst in enumerate((instances_a, instances_b)):
    if inst.masks.shape[1:] != size:
      raise ValueError(f'{where}: pseudo-label masks of frame '
                       f'{"ab"[i]} are {inst.masks.shape[1:]}, the frame is '
                       f'{size}')
    out[_RAW_MASKS[i]] = inst.masks.astype(np.uint8)
    out[_RAW_BOXES[i]] = inst.boxes.astype(np.float32)
    out[_RAW_CLASSES[i]] = inst.classes.astype(np.int32)
  if (flow_ab is None) != (flow_ba is None):
    raise ValueError(f'{where}: give both flows of the pair or neither')
  if flow_ab is not None:
    for name, flow in (('a->b', flow_ab), ('b->a', flow_ba)):
      if np.shape(flow) != size + (2,):
        raise ValueError(f'{where}: flow {name} has shape {np.shape(flow)}, '
                         f'expected {size + (2,)} (the frames\' [H, W, 2])')
    out[RAW_FLOWS] = np.stack([flow_ab, flow_ba]).astype(np.float16)
  return out


class PairSource:
  """The raw pairs of a split: checks, then a generator of pair elements."""

  def __init__(self, videos_fn: VideosFn,
               pseudo_labels: labels_lib.PseudoLabels, delta: int,
               flow_store: Optional[flow_store_lib.FlowStore] = None,
               metadata_fn: Optional[VideosFn] = None,
               description: str = 'the dataset'):
    """Lists the pairs and checks them against the pseudo-label file.

    Args:
      videos_fn: Per-video dicts with VIDEO_ID, FRAMES, FRAME_NAMES,
        ANNOTATED, in a fixed order (source_videos_fn).
      pseudo_labels: The pseudo-label file.
      delta: Pair distance.
      flow_store: The flows (MaskConsist), or None.
      metadata_fn: Like videos_fn without frames (default videos_fn).
      description: How error messages name the dataset.

    Raises:
      ValueError: the JSON names frames the dataset lacks, or a pair's
        frame has no entry in it.
    """
    self._videos_fn = videos_fn
    self.pseudo_labels = pseudo_labels
    self.delta = delta
    self.flow_store = flow_store
    pairs, frame_keys = list_pairs((metadata_fn or videos_fn)(), delta)
    pseudo_labels.check_frames_exist(frame_keys, description)
    # A pair whose frame b is not annotated and has no pseudo-labels (the
    # usual case: labels exist for the annotated frames) is left out, e.g.
    # on data annotated every k-th frame with delta not a multiple of k;
    # an annotated frame without an entry is an incomplete file: an error.
    self.pairs = [p for p in pairs if p.annotated_b or
                  labels_lib.PseudoLabels.frame_key(p.video_id, p.name_b)
                  in pseudo_labels]
    self._kept = {(p.video_id, p.a, p.b) for p in self.pairs}
    if len(self.pairs) < len(pairs):
      logging.warning('%s: %d of %d pairs (t, t + %d) left out: their frame '
                      't + %d is not annotated and has no pseudo-labels',
                      description, len(pairs) - len(self.pairs), len(pairs),
                      delta, delta)
    for spec in self.pairs:
      for name in (spec.name_a, spec.name_b):
        key = labels_lib.PseudoLabels.frame_key(spec.video_id, name)
        if key not in pseudo_labels:
          raise ValueError(
              f'frame {key} (pair {spec.a}->{spec.b} of video '
              f'{spec.video_id}) has no entry in pseudo-label file '
              f'{pseudo_labels.path}; every frame of a training pair needs '
              'one (list the frames, e.g. the cam stage with '
              'annotated_only=False, or change delta)')
    if not self.pairs:
      raise ValueError(f'{description} has no training pair (no annotated '
                       'frame)')

  def __len__(self) -> int:
    return len(self.pairs)

  def elements(self, shard: int = 0, num_shards: int = 1
              ) -> Iterator[Dict[str, np.ndarray]]:
    """Raw elements of this shard (pair index % num_shards == shard)."""
    index = 0
    for video in self._videos_fn():
      video_id = core_keys.as_text(video[core_keys.VIDEO_ID])
      frames = video[core_keys.FRAMES]
      names = [core_keys.as_text(n) for n in video[core_keys.FRAME_NAMES]]
      annotated = np.asarray(video[core_keys.ANNOTATED], bool)
      for a, b in pairs_lib.pair_indices(len(names), self.delta, annotated):
        if (video_id, int(a), int(b)) not in self._kept:
          continue
        i, index = index, index + 1
        if i % num_shards != shard:
          continue
        size = tuple(np.shape(frames[a])[:2])
        instances = [self.pseudo_labels.instances(
            video_id, names[t], *np.shape(frames[t])[:2]) for t in (a, b)]
        flows = (None, None)
        if self.flow_store is not None:
          flows = (self.flow_store.read(video_id, int(a), int(b), size),
                   self.flow_store.read(video_id, int(b), int(a), size))
        element = pair_example(frames[a], frames[b], *instances, *flows,
                               where=f'video {video_id} frames {a}, {b}')
        element[RAW_INDEX] = np.int64(i)
        yield element
    if index != len(self.pairs):
      raise ValueError(f'the dataset changed: {index} pairs now, '
                       f'{len(self.pairs)} when listed')

  def dataset(self, shard: int = 0, num_shards: int = 1) -> tf.data.Dataset:
    """elements() as a tf.data.Dataset of raw pairs."""
    signature = {
        RAW_INDEX: tf.TensorSpec([], tf.int64),
        RAW_IMAGES: tf.TensorSpec([2, None, None, 3], tf.uint8)}
    for i in range(2):
      signature[_RAW_MASKS[i]] = tf.TensorSpec([None, None, None], tf.uint8)
      signature[_RAW_BOXES[i]] = tf.TensorSpec([None, 4], tf.float32)
      signature[_RAW_CLASSES[i]] = tf.TensorSpec([None], tf.int32)
    if self.flow_store is not None:
      signature[RAW_FLOWS] = tf.TensorSpec([2, None, None, 2], tf.float16)
    return tf.data.Dataset.from_generator(
        lambda: self.elements(shard, num_shards), output_signature=signature)


# --- Graph side. --------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ParseParams:
  """What parse_pair needs (from the data and model configs)."""
  desired_size: Tuple[int, int]
  min_level: int
  max_level: int
  num_scales: int
  aspect_ratios: Tuple[float, ...]
  anchor_size: float
  max_num_instances: int
  mask_crop_size: int
  hflip: bool
  scale_min: float
  scale_max: float
  matching_stride: int
  with_matching_inputs: bool
  dtype: str
  rpn_match_threshold: float = 0.7
  rpn_unmatched_threshold: float = 0.3
  rpn_batch_size_per_im: int = 256
  rpn_fg_fraction: float = 0.5

  @property
  def padded_size(self) -> Tuple[int, int]:
    return tuple(preprocess_ops.compute_padded_size(
        list(self.desired_size), 2 ** self.max_level))

  @property
  def matching_size(self) -> Tuple[int, int]:
    h, w = self.padded_size
    return h // self.matching_stride, w // self.matching_stride

  @classmethod
  def from_configs(cls, data_config, model_config,
                   with_matching_inputs: bool) -> 'ParseParams':
    parser = data_config.parser
    params = cls(
        desired_size=tuple(model_config.input_size[:2]),
        min_level=model_config.min_level, max_level=model_config.max_level,
        num_scales=model_config.anchor.num_scales,
        aspect_ratios=tuple(model_config.anchor.aspect_ratios),
        anchor_size=model_config.anchor.anchor_size,
        max_num_instances=parser.max_num_instances,
        mask_crop_size=parser.mask_crop_size, hflip=parser.aug_rand_hflip,
        scale_min=parser.aug_scale_min, scale_max=parser.aug_scale_max,
        matching_stride=data_config.matching_stride,
        with_matching_inputs=with_matching_inputs, dtype=data_config.dtype,
        rpn_match_threshold=parser.rpn_match_threshold,
        rpn_unmatched_threshold=parser.rpn_unmatched_threshold,
        rpn_batch_size_per_im=parser.rpn_batch_size_per_im,
        rpn_fg_fraction=parser.rpn_fg_fraction)
    if params.padded_size != params.desired_size:
      raise ValueError(
          f'task.model.input_size {list(params.desired_size)} must be a '
          f'multiple of 2^max_level = {2 ** params.max_level} (the model is '
          f'built for input_size; tf-models would pad to '
          f'{list(params.padded_size)})')
    h, w = params.padded_size
    s = params.matching_stride
    if s < 1 or h % s or w % s:
      raise ValueError(f'task.train_data.matching_stride {s} must divide the '
                       f'padded input size {h}x{w}')
    if parser.aug_rand_vflip:
      raise ValueError('task.train_data.parser.aug_rand_vflip is not '
                       'supported (flows and pairs flip horizontally only)')
    return params


def scale_and_offset(image_size: tf.Tensor, desired_size: Tuple[int, int],
                     scale_min: float, scale_max: float,
                     seed: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
  """resize_and_crop_image's geometry, with stateless random draws.

  Args:
    image_size: [2] float32 (H, W) of the original image.
    desired_size: (h, w) of the network input (before padding).
    scale_min: Minimum random scale of desired_size (tf-models' aug).
    scale_max: Maximum.
    seed: [2] int stateless seed.

  Returns:
    (scaled_size [2] float32, image_scale [2] float32, offset [2] int32),
    as preprocess_ops.resize_and_crop_image computes them.
  """
  desired = tf.constant(desired_size, tf.float32)
  jitter = not (np.isclose(scale_min, 1.0) and np.isclose(scale_max, 1.0))
  if jitter:
    scale = tf.random.stateless_uniform(
        [], tf.random.experimental.stateless_fold_in(seed, 1),
        scale_min, scale_max)
    scaled = tf.round(scale * desired)
  else:
    scaled = desired
  scale = tf.minimum(scaled[0] / image_size[0], scaled[1] / image_size[1])
  scaled = tf.round(image_size * scale)
  image_scale = scaled / image_size
  if jitter:
    max_offset = tf.maximum(scaled - desired, 0.0)
    u = tf.random.stateless_uniform(
        [2], tf.random.experimental.stateless_fold_in(seed, 2))
    offset = tf.cast(max_offset * u, tf.int32)
  else:
    offset = tf.zeros([2], tf.int32)
  return scaled, image_scale, offset


def _canvas_sampling_boxes(image_size, image_scale, offset, out_size,
                           stride) -> tf.Tensor:
  """crop_and_resize box sampling the original image on a strided canvas.

  Canvas cell (r, c) of the 1 / stride canvas covers network-input pixels
  [r s, (r + 1) s); its centre (r + 0.5) s, moved by the crop offset and
  divided by the scale, is the original coordinate sampled (pixel-index
  coordinates: minus 0.5).
  """
  s = float(stride)
  first = (0.5 * s + tf.cast(offset, tf.float32)) / image_scale - 0.5
  step = s / image_scale
  last = first + (tf.constant(out_size, tf.float32) - 1.0) * step
  denom = tf.maximum(image_size - 1.0, 1.0)
  return tf.stack([first[0] / denom[0], first[1] / denom[1],
                   last[0] / denom[0], last[1] / denom[1]])[tf.newaxis]


def _canvas_valid(desired_size, scaled, offset, out_size, stride):
  """[h, w] float 1 where the strided canvas shows image (not padding)."""
  extent = tf.minimum(tf.constant(desired_size, tf.float32),
                      scaled - tf.cast(offset, tf.float32))
  centres_y = (tf.range(out_size[0], dtype=tf.float32) + 0.5) * stride
  centres_x = (tf.range(out_size[1], dtype=tf.float32) + 0.5) * stride
  return tf.cast(tf.logical_and(centres_y[:, tf.newaxis] < extent[0],
                                centres_x[tf.newaxis, :] < extent[1]),
                 tf.float32)


def _resample(x, box, out_size, valid):
  """Samples [N, H, W, C] x on the canvas (one box for all N)."""
  n = tf.shape(x)[0]
  out = tf.image.crop_and_resize(
      tf.cast(x, tf.float32), tf.tile(box, [n, 1]), tf.range(n),
      out_size, method='bilinear', extrapolation_value=0.0)
  return out * valid[tf.newaxis, :, :, tf.newaxis]


def parse_pair(raw: Mapping[str, tf.Tensor], seed: tf.Tensor,
               params: ParseParams
               ) -> Tuple[tf.Tensor, Dict[str, Any]]:
  """One raw pair -> (images [2, Hp, Wp, 3], labels); module docstring.

  Args:
    raw: A PairSource element.
    seed: [2] int32 stateless seed of this element.
    params: ParseParams.
  """
  images = raw[RAW_IMAGES]
  image_size = tf.cast(tf.shape(images)[1:3], tf.float32)
  width = image_size[1]
  flip = tf.constant(False)
  if params.hflip:
    flip = tf.random.stateless_uniform(
        [], tf.random.experimental.stateless_fold_in(seed, 0)) < 0.5

  def maybe_flip(x, axis):
    return tf.cond(flip, lambda: tf.reverse(x, [axis]), lambda: x)

  images = maybe_flip(images, 2)
  scaled, image_scale, offset = scale_and_offset(
      image_size, params.desired_size, params.scale_min, params.scale_max,
      seed)
  # resize_and_crop_image on both frames (tf-models: normalise first).
  images = preprocess_ops.normalize_image(images)
  images = tf.image.resize(images, tf.cast(scaled, tf.int32),
                           method='bilinear')
  h, w = params.desired_size
  images = images[:, offset[0]:offset[0] + h, offset[1]:offset[1] + w]
  padded_h, padded_w = params.padded_size
  images = tf.image.pad_to_bounding_box(images, 0, 0, padded_h, padded_w)
  images = tf.cast(images, params.dtype)
  image_info = tf.stack([image_size, tf.constant(params.desired_size,
                                                 tf.float32),
                         image_scale, tf.cast(offset, tf.float32)])

  anchor_boxes = anchor.build_anchor_generator(
      params.min_level, params.max_level, params.num_scales,
      list(params.aspect_ratios), params.anchor_size)(
          image_size=(padded_h, padded_w))
  labeler = anchor.RpnAnchorLabeler(
      params.rpn_match_threshold, params.rpn_unmatched_threshold,
      params.rpn_batch_size_per_im, params.rpn_fg_fraction)
  stride = params.matching_stride
  out_size = params.matching_size
  sample_box = _canvas_sampling_boxes(image_size, image_scale, offset,
                                      out_size, stride)
  valid = _canvas_valid(params.desired_size, scaled, offset, out_size,
                        stride)

  per_frame = []
  for i in range(2):
    masks = maybe_flip(raw[_RAW_MASKS[i]], 2)
    boxes = raw[_RAW_BOXES[i]]
    boxes = tf.cond(flip, lambda b=boxes: tf.stack(
        [b[:, 0], width - b[:, 3], b[:, 2], width - b[:, 1]], axis=1),
                    lambda b=boxes: b)
    classes = raw[_RAW_CLASSES[i]]
    canvas_boxes = preprocess_ops.resize_and_crop_boxes(
        boxes, image_scale, tf.constant(params.desired_size, tf.float32),
        tf.cast(offset, tf.float32))
    # Instances cropped away entirely are dropped (tf-models: non-empty
    # boxes only).
    keep = tf.logical_and(canvas_boxes[:, 2] > canvas_boxes[:, 0],
                          canvas_boxes[:, 3] > canvas_boxes[:, 1])
    canvas_boxes = tf.boolean_mask(canvas_boxes, keep)
    classes = tf.boolean_mask(classes, keep)
    masks = tf.boolean_mask(masks, keep)
    # The box masks are cropped from the original-size masks, with the
    # canvas boxes taken back to original coordinates (tf-models).
    original_boxes = ((canvas_boxes + tf.tile(tf.cast(offset, tf.float32),
                                              [2])) /
                      tf.tile(image_scale, [2]))
    crops = box_masks.crop_masks(masks, original_boxes,
                                 params.mask_crop_size)
    score_targets, box_targets = labeler.label_anchors(
        anchor_boxes, canvas_boxes,
        tf.cast(classes, tf.float32)[:, tf.newaxis])
    gt_boxes, gt_classes, gt_masks = labels_lib.pad_instances(
        canvas_boxes, classes, crops, params.max_num_instances)
    frame = {keys.IMAGE_INFO: image_info,
             keys.ANCHOR_BOXES: anchor_boxes,
             keys.RPN_SCORE_TARGETS: score_targets,
             keys.RPN_BOX_TARGETS: box_targets,
             keys.GT_BOXES: gt_boxes, keys.GT_CLASSES: gt_classes,
             keys.GT_MASKS: gt_masks}
    if params.with_matching_inputs:
      full = _resample(masks[..., tf.newaxis], sample_box, out_size,
                       valid)[..., 0] >= 0.5
      frame[keys.FULL_MASKS] = labels_lib.pad_to(
          full, params.max_num_instances, False)
    per_frame.append(frame)
  labels = tf.nest.map_structure(lambda a, b: tf.stack([a, b]), *per_frame)
  if params.with_matching_inputs:
    flows = maybe_flip(tf.cast(raw[RAW_FLOWS], tf.float32), 2)
    flows = tf.cond(flip, lambda: flows * tf.constant([-1.0, 1.0]),
                    lambda: flows)
    flows = _resample(flows, sample_box, out_size, valid)
    # Vectors in matching-canvas pixels: x image_scale, / stride.
    flows = flows * (image_scale[::-1] / float(stride))
    labels[keys.FLOW_AB] = flows[0]
    labels[keys.FLOW_BA] = flows[1]
  return images, labels


def pairs_dataset(pair_source: PairSource, params: ParseParams,
                  global_batch_size: int, is_training: bool, seed: int,
                  shuffle_buffer_size: int = 0, cache: bool = False,
                  input_context: Optional[tf.distribute.InputContext] = None
                 ) -> tf.data.Dataset:
  """Batches of parsed pairs (module docstring), deterministic given seed.

  Args:
    pair_source: The raw pairs.
    params: ParseParams.
    global_batch_size: Pairs per step over all replicas.
    is_training: Repeat and shuffle.
    seed: Shuffling and augmentation seed.
    shuffle_buffer_size: Raw pairs in the shuffle buffer (0 or 1: none).
    cache: Keep the decoded raw pairs in memory after the first pass.
    input_context: tf.distribute's, when each input pipeline builds its own
      dataset: pairs are sharded by index and batches are per replica.

  Returns:
    A dataset of (images [b, 2, Hp, Wp, 3], labels) with b the per-replica
    batch size.
  """
  shard, num_shards, batch_size = 0, 1, global_batch_size
  if input_context is not None:
    shard = input_context.input_pipeline_id
    num_shards = input_context.num_input_pipelines
    batch_size = input_context.get_per_replica_batch_size(global_batch_size)
  if len(pair_source) < num_shards:
    raise ValueError(f'{len(pair_source)} pairs cannot feed {num_shards} '
                     'input pipelines')
  ds = pair_source.dataset(shard, num_shards)
  if cache:
    ds = ds.cache()
  if is_training:
    ds = ds.repeat()
    if shuffle_buffer_size > 1:
      ds = ds.shuffle(shuffle_buffer_size, seed=seed * 1009 + shard)
  base = tf.constant([seed, shard], tf.int64)

  def parse(position, raw):
    element_seed = tf.random.experimental.stateless_fold_in(base, position)
    return parse_pair(raw, element_seed, params)

  ds = ds.enumerate().map(parse, num_parallel_calls=tf.data.AUTOTUNE,
                          deterministic=True)
  ds = ds.batch(batch_size, drop_remainder=is_training)
  logging.info('MaskConsist input: %d pairs (shard %d of %d), batch %d per '
               'replica, canvas %s, matching canvas %s', len(pair_source),
               shard, num_shards, batch_size, params.padded_size,
               params.matching_size if params.with_matching_inputs else None)
  return ds.prefetch(tf.data.AUTOTUNE)
