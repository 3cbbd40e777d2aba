"""IRN's heads on a frozen backbone (IRN: net/resnet50_irn.py).

The backbone (wsvis_tf.backbones.resnet) returns the five stages of
keys.BACKBONE_STAGES at strides 4, 4, 8, 16, 16. On them:

  edge branch (class boundaries): per stage a 1x1 conv (no bias) to 32
    channels -> GroupNorm(4) -> upsampling to stride 4 (x2 for stage3, x4 for
    stages 4-5, bilinear, half-pixel) -> ReLU; the five maps are
    concatenated (160 channels) and a 1x1 conv with bias gives one logit;
  displacement branch (FPN-like): stage1 -> 64 ch, stage2 -> 128 ch,
    stage3 -> 256 ch, stage4 and stage5 -> 256 ch upsampled x2 to stride 8;
    concat(stage3..5) (768) -> 1x1 conv 256 -> GN -> x2 -> ReLU; concat with
    the stride-4 maps (448) -> 1x1 conv 256 -> GN -> ReLU -> 1x1 conv to 2
    channels (no bias) -> MeanShift.

Every 1x1 conv is bias-free and followed by GroupNorm (16 groups, or 4 for
the 32-channel edge maps and 8 for the 64-channel dp1), as IRN. Upsampled
maps are cropped to the stride-4 (or stride-8) size, so any input size works
(stage maps are ceil(H / s) x ceil(W / s)).

MeanShift (IRN: Net.MeanShift): at inference it subtracts a stored mean,
removing the dataset-wide bias of the displacement field. IRN sets that
mean after training to the final model's mean displacement over the
inference set (inference.mean_displacement; the pseudo_labels stage does
so by default). In training the layer passes the displacement through and
also tracks a running mean of the batch means (momentum 0.1, like
BatchNorm's running_mean), the value used with `mean_shift: running`.

Displacements are (dy, dx) in stride-4 pixels (IRN's channel order).
"""

from typing import Any, Dict, List, Mapping, Optional

import tensorflow as tf
import tf_keras

from wsvis_tf.core import keys

# Output keys.
EDGE_LOGITS = 'edge_logits'      # [B, h, w, 1] float32, stride 4
DISPLACEMENT = 'displacement'    # [B, h, w, 2] float32 (dy, dx), stride 4
# Checkpoint attribute names (tf.train.Checkpoint).
CKPT_MODEL = 'model'
CKPT_BACKBONE = 'backbone'
CKPT_HEADS = 'heads'
_GN_EPSILON = 1e-5  # torch.nn.GroupNorm


def _upsample_crop(x: tf.Tensor, factor: int, like: tf.Tensor) -> tf.Tensor:
  """x upsampled by factor (bilinear, half-pixel) and cropped to like's size.

  IRN: nn.Upsample(scale_factor, align_corners=False)[..., :h, :w].
  """
  if factor > 1:
    size = tf.shape(x)[1:3] * factor
    x = tf.image.resize(x, size, method='bilinear')
  return x[:, :tf.shape(like)[1], :tf.shape(like)[2]]


@tf_keras.utils.register_keras_serializable(package='wsvis_tf')
class ConvGroupNorm(tf_keras.layers.Layer):
  """1x1 conv (no bias) -> GroupNorm [-> x factor upsampling] [-> ReLU]."""

  def __init__(self, filters: int, groups: int, upsample: int = 1,
               relu: bool = True, **kwargs):
    super().__init__(**kwargs)
    self.filters = filters
    self.groups = groups
    self.upsample = upsample
    self.relu = relu
    self.conv = tf_keras.layers.Conv2D(filters, 1, use_bias=False,
                                       name='conv')
    self.norm = tf_keras.layers.GroupNormalization(
        groups=groups, epsilon=_GN_EPSILON, name='gn')

  def call(self, x: tf.Tensor, like: Optional[tf.Tensor] = None
           ) -> tf.Tensor:
    x = self.norm(self.conv(x))
    if like is not None:
      x = _upsample_crop(x, self.upsample, like)
    return tf.nn.relu(x) if self.relu else x

  def get_config(self) -> Dict[str, Any]:
    return {**super().get_config(), 'filters': self.filters,
            'groups': self.groups, 'upsample': self.upsample,
            'relu': self.relu}


@tf_keras.utils.register_keras_serializable(package='wsvis_tf')
class MeanShift(tf_keras.layers.Layer):
  """Subtracts the running mean of the training displacements at inference."""

  def __init__(self, channels: int = 2, momentum: float = 0.1, **kwargs):
    super().__init__(**kwargs)
    self.channels = channels
    self.momentum = momentum
    self.running_mean = self.add_weight(
        name='running_mean', shape=[channels], initializer='zeros',
        trainable=False, synchronization=tf.VariableSynchronization.ON_READ,
        aggregation=tf.VariableAggregation.MEAN)

  def call(self, x: tf.Tensor, training: Optional[bool] = None) -> tf.Tensor:
    if training:
      batch_mean = tf.stop_gradient(tf.reduce_mean(x, axis=[0, 1, 2]))
      self.running_mean.assign((1.0 - self.momentum) * self.running_mean +
                               self.momentum * batch_mean)
      return x
    return x - self.running_mean

  def get_config(self) -> Dict[str, Any]:
    return {**super().get_config(), 'channels': self.channels,
            'momentum': self.momentum}


@tf_keras.utils.register_keras_serializable(package='wsvis_tf')
class IrnHeads(tf_keras.layers.Layer):
  """IRN's edge and displacement branches on a dict of backbone stages."""

  def __init__(self, edge_channels: int = 32, **kwargs):
    super().__init__(**kwargs)
    self.edge_channels = edge_channels
    s1, s2, s3, s4, s5 = keys.BACKBONE_STAGES
    self.edge_layers = {
        s1: ConvGroupNorm(edge_channels, 4, name='edge1'),
        s2: ConvGroupNorm(edge_channels, 4, name='edge2'),
        s3: ConvGroupNorm(edge_channels, 4, 2, name='edge3'),
        s4: ConvGroupNorm(edge_channels, 4, 4, name='edge4'),
        s5: ConvGroupNorm(edge_channels, 4, 4, name='edge5'),
    }
    self.edge_out = tf_keras.layers.Conv2D(1, 1, use_bias=True,
                                           name='edge6')
    self.dp_layers = {
        s1: ConvGroupNorm(64, 8, name='dp1'),
        s2: ConvGroupNorm(128, 16, name='dp2'),
        s3: ConvGroupNorm(256, 16, name='dp3'),
        s4: ConvGroupNorm(256, 16, 2, name='dp4'),
        s5: ConvGroupNorm(256, 16, 2, name='dp5'),
    }
    self.dp6 = ConvGroupNorm(256, 16, 2, name='dp6')
    self.dp7 = ConvGroupNorm(256, 16, name='dp7')
    self.dp_out = tf_keras.layers.Conv2D(2, 1, use_bias=False, name='dp8')
    self.mean_shift = MeanShift(2, name='mean_shift')

  def call(self, features: Mapping[str, tf.Tensor],
           training: Optional[bool] = None) -> Dict[str, tf.Tensor]:
    """Args: features {stage1..stage5: [B, h_s, w_s, C_s]} (BACKBONE_STAGES).

    Returns:
      {EDGE_LOGITS: [B, h, w, 1], DISPLACEMENT: [B, h, w, 2]} at stride 4
      (h, w the size of stage2).
    """
    missing = [s for s in keys.BACKBONE_STAGES if s not in features]
    if missing:
      raise ValueError(f'IRN heads need backbone stages {missing}')
    s1, s2, s3, s4, s5 = keys.BACKBONE_STAGES
    ref4, ref8 = features[s2], features[s3]
    edges = [self.edge_layers[s](tf.cast(features[s], tf.float32), ref4)
             for s in keys.BACKBONE_STAGES]
    edge = self.edge_out(tf.concat(edges, axis=-1))
    dp1 = self.dp_layers[s1](features[s1], ref4)
    dp2 = self.dp_layers[s2](features[s2], ref4)
    dp3 = self.dp_layers[s3](features[s3], ref8)
    dp4 = self.dp_layers[s4](features[s4], ref8)
    dp5 = self.dp_layers[s5](features[s5], ref8)
    dp_up3 = self.dp6(tf.concat([dp3, dp4, dp5], axis=-1), ref4)
    dp = self.dp_out(self.dp7(tf.concat([dp1, dp2, dp_up3], axis=-1), ref4))
    dp = self.mean_shift(dp, training=training)
    return {EDGE_LOGITS: edge, DISPLACEMENT: dp}

  def edge_variables(self) -> List[tf.Variable]:
    out = []
    for layer in list(self.edge_layers.values()) + [self.edge_out]:
      out.extend(layer.trainable_variables)
    return out

  def displacement_variables(self) -> List[tf.Variable]:
    out = []
    for layer in list(self.dp_layers.values()) + [self.dp6, self.dp7,
                                                  self.dp_out]:
      out.extend(layer.trainable_variables)
    return out

  def get_config(self) -> Dict[str, Any]:
    return {**super().get_config(), 'edge_channels': self.edge_channels}


@tf_keras.utils.register_keras_serializable(package='wsvis_tf')
class IrnModel(tf_keras.Model):
  """A frozen backbone and IrnHeads: images -> {EDGE_LOGITS, DISPLACEMENT}.

  The backbone is injected (a model returning the BACKBONE_STAGES dict, e.g.
  the CAM network's trained backbone, see wsvis_tf.cam.model), always run in
  inference mode and never differentiated (IRN detaches it).
  """

  def __init__(self, backbone: tf_keras.Model,
               heads: Optional[IrnHeads] = None, **kwargs):
    super().__init__(**kwargs)
    self.backbone = backbone
    self.backbone.trainable = False
    self.heads = heads or IrnHeads(name='irn_heads')

  def call(self, images: tf.Tensor, training: Optional[bool] = None
           ) -> Dict[str, tf.Tensor]:
    """Args: images [B, H, W, 3] float RGB in [0, 255] (the backbone's input).

    Returns:
      {EDGE_LOGITS: [B, ceil(H/4), ceil(W/4), 1],
       DISPLACEMENT: [B, ceil(H/4), ceil(W/4), 2]} float32.
    """
    features = self.backbone(images, training=False)
    features = {k: tf.stop_gradient(tf.cast(features[k], tf.float32))
                for k in keys.BACKBONE_STAGES}
    return self.heads(features, training=training)

  def get_config(self) -> Dict[str, Any]:
    return {'backbone': tf_keras.utils.serialize_keras_object(self.backbone),
            'heads': self.heads.get_config(), 'name': self.name}

  @classmethod
  def from_config(cls, config: Mapping[str, Any], custom_objects=None):
    backbone = tf_keras.utils.deserialize_keras_object(
        config['backbone'], custom_objects=custom_objects)
    return cls(backbone, IrnHeads.from_config(config['heads']),
               name=config.get('name'))

  def checkpoint_items(self) -> Dict[str, tf.Module]:
    """Named parts, for partial restores by other stages."""
    return {CKPT_BACKBONE: self.backbone, CKPT_HEADS: self.heads}


def make_checkpoint(model: IrnModel, **extra) -> tf.train.Checkpoint:
  """The checkpoint layout of irn_train: model/{backbone, heads} + extra."""
  return tf.train.Checkpoint(**{CKPT_MODEL: tf.train.Checkpoint(
      **model.checkpoint_items())}, **extra)


def restore_model(model: IrnModel, checkpoint_path: str) -> None:
  """Restores backbone and heads (not the optimizer) from an irn_train ckpt.

  Raises:
    ValueError: the checkpoint does not hold this model's variables.
  """
  ckpt = make_checkpoint(model)
  try:
    status = ckpt.read(checkpoint_path)
    status.assert_existing_objects_matched()
  except (AssertionError, ValueError, tf.errors.NotFoundError) as e:
    raise ValueError(f'checkpoint {checkpoint_path!r} does not match the IRN '
                     f'model: {e}') from e
  status.expect_partial()


class EdgeDisplacement:
  """IRN's `EdgeDisplacement`: inference outputs of one frame.

  The boundary map is the sigmoid of the average of the frame's edge logits
  and the flipped-back logits of its horizontal flip; the displacement comes
  from the frame alone (mean-shifted).
  """

  def __init__(self, model: IrnModel):
    self.model = model

    @tf.function(input_signature=[tf.TensorSpec([None, None, 3],
                                                tf.float32)],
                 autograph=False)
    def run(image):
      batch = tf.stack([image, tf.reverse(image, axis=[1])])
      out = self.model(batch, training=False)
      edge = out[EDGE_LOGITS][..., 0]
      logits = (edge[0] + tf.reverse(edge[1], axis=[1])) / 2.0
      return tf.sigmoid(logits), out[DISPLACEMENT][0]

    self._run = run

  def __call__(self, image) -> Dict[str, tf.Tensor]:
    """[H, W, 3] RGB (uint8 or float in [0, 255]) -> {'boundary' [h, w],
    'displacement' [h, w, 2]} at stride 4."""
    image = tf.convert_to_tensor(image)
    if image.shape.rank != 3 or image.shape[-1] != 3:
      raise ValueError(f'image must be [H, W, 3], got {image.shape}')
    boundary, displacement = self._run(tf.cast(image, tf.float32))
    return {'boundary': boundary, 'displacement': displacement}
