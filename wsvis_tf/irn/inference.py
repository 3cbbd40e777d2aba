"""IRN's instance inference (`step/make_ins_seg_labels.py`) in bounded memory.

From the IRN outputs of one frame at stride 4 (boundary probabilities and
the mean-shifted displacement field) and its CAMs:

  1. find_centroids: every pixel follows the bilinearly sampled displacement
     for 300 iterations, clipped to the map, then rounded;
  2. cluster_centroids: the 4-connected components of the weak-displacement
     region (|D| < 2.5) are the centroid clusters; a pixel's instance is the
     cluster its centroid landed in (the "landed elsewhere" value counts as
     one more cluster, as IRN's `compress_range` does), giving K instances;
  3. instance_cams: CAM_c x instance_k, C * K maps, class-major;
  4. random_walk.random_walk (beta 10, 2^8 steps, radius 5), sparse;
  5. x4 bilinear upsampling, cropped to the frame, divided by the global
     maximum, a constant 0.25 background plane prepended, argmax;
  6. detect_instances: each (class, instance) region is split into its
     4-connected fragments; a fragment's score is the maximum of the
     normalised walk in it, 0 if it covers less than 1% of the frame.

No step holds more than O(C K H W) values; nothing is (hw)^2.
"""

import dataclasses
from typing import Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from wsvis_tf.irn import connected_components as cc_lib
from wsvis_tf.irn import random_walk


@dataclasses.dataclass(frozen=True)
class InferenceParams:
  """IRN's inference settings (run_sample.py, make_ins_seg_labels.py)."""
  centroid_iterations: int = 300
  cluster_threshold: float = 2.5
  walk_radius: int = random_walk.WALK_RADIUS
  beta: float = random_walk.BETA
  exp_times: int = random_walk.EXP_TIMES
  background_threshold: float = 0.25
  min_fragment_fraction: float = 0.01
  stride: int = 4
  # 'global' (IRN): the walked maps of all classes are divided by their
  # one maximum; 'per_class': each class's maps by that class's maximum
  # (config.InferenceConfig.walk_normalization).
  walk_normalization: str = 'global'


@dataclasses.dataclass
class Detections:
  """Instances of one frame, as IRN's `detect_instance` dict.

  Attributes:
    components: [H, W] int32, 0 where no detection, n + 1 on detection n.
    scores: [N] float32.
    classes: [N] int32 dataset class indices (0-based).
  """
  components: np.ndarray
  scores: np.ndarray
  classes: np.ndarray

  def __len__(self) -> int:
    return len(self.scores)

  def mask(self, n: int) -> np.ndarray:
    """[H, W] bool mask of detection n."""
    return self.components == n + 1

  def masks(self) -> np.ndarray:
    """[N, H, W] bool (N full-size masks: use mask(n) for large frames)."""
    if not len(self):
      return np.zeros((0,) + self.components.shape, bool)
    return np.stack([self.mask(n) for n in range(len(self))])


@tf.function(jit_compile=True, autograph=False)
def _refine(displacement: tf.Tensor, iterations: tf.Tensor) -> tf.Tensor:
  height, width = displacement.shape[0], displacement.shape[1]
  flat = tf.reshape(displacement, [-1, 2])
  ys, xs = tf.meshgrid(tf.range(height, dtype=tf.float32),
                       tf.range(width, dtype=tf.float32), indexing='ij')

  def sample(yi, xi):
    return tf.gather(flat, yi * width + xi)

  def body(i, cy, cx):
    up_y = tf.cast(tf.math.ceil(cy), tf.int32)
    down_y = tf.cast(tf.math.floor(cy), tf.int32)
    up_x = tf.cast(tf.math.ceil(cx), tf.int32)
    down_x = tf.cast(tf.math.floor(cx), tf.int32)
    wy = (cy - tf.floor(cy))[..., tf.newaxis]
    wx = (cx - tf.floor(cx))[..., tf.newaxis]
    # IRN's bilinear form: ceil/floor corners (equal on integer positions).
    step = (sample(up_y, up_x) * wy * wx +
            sample(down_y, up_x) * (1 - wy) * wx +
            sample(up_y, down_x) * wy * (1 - wx) +
            sample(down_y, down_x) * (1 - wy) * (1 - wx))
    cy = tf.clip_by_value(cy + step[..., 0], 0.0, height - 1.0)
    cx = tf.clip_by_value(cx + step[..., 1], 0.0, width - 1.0)
    return i + 1, cy, cx

  _, cy, cx = tf.while_loop(lambda i, *_: i < iterations, body,
                            (tf.constant(0), ys, xs))
  return tf.stack([tf.cast(tf.round(cy), tf.int32),
                   tf.cast(tf.round(cx), tf.int32)], axis=-1)


def find_centroids(displacement, iterations: int = 300) -> np.ndarray:
  """IRN's `find_centroids_with_refinement`.

  Args:
    displacement: [h, w, 2] float, (dy, dx) in stride-4 pixels.
    iterations: Refinement steps (IRN: 300).

  Returns:
    [h, w, 2] int32 (y, x) of each pixel's centroid.
  """
  displacement = tf.convert_to_tensor(displacement, tf.float32)
  if displacement.shape.rank != 3 or displacement.shape[-1] != 2:
    raise ValueError(f'displacement must be [h, w, 2], got '
                     f'{displacement.shape}')
  return _refine(displacement, tf.constant(iterations)).numpy()


def cluster_centroids(centroids: np.ndarray, displacement,
                      threshold: float = 2.5) -> Tuple[np.ndarray, int]:
  """IRN's `cluster_centroids`: ([h, w] int32 instance ids 0..K-1, K)."""
  displacement = np.asarray(displacement, np.float32)
  strength = np.sqrt(np.sum(np.square(displacement), axis=-1))
  weak, _ = cc_lib.connected_components(strength < threshold)
  weak = weak.numpy()
  clusters = weak[centroids[..., 0], centroids[..., 1]]
  # compress_range: the distinct cluster values, in increasing order.
  values, instance_map = np.unique(clusters, return_inverse=True)
  return instance_map.reshape(clusters.shape).astype(np.int32), len(values)


def instance_cams(cams: np.ndarray, instance_map: np.ndarray,
                  num_instances: int) -> np.ndarray:
  """[C, h, w] CAMs x [h, w] ids -> [C * K, h, w], class-major (IRN)."""
  one_hot = (instance_map[np.newaxis] ==
             np.arange(num_instances)[:, np.newaxis, np.newaxis])
  out = cams[:, np.newaxis] * one_hot[np.newaxis].astype(cams.dtype)
  return out.reshape((-1,) + cams.shape[1:])


def check_inputs(boundary: np.ndarray, displacement: np.ndarray,
                 cams: np.ndarray, keys: Sequence[int],
                 num_classes: Optional[int] = None) -> None:
  """Raises ValueError with a clear message on inconsistent inputs."""
  keys = np.asarray(keys)
  if cams.ndim != 3:
    raise ValueError(f'cams must be [C, h, w], got shape {cams.shape}')
  if cams.shape[0] == 0 or keys.size == 0:
    raise ValueError('the frame has no class labels (no CAMs): there is '
                     'nothing to segment; skip the frame instead')
  if keys.shape != (cams.shape[0],):
    raise ValueError(f'{keys.size} class keys for {cams.shape[0]} CAMs')
  if num_classes is not None and (keys.min() < 0 or keys.max() >= num_classes):
    raise ValueError(f'class keys {keys.tolist()} are not in the label map '
                     f'(classes 0..{num_classes - 1})')
  if boundary.ndim != 2:
    raise ValueError(f'boundary must be [h, w], got shape {boundary.shape}')
  if displacement.shape != boundary.shape + (2,):
    raise ValueError(f'displacement {displacement.shape} does not match the '
                     f'boundary map {boundary.shape} (+ 2 channels)')
  if cams.shape[1:] != boundary.shape:
    raise ValueError(f'CAMs {cams.shape[1:]} are not on the boundary map\'s '
                     f'stride-4 grid {boundary.shape}')


def upsample(maps: tf.Tensor, factor: int, size: Tuple[int, int]
             ) -> tf.Tensor:
  """[C, h, w] -> [C, H, W]: x factor bilinear (half-pixel), then cropped.

  Matches PyTorch's interpolate(scale_factor, align_corners=False).
  """
  channels, height, width = maps.shape
  if size[0] > height * factor or size[1] > width * factor:
    raise ValueError(f'frame size {size} is larger than {factor} x the '
                     f'stride-{factor} grid {(height, width)}')
  up = tf.image.resize(maps[..., tf.newaxis],
                       [height * factor, width * factor], method='bilinear')
  return up[:, :size[0], :size[1], 0]


def detect_instances(scores: tf.Tensor, labels: tf.Tensor,
                     region_classes: np.ndarray, min_size: float
                     ) -> Detections:
  """IRN's `detect_instance` on an argmax label map.

  Args:
    scores: [R, H, W] float, the normalised walk of each region class.
    labels: [H, W] int32, 0 background, r + 1 for region class r.
    region_classes: [R] int, dataset class of each region class.
    min_size: Fragments smaller than this get score 0.

  Returns:
    Detections, one per 4-connected fragment of each region class.
  """
  components, count = cc_lib.connected_components(labels)
  count = int(count)
  if count == 0:
    return Detections(np.zeros(labels.shape, np.int32),
                      np.zeros([0], np.float32), np.zeros([0], np.int32))
  flat_labels = tf.reshape(labels, [-1])
  flat_components = tf.reshape(components, [-1])
  own = tf.gather(tf.reshape(tf.transpose(scores, [1, 2, 0]),
                             [-1, scores.shape[0]]),
                  tf.maximum(flat_labels - 1, 0), batch_dims=1)
  fragment_max = tf.math.unsorted_segment_max(own, flat_components,
                                              count + 1)[1:]
  sizes = tf.math.unsorted_segment_sum(tf.ones_like(own), flat_components,
                                       count + 1)[1:]
  region = tf.math.unsorted_segment_max(flat_labels, flat_components,
                                        count + 1)[1:] - 1
  fragment_scores = tf.where(sizes < min_size, 0.0, fragment_max)
  return Detections(components.numpy().astype(np.int32),
                    fragment_scores.numpy().astype(np.float32),
                    np.asarray(region_classes)[region.numpy()].astype(
                        np.int32))


WALK_NORMALIZATIONS = ('global', 'per_class')


def normalise_walk(scores: tf.Tensor, num_classes: int, how: str
                  ) -> tf.Tensor:
  """Scales walked maps [C * I, H, W] (class-major) into [0, 1].

  'global' is IRN's `rw_up / max(rw_up)`. 'per_class' divides the I maps
  of each class by their maximum, so that a class whose CAM is small (a
  compact part, or a static object beside f-CAM-amplified moving ones) is
  not pushed under the background threshold by another class's scale.
  A class whose maps are all zero stays zero.
  """
  if how == 'global':
    return scores / tf.reduce_max(scores)
  if how != 'per_class':
    raise ValueError(f'walk normalization must be one of '
                     f'{WALK_NORMALIZATIONS}, got {how!r}')
  shape = tf.shape(scores)
  grouped = tf.reshape(scores, [num_classes, -1])
  peaks = tf.reduce_max(grouped, axis=1, keepdims=True)
  grouped = tf.math.divide_no_nan(grouped, peaks)
  return tf.reshape(grouped, shape)


def instance_segmentation(boundary, displacement, cams,
                          keys: Sequence[int],
                          image_size: Tuple[int, int],
                          params: InferenceParams = InferenceParams(),
                          num_classes: Optional[int] = None) -> Detections:
  """IRN's instance inference for one frame (module docstring).

  Args:
    boundary: [h, w] float boundary probabilities (flip-averaged).
    displacement: [h, w, 2] float mean-shifted displacement (dy, dx).
    cams: [C, h, w] float CAMs (or f-CAMs) of the frame's classes, stride 4.
    keys: [C] dataset class index of each CAM.
    image_size: (H, W) of the frame.
    params: InferenceParams.
    num_classes: When given, keys must be in [0, num_classes).

  Returns:
    Detections at full resolution.
  """
  boundary = np.asarray(boundary, np.float32)
  displacement = np.asarray(displacement, np.float32)
  cams = np.asarray(cams, np.float32)
  check_inputs(boundary, displacement, cams, keys, num_classes)
  keys = np.asarray(keys, np.int32)
  centroids = find_centroids(displacement, params.centroid_iterations)
  instance_map, num_instances = cluster_centroids(
      centroids, displacement, params.cluster_threshold)
  x = instance_cams(cams, instance_map, num_instances)
  # Channels that are zero everywhere walk to zero: skip them (exact).
  active = np.flatnonzero(x.reshape(len(x), -1).max(axis=1) > 0)
  walked = np.zeros_like(x)
  if active.size:
    walked[active] = random_walk.random_walk(
        x[active], boundary, params.walk_radius, params.beta,
        params.exp_times).numpy()
  region_classes = np.repeat(keys, num_instances)
  scores = upsample(tf.constant(walked), params.stride, image_size)
  peak = float(tf.reduce_max(scores)) if active.size else 0.0
  height, width = image_size
  if not peak > 0:
    return Detections(np.zeros((height, width), np.int32),
                      np.zeros([0], np.float32), np.zeros([0], np.int32))
  scores = normalise_walk(scores, len(keys), params.walk_normalization)
  with_background = tf.concat(
      [tf.fill([1, height, width], params.background_threshold), scores], 0)
  labels = tf.cast(tf.argmax(with_background, axis=0), tf.int32)
  return detect_instances(scores, labels, region_classes,
                          params.min_fragment_fraction * height * width)


def resize_detections(detections: Detections, size: Tuple[int, int]
                      ) -> Detections:
  """Detections resized (nearest) to size; fragments that vanish are dropped.

  Used when inference ran on an upscaled frame (InferenceConfig.image_scale).
  """
  components = tf.image.resize(detections.components[..., np.newaxis], size,
                               method='nearest')[..., 0].numpy()
  present = np.isin(np.arange(1, len(detections) + 1), components)
  keep = np.flatnonzero(present)
  relabel = np.zeros(len(detections) + 1, np.int32)
  relabel[keep + 1] = np.arange(1, len(keep) + 1)
  return Detections(relabel[components].astype(np.int32),
                    detections.scores[keep], detections.classes[keep])


def scaled_frame(image: np.ndarray, image_scale: float = 1.0) -> tf.Tensor:
  """The frame as the network sees it: float32 [0, 255], resized by
  image_scale (bicubic) when it is not 1."""
  image = tf.cast(image, tf.float32)
  if image_scale == 1.0:
    return image
  height, width = image.shape[:2]
  size = (max(int(round(height * image_scale)), 1),
          max(int(round(width * image_scale)), 1))
  return tf.clip_by_value(tf.image.resize(image, size, method='bicubic'),
                          0.0, 255.0)


def displacement_sum(edge_displacement, frames, image_scale: float = 1.0
                    ) -> Tuple[np.ndarray, int]:
  """The sum over frames of each frame's mean displacement, and the count.

  The per-video part of mean_displacement (a Beam worker sums its videos'
  frames; the sums are added and divided by mean_from_sums).

  Args:
    edge_displacement: A model.EdgeDisplacement.
    frames: An iterable of [H, W, 3] uint8 frames.
    image_scale: As segment_frame.

  Returns:
    ([2] float64 (dy, dx) sum in stride-4 pixels, number of frames).
  """
  total, count = np.zeros([2], np.float64), 0
  for image in frames:
    out = edge_displacement(scaled_frame(image, image_scale))
    total += np.mean(out['displacement'].numpy(), axis=(0, 1))
    count += 1
  return total, count


def mean_from_sums(total: np.ndarray, count: int, offset: np.ndarray
                  ) -> np.ndarray:
  """[2] float32 mean displacement from displacement_sum results.

  offset ([2] float32), the MeanShift offset the model subtracted while the
  sums were taken, is added back, so the result is the raw mean whatever it
  subtracts.

  Raises:
    ValueError: no frames.
  """
  if not count:
    raise ValueError('mean_displacement needs at least one frame')
  return (np.asarray(total, np.float64) / count + offset).astype(np.float32)


def mean_displacement(edge_displacement, frames, image_scale: float = 1.0
                     ) -> np.ndarray:
  """IRN's MeanShift statistic: the final model's mean displacement over
  the frames it will segment (IRN train_irn.py, 'Analyzing displacements
  mean'), per frame then averaged.

  Args:
    edge_displacement: A model.EdgeDisplacement (its current offset is
      added back, so the result is the raw mean whatever it subtracts now).
    frames: An iterable of [H, W, 3] uint8 frames.
    image_scale: As segment_frame.

  Returns:
    [2] float32 (dy, dx) in stride-4 pixels.

  Raises:
    ValueError: no frames.
  """
  total, count = displacement_sum(edge_displacement, frames, image_scale)
  return mean_from_sums(
      total, count,
      edge_displacement.model.heads.mean_shift.running_mean.numpy())


def segment_frame(edge_displacement, image: np.ndarray, cams: np.ndarray,
                  keys: Sequence[int],
                  params: InferenceParams = InferenceParams(),
                  num_classes: Optional[int] = None,
                  image_scale: float = 1.0) -> Detections:
  """Network outputs + instance_segmentation for one frame.

  Args:
    edge_displacement: image [h, w, 3] -> {'boundary', 'displacement'} at
      stride 4 (model.EdgeDisplacement).
    image: [H, W, 3] uint8 frame.
    cams: [C, ceil(H/4), ceil(W/4)] stride-4 CAMs (or f-CAMs).
    keys: [C] class indices.
    params: InferenceParams.
    num_classes: For checking keys.
    image_scale: Run on the frame resized by this factor (bicubic; the CAMs
      resized bilinearly to the network's grid) and resize the detections
      back, for data whose frames are smaller than the backbone was trained
      on (the quick preset's CAM network sees frames x2).

  Returns:
    Detections at the frame's size.
  """
  height, width = image.shape[:2]
  image = scaled_frame(image, image_scale)
  size = tuple(int(v) for v in image.shape[:2])
  out = edge_displacement(image)
  boundary = out['boundary'].numpy()
  cams = np.asarray(cams, np.float32)
  if image_scale != 1.0 and cams.shape[0]:
    cams = tf.transpose(tf.image.resize(
        tf.transpose(cams, [1, 2, 0]), boundary.shape, method='bilinear'),
                        [2, 0, 1]).numpy()
  detections = instance_segmentation(boundary, out['displacement'].numpy(),
                                     cams, keys, size, params, num_classes)
  if image_scale != 1.0:
    detections = resize_detections(detections, (height, width))
  return detections
