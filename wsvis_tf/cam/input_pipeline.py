"""tf.data input of the CAM classifier: frames with image-level labels.

Examples are single frames with the keys of `wsvis_tf.core.keys` (IMAGE
[H, W, 3] uint8, LABELS [C] float32 multi-hot), from videos
(`pairs.frames_dataset`) or from an image dataset turned into one-frame
examples (`voc.voc_frames`). Training augmentation follows IRN's
VOC12ClassificationDataset(resize_long=(320, 640), hor_flip=True,
crop_size=512, crop_method='random'): random resize of the long side, random
horizontal flip, random crop, images smaller than the crop placed at a random
offset in a crop-sized canvas. The canvas is filled with the ImageNet mean
colour, which the backbone's preprocessing maps to 0 (IRN pads its
normalised crops with 0).

Reproducible: every random draw is a stateless op keyed by a per-example
seed from `tf.data.Dataset.random(seed)`, so the same seed gives the same
augmented batches in the same order however tf.data schedules its parallel
map (stateful tf.random ops inside a parallel map hand out their random
numbers in scheduling order).
"""

from typing import Dict, Tuple

import tensorflow as tf

from wsvis_tf.backbones import resnet
from wsvis_tf.core import keys
from wsvis_tf.data import pairs

Example = Dict[str, tf.Tensor]


def random_resize_long(image: tf.Tensor, min_long: int,
                       max_long: int, seed: tf.Tensor) -> tf.Tensor:
  """Resizes [H, W, 3] so its long side is uniform in [min_long, max_long].

  Returns float32 RGB in [0, 255] (bicubic, antialiased, clipped: IRN uses
  skimage rescale with order=3 and anti_aliasing). seed: [2] int (stateless).
  """
  shape = tf.cast(tf.shape(image)[:2], tf.float32)
  target = tf.random.stateless_uniform([], seed, min_long, max_long + 1,
                                       dtype=tf.int32)
  scale = tf.cast(target, tf.float32) / tf.reduce_max(shape)
  size = tf.maximum(tf.cast(tf.round(shape * scale), tf.int32), 1)
  out = tf.image.resize(tf.cast(image, tf.float32), size, method='bicubic',
                        antialias=True)
  return tf.clip_by_value(out, 0.0, 255.0)


def random_crop_or_pad(image: tf.Tensor, crop_size: int,
                       seed: tf.Tensor) -> tf.Tensor:
  """A random crop_size x crop_size window of [H, W, 3] float (IRN crop).

  Where the image is smaller than the crop along an axis, it sits at a
  random offset in a canvas of the ImageNet mean colour. seed: [2] int.
  """
  seeds = tf.random.experimental.stateless_split(seed, 3)
  h, w = tf.shape(image)[0], tf.shape(image)[1]
  pad_h = tf.maximum(crop_size - h, 0)
  pad_w = tf.maximum(crop_size - w, 0)
  off_y = tf.random.stateless_uniform([], seeds[0], 0, pad_h + 1,
                                      dtype=tf.int32)
  off_x = tf.random.stateless_uniform([], seeds[1], 0, pad_w + 1,
                                      dtype=tf.int32)
  mean = tf.constant(resnet.IMAGENET_RGB_MEAN, tf.float32)
  canvas = tf.image.pad_to_bounding_box(image - mean, off_y, off_x,
                                        h + pad_h, w + pad_w) + mean
  return tf.image.stateless_random_crop(canvas, [crop_size, crop_size, 3],
                                        seeds[2])


def photometric_jitter(image: tf.Tensor, strength: float,
                       seed: tf.Tensor) -> tf.Tensor:
  """Random brightness, contrast and saturation (not hue) of [H, W, 3].

  Not in IRN. image: float RGB in [0, 255]; strength s: brightness shifts
  by up to s * 255, contrast and saturation scale by [1 - s, 1 + s]. Hue
  is left alone (a class may be told by its colour). Returns [0, 255].
  """
  seeds = tf.random.experimental.stateless_split(seed, 3)
  x = image / 255.0
  x = tf.image.stateless_random_brightness(x, strength, seeds[0])
  x = tf.image.stateless_random_contrast(x, 1.0 - strength, 1.0 + strength,
                                         seeds[1])
  x = tf.image.stateless_random_saturation(
      tf.clip_by_value(x, 0.0, 1.0), 1.0 - strength, 1.0 + strength,
      seeds[2])
  return tf.clip_by_value(x, 0.0, 1.0) * 255.0


def train_augment(example: Example, crop_size: int,
                  resize_long: Tuple[int, int],
                  seed: tf.Tensor, color_jitter: float = 0.0) -> Example:
  """IRN's CAM training augmentation; returns IMAGE float32, LABELS.

  seed: [2] int, the example's stateless seed (same seed, same output).
  color_jitter: photometric_jitter's strength (0: none, IRN).
  """
  seeds = tf.random.experimental.stateless_split(seed, 4)
  image = random_resize_long(example[keys.IMAGE], resize_long[0],
                             resize_long[1], seeds[0])
  image = tf.image.stateless_random_flip_left_right(image, seeds[1])
  if color_jitter > 0:
    image = photometric_jitter(image, color_jitter, seeds[3])
  image = random_crop_or_pad(image, crop_size, seeds[2])
  image.set_shape([crop_size, crop_size, 3])
  return {keys.IMAGE: image,
          keys.LABELS: tf.cast(example[keys.LABELS], tf.float32)}


TILE = 'tile'


def single_and_tile(example: Example, crop_size: int,
                    resize_long: Tuple[int, int], seed: tf.Tensor,
                    color_jitter: float = 0.0) -> Example:
  """A frame augmented twice: IMAGE as train_augment, TILE at half scale.

  TILE is train_augment with the long side in resize_long / 2 and crop
  crop_size / 2, a mosaic quadrant (mosaic_or_single). Both have fixed
  sizes, so frames of any sizes group into mosaics. seed: [2] int.
  """
  seeds = tf.random.experimental.stateless_split(seed, 2)
  out = train_augment(example, crop_size, resize_long, seeds[0],
                      color_jitter)
  half_long = (max(1, resize_long[0] // 2), max(1, resize_long[1] // 2))
  out[TILE] = train_augment(example, crop_size // 2, half_long, seeds[1],
                            color_jitter)[keys.IMAGE]
  return out


def mosaic_or_single(group: Example, probability: float,
                     seed: tf.Tensor) -> Example:
  """One training example from four augmented frames: a mosaic or not.

  Not in IRN or the paper. With the given probability the example is a
  2 x 2 mosaic of the four frames' TILEs (half scale), labelled with the
  union of their labels; otherwise it is the first frame's IMAGE and
  labels, as without mosaics. In a mosaic a class's evidence fills a
  quarter of the crop beside three other frames (most from other videos),
  so a cue spanning a whole frame, such as a video's background colour,
  answers for a class only in its quadrant; the class map has to be high
  where the class is, which is what a CAM should show.

  Args:
    group: single_and_tile outputs batched by 4: IMAGE [4, S, S, 3],
      TILE [4, S/2, S/2, 3], LABELS [4, C].
    probability: Of a mosaic, in [0, 1].
    seed: [2] int, the group's stateless seed.

  Returns:
    IMAGE [S, S, 3] float32, LABELS [C] float32.
  """
  tiles = group[TILE]
  labels = tf.cast(group[keys.LABELS], tf.float32)
  is_mosaic = tf.random.stateless_uniform([], seed) < probability
  mosaic = tf.concat([tf.concat([tiles[0], tiles[1]], axis=1),
                      tf.concat([tiles[2], tiles[3]], axis=1)], axis=0)
  return {keys.IMAGE: tf.where(is_mosaic, mosaic, group[keys.IMAGE][0]),
          keys.LABELS: tf.where(is_mosaic, tf.reduce_max(labels, axis=0),
                                labels[0])}


def example_seeds(seed: int) -> tf.data.Dataset:
  """An endless dataset of [2] int64 stateless seeds, fixed by seed."""
  return tf.data.Dataset.random(seed=seed).batch(2, drop_remainder=True)


def video_frames(videos: tf.data.Dataset,
                 annotated_only: bool = True) -> tf.data.Dataset:
  """Training frames (IMAGE, LABELS, ...) of a dataset of videos."""
  return pairs.frames_dataset(videos, annotated_only=annotated_only)


def training_dataset(frames: tf.data.Dataset, crop_size: int,
                     resize_long: Tuple[int, int], batch_size: int,
                     shuffle_buffer: int = 1024, cache: bool = False,
                     seed: int = 0,
                     color_jitter: float = 0.0,
                     mosaic: float = 0.0) -> tf.data.Dataset:
  """Endless shuffled, augmented batches {IMAGE [B, S, S, 3], LABELS [B, C]}.

  Args:
    frames: Examples with IMAGE [H, W, 3] uint8 and LABELS [C].
    crop_size: S.
    resize_long: (min, max) long side before cropping.
    batch_size: B, the global batch size (the strategy splits it).
    shuffle_buffer: Examples in the shuffle buffer.
    cache: Keep the decoded frames in memory (small datasets).
    seed: Seed of the shuffle and of every example's augmentation.
    color_jitter: See train_augment.
    mosaic: Probability of a 2 x 2 mosaic example (mosaic_or_single); 0 is
      IRN. With mosaics each example takes four consecutive shuffled
      frames (of any sizes).
  """
  if not 0.0 <= mosaic <= 1.0:
    raise ValueError(f'mosaic must be a probability in [0, 1], got {mosaic}')
  if mosaic > 0 and crop_size % 2:
    raise ValueError(f'mosaics need an even crop_size, got {crop_size}')
  ds = frames.map(lambda e: {keys.IMAGE: e[keys.IMAGE],
                             keys.LABELS: e[keys.LABELS]})
  if cache:
    ds = ds.cache()
  ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
  ds = ds.repeat()
  if mosaic > 0:
    ds = tf.data.Dataset.zip((ds, example_seeds(seed)))
    ds = ds.map(lambda e, s: single_and_tile(e, crop_size, resize_long, s,
                                             color_jitter),
                num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = tf.data.Dataset.zip((ds.batch(4, drop_remainder=True),
                              example_seeds(seed + 1)))
    ds = ds.map(lambda g, s: mosaic_or_single(g, mosaic, s),
                num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  else:
    ds = tf.data.Dataset.zip((ds, example_seeds(seed)))
    ds = ds.map(lambda e, s: train_augment(e, crop_size, resize_long, s,
                                           color_jitter),
                num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  return ds.batch(batch_size, drop_remainder=True).prefetch(2)
