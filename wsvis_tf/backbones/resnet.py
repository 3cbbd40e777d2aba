"""ResNet backbones with output stride 16, shared by the CAM and IRN heads.

The network is IRN's ResNet-50 (IRN: net/resnet50.py, strides (2, 2, 2, 1)):
conv1 and conv3/conv4 downsample by 2, conv5 keeps stride 1, so the last
stage is at stride 16. It returns a dict of the five stages of
`wsvis_tf.core.keys.BACKBONE_STAGES`:

  stage1  conv1 + max-pool          stride 4   (Keras 'conv1_*', 'pool1_*')
  stage2  bottleneck stack conv2    stride 4   (IRN layer1)
  stage3  bottleneck stack conv3    stride 8   (IRN layer2)
  stage4  bottleneck stack conv4    stride 16  (IRN layer3)
  stage5  bottleneck stack conv5    stride 16  (IRN layer4)

An input of H x W gives stage maps of ceil(H / s) x ceil(W / s), s the
stride, for any H and W (odd sizes included).

Layer names, weight shapes and the position of the stride (on the first 1x1
convolution of a stack, with biased convolutions) follow
`keras.applications.ResNet50`, so its ImageNet weights file loads by name
(see `imagenet_weights.py`). By default batch normalisation always runs in
inference mode with its stored statistics (IRN: FixedBatchNorm), its scale
and offset trainable unless the stage is frozen, as in IRN; frozen_bn=False
gives ordinary batch norm for training from scratch (no ImageNet weights).

Inputs are float RGB images in [0, 255]; the model itself converts them the
way the Keras ImageNet weights expect ('caffe': BGR, mean subtracted, no
scaling), so every caller feeds raw pixels.

Variants: 'resnet50' (the paper's), 'resnet_small' (the quick preset on CPU)
and 'resnet_tiny' (tests). All have the same stages, strides and names.

`last_stage_stride=2` gives the stride of keras.applications.ResNet50 (and of
an FPN backbone, Mask R-CNN): stage5 at stride 32. The weights have the same
shapes either way (the stride sits on conv5_block1's 1x1 convolutions), so
one ImageNet file or CAM checkpoint loads into both.
"""

import dataclasses
from typing import Dict, Optional, Sequence, Tuple

import tensorflow as tf
import tf_keras

from wsvis_tf.core import keys

# keras.applications.resnet 'caffe' preprocessing: BGR means of ImageNet.
IMAGENET_BGR_MEAN = (103.939, 116.779, 123.68)
# The same means in RGB order: the value to pad images with, so that padding
# becomes 0 after preprocessing (IRN pads normalised crops with 0).
IMAGENET_RGB_MEAN = tuple(reversed(IMAGENET_BGR_MEAN))
_BN_EPSILON = 1.001e-5  # keras.applications.resnet
# Stride of the first block of stacks conv2..conv4 (IRN strides (2, 2, 2, 1)
# with the stem's conv1 and max-pool giving the first factor 4); conv5's is
# build_resnet's last_stage_stride (IRN 1, keras.applications 2).
_STACK_STRIDES = (1, 2, 2)
OUTPUT_STRIDE = 16


@dataclasses.dataclass(frozen=True)
class ResNetSpec:
  """Widths and depths of a bottleneck ResNet.

  Attributes:
    stem_filters: Channels of the 7x7 conv1.
    filters: Bottleneck width of stacks conv2..conv5; a stack outputs 4x.
    blocks: Number of bottleneck blocks in each stack.
  """
  stem_filters: int
  filters: Tuple[int, int, int, int]
  blocks: Tuple[int, int, int, int]

  def stage_channels(self) -> Dict[str, int]:
    """Channels of each output stage, keyed like BACKBONE_STAGES."""
    out = {keys.BACKBONE_STAGES[0]: self.stem_filters}
    for name, f in zip(keys.BACKBONE_STAGES[1:], self.filters):
      out[name] = 4 * f
    return out


SPECS: Dict[str, ResNetSpec] = {
    'resnet50': ResNetSpec(64, (64, 128, 256, 512), (3, 4, 6, 3)),
    # ~0.6 M parameters; the quick preset's CAM/IRN backbone on CPU.
    'resnet_small': ResNetSpec(24, (16, 32, 64, 96), (1, 2, 2, 1)),
    # ~25 k parameters; for tests.
    'resnet_tiny': ResNetSpec(8, (4, 8, 12, 16), (1, 1, 1, 1)),
}


def backbone_names() -> Sequence[str]:
  return sorted(SPECS)


def get_spec(name: str) -> ResNetSpec:
  if name not in SPECS:
    raise ValueError(f'unknown backbone {name!r}; known: {backbone_names()}')
  return SPECS[name]


@tf_keras.utils.register_keras_serializable(package='wsvis_tf')
class FrozenBatchNormalization(tf_keras.layers.BatchNormalization):
  """Batch norm that always uses its moving statistics (IRN FixedBatchNorm).

  Same weights (gamma, beta, moving_mean, moving_variance) as
  BatchNormalization, so Keras weight files load into it; the moving
  statistics are never updated. With frozen=False it is plain batch norm
  (batch statistics in training): a backbone trained from scratch, without
  ImageNet statistics to freeze, needs that to train at all.
  """

  def __init__(self, frozen: bool = True, **kwargs):
    super().__init__(**kwargs)
    self.frozen = frozen

  def call(self, inputs, training=None):
    return super().call(inputs, training=False if self.frozen else training)

  def get_config(self):
    return {**super().get_config(), 'frozen': self.frozen}


@tf_keras.utils.register_keras_serializable(package='wsvis_tf')
class CaffePreprocess(tf_keras.layers.Layer):
  """RGB [0, 255] -> BGR minus the ImageNet mean (keras 'caffe' mode)."""

  def call(self, images):
    images = tf.cast(images, self.compute_dtype)
    bgr = images[..., ::-1]
    return bgr - tf.constant(IMAGENET_BGR_MEAN, dtype=bgr.dtype)


def _conv_bn(x, filters: int, kernel: int, stride: int, name: str,
             relu: bool, frozen_bn: bool, padding: str = 'valid'):
  x = tf_keras.layers.Conv2D(filters, kernel, strides=stride,
                             padding=padding, name=name + '_conv')(x)
  x = FrozenBatchNormalization(frozen=frozen_bn, epsilon=_BN_EPSILON,
                               name=name + '_bn')(x)
  if relu:
    x = tf_keras.layers.Activation('relu', name=name + '_relu')(x)
  return x


def _bottleneck(x, filters: int, stride: int, projection: bool, name: str,
                frozen_bn: bool):
  """A bottleneck block in keras.applications.resnet's layout and names."""
  if projection:
    shortcut = _conv_bn(x, 4 * filters, 1, stride, name + '_0', False,
                        frozen_bn)
  else:
    shortcut = x
  y = _conv_bn(x, filters, 1, stride, name + '_1', True, frozen_bn)
  y = _conv_bn(y, filters, 3, 1, name + '_2', True, frozen_bn,
               padding='same')
  y = _conv_bn(y, 4 * filters, 1, 1, name + '_3', False, frozen_bn)
  y = tf_keras.layers.Add(name=name + '_add')([shortcut, y])
  return tf_keras.layers.Activation('relu', name=name + '_out')(y)


def stage_strides(last_stage_stride: int = 1) -> Tuple[int, ...]:
  """Strides of stage1..stage5 (keys.BACKBONE_STRIDES for stride 1)."""
  strides = keys.BACKBONE_STRIDES
  return strides[:-1] + (strides[-2] * last_stage_stride,)


def build_resnet(name: str = 'resnet50', frozen_bn: bool = True,
                 model_name: Optional[str] = None,
                 last_stage_stride: int = 1) -> tf_keras.Model:
  """Builds a backbone: images [B, H, W, 3] float RGB in [0, 255] -> stages.

  Args:
    name: A key of SPECS ('resnet50', 'resnet_small', 'resnet_tiny').
    frozen_bn: Batch norm always in inference mode (IRN); False lets it use
      batch statistics when called with training=True (training from
      scratch).
    model_name: Keras name of the model (default: name).
    last_stage_stride: Stride of stage5's first block: 1 (IRN, output
      stride 16: the CAM and IRN networks) or 2 (keras.applications, output
      stride 32: the FPN of Mask R-CNN).

  Returns:
    A functional tf_keras.Model whose output is a dict
    {stage1..stage5: [B, ceil(H/s), ceil(W/s), channels] float32} with s the
    stride of stage_strides(last_stage_stride). Randomly initialised; see
    imagenet_weights.load_imagenet_weights.
  """
  if last_stage_stride not in (1, 2):
    raise ValueError(f'last_stage_stride must be 1 or 2, got '
                     f'{last_stage_stride}')
  spec = get_spec(name)
  images = tf_keras.Input(shape=(None, None, 3), name='images')
  x = CaffePreprocess(name='preprocess')(images)
  x = tf_keras.layers.ZeroPadding2D(3, name='conv1_pad')(x)
  x = _conv_bn(x, spec.stem_filters, 7, 2, 'conv1', True, frozen_bn)
  x = tf_keras.layers.ZeroPadding2D(1, name='pool1_pad')(x)
  x = tf_keras.layers.MaxPooling2D(3, strides=2, name='pool1_pool')(x)
  outputs = {keys.BACKBONE_STAGES[0]: x}
  for i, (filters, blocks, stride) in enumerate(
      zip(spec.filters, spec.blocks,
          _STACK_STRIDES + (last_stage_stride,))):
    stack = f'conv{i + 2}'
    for b in range(blocks):
      x = _bottleneck(x, filters, stride if b == 0 else 1, b == 0,
                      f'{stack}_block{b + 1}', frozen_bn)
    outputs[keys.BACKBONE_STAGES[i + 1]] = x
  return tf_keras.Model(images, outputs, name=model_name or name)


def _stage_prefixes(stage_index: int) -> Tuple[str, ...]:
  """Layer-name prefixes of stage stage_index (1-based)."""
  if stage_index == 1:
    return ('conv1_', 'pool1_', 'preprocess')
  return (f'conv{stage_index}_',)


def freeze_stages(backbone: tf_keras.Model, num_stages: int) -> None:
  """Makes stages 1..num_stages untrainable (0: none, 5: all).

  IRN's CAM network freezes conv1 and detaches the output of its layer2
  (IRN: net/resnet50_cam.py), i.e. our stages 1-3: num_stages=3. The IRN
  heads use the backbone fully frozen: num_stages=5.
  """
  if not 0 <= num_stages <= len(keys.BACKBONE_STAGES):
    raise ValueError(f'num_stages must be in [0, 5], got {num_stages}')
  prefixes = tuple(p for s in range(1, num_stages + 1)
                   for p in _stage_prefixes(s))
  for layer in backbone.layers:
    layer.trainable = not layer.name.startswith(prefixes)
