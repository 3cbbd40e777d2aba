"""tf-models' Mask R-CNN with its forward pass split in three stages.

MaskConsist needs, in one training step, the current model's predictions on
both frames of a pair and then the training losses on labels built from
those predictions (paper sec 3.3: "MaskConsist does not require extra
forward or backward pass"). `MaskConsistModel` is tf-models'
`MaskRCNNModel` (built by tf-models' own `factory.build_maskrcnn`, then
rewrapped by `build_maskconsist_model`) whose call takes a `stage`:

  STAGE_SHARED  backbone -> FPN -> RPN head, once per step, inside the
                gradient tape (`shared_forward`);
  STAGE_DETECT  on those features under tf.stop_gradient: roi_generator in
                test mode, detection head, detection_generator, mask head
                on the detections: tf-models' training=False outputs
                (`detect`), except that the mask head skips the padding
                slots beyond the batch's largest num_detections (their
                masks are 0). It is STAGE_DETECT_BOXES (up to the
                detection_generator; `detect_boxes`) then
                STAGE_DETECT_MASKS (the mask head; `detect_masks`), which
                benchmarks time apart;
  STAGE_TRAIN   on the same features: roi_generator in training mode,
                roi_sampler with the ground truth, box head, mask_sampler,
                mask head: the outputs MaskRCNNTask.build_losses reads
                (`train_heads`);
  STAGE_FULL    (default) tf-models' own MaskRCNNModel.call, unchanged.

The stages go through Keras' __call__ so that batch norm in the heads sees
the right `training` mode. The stage methods reuse MaskRCNNModel's own
building blocks (_get_backbone_and_decoder_features, _run_frcnn_head,
_call_mask_outputs); only the glue between them, the few lines of
MaskRCNNModel._call_box_outputs that run the RPN, ROI generator and
detection generator, and in STAGE_DETECT the two of
_features_to_mask_outputs, is restated here. Cascade heads and outer boxes are not
supported (MaskConsist uses neither); the constructor says so.
"""

from typing import Any, Dict, Mapping, Optional

import tensorflow as tf
import tf_keras

from official.vision.modeling import factory
from official.vision.modeling import maskrcnn_model
from wsvis_tf.maskconsist import keys
from wsvis_tf.maskconsist import kernel_nms

STAGE_FULL = 'full'
STAGE_SHARED = 'shared'
STAGE_DETECT = 'detect'
STAGE_DETECT_BOXES = 'detect_boxes'
STAGE_DETECT_MASKS = 'detect_masks'
STAGE_TRAIN = 'train_heads'
STAGES = (STAGE_FULL, STAGE_SHARED, STAGE_DETECT, STAGE_DETECT_BOXES,
          STAGE_DETECT_MASKS, STAGE_TRAIN)


@tf_keras.utils.register_keras_serializable(package='wsvis_tf')
class MaskConsistModel(maskrcnn_model.MaskRCNNModel):
  """MaskRCNNModel whose forward pass can run in shared stages."""

  def __init__(self, **kwargs):
    """Takes MaskRCNNModel's arguments (e.g. its get_config())."""
    super().__init__(**kwargs)
    if len(self.roi_sampler) != 1:
      raise ValueError('MaskConsistModel supports one detection head, not a '
                       f'cascade of {len(self.roi_sampler)}')
    if self.outer_boxes_scale != 1.0:
      raise ValueError('MaskConsistModel needs outer_boxes_scale = 1, got '
                       f'{self.outer_boxes_scale}')
    if not self._include_mask:
      raise ValueError('MaskConsistModel needs the mask head '
                       '(model.include_mask)')
    if not self.detection_generator.get_config()['apply_nms']:
      raise ValueError('MaskConsistModel needs detection_generator.apply_nms')

  def call(self, images, image_shape=None, anchor_boxes=None, gt_boxes=None,
           gt_classes=None, gt_masks=None, gt_outer_boxes=None,
           training=None, stage: str = STAGE_FULL):
    """MaskRCNNModel.call, or one stage of it.

    Args:
      images: [B, H, W, 3] normalised images (STAGE_FULL, STAGE_SHARED), or
        the dict STAGE_SHARED returned (STAGE_DETECT, STAGE_TRAIN).
      image_shape: [B, 2] the scaled image size (image_info[:, 1]).
      anchor_boxes: {level: [B, h_l, w_l, 4 A]}.
      gt_boxes: [B, K, 4] (STAGE_TRAIN, STAGE_FULL training).
      gt_classes: [B, K] int32, -1 padded.
      gt_masks: [B, K, S, S] box masks.
      gt_outer_boxes: Unused (outer_boxes_scale is 1).
      training: Keras' training flag.
      stage: One of STAGES.

    Returns:
      A dict of tensors (see the stage methods).
    """
    if stage == STAGE_FULL:
      return super().call(images, image_shape, anchor_boxes, gt_boxes,
                          gt_classes, gt_masks, gt_outer_boxes,
                          training=training)
    if stage == STAGE_SHARED:
      return self._shared(images)
    if stage == STAGE_DETECT_MASKS:
      return self._detect_masks(images)
    if anchor_boxes is None or image_shape is None:
      raise ValueError(f'stage {stage!r} needs image_shape and anchor_boxes')
    if stage == STAGE_DETECT:
      return self._detect_masks(
          self._detect_boxes(images, image_shape, anchor_boxes))
    if stage == STAGE_DETECT_BOXES:
      return self._detect_boxes(images, image_shape, anchor_boxes)
    if stage == STAGE_TRAIN:
      return self._train_heads(images, image_shape, anchor_boxes, gt_boxes,
                               gt_classes, gt_masks)
    raise ValueError(f'unknown stage {stage!r}; expected one of {STAGES}')

  # --- Public entry points (what the task and benchmarks call). ------------

  def shared_forward(self, images: tf.Tensor,
                     training: bool) -> Dict[str, Any]:
    """Backbone, FPN and RPN head: run once per step.

    Args:
      images: [B, H, W, 3] float normalised images.
      training: Batch norm mode of the backbone, FPN and RPN head.

    Returns:
      {BACKBONE_FEATURES, DECODER_FEATURES: {level: [B, h_l, w_l, C]},
       RPN_SCORES: {level: [B, h_l, w_l, A]},
       RPN_BOXES: {level: [B, h_l, w_l, 4 A]}}.
    """
    return self(images, stage=STAGE_SHARED, training=training)

  def detect(self, shared: Mapping[str, Any], image_shape: tf.Tensor,
             anchor_boxes: Mapping[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
    """The inference path on shared features, without gradient.

    Args:
      shared: shared_forward's output.
      image_shape: [B, 2] float scaled image size.
      anchor_boxes: {level: [B, h_l, w_l, 4 A]}.

    Returns:
      MaskRCNNModel.call(training=False)'s detections: DETECTION_BOXES
      [B, N, 4] (canvas pixels, yxyx), DETECTION_SCORES [B, N],
      DETECTION_CLASSES [B, N] int32 (1-based), NUM_DETECTIONS [B],
      DETECTION_MASKS [B, N, M, M] probabilities in box coordinates (0 in
      the slots beyond the batch's largest NUM_DETECTIONS, which the mask
      head skips; tf-models runs it on those zero boxes too); plus
      cls_outputs / box_outputs. Heads in inference mode.
    """
    return self(shared, image_shape=image_shape, anchor_boxes=anchor_boxes,
                stage=STAGE_DETECT, training=False)

  def detect_boxes(self, shared: Mapping[str, Any], image_shape: tf.Tensor,
                   anchor_boxes: Mapping[str, tf.Tensor]
                  ) -> Dict[str, tf.Tensor]:
    """detect's first part: the detections without their masks.

    Args: as detect.

    Returns:
      detect's outputs without DETECTION_MASKS (DECODER_FEATURES among
      them, for detect_masks).
    """
    return self(shared, image_shape=image_shape, anchor_boxes=anchor_boxes,
                stage=STAGE_DETECT_BOXES, training=False)

  def detect_masks(self, detections: Mapping[str, Any]
                  ) -> Dict[str, tf.Tensor]:
    """detect's second part: the mask head on detect_boxes' detections.

    Args:
      detections: detect_boxes' output.

    Returns:
      detect's outputs: `detections` with DETECTION_MASKS added.
    """
    return self(detections, stage=STAGE_DETECT_MASKS, training=False)

  def infer(self, images: tf.Tensor, image_shape: tf.Tensor,
            anchor_boxes: Mapping[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
    """Inference: STAGE_SHARED then STAGE_DETECT, in inference mode.

    tf-models' call(training=False) outputs, but the mask head runs on the
    batch's detections only (detect). Goes through `call`, not Keras'
    __call__, so that it can run inside a SavedModel's serving function
    (serving/export_module.py) as well as eagerly or in a tf.function.

    Args:
      images: [B, H, W, 3] float normalised images.
      image_shape: [B, 2] float scaled image size.
      anchor_boxes: {level: [B, h_l, w_l, 4 A]}.
    """
    shared = self.call(images, stage=STAGE_SHARED, training=False)
    return self.call(shared, image_shape=image_shape,
                     anchor_boxes=anchor_boxes, stage=STAGE_DETECT,
                     training=False)

  def train_heads(self, shared: Mapping[str, Any], image_shape: tf.Tensor,
                  anchor_boxes: Mapping[str, tf.Tensor], gt_boxes: tf.Tensor,
                  gt_classes: tf.Tensor,
                  gt_masks: tf.Tensor) -> Dict[str, tf.Tensor]:
    """The training path on shared features, with new labels.

    Args:
      shared: shared_forward's output (computed inside the gradient tape).
      image_shape: [B, 2] float scaled image size.
      anchor_boxes: {level: [B, h_l, w_l, 4 A]}.
      gt_boxes: [B, K, 4] float canvas pixels, -1 padded.
      gt_classes: [B, K] int32 1-based, -1 padded.
      gt_masks: [B, K, S, S] float box masks, -1 padded.

    Returns:
      What MaskRCNNModel.call(training=True) returns (keys.TRAINING_OUTPUTS
      among them): MaskRCNNTask.build_losses' input.
    """
    return self(shared, image_shape=image_shape, anchor_boxes=anchor_boxes,
                gt_boxes=gt_boxes, gt_classes=gt_classes, gt_masks=gt_masks,
                stage=STAGE_TRAIN, training=True)

  # --- Stages. ---------------------------------------------------------------

  def _shared(self, images: tf.Tensor) -> Dict[str, Any]:
    backbone_features, decoder_features = (
        self._get_backbone_and_decoder_features(images))
    rpn_scores, rpn_boxes = self.rpn_head(decoder_features)
    return {keys.BACKBONE_FEATURES: backbone_features,
            keys.DECODER_FEATURES: decoder_features,
            keys.RPN_SCORES: rpn_scores, keys.RPN_BOXES: rpn_boxes}

  def _regression_weights(self):
    return self._cascade_layer_to_weights[0]

  def _detect_boxes(self, shared, image_shape, anchor_boxes):
    # Predictions only: no gradient reaches the shared features from here.
    shared = tf.nest.map_structure(tf.stop_gradient, dict(shared))
    features = shared[keys.DECODER_FEATURES]
    outputs = {k: shared[k] for k in (keys.BACKBONE_FEATURES,
                                      keys.DECODER_FEATURES,
                                      keys.RPN_SCORES, keys.RPN_BOXES)}
    # MaskRCNNModel._call_box_outputs with training=False.
    rois, _ = self.roi_generator(shared[keys.RPN_BOXES],
                                 shared[keys.RPN_SCORES], anchor_boxes,
                                 image_shape, False)
    weights = self._regression_weights()
    (class_outputs, box_outputs, outputs, _, _, _,
     rois) = self._run_frcnn_head(
         features=features, rois=rois, gt_boxes=None, gt_classes=None,
         training=False, model_outputs=outputs, cascade_num=0,
         regression_weights=weights)
    detections = self.detection_generator(
        box_outputs, class_outputs, rois, image_shape, weights,
        bbox_per_class=not self._config_dict['class_agnostic_bbox_pred'])
    outputs.update({
        'cls_outputs': class_outputs,
        'box_outputs': box_outputs,
        keys.DETECTION_BOXES: detections['detection_boxes'],
        keys.DETECTION_SCORES: detections['detection_scores'],
        keys.DETECTION_CLASSES: detections['detection_classes'],
        keys.NUM_DETECTIONS: detections['num_detections'],
    })
    return outputs

  def _detect_masks(self, detections):
    outputs = dict(detections)
    features = outputs[keys.DECODER_FEATURES]
    # The mask head runs on the detection slots up to the batch's largest
    # num_detections only (at least one); the padding slots beyond it, which
    # tf-models also runs through the head, get all-zero masks. It saves
    # work only where frames keep fewer detections than max_num_detections
    # (the quick preset's trained model fills its 20; maskconsist/README.md).
    boxes = outputs[keys.DETECTION_BOXES]
    slots = boxes.shape[1]
    kept = tf.maximum(tf.reduce_max(tf.cast(
        outputs[keys.NUM_DETECTIONS], tf.int32)), 1)
    # MaskRCNNModel._features_to_mask_outputs on boxes[:, :kept]. tf-models'
    # MaskHead needs a static number of ROIs per image, so each ROI goes
    # through it as an image of one ROI.
    roi_features = self.mask_roi_aligner(features, boxes[:, :kept])
    _, _, height, width, channels = roi_features.shape.as_list()
    logits = self.mask_head([
        tf.reshape(roi_features, [-1, 1, height, width, channels]),
        tf.reshape(outputs[keys.DETECTION_CLASSES][:, :kept], [-1, 1])])
    masks = tf.reshape(tf.nn.sigmoid(logits), tf.concat(
        [tf.shape(boxes)[:1], [kept], tf.shape(logits)[2:]], 0))
    masks = tf.pad(masks, [[0, 0], [0, tf.shape(boxes)[1] - kept], [0, 0],
                           [0, 0]])
    masks.set_shape([boxes.shape[0], slots] + logits.shape.as_list()[2:])
    outputs[keys.DETECTION_MASKS] = masks
    return outputs

  def _train_heads(self, shared, image_shape, anchor_boxes, gt_boxes,
                   gt_classes, gt_masks):
    if gt_boxes is None or gt_classes is None or gt_masks is None:
      raise ValueError(f'stage {STAGE_TRAIN!r} needs gt_boxes, gt_classes '
                       'and gt_masks')
    features = shared[keys.DECODER_FEATURES]
    outputs = dict(shared)
    # MaskRCNNModel._call_box_outputs with training=True.
    rois, _ = self.roi_generator(shared[keys.RPN_BOXES],
                                 shared[keys.RPN_SCORES], anchor_boxes,
                                 image_shape, True)
    (_, _, outputs, matched_gt_boxes, matched_gt_classes, matched_gt_indices,
     rois) = self._run_frcnn_head(
         features=features, rois=rois, gt_boxes=gt_boxes,
         gt_classes=gt_classes, training=True, model_outputs=outputs,
         cascade_num=0, regression_weights=self._regression_weights())
    return self._call_mask_outputs(
        model_box_outputs=outputs, features=features, current_rois=rois,
        matched_gt_indices=matched_gt_indices,
        matched_gt_boxes=matched_gt_boxes,
        matched_gt_classes=matched_gt_classes, gt_masks=gt_masks,
        training=True)


def build_maskconsist_model(
    input_specs: tf_keras.layers.InputSpec, model_config,
    l2_regularizer: Optional[tf_keras.regularizers.Regularizer] = None
) -> MaskConsistModel:
  """tf-models' factory.build_maskrcnn, rewrapped as a MaskConsistModel.

  Args:
    input_specs: InputSpec of the images, [None, H, W, 3].
    model_config: A tf-models MaskRCNN model config (config.MaskRCNN for the
      wsvis_resnet backbone; `wsvis_tf.maskconsist.backbone` must have been
      imported to register it).
    l2_regularizer: As MaskRCNNTask.build_model passes it.

  Returns:
    The model, sharing every layer with the one the factory built, but for
    the ROI and detection generators (weightless), which are
    kernel_nms.use_kernel_nms's where model_config.kernel_nms is set.
  """
  base = factory.build_maskrcnn(input_specs=input_specs,
                                model_config=model_config,
                                l2_regularizer=l2_regularizer)
  layers = base.get_config()
  if getattr(model_config, 'kernel_nms', False):
    layers['roi_generator'], layers['detection_generator'] = (
        kernel_nms.use_kernel_nms(layers['roi_generator'],
                                  layers['detection_generator']))
  return MaskConsistModel(**layers)
