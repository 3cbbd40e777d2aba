"""The SavedModel's serving graph: decode, preprocess, detect, paste masks.

`ServingModule` is a tf-models vision `ExportModule`
(official/vision/serving/export_base.py): it keeps the preprocessing inside
the SavedModel and its `get_inference_signatures` builds the two signatures
from the parent's `image_bytes` and `image_tensor` keys:

  serving_default       [B] string, encoded images (anything
                        tf.io.decode_image reads: JPEG, PNG, GIF (first
                        frame), BMP), each of its own size;
  serving_image_tensor  [B, H, W, 3] uint8, one size per batch.

What differs from tf-models' `DetectionModule` (detection.py), and why:

  * images of different sizes in one batch: the parent decodes with
    tf.map_fn and stacks, which needs one size; here each image is decoded
    AND preprocessed inside one map_fn step, to the model's fixed canvas, so
    only canvases are stacked;
  * preprocessing is `wsvis_tf.maskconsist.inference.preprocess` (what
    `FramePredictor` runs), so the server and the in-memory model agree;
  * outputs are in each image's own pixels, with masks pasted at the
    image's resolution in the graph, the whole batch in one call
    (`wsvis_tf.core.box_masks.paste_binary_batch`: tf-models' paste helper
    is numpy / OpenCV), binarised, padded to the batch's largest image
    (signature_keys.py lists the outputs);
  * detections below `min_score` are dropped in the graph, as
    `predict_frames` drops them;
  * bad input fails with tf.errors.InvalidArgumentError naming the
    signature, the input and what is wrong (rank, channels, an empty image,
    an empty string, bytes that are no image), not deep inside the model.

The model is the task's (`model.build_maskconsist_model`, tf-models' Mask
R-CNN rewrapped, as `MaskConsistTask.build_model` builds it); inference is
`MaskConsistModel.infer`: tf-models' `MaskRCNNModel.call` with
training=False, except that the mask head runs on the batch's detections
only, not on all max_num_detections slots (MaskConsist needs no matching at
inference, paper sec 3.3).
"""

from typing import Dict, List, Optional, Sequence

import tensorflow as tf
import tf_keras

from official.core import config_definitions
from official.vision.ops import anchor
from official.vision.ops import preprocess_ops
from official.vision.serving import export_base
from serving import signature_keys as sk
from wsvis_tf.core import box_masks
from wsvis_tf.maskconsist import inference
from wsvis_tf.maskconsist import keys
from wsvis_tf.maskconsist import model as model_lib
from wsvis_tf.maskconsist import task as task_lib

# tf-models' ExportModule.get_inference_signatures keys -> our signatures.
FUNCTION_KEYS = {'image_bytes': sk.SERVING_DEFAULT,
                 'image_tensor': sk.SERVING_IMAGE_TENSOR}

_PNG_MAGIC = b'\x89PNG\r\n\x1a\n'


def _check(condition: tf.Tensor, message: tf.Tensor, value: tf.Tensor
          ) -> tf.Tensor:
  """value, after an assertion that fails with message (a string tensor)."""
  with tf.control_dependencies([tf.debugging.Assert(condition, [message])]):
    return tf.identity(value)


def _check_all(checks, value: tf.Tensor) -> tf.Tensor:
  """value after one assertion of [(condition, message)], the first failing
  message reported.

  The conditions and messages must be computable on any input (no
  indexing that may be out of range): the graph may run them in any order
  relative to each other.
  """
  ok = tf.reduce_all([c for c, _ in checks])
  message = checks[-1][1]
  for condition, text in reversed(checks[:-1]):
    message = tf.where(condition, message, text)
  return _check(ok, message, value)


def _padded_shape(x: tf.Tensor, rank: int) -> tf.Tensor:
  """tf.shape(x) padded with zeros or cut to `rank` entries (never fails)."""
  shape = tf.shape(x)
  return tf.pad(shape, [[0, tf.maximum(rank - tf.size(shape), 0)]])[:rank]


def _is_known_image(encoded: tf.Tensor) -> tf.Tensor:
  """Whether scalar string bytes start like a JPEG, PNG, GIF or BMP file.

  The formats tf.io.decode_image reads (its own check, in its kernel, names
  neither the signature nor the image).
  """
  return tf.reduce_any([
      tf.io.is_jpeg(encoded),
      tf.equal(tf.strings.substr(encoded, 0, len(_PNG_MAGIC)), _PNG_MAGIC),
      tf.equal(tf.strings.substr(encoded, 0, 4), b'GIF8'),
      tf.equal(tf.strings.substr(encoded, 0, 2), b'BM')])


class ServingModule(export_base.ExportModule):
  """Mask R-CNN / MaskConsist for TF Serving (module docstring)."""

  def __init__(self, params: config_definitions.ExperimentConfig,
               class_names: Sequence[str], *,
               model: Optional[tf_keras.Model] = None,
               min_score: float = 0.05, mask_threshold: float = 0.5):
    """Builds the module (and the model, unless given).

    Args:
      params: An experiment whose task is a MaskConsistTaskConfig.
      class_names: The names of classes 1..num_classes - 1, in id order.
      model: The model; by default the task's model with fresh weights
        (_build_model; export() restores the checkpoint into it).
      min_score: Detections scoring below it are dropped (predict_frames'
        default, the paper's 0.05).
      mask_threshold: Pasted mask probabilities >= it are 1.

    Raises:
      ValueError: class_names does not match task.model.num_classes, or a
        threshold is outside [0, 1].
    """
    model_config = params.task.model
    class_names = [str(n) for n in class_names]
    if len(class_names) != model_config.num_classes - 1:
      raise ValueError(
          f'{len(class_names)} class names {class_names} for '
          f'task.model.num_classes = {model_config.num_classes} (tf-models '
          f'counts background: expected {model_config.num_classes - 1})')
    for name, value in (('min_score', min_score),
                        ('mask_threshold', mask_threshold)):
      if not 0.0 <= value <= 1.0:
        raise ValueError(f'{name} = {value} is not in [0, 1]')
    self._model_config = model_config
    self._class_names = class_names
    self._min_score = float(min_score)
    self._mask_threshold = float(mask_threshold)
    self._padded = preprocess_ops.compute_padded_size(
        list(model_config.input_size[:2]), 2 ** model_config.max_level)
    super().__init__(params, batch_size=None,
                     input_image_size=list(model_config.input_size[:2]),
                     input_type='image_bytes', num_channels=3, model=model,
                     input_name=sk.INPUT_IMAGES)

  @property
  def class_names(self) -> List[str]:
    return list(self._class_names)

  @property
  def min_score(self) -> float:
    return self._min_score

  @property
  def mask_threshold(self) -> float:
    return self._mask_threshold

  def _build_model(self):
    """The task's model (MaskConsistTask.build_model) without its Keras
    symbolic call.

    A model called through Keras' __call__ records an input spec, and
    tf.saved_model.save then traces its call in training mode too, which
    Mask R-CNN cannot run without ground truth; tf-models' DetectionModule
    never calls __call__ for that reason. One eager `call` on a blank
    canvas creates the variables, so that export's checkpoint restore can
    check that every one of them is matched.
    """
    cfg = self._model_config
    task_lib.MaskConsistTask(self.params.task)  # validates the task config
    model = model_lib.build_maskconsist_model(
        tf_keras.layers.InputSpec(shape=[None] + self._padded + [3]), cfg)
    canvas = tf.zeros([1] + self._padded + [3])
    model.call(canvas, image_shape=tf.constant([self._padded], tf.float32),
               anchor_boxes=self._anchor_boxes(1), training=False)
    return model

  # --- Input. -----------------------------------------------------------------

  def _canvas_spec(self):
    return (tf.TensorSpec(self._padded + [3], tf.float32),
            tf.TensorSpec([4, 2], tf.float32))

  def _decode_and_preprocess(self, args):
    """(index, scalar encoded image) -> (canvas, image_info)."""
    index, encoded = args
    where = tf.strings.format(
        f'{sk.SERVING_DEFAULT}: {sk.INPUT_IMAGES}[{{}}]', index)
    encoded = _check_all([
        (tf.strings.length(encoded) > 0,
         where + ' is an empty string; expected the bytes of an encoded JPEG '
         'or PNG image'),
        (_is_known_image(encoded),
         where + ' is not an encoded JPEG, PNG, GIF or BMP image (it starts '
         'with ' + tf.strings.substr(encoded, 0, 8) + ')'),
    ], encoded)
    image = tf.io.decode_image(encoded, channels=3, dtype=tf.uint8,
                               expand_animations=False)
    image.set_shape([None, None, 3])
    return inference.preprocess(image, self._model_config)

  def _check_image_tensor(self, images: tf.Tensor) -> tf.Tensor:
    name = f'{sk.SERVING_IMAGE_TENSOR}: {sk.INPUT_IMAGES}'
    shape = tf.shape(images)
    dims = _padded_shape(images, 4)
    got = tf.strings.format('got shape {}', shape, summarize=-1)
    return _check_all([
        (tf.equal(tf.rank(images), 4),
         f'{name} must be [batch, height, width, 3] uint8, ' + got),
        (tf.equal(dims[3], 3), f'{name} must have 3 channels (RGB), ' + got),
        (dims[0] > 0, f'{name} is an empty batch, ' + got),
        (tf.reduce_all(dims[1:3] > 0), f'{name} holds empty images, ' + got),
    ], images)

  def _check_encoded_batch(self, inputs: tf.Tensor) -> tf.Tensor:
    name = f'{sk.SERVING_DEFAULT}: {sk.INPUT_IMAGES}'
    got = tf.strings.format('got shape {}', tf.shape(inputs), summarize=-1)
    return _check_all([
        (tf.equal(tf.rank(inputs), 1),
         f'{name} must be a [batch] string tensor of encoded images, ' + got),
        (_padded_shape(inputs, 1)[0] > 0, f'{name} is an empty batch'),
    ], inputs)

  # --- The two signatures (tf-models' ExportModule entry points). -------------

  def serve(self, images: tf.Tensor) -> Dict[str, tf.Tensor]:
    """Detections of a [B, H, W, 3] uint8 batch (signature_keys outputs)."""
    images = self._check_image_tensor(images)
    images.set_shape([None, None, None, 3])  # checked above
    canvases, info = tf.map_fn(
        lambda image: inference.preprocess(image, self._model_config),
        images, fn_output_signature=self._canvas_spec())
    return self._detect(canvases, info)

  @tf.function
  def inference_from_image_bytes(self, inputs: tf.Tensor
                                ) -> Dict[str, tf.Tensor]:
    """Detections of [B] encoded images of any sizes."""
    inputs = self._check_encoded_batch(inputs)
    inputs.set_shape([None])  # checked above
    index = tf.range(tf.shape(inputs)[0])
    canvases, info = tf.map_fn(self._decode_and_preprocess, (index, inputs),
                               fn_output_signature=self._canvas_spec())
    return self._detect(canvases, info)

  def get_inference_signatures(self, function_keys: Dict[str, str]):
    """{signature name: concrete function} for FUNCTION_KEYS-like keys.

    The parent's, except that both inputs are declared with unknown rank:
    TF Serving (and a loaded SavedModel's signature) passes a tensor of any
    shape into the graph, and with a declared rank the graph optimiser
    folds rank and shape checks into constants, so a wrong rank would fail
    later with an unrelated message. The checks in the graph enforce [B]
    and [B, H, W, 3] instead.
    """
    functions = {'image_bytes': (self.inference_from_image_bytes,
                                 tf.string),
                 'image_tensor': (self.inference_from_image_tensors,
                                  tf.uint8)}
    signatures = {}
    for key, name in function_keys.items():
      if key not in functions:
        raise ValueError(f'unknown function key {key!r}; expected one of '
                         f'{sorted(functions)}')
      function, dtype = functions[key]
      signatures[name] = function.get_concrete_function(
          tf.TensorSpec(None, dtype, name=self._input_name))
    return signatures

  # --- Model and outputs. -----------------------------------------------------

  def _anchor_boxes(self, batch: tf.Tensor) -> Dict[str, tf.Tensor]:
    cfg = self._model_config
    anchors = anchor.build_anchor_generator(
        cfg.min_level, cfg.max_level, cfg.anchor.num_scales,
        cfg.anchor.aspect_ratios, cfg.anchor.anchor_size)(
            image_size=self._padded)
    return {k: tf.tile(v[tf.newaxis], [batch, 1, 1, 1])
            for k, v in anchors.items()}

  def _detect(self, canvases: tf.Tensor, info: tf.Tensor
             ) -> Dict[str, tf.Tensor]:
    """Model outputs in image pixels, filtered, with pasted masks.

    Args:
      canvases: [B, Hp, Wp, 3] float32 normalised canvases.
      info: [B, 4, 2] float32 tf-models image_info (original size, scaled
        size, scale, offset).

    Returns:
      The signature outputs (signature_keys.py).
    """
    batch = tf.shape(canvases)[0]
    # model.infer goes through model.call, not Keras' __call__, as
    # tf-models' DetectionModule does: __call__ would record an input spec
    # (see _build_model). It is call(training=False) with the mask head on
    # the batch's detections only, not on every padding slot.
    out = self.model.infer(canvases, info[:, 1, :],
                           self._anchor_boxes(batch))
    height = tf.cast(tf.round(info[:, 0, 0]), tf.int32)
    width = tf.cast(tf.round(info[:, 0, 1]), tf.int32)
    # Canvas pixels -> the image's: + crop offset (0 without jitter),
    # / scale (FramePredictor), clipped to the image.
    scale = tf.tile(info[:, 2, :], [1, 2])[:, tf.newaxis]
    offset = tf.tile(info[:, 3, :], [1, 2])[:, tf.newaxis]
    boxes = (tf.cast(out[keys.DETECTION_BOXES], tf.float32) + offset) / scale
    size = tf.cast(tf.stack([height, width, height, width], -1), tf.float32)
    boxes = tf.clip_by_value(boxes, 0.0, size[:, tf.newaxis])
    scores = tf.cast(out[keys.DETECTION_SCORES], tf.float32)
    classes = tf.cast(out[keys.DETECTION_CLASSES], tf.int32)
    masks = tf.cast(out[keys.DETECTION_MASKS], tf.float32)
    slots = tf.shape(scores)[1]
    valid = tf.logical_and(
        tf.range(slots)[tf.newaxis] < out[keys.NUM_DETECTIONS][:, tf.newaxis],
        scores >= self._min_score)
    # Kept detections first, in the model's (descending score) order.
    order = tf.argsort(tf.cast(tf.logical_not(valid), tf.int32), axis=1,
                       stable=True)
    valid, boxes, scores, classes, masks = (
        tf.gather(x, order, axis=1, batch_dims=1)
        for x in (valid, boxes, scores, classes, masks))
    count = tf.reduce_sum(tf.cast(valid, tf.int32), axis=1)
    boxes = tf.where(valid[..., tf.newaxis], boxes, 0.0)
    scores = tf.where(valid, scores, 0.0)
    classes = tf.where(valid, classes, 0)
    names = tf.gather(tf.constant([''] + self._class_names), classes)
    # The slots up to the batch's largest kept count are pasted, all in
    # one call (box_masks.paste_binary_batch: each image's masks as at its
    # own size, as predict_frames pastes them); the dropped slots' all-zero
    # boxes paste empty.
    kept = tf.reduce_max(count)
    pasted = box_masks.paste_binary_batch(masks[:, :kept], boxes[:, :kept],
                                          height, width, self._mask_threshold)
    pasted = tf.pad(pasted, [[0, 0], [0, slots - kept], [0, 0], [0, 0]])
    pasted.set_shape([None, masks.shape[1], None, None])
    return {
        sk.DETECTION_BOXES: boxes,
        sk.DETECTION_CLASSES: classes,
        sk.DETECTION_CLASS_NAMES: names,
        sk.DETECTION_SCORES: scores,
        sk.NUM_DETECTIONS: count,
        sk.DETECTION_MASKS: pasted,
        sk.IMAGE_HEIGHT: height,
        sk.IMAGE_WIDTH: width,
    }
