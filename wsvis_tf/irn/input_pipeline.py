"""tf.data input of IRN training: frames, IR labels and (f-Bound) flow.

IRN (voc12/dataloader.py, VOC12AffinityDataset with rescale=(0.5, 1.5),
hor_flip=True, crop_size=512, crop_method='random'): the frame and its IR
label are rescaled by a random factor (image bicubic, label nearest), flipped
at random and cropped to S x S at a random position (smaller images sit at a
random offset in a canvas: image filled with the ImageNet mean, which the
backbone maps to 0, label with 255 = ignore); the label is then downscaled
x0.25 (nearest) to the stride-4 grid of the pairs.

With f-Bound the frame's forward flow (t -> t+1, paper sec 4.2) goes through
the same rescale (vectors scaled with the image), flip (dx negated) and crop
(padding marked invalid), and is turned into what the f-Bound loss
compares on the stride-4 grid (flow_feature_at_stride): F'
(losses.flow_gradient), by default differentiated at the crop's resolution
and pooled to the grid (each 4x4 cell keeps its largest-norm F'), or
resized to the grid first; or the flow itself, sampled like the labels.
FLOW_VALID marks stride-4 pixels whose values only read real flow, so crop
padding never fakes a motion boundary.

Reproducible: every random draw is a stateless op keyed by a per-example
seed (cam.input_pipeline.example_seeds), so the same seed gives the same
batches in the same order whatever tf.data's parallel scheduling.
"""

from typing import Callable, Dict, Iterable, Iterator, Optional, Tuple

import numpy as np
import tensorflow as tf

from wsvis_tf.backbones import resnet
from wsvis_tf.core import flow_ops
from wsvis_tf.core import keys
from wsvis_tf.irn import losses

# Example keys (besides keys.IMAGE).
IR_LABEL = 'ir_label'              # [H, W] uint8 full size (before augment)
FLOW = 'flow'                      # [H, W, 2] float32 (dx, dy) (before)
LABEL_S4 = 'ir_label_s4'           # [S/4, S/4] int32 (after augment)
FLOW_FEATURE = 'flow_feature'      # [S/4, S/4, 4 or 2] float32 (after)
FLOW_VALID = 'flow_valid'          # [S/4, S/4] float32 0/1 (after)

Example = Dict[str, tf.Tensor]
STRIDE = 4
# Where F' is differentiated (flow_gradient_at_stride).
STRIDE4 = 'stride4'
INPUT = 'input'
# What f-Bound compares (flow_feature_at_stride).
GRADIENT = 'gradient'
FLOW_ITSELF = 'flow'



def check_frame(image: np.ndarray, label: np.ndarray, num_classes: int,
                flow: Optional[np.ndarray] = None, name: str = '') -> None:
  """Raises ValueError (naming the frame) on inconsistent training inputs."""
  if image.ndim != 3 or image.shape[-1] != 3:
    raise ValueError(f'{name}: image must be [H, W, 3], got {image.shape}')
  if label.shape != image.shape[:2]:
    raise ValueError(f'{name}: IR label {label.shape} does not match the '
                     f'frame {image.shape[:2]}')
  bad = label[(label > num_classes) & (label != losses.IGNORE_LABEL)]
  if bad.size:
    raise ValueError(f'{name}: IR label value {int(bad[0])} is not in the '
                     f'label map (0 background, 1..{num_classes} classes, '
                     f'{losses.IGNORE_LABEL} ignore)')
  if flow is not None and flow.shape != image.shape[:2] + (2,):
    raise ValueError(f'{name}: flow of shape {flow.shape} does not match the '
                     f'frame {image.shape[:2]} (expected [H, W, 2] forward '
                     'flow of the full-size frame)')


def examples_dataset(frames: Callable[[], Iterable[Dict[str, np.ndarray]]],
                     with_flow: bool) -> tf.data.Dataset:
  """A dataset of {IMAGE, IR_LABEL[, FLOW]} from a generator factory."""
  signature = {keys.IMAGE: tf.TensorSpec([None, None, 3], tf.uint8),
               IR_LABEL: tf.TensorSpec([None, None], tf.uint8)}
  if with_flow:
    signature[FLOW] = tf.TensorSpec([None, None, 2], tf.float32)

  def generate() -> Iterator[Dict[str, np.ndarray]]:
    for example in frames():
      yield {k: example[k] for k in signature}

  return tf.data.Dataset.from_generator(generate, output_signature=signature)


def _resize(x: tf.Tensor, size: tf.Tensor, method: str) -> tf.Tensor:
  return tf.image.resize(x, size, method=method)


def flow_gradient_at_stride(flow: tf.Tensor, valid: tf.Tensor,
                            resolution: str = INPUT
                            ) -> Tuple[tf.Tensor, tf.Tensor]:
  """F' (losses.flow_gradient) of a crop's flow on its stride-4 grid.

  Args:
    flow: [S, S', 2] float flow of the crop in its pixels (dx, dy); S and
      S' multiples of 4.
    valid: [S, S'] float 1 where the flow is real (0 on crop padding).
    resolution: INPUT (the default, config.FlowBoundaryConfig): F' at the
      crop's own resolution (flow pixels per pixel, as paper eq 3 and
      appendix A.1 define it), then each 4x4 cell keeps its largest-norm
      F', so a motion edge is not averaged away by the coarser grid.
      STRIDE4: the flow is resized to the stride-4 grid with its vectors
      rescaled (flow_ops.resize_flow) and differentiated there.

  Returns:
    ([S/4, S'/4, 4] float32 F', [S/4, S'/4] float32 validity: 1 where
    every value the finite differences used is real flow).
  """
  small_h, small_w = flow.shape[0] // STRIDE, flow.shape[1] // STRIDE
  valid = tf.cast(valid, tf.float32)[tf.newaxis, ..., tf.newaxis]
  if resolution == STRIDE4:
    grad = losses.flow_gradient(flow_ops.resize_flow(flow[tf.newaxis],
                                                     (small_h, small_w)))[0]
    cell = tf.nn.avg_pool2d(valid, STRIDE, STRIDE, 'VALID')
    cell = tf.cast(cell > 0.999, tf.float32)
    return grad, -tf.nn.max_pool2d(-cell, 3, 1, 'SAME')[0, ..., 0]
  if resolution != INPUT:
    raise ValueError(f'gradient resolution must be {STRIDE4!r} or '
                     f'{INPUT!r}, got {resolution!r}')
  grad = losses.flow_gradient(flow[tf.newaxis])[0]           # [S, S, 4]
  cells = tf.reshape(grad, [small_h, STRIDE, small_w, STRIDE, 4])
  cells = tf.reshape(tf.transpose(cells, [0, 2, 1, 3, 4]),
                     [small_h, small_w, STRIDE * STRIDE, 4])
  pick = tf.argmax(tf.reduce_sum(tf.square(cells), -1), axis=-1)
  grad = tf.gather(cells, pick, axis=2, batch_dims=2)
  eroded = -tf.nn.max_pool2d(-valid, 3, 1, 'SAME')
  cell = tf.nn.avg_pool2d(eroded, STRIDE, STRIDE, 'VALID')
  return grad, tf.cast(cell > 0.999, tf.float32)[0, ..., 0]


def flow_feature_at_stride(flow: tf.Tensor, valid: tf.Tensor,
                           feature: str = GRADIENT,
                           gradient_resolution: str = INPUT
                           ) -> Tuple[tf.Tensor, tf.Tensor]:
  """What the f-Bound loss compares, on a crop's stride-4 grid.

  Args:
    flow: [S, S', 2] float flow of the crop in its pixels (dx, dy).
    valid: [S, S'] float 1 where the flow is real.
    feature: GRADIENT (F', paper eq 3: flow_gradient_at_stride) or
      FLOW_ITSELF (F, in the crop's pixels, sampled like the stride-4
      labels: nearest, so a cell's flow is that of the pixel its IR label
      comes from).
    gradient_resolution: For GRADIENT, see flow_gradient_at_stride.

  Returns:
    ([S/4, S'/4, 4] F' or [S/4, S'/4, 2] F, [S/4, S'/4] float32 validity).
  """
  if feature == GRADIENT:
    return flow_gradient_at_stride(flow, valid, gradient_resolution)
  if feature != FLOW_ITSELF:
    raise ValueError(f'flow feature must be {GRADIENT!r} or '
                     f'{FLOW_ITSELF!r}, got {feature!r}')
  small = [flow.shape[0] // STRIDE, flow.shape[1] // STRIDE]
  both = tf.concat([flow, tf.cast(valid, tf.float32)[..., tf.newaxis]], -1)
  both = _resize(both, small, 'nearest')
  return both[..., :2], tf.cast(both[..., 2] > 0.5, tf.float32)


def train_augment(example: Example, crop_size: int,
                  rescale: Tuple[float, float], flip: bool,
                  with_flow: bool,
                  gradient_resolution: str = INPUT,
                  flow_feature: str = GRADIENT,
                  seed: Optional[tf.Tensor] = None) -> Example:
  """IRN's augmentation; see the module docstring for the outputs.

  seed: [2] int, the example's stateless seed (default (0, 0)): the same
  seed gives the same rescale, flip and crop.
  """
  if seed is None:
    seed = tf.zeros([2], tf.int64)
  seeds = tf.random.experimental.stateless_split(seed, 5)
  image = tf.cast(example[keys.IMAGE], tf.float32)
  label = tf.cast(example[IR_LABEL], tf.float32)[..., tf.newaxis]
  shape = tf.cast(tf.shape(image)[:2], tf.float32)
  scale = tf.random.stateless_uniform([], seeds[0], rescale[0], rescale[1])
  size = tf.maximum(tf.cast(tf.round(shape * scale), tf.int32), 1)
  image = tf.clip_by_value(_resize(image, size, 'bicubic'), 0.0, 255.0)
  label = _resize(label, size, 'nearest')
  parts = [image - tf.constant(resnet.IMAGENET_RGB_MEAN),
           label - float(losses.IGNORE_LABEL)]
  if with_flow:
    flow = flow_ops.resize_flow(example[FLOW][tf.newaxis], size)[0]
    parts.append(flow)
  parts.append(tf.ones_like(label))  # valid (not padding)
  stack = tf.concat(parts, axis=-1)
  if flip:
    flipped = tf.reverse(stack, axis=[1])
    if with_flow:  # dx changes sign under a horizontal flip.
      flipped = tf.concat([flipped[..., :4], -flipped[..., 4:5],
                           flipped[..., 5:]], axis=-1)
    stack = tf.cond(tf.random.stateless_uniform([], seeds[1]) < 0.5,
                    lambda: flipped, lambda: stack)
  # Pad (with zeros: mean colour, ignore label, zero flow, invalid) to at
  # least the crop, at a random offset, then crop at random (IRN).
  h, w = tf.shape(stack)[0], tf.shape(stack)[1]
  pad_h = tf.maximum(crop_size - h, 0)
  pad_w = tf.maximum(crop_size - w, 0)
  off_y = tf.random.stateless_uniform([], seeds[2], 0, pad_h + 1,
                                      dtype=tf.int32)
  off_x = tf.random.stateless_uniform([], seeds[3], 0, pad_w + 1,
                                      dtype=tf.int32)
  stack = tf.pad(stack, [[off_y, pad_h - off_y], [off_x, pad_w - off_x],
                         [0, 0]])
  stack = tf.image.stateless_random_crop(
      stack, [crop_size, crop_size, stack.shape[-1]], seeds[4])
  image = stack[..., :3] + tf.constant(resnet.IMAGENET_RGB_MEAN)
  label = tf.round(stack[..., 3:4] + float(losses.IGNORE_LABEL))
  small = crop_size // STRIDE
  out = {keys.IMAGE: image,
         LABEL_S4: tf.cast(_resize(label, [small, small], 'nearest')[..., 0],
                           tf.int32)}
  if with_flow:
    feature, valid = flow_feature_at_stride(
        stack[..., 4:6], stack[..., 6], flow_feature, gradient_resolution)
    out[FLOW_FEATURE] = feature
    out[FLOW_VALID] = valid
  return out


def training_dataset(examples: tf.data.Dataset, crop_size: int,
                     rescale: Tuple[float, float], flip: bool,
                     batch_size: int, with_flow: bool,
                     shuffle_buffer: int = 1024, cache: bool = False,
                     seed: int = 0,
                     gradient_resolution: str = INPUT,
                     flow_feature: str = GRADIENT) -> tf.data.Dataset:
  """Endless shuffled, augmented batches of IRN training examples.

  Returns batches {IMAGE [B, S, S, 3] float32, LABEL_S4 [B, S/4, S/4] int32,
  and with flow FLOW_FEATURE [B, S/4, S/4, 4 (F') or 2 (F)], FLOW_VALID
  [B, S/4, S/4]}.
  """
  if cache:
    examples = examples.cache()
  ds = examples.shuffle(shuffle_buffer, seed=seed,
                        reshuffle_each_iteration=True).repeat()
  ds = tf.data.Dataset.zip(
      (ds, tf.data.Dataset.random(seed=seed).batch(2, drop_remainder=True)))
  ds = ds.map(lambda e, s: train_augment(e, crop_size, rescale, flip,
                                         with_flow, gradient_resolution,
                                         flow_feature, s),
              num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  return ds.batch(batch_size, drop_remainder=True).prefetch(2)
