"""The CAM network (IRN: net/resnet50_cam.py) and its factory.

backbone (output stride 16) -> global average pooling -> 1x1 conv without
bias to C classes. Training uses the pooled logits; a class activation map
is the same 1x1 conv applied before pooling, then ReLU:

  CAM_c(x) = ReLU(w_c . f(x))          (IRN: CAM.forward)

The model returns a dict with the keys below. `checkpoint_items()` names the
parts other stages restore: the IRN heads reuse the trained backbone, frozen
(`load_backbone_from_cam_checkpoint`).
"""

from typing import Any, Dict, Mapping, Optional

from absl import logging
import tensorflow as tf
import tf_keras

from wsvis_tf.backbones import imagenet_weights
from wsvis_tf.backbones import resnet
from wsvis_tf.cam import config as config_lib
from wsvis_tf.core import keys

# Output keys of CamNet.
LOGITS = 'logits'          # [B, C] float32 image-level class scores
CAMS = 'cams'              # [B, h, w, C] float32 ReLU'd maps at stride 16
FEATURES = 'features'      # [B, h, w, D] the backbone's last stage

# Names in checkpoints (tf.train.Checkpoint attributes).
CKPT_MODEL = 'model'
CKPT_BACKBONE = 'backbone'
CKPT_CLASSIFIER = 'classifier'
LAST_STAGE = keys.BACKBONE_STAGES[-1]


def top_fraction_pool(maps: tf.Tensor, fraction: float) -> tf.Tensor:
  """[B, h, w, C] class maps -> [B, C]: mean of each map's top locations.

  The top ceil(fraction * h * w) values (at least one) of each class map.
  """
  shape = tf.shape(maps)
  locations = shape[1] * shape[2]
  flat = tf.reshape(tf.transpose(maps, [0, 3, 1, 2]),
                    [shape[0], shape[3], locations])
  k = tf.maximum(1, tf.cast(tf.math.ceil(
      fraction * tf.cast(locations, tf.float32)), tf.int32))
  return tf.reduce_mean(tf.math.top_k(flat, k=k, sorted=False).values, -1)


@tf_keras.utils.register_keras_serializable(package='wsvis_tf')
class CamNet(tf_keras.Model):
  """ResNet + GAP + bias-free 1x1 classifier; returns a dict of tensors."""

  def __init__(self, num_classes: int, backbone: str = 'resnet50',
               frozen_stages: int = 3, frozen_bn: bool = True,
               pool_top_fraction: float = 1.0, class_bias: bool = False,
               **kwargs):
    """Builds the network (random weights).

    Args:
      num_classes: C, the number of classes (no background class).
      backbone: A resnet.SPECS name.
      frozen_stages: Backbone stages 1..n are not trained (see config).
      frozen_bn: Batch norm in inference mode always (IRN FixedBatchNorm).
      pool_top_fraction: 1.0 is IRN's global average pooling. f < 1: a
        class's logit is the mean of its class map over the top f of the
        map's locations (config.CamConfig.pool_top_fraction).
      class_bias: A learned per-class bias added to the logits, not to the
        class maps (config.CamConfig.class_bias); IRN has none.
      **kwargs: tf_keras.Model arguments (name, ...).
    """
    super().__init__(**kwargs)
    if num_classes < 1:
      raise ValueError(f'num_classes must be >= 1, got {num_classes}')
    self.num_classes = num_classes
    self.backbone_name = backbone
    self.frozen_stages = frozen_stages
    self.frozen_bn = frozen_bn
    if not 0.0 < pool_top_fraction <= 1.0:
      raise ValueError('pool_top_fraction must be in (0, 1], got '
                       f'{pool_top_fraction}')
    self.pool_top_fraction = float(pool_top_fraction)
    self.backbone = resnet.build_resnet(backbone, frozen_bn)
    resnet.freeze_stages(self.backbone, frozen_stages)
    self.classifier = tf_keras.layers.Conv2D(
        num_classes, 1, use_bias=False, name='classifier',
        kernel_initializer=tf_keras.initializers.GlorotUniform())
    channels = resnet.get_spec(backbone).stage_channels()[LAST_STAGE]
    self.classifier.build([None, None, None, channels])
    self.use_class_bias = bool(class_bias)
    self.class_bias = (self.add_weight(
        name='class_bias', shape=[num_classes], initializer='zeros',
        trainable=True) if class_bias else None)

  def call(self, images: tf.Tensor, training: bool = False
          ) -> Dict[str, tf.Tensor]:
    """Args: images [B, H, W, 3] float RGB in [0, 255].

    Returns:
      {LOGITS: [B, C], CAMS: [B, ceil(H/16), ceil(W/16), C] (ReLU),
       FEATURES: [B, ceil(H/16), ceil(W/16), D]}.
    """
    features = self.backbone(images, training=training)[LAST_STAGE]
    maps = self.classifier(features)
    if self.pool_top_fraction >= 1.0:
      pooled = tf.reduce_mean(features, axis=[1, 2], keepdims=True)
      logits = tf.squeeze(self.classifier(pooled), axis=[1, 2])
    else:
      logits = top_fraction_pool(maps, self.pool_top_fraction)
    if self.class_bias is not None:
      logits = logits + self.class_bias
    cams = tf.nn.relu(maps)
    return {LOGITS: logits, CAMS: cams, FEATURES: features}

  def get_config(self) -> Dict[str, Any]:
    return {'num_classes': self.num_classes, 'backbone': self.backbone_name,
            'frozen_stages': self.frozen_stages, 'frozen_bn': self.frozen_bn,
            'pool_top_fraction': self.pool_top_fraction,
            'class_bias': self.use_class_bias, 'name': self.name}

  @classmethod
  def from_config(cls, config: Mapping[str, Any], custom_objects=None):
    del custom_objects
    return cls(**config)

  def classifier_variables(self):
    """The 'newly added' variables that train at 10x (IRN: train_cam)."""
    extra = [self.class_bias] if self.class_bias is not None else []
    return self.classifier.trainable_variables + extra

  def checkpoint_items(self) -> Dict[str, tf.Module]:
    """Named parts for partial restores by other stages."""
    return {CKPT_BACKBONE: self.backbone, CKPT_CLASSIFIER: self.classifier}


def build_cam_model(cfg: config_lib.CamConfig, num_classes: int) -> CamNet:
  """The factory: config -> CamNet, with ImageNet weights if configured."""
  model = CamNet(num_classes, backbone=cfg.backbone.name,
                 frozen_stages=cfg.backbone.frozen_stages,
                 frozen_bn=cfg.backbone.frozen_bn,
                 pool_top_fraction=cfg.pool_top_fraction,
                 class_bias=cfg.class_bias)
  if cfg.backbone.imagenet_weights:
    imagenet_weights.load_imagenet_weights(model.backbone,
                                           cfg.backbone.imagenet_weights)
  elif cfg.backbone.frozen_stages or cfg.backbone.frozen_bn:
    logging.warning('No ImageNet weights, yet frozen stages 1-%d / frozen '
                    'batch norm %s: those stay at their random '
                    'initialisation.', cfg.backbone.frozen_stages,
                    cfg.backbone.frozen_bn)
  return model


def make_checkpoint(model: CamNet, **extra) -> tf.train.Checkpoint:
  """The checkpoint layout of cam_train: model (backbone, classifier)."""
  return tf.train.Checkpoint(**{CKPT_MODEL: model}, **extra)


def load_backbone_from_cam_checkpoint(
    checkpoint_path: str, backbone_name: str,
    frozen: bool = True) -> tf_keras.Model:
  """Builds a backbone and restores only its weights from a CAM checkpoint.

  This is how the IRN heads reuse the CAM network's trained backbone
  (official IRN uses a frozen ImageNet backbone; none can be downloaded
  here). The classifier and optimizer slots in the checkpoint are ignored.

  Args:
    checkpoint_path: A checkpoint prefix written by cam_train (e.g.
      '<work>/cam_train/checkpoints/ckpt-40'; see
      components.cam.cam_checkpoint_path) or a directory (its latest).
    backbone_name: The CAM config's backbone.name.
    frozen: Make every layer untrainable (IRN detaches the backbone).

  Returns:
    The backbone model (see resnet.build_resnet), dict of stages.

  Raises:
    ValueError: no checkpoint there, or it does not hold this backbone.
  """
  if tf.io.gfile.isdir(checkpoint_path):
    latest = tf.train.latest_checkpoint(checkpoint_path)
    if latest is None:
      raise ValueError(f'no checkpoint in directory {checkpoint_path!r}')
    checkpoint_path = latest
  backbone = resnet.build_resnet(backbone_name)
  if frozen:
    resnet.freeze_stages(backbone, len(keys.BACKBONE_STAGES))
  ckpt = tf.train.Checkpoint(**{CKPT_MODEL: tf.train.Checkpoint(
      **{CKPT_BACKBONE: backbone})})
  try:
    status = ckpt.read(checkpoint_path)
    status.assert_existing_objects_matched()
  except (tf.errors.NotFoundError, AssertionError, ValueError) as e:
    raise ValueError(f'cannot restore a {backbone_name!r} backbone from '
                     f'{checkpoint_path!r}: {e}') from e
  status.expect_partial()
  return backbone


def restore_cam_model(model: CamNet, checkpoint_path: str) -> None:
  """Restores a whole CamNet (backbone and classifier) for extraction."""
  ckpt = tf.train.Checkpoint(**{CKPT_MODEL: model})
  try:
    status = ckpt.read(checkpoint_path)
    status.assert_existing_objects_matched()
  except (tf.errors.NotFoundError, AssertionError, ValueError) as e:
    raise ValueError(f'checkpoint {checkpoint_path!r} does not match the CAM '
                     f'model ({model.backbone_name}, {model.num_classes} '
                     f'classes): {e}') from e
  status.expect_partial()
