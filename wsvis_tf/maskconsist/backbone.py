"""The project's ResNet as a tf-models FPN backbone ('wsvis_resnet').

Importing this module registers the builder with tf-models' backbone factory
(`official.vision.modeling.backbones.factory`), so a Mask R-CNN config with
`backbone.type = 'wsvis_resnet'` (config.Backbone) builds through tf-models'
own `factory.build_maskrcnn`.

The network is wsvis_tf.backbones.resnet with its last stage at stride 2
(stride 32 overall, keras.applications' ResNet-50), its stages 2..5 returned
as FPN levels '2'..'5' (strides 4, 8, 16, 32), the keys tf-models' decoders
read, with `output_specs`.

Input convention. tf-models' Mask R-CNN feeds the backbone images
normalised with ImageNet's mean and standard deviation
(`preprocess_ops.normalize_image`: (x / 255 - MEAN_NORM) / STDDEV_NORM, in
its Parser and in its SavedModel export). Our ResNet takes RGB in [0, 255]
(and applies the 'caffe' preprocessing its Keras ImageNet weights expect), so
the backbone's first layer, `UndoImageNetNormalization`, maps normalised
images back to [0, 255]. Padding, 0 after normalisation, becomes the
ImageNet mean colour. Everything upstream (our input pipeline, tf-models'
export, `inference.predict_frames`) therefore feeds normalised images, as
for any tf-models backbone.

Initialisation (config.WsvisResNet.init) is applied by `initialize`, which
MaskConsistTask.initialize calls when training starts without a checkpoint:
a local ImageNet HDF5 file (imagenet_weights.load_imagenet_weights), the
backbone of the cam_train stage's CAM classifier
(cam.model.load_backbone_from_cam_checkpoint), or random.
"""

import os
from typing import Any, Dict, Mapping, Optional

from absl import logging
import tensorflow as tf
import tf_keras

from official.modeling import hyperparams
from official.vision.modeling.backbones import factory
from official.vision.ops import preprocess_ops
from wsvis_tf.backbones import imagenet_weights
from wsvis_tf.backbones import resnet
from wsvis_tf.cam import model as cam_model
from wsvis_tf.maskconsist import config as config_lib

# Our stages as FPN levels: level l has stride 2^l.
LEVEL_STAGES = {'2': 'stage2', '3': 'stage3', '4': 'stage4', '5': 'stage5'}
MIN_LEVEL = 2
MAX_LEVEL = 5


@tf_keras.utils.register_keras_serializable(package='wsvis_tf')
class UndoImageNetNormalization(tf_keras.layers.Layer):
  """normalize_image output -> RGB in [0, 255] (inverse of tf-models')."""

  def call(self, images: tf.Tensor) -> tf.Tensor:
    dtype = images.dtype
    mean = tf.constant(preprocess_ops.MEAN_RGB, dtype)
    std = tf.constant(preprocess_ops.STDDEV_RGB, dtype)
    return images * std + mean


@tf_keras.utils.register_keras_serializable(package='wsvis_tf')
class WsvisResNet(tf_keras.Model):
  """FPN backbone: normalised images [B, H, W, 3] -> {'2'..'5': features}."""

  def __init__(self, variant: str = 'resnet50',
               input_specs: Optional[tf_keras.layers.InputSpec] = None,
               frozen_bn: bool = True, frozen_stages: int = 0,
               kernel_regularizer: Optional[
                   tf_keras.regularizers.Regularizer] = None,
               **kwargs):
    """Builds the backbone (random weights; see `initialize`).

    Args:
      variant: A wsvis_tf.backbones.resnet.SPECS name.
      input_specs: tf-models' input spec (shape [None, H, W, 3], H and W
        possibly None).
      frozen_bn: Batch norm in inference mode (resnet.FrozenBatchNormalization).
      frozen_stages: Stages 1..n not trained.
      kernel_regularizer: Applied to every trainable convolution kernel
        (tf-models' l2 weight decay; our ResNet has no regularizers itself).
      **kwargs: tf_keras.Model arguments.
    """
    if input_specs is None:
      input_specs = tf_keras.layers.InputSpec(shape=[None, None, None, 3])
    inner = resnet.build_resnet(variant, frozen_bn, last_stage_stride=2)
    resnet.freeze_stages(inner, frozen_stages)
    inputs = tf_keras.Input(shape=input_specs.shape[1:], name='images')
    stages = inner(UndoImageNetNormalization(name='undo_normalization')(
        inputs))
    endpoints = {level: stages[stage] for level, stage in
                 LEVEL_STAGES.items()}
    super().__init__(inputs=inputs, outputs=endpoints, **kwargs)
    self._resnet = inner
    self._output_specs = {l: endpoints[l].get_shape() for l in endpoints}
    self._config_dict = {'variant': variant, 'frozen_bn': frozen_bn,
                         'frozen_stages': frozen_stages}
    self._kernel_regularizer = kernel_regularizer
    if kernel_regularizer is not None:
      for layer in inner.layers:
        if isinstance(layer, tf_keras.layers.Conv2D) and layer.trainable:
          self.add_loss(
              lambda kernel=layer.kernel: kernel_regularizer(kernel))

  @property
  def output_specs(self) -> Dict[str, tf.TensorShape]:
    """{'2'..'5': [B, ceil(H/2^l), ceil(W/2^l), C_l]} (tf-models' contract)."""
    return self._output_specs

  @property
  def resnet(self) -> tf_keras.Model:
    """The wrapped wsvis ResNet (keras.applications layer names)."""
    return self._resnet

  def get_config(self) -> Dict[str, Any]:
    return dict(self._config_dict)

  @classmethod
  def from_config(cls, config: Mapping[str, Any], custom_objects=None):
    del custom_objects
    return cls(**config)


@factory.register_backbone_builder(config_lib.BACKBONE_TYPE)
def build_wsvis_resnet(
    input_specs: tf_keras.layers.InputSpec,
    backbone_config: hyperparams.Config,
    norm_activation_config: hyperparams.Config,
    l2_regularizer: Optional[tf_keras.regularizers.Regularizer] = None
) -> tf_keras.Model:
  """tf-models backbone builder (backbones.factory.build_backbone)."""
  del norm_activation_config  # Our ResNet's batch norm is its own (frozen_bn).
  if backbone_config.type != config_lib.BACKBONE_TYPE:
    raise ValueError(f'backbone type {backbone_config.type!r} is not '
                     f'{config_lib.BACKBONE_TYPE!r}')
  cfg = backbone_config.get()
  return WsvisResNet(cfg.variant, input_specs, cfg.frozen_bn,
                     cfg.frozen_stages, kernel_regularizer=l2_regularizer)


def check_initialization(cfg: config_lib.WsvisResNet) -> None:
  """Raises ValueError unless cfg's initialisation can run (files exist).

  Called before anything is built, so a missing ImageNet file stops a run
  at once with the field to set and the file it expects.
  """
  if cfg.init not in config_lib.INITS:
    raise ValueError(f'{config_lib.INIT_FIELD} = {cfg.init!r}; expected one '
                     f'of {config_lib.INITS}')
  if cfg.init == config_lib.INIT_IMAGENET:
    if not cfg.imagenet_weights:
      raise ValueError(
          f'{config_lib.INIT_FIELD} is {config_lib.INIT_IMAGENET!r} (the '
          f'paper\'s setting) but {config_lib.IMAGENET_FIELD} is empty: set '
          f'it to a local Keras HDF5 ResNet-50 file, e.g. '
          f'~/.keras/models/{config_lib.IMAGENET_FILE} (nothing is '
          f'downloaded), or set {config_lib.INIT_FIELD}='
          f'{config_lib.INIT_RANDOM!r} to train from scratch.')
    if not os.path.exists(cfg.imagenet_weights):
      raise ValueError(
          f'{config_lib.IMAGENET_FIELD} = {cfg.imagenet_weights!r}: no such '
          f'file. Expected a Keras HDF5 ResNet-50 weights file such as '
          f'{config_lib.IMAGENET_FILE} (nothing is downloaded).')
    # Names and shapes only (no values): a wrong file fails now, not after
    # the data pass.
    try:
      imagenet_weights.check_weights_file(cfg.imagenet_weights, cfg.variant)
    except ValueError as e:
      raise ValueError(f'{config_lib.IMAGENET_FIELD}: {e}') from e
  elif cfg.init == config_lib.INIT_CAM:
    if not cfg.cam_checkpoint:
      raise ValueError(f'{config_lib.INIT_FIELD} is {config_lib.INIT_CAM!r} '
                       f'but {config_lib.CAM_FIELD} is empty: set it to the '
                       'cam_train stage\'s checkpoint (prefix or directory).')
    path = cfg.cam_checkpoint
    exists = (tf.io.gfile.isdir(path) and tf.train.latest_checkpoint(path)
              ) or tf.io.gfile.exists(path + '.index')
    if not exists:
      raise ValueError(f'{config_lib.CAM_FIELD} = {path!r}: no checkpoint '
                       'there (a cam_train checkpoint prefix or directory).')


def initialize(backbone: WsvisResNet, cfg: config_lib.WsvisResNet) -> str:
  """Initialises the backbone's weights as cfg says; returns what it did.

  Args:
    backbone: A WsvisResNet (built by tf-models' factory).
    cfg: Its config (task.model.backbone.wsvis_resnet).

  Returns:
    A one-line description for the log.

  Raises:
    ValueError: check_initialization's errors, or weights that do not fit
      (a file of another architecture, a CAM checkpoint of another
      variant), naming the file.
  """
  check_initialization(cfg)
  if cfg.init == config_lib.INIT_RANDOM:
    if cfg.frozen_bn:
      logging.warning('wsvis_resnet: random initialisation with frozen batch '
                      'norm: its statistics stay at their initial values.')
    return 'random initialisation'
  if cfg.init == config_lib.INIT_IMAGENET:
    try:
      n = imagenet_weights.load_imagenet_weights(backbone.resnet,
                                                 cfg.imagenet_weights)
    except (FileNotFoundError, ValueError) as e:
      raise ValueError(f'{config_lib.IMAGENET_FIELD}: {e}') from e
    return f'ImageNet weights of {n} layers from {cfg.imagenet_weights}'
  # The CAM network's backbone has the same layers (its last stage at
  # stride 1, same weight shapes): restore it, then copy layer by layer
  # (model-level weight lists order trainable weights first, and frozen
  # stages may differ between the two).
  cam_backbone = cam_model.load_backbone_from_cam_checkpoint(
      cfg.cam_checkpoint, cfg.variant, frozen=False)
  copied = 0
  for layer in backbone.resnet.layers:
    if layer.weights:
      layer.set_weights(cam_backbone.get_layer(layer.name).get_weights())
      copied += 1
  return (f'CAM classifier backbone ({copied} layers) from '
          f'{cfg.cam_checkpoint}')
