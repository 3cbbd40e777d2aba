"""Per-frame instances from a trained (MaskConsist) Mask R-CNN.

`predict_frames(model, frames, model_config)` preprocesses frames as
tf-models' Parser does at evaluation (normalize_image, resize_and_crop_image
without jitter, the anchor generator), runs the model in inference mode
(MaskConsist needs no matching at inference, paper sec 3.3) and returns, per
frame, its detections in the frame's own pixels with masks pasted at the
frame's resolution (core/box_masks.paste_masks, the convention the training
labels are cropped with). A `FramePredictor` keeps its traced functions, for
predicting many videos with one model.
"""

import dataclasses
from typing import Iterable, List

import numpy as np
import tensorflow as tf
import tf_keras

from official.vision.ops import anchor
from official.vision.ops import preprocess_ops
from wsvis_tf.core import box_masks
from wsvis_tf.maskconsist import keys
from wsvis_tf.maskconsist import model as model_lib

_PASTE_CHUNK = 16


@dataclasses.dataclass
class FramePredictions:
  """One frame's detections (numpy).

  Attributes:
    boxes: [n, 4] float32 yxyx in the frame's pixels (max exclusive).
    classes: [n] int32 1-based category ids.
    scores: [n] float32, descending.
    masks: [n, H, W] bool at the frame's resolution.
  """
  boxes: np.ndarray
  classes: np.ndarray
  scores: np.ndarray
  masks: np.ndarray

  def __len__(self) -> int:
    return int(self.scores.shape[0])


def preprocess(frame: tf.Tensor, model_config):
  """A [H, W, 3] uint8 frame -> (normalised canvas image, image_info)."""
  desired = list(model_config.input_size[:2])
  padded = preprocess_ops.compute_padded_size(desired,
                                              2 ** model_config.max_level)
  image = preprocess_ops.normalize_image(frame)
  return preprocess_ops.resize_and_crop_image(image, desired, padded)


class FramePredictor:
  """predict_frames with its traced functions kept between calls."""

  def __init__(self, model: tf_keras.Model, model_config,
               min_score: float = 0.05, mask_threshold: float = 0.5):
    """Args: see predict_frames."""
    self._model = model
    self._config = model_config
    self._min_score = min_score
    self._mask_threshold = mask_threshold
    self._padded = preprocess_ops.compute_padded_size(
        list(model_config.input_size[:2]), 2 ** model_config.max_level)
    self._anchors = anchor.build_anchor_generator(
        model_config.min_level, model_config.max_level,
        model_config.anchor.num_scales, model_config.anchor.aspect_ratios,
        model_config.anchor.anchor_size)(image_size=self._padded)
    self._infer = tf.function(self._infer_batch, reduce_retracing=True)
    self._paste = tf.function(self._paste_masks, reduce_retracing=True)

  def _infer_batch(self, batch: tf.Tensor):
    images, info = tf.map_fn(
        lambda f: preprocess(f, self._config), batch,
        fn_output_signature=(tf.TensorSpec(self._padded + [3], tf.float32),
                             tf.TensorSpec([4, 2], tf.float32)))
    n = tf.shape(batch)[0]
    anchors = {k: tf.tile(v[tf.newaxis], [n, 1, 1, 1])
               for k, v in self._anchors.items()}
    if isinstance(self._model, model_lib.MaskConsistModel):
      # The mask head on the frames' detections only (MaskConsistModel.
      # detect); the outputs are the full call's.
      out = self._model.infer(images, info[:, 1, :], anchors)
    else:
      out = self._model(images, image_shape=info[:, 1, :],
                        anchor_boxes=anchors, training=False)
    # Canvas pixels -> the frame's: + crop offset (0 without jitter),
    # / scale.
    scale = tf.tile(info[:, 2, :], [1, 2])[:, tf.newaxis]
    offset = tf.tile(info[:, 3, :], [1, 2])[:, tf.newaxis]
    boxes = (tf.cast(out[keys.DETECTION_BOXES], tf.float32) + offset) / scale
    return (boxes, out[keys.DETECTION_CLASSES], out[keys.DETECTION_SCORES],
            out[keys.NUM_DETECTIONS], out[keys.DETECTION_MASKS])

  def _paste_masks(self, masks, boxes, height, width):
    return (box_masks.paste_masks(masks, boxes, height, width) >=
            self._mask_threshold)

  def __call__(self, frames: Iterable[np.ndarray],
               batch_size: int = 4) -> List[FramePredictions]:
    """One FramePredictions per frame ([H, W, 3] uint8), in order."""
    frames = [np.asarray(f) for f in frames]
    results: List[FramePredictions] = []
    start = 0
    while start < len(frames):
      end = start + 1
      while (end < len(frames) and end - start < batch_size and
             frames[end].shape == frames[start].shape):
        end += 1
      boxes, classes, scores, counts, masks = (
          x.numpy() for x in self._infer(
              tf.constant(np.stack(frames[start:end]))))
      height, width = frames[start].shape[:2]
      for i in range(end - start):
        keep = np.flatnonzero(scores[i, :counts[i]] >= self._min_score)
        # Pasted a few at a time: full-resolution masks are large.
        pasted = [self._paste(masks[i, keep[j:j + _PASTE_CHUNK]],
                              boxes[i, keep[j:j + _PASTE_CHUNK]], height,
                              width).numpy()
                  for j in range(0, len(keep), _PASTE_CHUNK)]
        results.append(FramePredictions(
            boxes[i, keep].astype(np.float32),
            classes[i, keep].astype(np.int32),
            scores[i, keep].astype(np.float32),
            np.concatenate(pasted) if pasted else
            np.zeros((0, height, width), bool)))
      start = end
    return results


def predict_frames(model: tf_keras.Model, frames: Iterable[np.ndarray],
                   model_config, min_score: float = 0.05,
                   mask_threshold: float = 0.5,
                   batch_size: int = 4) -> List[FramePredictions]:
  """Detections of each frame (module docstring).

  Args:
    model: A MaskRCNNModel (MaskConsistModel) with trained weights.
    frames: [H, W, 3] uint8 frames (consecutive frames of one size are
      batched).
    model_config: The model config (input_size, levels, anchors).
    min_score: Detections below it are dropped (paper: 0.05).
    mask_threshold: Pasted mask probabilities are binarised at it.
    batch_size: Frames per model call.

  Returns:
    One FramePredictions per frame, in order. Calling this for many videos
    retraces per call: keep a FramePredictor instead.
  """
  return FramePredictor(model, model_config, min_score, mask_threshold)(
      frames, batch_size)
