"""tf-models' ROI and detection generators on tf.image's NMS kernel.

tf-models' Mask R-CNN suppresses with `nms.sorted_non_max_suppression_padded`
by default (the ROI generator, and the detection generator's `v2`): a
TPU-friendly NMS written as dense tensor ops. On a CPU it is about a third
of a small model's inference (serving/README.md), and it is not quite
greedy NMS: where suppressions chain (box C overlaps B, B overlaps the
higher-scoring A, C does not overlap A) it can drop C, which greedy NMS
keeps once B is gone (tests/maskconsist/kernel_nms_test.py has such
inputs). On CPUs and GPUs `tf.image.combined_non_max_suppression` is
greedy NMS in one kernel, the NMS of Detectron2 (torchvision), on which
the paper trained. tf-models offers it as options, but its ROI generator's
`use_batched_nms` also drops the pre-NMS top-k (it suppresses over every
anchor of a level). This module keeps the configured steps:

  `KernelNmsROIGenerator`  per level, sigmoid -> decode -> clip -> score
                           threshold -> the top `pre_nms_top_k` (all as
                           tf-models) -> greedy NMS on the kernel; then the
                           overall top `num_proposals`, as tf-models;
  `kernel_detection_generator`  the detection generator with
                           nms_version='batched': v2's per-class NMS, greedy,
                           whenever v2's per-class top-k keeps every
                           proposal (num_proposals <= pre_nms_top_k).

The tests check both against a numpy greedy-NMS reference of those steps.
`use_kernel_nms(roi, detection)` swaps them in where the configuration
allows and leaves the rest as tf-models built it; the model config's
`kernel_nms` field (config.MaskRCNN, default on) selects it for training,
the MaskConsist step, prediction and the SavedModel alike. On the quick
preset's trained Mask R-CNN the detections were the same as with tf-models'
NMS on every frame tried (serving/README.md); a random model, whose scores
and boxes are less separated, shows the difference.
"""

from typing import Any, Dict, Mapping, Optional

import tensorflow as tf
import tf_keras

from official.vision.modeling.layers import detection_generator
from official.vision.modeling.layers import roi_generator
from official.vision.ops import box_ops


@tf_keras.utils.register_keras_serializable(package='wsvis_tf')
class KernelNmsROIGenerator(roi_generator.MultilevelROIGenerator):
  """MultilevelROIGenerator whose per-level NMS is tf.image's kernel.

  The parent's configuration and steps with greedy NMS (module
  docstring). Runs the parent's own path where the steps would differ: a
  minimum box size (which tf-models applies before the top-k), no NMS, or
  `use_batched_nms` set (tf-models' top-k-less variant, kept as asked).
  """

  def call(self, raw_boxes: Mapping[str, tf.Tensor],
           raw_scores: Mapping[str, tf.Tensor],
           anchor_boxes: Mapping[str, tf.Tensor], image_shape: tf.Tensor,
           training: Optional[bool] = None):
    c = self._config_dict
    prefix = '' if training else 'test_'
    pre_nms_top_k = c[prefix + 'pre_nms_top_k']
    score_threshold = c[prefix + 'pre_nms_score_threshold']
    iou_threshold = c[prefix + 'nms_iou_threshold']
    num_proposals = c[prefix + 'num_proposals']
    if (c[prefix + 'pre_nms_min_size_threshold'] > 0.0 or
        c['use_batched_nms'] or iou_threshold <= 0.0):
      return super().call(raw_boxes, raw_scores, anchor_boxes, image_shape,
                          training=training)
    image_shape = tf.expand_dims(image_shape, axis=1)
    # The NMS kernel has no gradient: the proposals are cut from the tape
    # (tf-models' training path stops their gradient too).
    raw_boxes = {k: tf.stop_gradient(v) for k, v in raw_boxes.items()}
    raw_scores = {k: tf.stop_gradient(v) for k, v in raw_scores.items()}
    rois, roi_scores = [], []
    for level in sorted(raw_scores.keys()):
      _, h, w, num_anchors = raw_scores[level].shape.as_list()
      num_boxes = h * w * num_anchors
      scores = tf.sigmoid(tf.reshape(raw_scores[level], [-1, num_boxes]))
      boxes = tf.reshape(raw_boxes[level], [-1, num_boxes, 4])
      anchors = tf.cast(tf.reshape(anchor_boxes[level], [-1, num_boxes, 4]),
                        scores.dtype)
      boxes = box_ops.clip_boxes(box_ops.decode_boxes(boxes, anchors),
                                 image_shape)
      if score_threshold > 0.0:
        boxes, scores = box_ops.filter_boxes_by_scores(boxes, scores,
                                                       score_threshold)
      k = min(num_boxes, pre_nms_top_k)
      boxes, scores = box_ops.top_k_boxes(boxes, scores, k=k)
      level_rois, level_scores, _, _ = tf.image.combined_non_max_suppression(
          boxes[:, :, tf.newaxis, :], scores[:, :, tf.newaxis],
          max_output_size_per_class=k,
          max_total_size=min(num_boxes, num_proposals),
          iou_threshold=iou_threshold,
          # filter_boxes_by_scores marked the ones under the threshold -1;
          # without one, every box takes part, as in tf-models' NMS.
          score_threshold=(score_threshold if score_threshold > 0.0
                           else float('-inf')),
          pad_per_class=False, clip_boxes=False)
      rois.append(level_rois)
      roi_scores.append(level_scores)
    all_rois = tf.concat(rois, axis=1)
    all_scores = tf.concat(roi_scores, axis=1)
    return box_ops.top_k_boxes(all_rois, all_scores,
                               k=min(all_scores.shape[1], num_proposals))


@tf_keras.utils.register_keras_serializable(package='wsvis_tf')
class KernelNmsDetectionGenerator(detection_generator.DetectionGenerator):
  """DetectionGenerator with nms_version 'batched' and no gradient.

  tf.image's NMS kernel has no gradient, so its inputs are cut from the
  tape first: the detections are inference outputs, which tf-models' own
  training never differentiates (its v2 would pass gradients to the kept
  boxes and scores).
  """

  def __call__(self, raw_boxes, raw_scores, anchor_boxes, image_shape,
               regression_weights=None, bbox_per_class=True):
    raw_boxes, raw_scores, anchor_boxes = (
        tf.stop_gradient(x) for x in (raw_boxes, raw_scores, anchor_boxes))
    return super().__call__(raw_boxes, raw_scores, anchor_boxes, image_shape,
                            regression_weights=regression_weights,
                            bbox_per_class=bbox_per_class)


def kernel_detection_generator(
    layer: detection_generator.DetectionGenerator,
    num_proposals: int) -> detection_generator.DetectionGenerator:
  """The layer with nms_version='batched' where that is v2's result.

  v2 keeps each class's top `pre_nms_top_k` proposals before its NMS;
  'batched' has no such step, so the two agree only when that top-k keeps
  every proposal. The whole rule for the swap is here.

  Args:
    layer: tf-models' DetectionGenerator as the factory built it.
    num_proposals: the most proposals one image brings to the layer (the
      ROI generator's `test_num_proposals`).

  Returns:
    A KernelNmsDetectionGenerator with the same config but nms_version
    'batched', or `layer` itself where the two would differ: another
    version than v2, no NMS, or a per-class top-k under `num_proposals`.
  """
  config: Dict[str, Any] = dict(layer.get_config())
  if (config['nms_version'] != 'v2' or not config['apply_nms'] or
      num_proposals > config['pre_nms_top_k']):
    return layer
  config['nms_version'] = 'batched'
  return KernelNmsDetectionGenerator(**config)


def use_kernel_nms(roi_layer: roi_generator.MultilevelROIGenerator,
                   detection_layer: detection_generator.DetectionGenerator):
  """(roi generator, detection generator) on the NMS kernel, where exact.

  Args:
    roi_layer: tf-models' MultilevelROIGenerator.
    detection_layer: tf-models' DetectionGenerator.

  Returns:
    The two layers to build the model with: KernelNmsROIGenerator with
    roi_layer's config, and kernel_detection_generator(detection_layer,
    its test-mode proposals).
  """
  roi_config = dict(roi_layer.get_config())
  return (KernelNmsROIGenerator(**roi_config),
          kernel_detection_generator(detection_layer,
                                     roi_config['test_num_proposals']))
