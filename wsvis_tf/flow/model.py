"""DDFlow's PWC-style network in tf_keras (paper sec 4.2; DDFlow: network.py).

  * a feature pyramid shared by both frames: per level [3x3 stride-2 conv,
    3x3 conv], LeakyReLU(0.2);
  * coarse to fine, at each level from the top down to `output_level`: warp the
    second frame's features with the upsampled flow, an L2-normalised 9x9 cost
    volume (81 channels), and a flow estimator (convs 128,128,96,64,32 -> 2)
    fed [cost volume, normalised first features, upsampled flow] that outputs
    the level's flow (not a residual, as in DDFlow);
  * a dilated context network on the finest estimator's last features, whose
    output is added to that level's flow;
  * the refined flow resized bilinearly (vectors scaled) to full resolution.

The same weights run forward (frame 1 -> 2) and backward (2 -> 1); both
directions go through the network as one batch of 2B. Any input size works:
frames are padded (symmetric) to a multiple of 2**num_levels and the output
is cropped back.

Differences from the original: flows are resized with half-pixel centres
(`flow_ops.resize_flow`) rather than `align_corners=True`; the optional
`center_features` (off by default and in the paper preset, on in `quick`)
subtracts each feature channel's mean over the pair before the cost volume.
"""

from typing import Dict, List, Mapping, Sequence, Tuple, Union

import tensorflow as tf
import tf_keras

from wsvis_tf.core import flow_ops
from wsvis_tf.flow import config as config_lib

# Output keys. Full-resolution [B, H, W, 2] float32 flows in pixels (dx, dy).
FLOW_FW = 'flow_fw'  # frame 1 -> frame 2
FLOW_BW = 'flow_bw'  # frame 2 -> frame 1
FORWARD = 'fw'
BACKWARD = 'bw'
_PACKAGE = 'wsvis_flow'


def level_key(direction: str, level: int) -> str:
  """Key of the [B, h, w, 2] flow of a pyramid level (in that level's pixels).

  level is an int; 'refined' is level_key(direction, 0) for the context-
  refined flow at the output level.
  """
  if direction not in (FORWARD, BACKWARD):
    raise ValueError(f'direction must be "fw" or "bw", got {direction!r}')
  suffix = 'refined' if level == 0 else f'level_{level}'
  return f'flow_{direction}_{suffix}'


def _conv(filters: int, alpha: float, name: str, strides: int = 1,
          dilation: int = 1, activation: bool = True) -> tf_keras.layers.Conv2D:
  return tf_keras.layers.Conv2D(
      filters, 3, strides=strides, dilation_rate=dilation, padding='same',
      activation=(lambda x: tf.nn.leaky_relu(x, alpha)) if activation
      else None, name=name)


@tf_keras.utils.register_keras_serializable(package=_PACKAGE)
class FeaturePyramid(tf_keras.layers.Layer):
  """[B, H, W, 3] -> one [B, H / 2**l, W / 2**l, C_l] tensor per level l."""

  def __init__(self, channels: Sequence[int], alpha: float = 0.2, **kwargs):
    super().__init__(**kwargs)
    self.channels = tuple(int(c) for c in channels)
    self.alpha = alpha
    self.convs = []
    for level, c in enumerate(self.channels, start=1):
      self.convs.append((_conv(c, alpha, f'conv{level}_1', strides=2),
                         _conv(c, alpha, f'conv{level}_2')))

  def call(self, images: tf.Tensor) -> List[tf.Tensor]:
    x = images
    out = []
    for a, b in self.convs:
      x = b(a(x))
      out.append(x)
    return out

  def get_config(self):
    return {**super().get_config(), 'channels': self.channels,
            'alpha': self.alpha}


def _window(x: tf.Tensor, oy: int, ox: int, h: tf.Tensor,
            w: tf.Tensor) -> tf.Tensor:
  return x[:, oy:oy + h, ox:ox + w, :]


def cost_volume(features1: tf.Tensor, features2: tf.Tensor,
                radius: int) -> tf.Tensor:
  """Correlation of L2-normalised features over a (2r+1)^2 window.

  DDFlow: estimator's cost volume (extract_image_patches, zero padding).
  Computed as (2r+1)^2 shifted products, with a hand-written gradient that
  sums the shifts in a fixed order: autodiff would sum the shifted slices'
  gradients with one AddN, whose rounding depends on run-time buffer reuse
  (core/training.py). DDFlow's tf.image.extract_patches form
  (cost_volume_patches) gives the same values but is slower on CPU, under
  XLA most of all (experiments/bench_flow_step.py).

  Args:
    features1: [B, h, w, C] float32, already L2-normalised over channels.
    features2: [B, h, w, C] float32, warped and L2-normalised.
    radius: r; the output has (2r + 1)^2 channels.

  Returns:
    [B, h, w, (2r+1)^2] float32; channel (dy + r) * (2r + 1) + (dx + r) is
    <f1(y, x), f2(y + dy, x + dx)>, 0 where (y + dy, x + dx) is outside.
  """
  size = 2 * radius + 1
  pad = [[0, 0], [radius, radius], [radius, radius], [0, 0]]
  offsets = [(a, b) for a in range(size) for b in range(size)]

  @tf.custom_gradient
  def correlate(f1, f2):
    h, w = tf.shape(f1)[1], tf.shape(f1)[2]
    padded2 = tf.pad(f2, pad)
    volume = tf.stack(
        [tf.reduce_sum(f1 * _window(padded2, a, b, h, w), axis=-1)
         for a, b in offsets], axis=-1)

    def grad(upstream):
      # d/d f1(y): sum_k g_k(y) f2(y + s_k); d/d f2(z): sum_k g_k(z - s_k)
      # f1(z - s_k), read from g and f1 padded by r at offset 2r - (a, b).
      padded_g = tf.pad(upstream, pad)
      padded1 = tf.pad(f1, pad)
      grad1, grad2 = None, None
      for k, (a, b) in enumerate(offsets):
        term1 = upstream[..., k:k + 1] * _window(padded2, a, b, h, w)
        term2 = (_window(padded_g[..., k:k + 1], 2 * radius - a,
                         2 * radius - b, h, w) *
                 _window(padded1, 2 * radius - a, 2 * radius - b, h, w))
        grad1 = term1 if grad1 is None else grad1 + term1
        grad2 = term2 if grad2 is None else grad2 + term2
      return grad1, grad2

    return volume, grad

  return correlate(features1, features2)


def cost_volume_patches(features1: tf.Tensor, features2: tf.Tensor,
                        radius: int) -> tf.Tensor:
  """cost_volume in DDFlow's form (tf.image.extract_patches), autodiffed.

  The same values as cost_volume; kept as the reference its gradient is
  tested against and as the baseline of experiments/bench_flow_step.py.
  """
  size = 2 * radius + 1
  padded = tf.pad(features2, [[0, 0], [radius, radius], [radius, radius],
                              [0, 0]])
  patches = tf.image.extract_patches(padded, [1, size, size, 1],
                                     [1, 1, 1, 1], [1, 1, 1, 1], 'VALID')
  shape = tf.shape(features1)
  patches = tf.reshape(patches, [shape[0], shape[1], shape[2], size * size,
                                 shape[3]])
  return tf.reduce_sum(patches * features1[:, :, :, tf.newaxis, :], axis=-1)


def center_feature_pair(features1: tf.Tensor, features2: tf.Tensor,
                        features2_warped: tf.Tensor
                       ) -> Tuple[tf.Tensor, tf.Tensor]:
  """Subtracts each channel's mean over a pair of feature maps (not DDFlow).

  The mean of channel c is (mean_{y,x} f1[b, y, x, c] +
  mean_{y,x} f2[b, y, x, c]) / 2, per example b, from the unwarped maps; it
  is subtracted from features1 and features2_warped. Random and early
  features share a large per-channel offset (the frame's colour), so that
  after L2 normalisation every displacement of the cost volume correlates
  at ~0.9 and motion shows only in small differences; centring removes that
  offset (UFlow, Jonschkowski et al. 2020, normalises features likewise).

  Args:
    features1: [B, h, w, C] float32, the first frame's features.
    features2: [B, h, w, C] float32, the second frame's features.
    features2_warped: [B, h, w, C] float32, features2 warped by the flow.

  Returns:
    (features1 - mean, features2_warped - mean), each [B, h, w, C].
  """
  mean = 0.5 * (tf.reduce_mean(features1, [1, 2], keepdims=True) +
                tf.reduce_mean(features2, [1, 2], keepdims=True))
  return features1 - mean, features2_warped - mean


@tf_keras.utils.register_keras_serializable(package=_PACKAGE)
class FlowEstimator(tf_keras.layers.Layer):
  """Convs on [cost volume, features, flow] -> (flow [.., 2], last features)."""

  def __init__(self, channels: Sequence[int], alpha: float = 0.2, **kwargs):
    super().__init__(**kwargs)
    self.channels = tuple(int(c) for c in channels)
    self.alpha = alpha
    self.convs = [_conv(c, alpha, f'conv{i + 1}')
                  for i, c in enumerate(self.channels)]
    self.out = _conv(2, alpha, f'conv{len(self.channels) + 1}',
                     activation=False)

  def call(self, x: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor]:
    for conv in self.convs:
      x = conv(x)
    return self.out(x), x

  def get_config(self):
    return {**super().get_config(), 'channels': self.channels,
            'alpha': self.alpha}


@tf_keras.utils.register_keras_serializable(package=_PACKAGE)
class ContextNetwork(tf_keras.layers.Layer):
  """Dilated convs on [features, flow] -> a residual flow [.., 2]."""

  def __init__(self, channels: Sequence[int], dilations: Sequence[int],
               alpha: float = 0.2, **kwargs):
    super().__init__(**kwargs)
    self.channels = tuple(int(c) for c in channels)
    self.dilations = tuple(int(d) for d in dilations)
    if len(self.channels) != len(self.dilations):
      raise ValueError('ContextNetwork: channels and dilations differ in '
                       'length')
    self.alpha = alpha
    self.convs = [_conv(c, alpha, f'dilated_conv{i + 1}', dilation=d)
                  for i, (c, d) in enumerate(zip(self.channels,
                                                 self.dilations))]
    self.out = _conv(2, alpha, f'dilated_conv{len(self.channels) + 1}',
                     activation=False)

  def call(self, x: tf.Tensor) -> tf.Tensor:
    for conv in self.convs:
      x = conv(x)
    return self.out(x)

  def get_config(self):
    return {**super().get_config(), 'channels': self.channels,
            'dilations': self.dilations, 'alpha': self.alpha}


def _check_images(image1: tf.Tensor, image2: tf.Tensor) -> None:
  for name, im in (('image1', image1), ('image2', image2)):
    if im.shape.rank != 4 or (im.shape[-1] is not None and im.shape[-1] != 3):
      raise ValueError(f'DDFlow: {name} must be [B, H, W, 3], got {im.shape}')
  s1, s2 = image1.shape.as_list(), image2.shape.as_list()
  for axis, what in ((0, 'batch'), (1, 'height'), (2, 'width')):
    if None not in (s1[axis], s2[axis]) and s1[axis] != s2[axis]:
      raise ValueError(f'DDFlow: the two frames differ in {what}: {s1} vs '
                       f'{s2}; both frames of a pair must have the same size')


def _to_float(image: tf.Tensor) -> tf.Tensor:
  """uint8 in [0, 255] -> float32 in [0, 1]; floats are taken as in [0, 1]."""
  image = tf.convert_to_tensor(image)
  if image.dtype == tf.uint8:
    return tf.cast(image, tf.float32) / 255.0
  return tf.cast(image, tf.float32)


@tf_keras.utils.register_keras_serializable(package=_PACKAGE)
class DDFlow(tf_keras.Model):
  """Bidirectional DDFlow; call((image1, image2)) -> dict of named flows.

  Inputs are two [B, H, W, 3] frames, RGB in [0, 1] (float) or [0, 255]
  (uint8), no mean subtraction (DDFlow). The output dict has FLOW_FW and
  FLOW_BW, [B, H, W, 2] float32 in pixels, plus every level's flow under
  level_key(direction, level) (level 0: the context-refined flow).
  """

  def __init__(self,
               feature_channels: Sequence[int] = (16, 32, 64, 96, 128, 192),
               estimator_channels: Sequence[int] = (128, 128, 96, 64, 32),
               context_channels: Sequence[int] = (128, 128, 128, 96, 64, 32),
               context_dilations: Sequence[int] = (1, 2, 4, 8, 16, 1),
               search_radius: int = 4,
               output_level: int = 2,
               leaky_relu_alpha: float = 0.2,
               center_features: bool = False,
               **kwargs):
    super().__init__(**kwargs)
    self.feature_channels = tuple(int(c) for c in feature_channels)
    self.estimator_channels = tuple(int(c) for c in estimator_channels)
    self.context_channels = tuple(int(c) for c in context_channels)
    self.context_dilations = tuple(int(d) for d in context_dilations)
    self.search_radius = int(search_radius)
    self.output_level = int(output_level)
    self.leaky_relu_alpha = float(leaky_relu_alpha)
    self.center_features = bool(center_features)
    self.num_levels = len(self.feature_channels)
    if not 1 <= self.output_level < self.num_levels:
      raise ValueError(f'output_level must be in [1, {self.num_levels}), got '
                       f'{self.output_level}')
    self.pyramid = FeaturePyramid(self.feature_channels,
                                  self.leaky_relu_alpha,
                                  name='feature_extractor')
    # A list aligned with self.levels (checkpoints need string dict keys).
    self.estimators = [
        FlowEstimator(self.estimator_channels, self.leaky_relu_alpha,
                      name=f'estimator_level_{level}')
        for level in self.levels]
    self.context = ContextNetwork(self.context_channels,
                                  self.context_dilations,
                                  self.leaky_relu_alpha,
                                  name='context_network')

  @classmethod
  def from_flow_config(cls, config: config_lib.ModelConfig) -> 'DDFlow':
    return cls(**config.as_dict())

  @property
  def levels(self) -> List[int]:
    """Estimator levels, coarse to fine (DDFlow: 6, 5, 4, 3, 2)."""
    return list(range(self.num_levels, self.output_level - 1, -1))

  @property
  def size_multiple(self) -> int:
    return 2 ** self.num_levels

  def call(self, inputs: Union[Tuple[tf.Tensor, tf.Tensor],
                               Mapping[str, tf.Tensor]],
           training: bool = False) -> Dict[str, tf.Tensor]:
    if isinstance(inputs, Mapping):
      image1, image2 = inputs['image1'], inputs['image2']
    else:
      image1, image2 = inputs
    image1, image2 = _to_float(image1), _to_float(image2)
    _check_images(image1, image2)
    batch = tf.shape(image1)[0]
    h, w = tf.shape(image1)[1], tf.shape(image1)[2]
    m = self.size_multiple
    pad_h, pad_w = (-h) % m, (-w) % m
    images = tf.concat([image1, image2], axis=0)
    images = tf.pad(images, [[0, 0], [0, pad_h], [0, pad_w], [0, 0]],
                    mode='SYMMETRIC')
    features = self.pyramid(images)
    outputs = {}
    flow = None
    feat = None
    for level, estimator in zip(self.levels, self.estimators):
      f = features[level - 1]
      f1 = f  # [f(image1); f(image2)]
      f2 = tf.concat([f[batch:], f[:batch]], axis=0)  # the other frame
      size = tf.shape(f)[1:3]
      if flow is None:
        flow = tf.zeros(tf.concat([tf.shape(f)[:3], [2]], axis=0), f.dtype)
        f2_warped = f2
      else:
        flow = flow_ops.resize_flow(flow, size)
        f2_warped = flow_ops.warp(f2, flow)
      if self.center_features:
        f1, f2_warped = center_feature_pair(f1, f2, f2_warped)
      f1n = tf.math.l2_normalize(f1, axis=-1)
      f2n = tf.math.l2_normalize(f2_warped, axis=-1)
      volume = cost_volume(f1n, f2n, self.search_radius)
      flow, feat = estimator(
          tf.concat([volume, f1n, flow], axis=-1))
      outputs[level_key(FORWARD, level)] = flow[:batch]
      outputs[level_key(BACKWARD, level)] = flow[batch:]
    flow = flow + self.context(tf.concat([feat, flow], axis=-1))
    outputs[level_key(FORWARD, 0)] = flow[:batch]
    outputs[level_key(BACKWARD, 0)] = flow[batch:]
    full = flow_ops.resize_flow(flow, tf.shape(images)[1:3])[:, :h, :w]
    outputs[FLOW_FW] = full[:batch]
    outputs[FLOW_BW] = full[batch:]
    return outputs

  def get_config(self):
    return {
        'feature_channels': self.feature_channels,
        'estimator_channels': self.estimator_channels,
        'context_channels': self.context_channels,
        'context_dilations': self.context_dilations,
        'search_radius': self.search_radius,
        'output_level': self.output_level,
        'leaky_relu_alpha': self.leaky_relu_alpha,
        'center_features': self.center_features,
        'name': self.name,
    }

  @classmethod
  def from_config(cls, config):
    return cls(**config)

  def kernel_l2(self) -> tf.Tensor:
    """sum(w^2) / 2 over conv kernels (slim.l2_regularizer without scale)."""
    return tf.add_n([tf.nn.l2_loss(v) for v in self.trainable_variables
                     if 'kernel' in v.name])

  def checkpoint_items(self) -> Dict[str, tf.Module]:
    """Parts other stages may restore on their own."""
    return {'feature_extractor': self.pyramid, 'context_network': self.context,
            **{f'estimator_level_{k}': v
               for k, v in zip(self.levels, self.estimators)}}


def build_model(config: config_lib.ModelConfig,
                image_size: Tuple[int, int] = (64, 64)) -> DDFlow:
  """The factory: a DDFlow from its config, with its weights created."""
  model = DDFlow.from_flow_config(config)
  h, w = image_size
  dummy = tf.zeros([1, h, w, 3], tf.float32)
  model((dummy, dummy))
  return model
