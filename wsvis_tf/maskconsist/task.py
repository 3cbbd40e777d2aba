"""MaskConsistTask: tf-models' MaskRCNNTask trained on frame pairs.

One train step, with task.maskconsist on (paper sec 3.3, Fig. 2):

  1. the pair batch [B, 2, ...] is flattened to 2B images (frame a, frame b
     of pair 0, then pair 1, ...);
  2. inside the gradient tape, backbone + FPN + RPN head run ONCE on the 2B
     images (MaskConsistModel.shared_forward, training mode);
  3. outside the tape's recording, the inference path on those features
     (MaskConsistModel.detect: the predictions of the current model on both
     frames) is pasted into the matching canvas (core/box_masks.paste_masks)
     and binarised;
  4. one tf.py_function (matching_op) runs matching.consistent_labels on
     each pair: intra-frame unions, Hungarian inter-frame matching on
     flow-warped masks, Algorithm 1 both ways, IoM-NMS;
  5. the merged labels are re-encoded in the graph (labels.reencode_labels:
     gt boxes, classes, 112 x 112 box masks, -1 padded) and the RPN targets
     recomputed per image (RpnAnchorLabeler under tf.map_fn);
  6. the training path on the same features (MaskConsistModel.train_heads),
     MaskRCNNTask.build_losses, gradients and the optimizer, with the
     parent's replica scaling and LossScaleOptimizer handling.

With task.maskconsist off (the baseline: Mask R-CNN on the flowIRN
pseudo-labels, paper Table 6 "w/o MC") the same pairs are flattened to
frames and the step is the parent's: MaskRCNNModel.call(training=True) on
the parsed labels, build_losses, gradients.

Both modes guard non-finite losses: when any replica's loss or gradient
norm is NaN/Inf the step's gradients are zeroed (SGD momentum still moves
the weights by its velocity) and the metric 'nonfinite_steps' counts it;
the step's logged losses are then 0. With a LossScaleOptimizer (float16),
whose own mechanism skips overflowing steps, gradients are left to it and
the step is only counted.

Matching stats (matching_op.STAT_KEYS, mean per pair) are train metrics
named 'maskconsist/<stat>'.
"""

import os
from typing import Any, Dict, List, Mapping, Optional, Tuple

from absl import logging
import tensorflow as tf
import tf_keras

from datasets.real_video import builder_config
from official.core import task_factory
from official.vision.tasks import maskrcnn
from wsvis_tf.core import box_masks
from wsvis_tf.data import sources
from wsvis_tf.flow import flow_store as flow_store_lib
from wsvis_tf.maskconsist import backbone as backbone_lib
from wsvis_tf.maskconsist import config as config_lib
from wsvis_tf.maskconsist import input_pipeline
from wsvis_tf.maskconsist import keys
from wsvis_tf.maskconsist import labels as labels_lib
from wsvis_tf.maskconsist import matching
from wsvis_tf.maskconsist import matching_op
from wsvis_tf.maskconsist import model as model_lib

LOSS_NAMES = ('total_loss', 'rpn_score_loss', 'rpn_box_loss',
              'frcnn_cls_loss', 'frcnn_box_loss', 'mask_loss', 'model_loss')
NONFINITE_STEPS = 'nonfinite_steps'
STAT_PREFIX = 'maskconsist/'
# Pair-level labels: not per frame, not flattened.
_PAIR_KEYS = (keys.FLOW_AB, keys.FLOW_BA)


def flatten_pairs(images: tf.Tensor, labels: Mapping[str, Any]
                 ) -> Tuple[tf.Tensor, Dict[str, Any]]:
  """[B, 2, ...] pairs -> [2B, ...] frames (pair-level keys untouched)."""

  def merge(x):
    static = x.shape.as_list()
    y = tf.reshape(x, tf.concat([[-1], tf.shape(x)[2:]], axis=0))
    y.set_shape([None if static[0] is None else 2 * static[0]] + static[2:])
    return y

  out = {}
  for key, value in labels.items():
    out[key] = value if key in _PAIR_KEYS else tf.nest.map_structure(
        merge, value)
  return merge(images), out


def make_matching_config(cfg: config_lib.Matching) -> matching.MatchingConfig:
  return matching.MatchingConfig(**cfg.as_dict())


def make_source(cfg: config_lib.VideoSourceConfig):
  """The VideoSource a PairDataConfig names (prepared: the data stage)."""
  source = sources.get_source(
      cfg.dataset, cfg.data_dir or None, cfg.builder_config or None,
      cfg.tfds_dir or None, builder_config.parse_options(cfg.options))
  if not source.builder.is_prepared():
    raise ValueError(f'dataset {source.builder.info.full_name} is not '
                     f'prepared in {source.builder.data_dir} '
                     '(task.train_data.source; run the pipeline\'s data '
                     'stage first)')
  return source


@task_factory.register_task_cls(config_lib.MaskConsistTaskConfig)
class MaskConsistTask(maskrcnn.MaskRCNNTask):
  """Mask R-CNN on pseudo-labels, with or without MaskConsist."""

  def __init__(self, params: config_lib.MaskConsistTaskConfig,
               logging_dir: Optional[str] = None, name: Optional[str] = None,
               source=None):
    """As tf-models tasks; `source` (a VideoSource) overrides
    params.train_data.source (a pipeline stage passes its own)."""
    super().__init__(params, logging_dir=logging_dir, name=name)
    self._source = source
    self._matching_config = make_matching_config(params.matching)
    model = params.model
    if not model.include_mask or model.outer_boxes_scale != 1.0:
      raise ValueError('MaskConsistTask needs task.model.include_mask and '
                       'task.model.outer_boxes_scale = 1')
    if model.roi_sampler.cascade_iou_thresholds:
      raise ValueError('MaskConsistTask does not support cascade heads '
                       '(task.model.roi_sampler.cascade_iou_thresholds)')

  @property
  def matching_config(self) -> matching.MatchingConfig:
    return self._matching_config

  # --- Model. ----------------------------------------------------------------

  def build_model(self) -> model_lib.MaskConsistModel:
    """MaskRCNNTask.build_model, the model rewrapped (model.py)."""
    cfg = self.task_config
    input_specs = tf_keras.layers.InputSpec(shape=[None] +
                                            cfg.model.input_size)
    l2 = cfg.losses.l2_weight_decay
    # As the parent: Keras l2(wd / 2) is tf.nn.l2_loss's wd.
    regularizer = tf_keras.regularizers.l2(l2 / 2.0) if l2 else None
    model = model_lib.build_maskconsist_model(input_specs, cfg.model,
                                              regularizer)
    if cfg.freeze_backbone:
      model.backbone.trainable = False
    images = tf_keras.Input(cfg.model.input_size)
    image_shape = tf_keras.layers.Input([2])
    model(images, image_shape=image_shape, training=False)
    return model

  def initialize(self, model: tf_keras.Model) -> None:
    """Backbone initialisation, then tf-models' init_checkpoint if set.

    Called by tf-models' trainer only when the model dir has no checkpoint
    (a resumed run keeps its weights).
    """
    backbone_cfg = self.task_config.model.backbone
    if backbone_cfg.type == config_lib.BACKBONE_TYPE:
      logging.info('Backbone: %s', backbone_lib.initialize(
          model.backbone, backbone_cfg.get()))
    super().initialize(model)

  # --- Data. ------------------------------------------------------------------

  def pair_source(self, params: config_lib.PairDataConfig
                 ) -> input_pipeline.PairSource:
    """The raw training pairs of params (checked against the pseudo-labels).
    """
    source = self._source or make_source(params.source)
    class_names = source.class_names
    if self.task_config.model.num_classes != len(class_names) + 1:
      raise ValueError(
          f'task.model.num_classes = {self.task_config.model.num_classes}, '
          f'but the dataset has {len(class_names)} classes: it must be '
          f'{len(class_names) + 1} (tf-models counts background)')
    if not params.pseudo_labels:
      raise ValueError('task.train_data.pseudo_labels is empty: give the '
                       'pseudo_labels stage\'s pseudo_labels.json')
    pseudo = labels_lib.PseudoLabels(params.pseudo_labels, class_names)
    store = None
    if self.task_config.maskconsist:
      if not params.flow_dir or not os.path.isdir(params.flow_dir):
        raise ValueError(f'task.train_data.flow_dir = {params.flow_dir!r} '
                         'is not a directory: MaskConsist needs the flow '
                         'stage\'s flows (or set task.maskconsist=False)')
      store = flow_store_lib.FlowStore(params.flow_dir)
    split = params.source.split
    return input_pipeline.PairSource(
        input_pipeline.source_videos_fn(source, split), pseudo, params.delta,
        store, metadata_fn=input_pipeline.source_videos_fn(
            source, split, with_frames=False),
        description=f'split {split!r} of {source.builder.info.full_name}')

  def build_inputs(self, params: config_lib.PairDataConfig,
                   input_context: Optional[tf.distribute.InputContext] = None,
                   dataset_fn=None) -> tf.data.Dataset:
    """Batches of parsed pairs (input_pipeline.py); dataset_fn is unused."""
    del dataset_fn
    if params.global_batch_size < 1:
      raise ValueError('task.train_data.global_batch_size (pairs per step) '
                       f'must be >= 1, got {params.global_batch_size}')
    parse = input_pipeline.ParseParams.from_configs(
        params, self.task_config.model, self.task_config.maskconsist)
    return input_pipeline.pairs_dataset(
        self.pair_source(params), parse, params.global_batch_size,
        bool(params.is_training), params.seed, params.shuffle_buffer_size,
        params.cache, input_context)

  # --- Training. --------------------------------------------------------------

  def build_metrics(self, training: bool = True) -> List[Any]:
    metrics = super().build_metrics(training)
    if training:
      metrics.append(tf_keras.metrics.Sum(NONFINITE_STEPS, dtype=tf.float32))
      if self.task_config.maskconsist:
        metrics += [tf_keras.metrics.Mean(STAT_PREFIX + name,
                                          dtype=tf.float32)
                    for name in matching_op.STAT_KEYS]
    return metrics

  def canvas_predictions(self, model: model_lib.MaskConsistModel,
                         shared: Mapping[str, Any],
                         labels: Mapping[str, Any],
                         enabled: Optional[tf.Tensor] = None
                        ) -> Dict[str, tf.Tensor]:
    """Step 3: the current predictions on the matching canvas, by pair.

    Args:
      model: The model.
      shared: model.shared_forward's output on the 2B frames.
      labels: The flattened labels (flatten_pairs).
      enabled: Optional scalar bool; False hands matching no prediction
        (the labels then stay the pseudo-labels: maskconsist_start_step).

    Returns:
      matching_op's prediction inputs: {'pred_masks' [B, 2, N, h, w] bool
      (pasted, binarised at matching.mask_threshold, empty beyond the
      detections), 'pred_classes' [B, 2, N] int32, 'pred_boxes' [B, 2, N, 4]
      (canvas pixels), 'pred_scores' [B, 2, N], 'num_pred' [B, 2]}.
    """
    stride = self.task_config.train_data.matching_stride
    detections = model.detect(shared, labels[keys.IMAGE_INFO][:, 1, :],
                              labels[keys.ANCHOR_BOXES])
    frames, _, h, w = labels[keys.FULL_MASKS].shape
    boxes = tf.cast(detections[keys.DETECTION_BOXES], tf.float32) / stride
    n = boxes.shape[1]
    masks = detections[keys.DETECTION_MASKS]
    pasted = box_masks.paste_masks(
        tf.reshape(masks, [frames * n] + masks.shape[2:]),
        tf.reshape(boxes, [frames * n, 4]), h, w)
    count = tf.cast(detections[keys.NUM_DETECTIONS], tf.int32)
    if enabled is not None:
      count = tf.where(enabled, count, tf.zeros_like(count))
    valid = tf.range(n)[tf.newaxis] < count[:, tf.newaxis]
    pred_masks = tf.logical_and(
        tf.reshape(pasted >= self._matching_config.mask_threshold,
                   [frames, n, h, w]),
        valid[:, :, tf.newaxis, tf.newaxis])

    def by_pair(x):
      return tf.reshape(x, [frames // 2, 2] + x.shape.as_list()[1:])

    return {'pred_masks': by_pair(pred_masks),
            'pred_classes': by_pair(tf.cast(
                detections[keys.DETECTION_CLASSES], tf.int32)),
            'pred_boxes': by_pair(boxes),
            'pred_scores': by_pair(tf.cast(detections[keys.DETECTION_SCORES],
                                           tf.float32)),
            'num_pred': by_pair(count)}

  def merged_labels(self, predictions: Mapping[str, tf.Tensor],
                    labels: Mapping[str, Any]
                   ) -> Tuple[Dict[str, Any], tf.Tensor]:
    """Steps 4-5: matching (one py_function) and label re-encoding.

    Args:
      predictions: canvas_predictions' output.
      labels: The flattened labels (flatten_pairs).

    Returns:
      (labels with GT_BOXES, GT_CLASSES, GT_MASKS, RPN_SCORE_TARGETS and
       RPN_BOX_TARGETS replaced, stats [B, len(matching_op.STAT_KEYS)]).
    """
    data = self.task_config.train_data
    frames = labels[keys.FULL_MASKS].shape[0]

    def by_pair(x):
      return tf.reshape(x, [frames // 2, 2] + x.shape.as_list()[1:])

    def by_frame(x):
      return tf.reshape(x, [frames] + x.shape.as_list()[2:])

    out = matching_op.consistent_labels_op(
        **predictions, label_masks=by_pair(labels[keys.FULL_MASKS]),
        label_classes=by_pair(labels[keys.GT_CLASSES]),
        flow_ab=labels[keys.FLOW_AB], flow_ba=labels[keys.FLOW_BA],
        config=self._matching_config)
    gt_boxes, gt_classes, gt_masks = labels_lib.reencode_labels(
        by_frame(out[matching_op.MASKS]), by_frame(out[matching_op.CLASSES]),
        by_frame(out[matching_op.SOURCE]), labels[keys.GT_BOXES],
        labels[keys.GT_MASKS], data.matching_stride,
        data.parser.mask_crop_size)
    scores, box_targets = labels_lib.rpn_targets_batch(
        labels_lib.make_anchor_labeler(data.parser),
        labels[keys.ANCHOR_BOXES], gt_boxes, gt_classes)
    new = dict(labels)
    new.update({keys.GT_BOXES: gt_boxes, keys.GT_CLASSES: gt_classes,
                keys.GT_MASKS: gt_masks, keys.RPN_SCORE_TARGETS: scores,
                keys.RPN_BOX_TARGETS: box_targets})
    return new, out[matching_op.STATS]

  def maskconsist_labels(self, model: model_lib.MaskConsistModel,
                         shared: Mapping[str, Any],
                         labels: Mapping[str, Any],
                         enabled: Optional[tf.Tensor] = None
                        ) -> Tuple[Dict[str, Any], tf.Tensor]:
    """Steps 3-5 of the module docstring: the merged labels of 2B frames.

    canvas_predictions then merged_labels (a benchmark times them apart).
    """
    return self.merged_labels(
        self.canvas_predictions(model, shared, labels, enabled), labels)

  def train_step(self, inputs: Tuple[Any, Any], model: tf_keras.Model,
                 optimizer: tf_keras.optimizers.Optimizer,
                 metrics: Optional[List[Any]] = None) -> Dict[str, Any]:
    """One step on a batch of pairs (module docstring)."""
    images, labels = flatten_pairs(*inputs)
    num_replicas = tf.distribute.get_strategy().num_replicas_in_sync
    stats = None
    with tf.GradientTape() as tape:
      if self.task_config.maskconsist:
        shared = model.shared_forward(images, training=True)
        with tape.stop_recording():
          enabled = None
          if self.task_config.maskconsist_start_step > 0:
            enabled = (optimizer.iterations >=
                       self.task_config.maskconsist_start_step)
          labels, stats = self.maskconsist_labels(model, shared, labels,
                                                  enabled)
        outputs = model.train_heads(
            shared, labels[keys.IMAGE_INFO][:, 1, :],
            labels[keys.ANCHOR_BOXES], labels[keys.GT_BOXES],
            labels[keys.GT_CLASSES], labels[keys.GT_MASKS])
      else:
        outputs = model(images, image_shape=labels[keys.IMAGE_INFO][:, 1, :],
                        anchor_boxes=labels[keys.ANCHOR_BOXES],
                        gt_boxes=labels[keys.GT_BOXES],
                        gt_classes=labels[keys.GT_CLASSES],
                        gt_masks=labels[keys.GT_MASKS], training=True)
      outputs = tf.nest.map_structure(lambda x: tf.cast(x, tf.float32),
                                      outputs)
      losses = self.build_losses(outputs=outputs, labels=labels,
                                 aux_losses=model.losses)
      scaled_loss = losses['total_loss'] / num_replicas
      scaled = isinstance(optimizer,
                          tf_keras.mixed_precision.LossScaleOptimizer)
      if scaled:
        scaled_loss = optimizer.get_scaled_loss(scaled_loss)
    tvars = model.trainable_variables
    grads = tape.gradient(scaled_loss, tvars)
    if scaled:
      grads = optimizer.get_unscaled_gradients(grads)
    finite = tf.logical_and(tf.math.is_finite(losses['total_loss']),
                            tf.math.is_finite(tf.linalg.global_norm(
                                [g for g in grads if g is not None])))
    # Every replica must take the same decision.
    bad = tf.cast(tf.logical_not(finite), tf.float32)
    replica = tf.distribute.get_replica_context()
    if replica is not None:
      bad = replica.all_reduce(tf.distribute.ReduceOp.SUM, bad)
    ok = bad == 0.0
    if not scaled:
      grads = [None if g is None else tf.where(ok, g, tf.zeros_like(g))
               for g in grads]
    optimizer.apply_gradients(list(zip(grads, tvars)))
    losses = {name: tf.where(ok, value, tf.zeros_like(value))
              for name, value in losses.items()}
    logs = {self.loss: losses['total_loss']}
    stat_values = {}
    if stats is not None:
      means = tf.reduce_mean(tf.cast(stats, tf.float32), axis=0)
      stat_values = {STAT_PREFIX + name: means[i]
                     for i, name in enumerate(matching_op.STAT_KEYS)}
    for metric in metrics or []:
      if metric.name in losses:
        metric.update_state(losses[metric.name])
      elif metric.name == NONFINITE_STEPS:
        # Summed over replicas: each adds its share of the step.
        metric.update_state((1.0 - tf.cast(ok, tf.float32)) / num_replicas)
      elif metric.name in stat_values:
        metric.update_state(stat_values[metric.name])
    return logs
