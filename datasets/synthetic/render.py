"""Procedural videos with exact ground truth: the embedded default dataset.

`render_video(config, rng)` draws one video as a stack of translating layers
(textured background moved by the camera, objects, a static occluder) and
returns the per-video example of `wsvis_tf.core.keys` as numpy arrays, with
exact instance masks, forward optical flow and occlusion.

The scenes are built to provoke the failure modes the paper addresses:
  * partial segmentation (sec 1, sec 3.2): the class is visible only on a
    small part at each object's front (sprites.creature); the body is shared
    by all classes, so a classifier's CAM covers the part only;
  * missing instances (sec 1, sec 3.3): objects enter or leave the frame and
    pass behind a static pillar, so a track is absent on some frames;
  * touching same-class instances with different motion (sec 3.2, eq 3): a
    fraction of videos has a same-class pair sliding past each other in
    contact, separable only by the flow's spatial gradient;
  * camera motion: the background drifts at a sub-pixel velocity, objects move
    faster, so flow magnitude separates them (eq 2's threshold T).

Exactness: every layer is only translated, by multiples of 1/32 pixel, which
is the resolution of cv2.warpAffine's bilinear interpolation. A layer's pixel
at p in frame t therefore shows the same sprite point as p + d in frame t + 1,
d being the layer's displacement, and d is exactly representable in float16.
"""

import dataclasses
import math
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np

from datasets.synthetic import sprites
from wsvis_tf.core import keys

# cv2.warpAffine interpolates at 1/2**INTER_BITS = 1/32 pixel.
_SUBPIXEL = 32
# Track ids: video number * _TRACK_STRIDE + k + 1 (see track_id_base).
TRACK_STRIDE = 100
_SPLIT_CODES = {'train': 0, 'validation': 1, 'test': 2}

ROAM, CROSS, TOUCH = 'roam', 'cross', 'touch'


@dataclasses.dataclass(frozen=True)
class RenderConfig:
  """Parameters of one family of procedural videos (one TFDS config).

  Lengths are pixels and speeds pixels per frame unless noted.
  """
  height: int = 128
  width: int = 160
  num_frames: int = 20
  num_classes: int = 4
  min_instances: int = 1
  max_instances: int = 4
  # Body length as a fraction of min(height, width); aspect = length / width.
  object_length: Tuple[float, float] = (0.2, 0.34)
  object_aspect: Tuple[float, float] = (1.3, 2.5)
  # Share of the object area covered by the class-specific part.
  part_fraction: Tuple[float, float] = (0.15, 0.25)
  object_speed: Tuple[float, float] = (1.2, 3.0)
  # Per-video probability that an object turns, per frame.
  turn_prob: float = 0.05
  camera_motion_prob: float = 0.75
  camera_speed: Tuple[float, float] = (0.15, 0.6)
  occluder_prob: float = 0.5
  # Pillar width as a fraction of the frame width.
  occluder_width: Tuple[float, float] = (0.08, 0.14)
  touching_pair_prob: float = 0.4
  # Speed of the touching pair's members relative to each other.
  touching_relative_speed: Tuple[float, float] = (1.5, 3.0)
  crossing_prob: float = 0.4
  # Frame labels: classes with at least this many visible pixels.
  min_visible_pixels: int = 20
  # Sensor noise added to the final frames (std of 8-bit values).
  noise_std: float = 2.0
  seed: int = 0

  def __post_init__(self):
    if not 1 <= self.num_classes <= len(sprites.PART_STYLES):
      raise ValueError(f'num_classes must be in [1, '
                       f'{len(sprites.PART_STYLES)}], got {self.num_classes}')
    if not 1 <= self.min_instances <= self.max_instances < TRACK_STRIDE:
      raise ValueError('need 1 <= min_instances <= max_instances < '
                       f'{TRACK_STRIDE}')
    if self.num_frames < 2:
      raise ValueError('videos need at least 2 frames for flow')


def class_names(config: RenderConfig) -> List[str]:
  """Names of the config's classes, in class-index order."""
  return [s.name for s in sprites.PART_STYLES[:config.num_classes]]


def video_rng(seed: int, split: str, index: int) -> np.random.Generator:
  """The generator of video `index` of `split`: independent of video counts."""
  return np.random.default_rng([seed, _SPLIT_CODES[split], index])


@dataclasses.dataclass
class Layer:
  """A sprite and where its canvas origin is in each frame.

  Attributes:
    sprite: the layer's texture and matte.
    offsets: [T, 2] float64 (x, y) of the sprite canvas's pixel (0, 0) in
      frame coordinates, multiples of 1/32.
    class_id: 0-based class of an object layer; -1 for scenery.
    role: ROAM, CROSS or TOUCH for objects, '' for scenery.
  """
  sprite: sprites.Sprite
  offsets: np.ndarray
  class_id: int = -1
  role: str = ''

  def displacement(self, t: int) -> np.ndarray:
    """[2] (dx, dy) of the layer from frame t to t + 1."""
    return self.offsets[t + 1] - self.offsets[t]


@dataclasses.dataclass
class Scene:
  """Everything needed to render a video deterministically.

  Attributes:
    layers: back to front; layers[0] is the background.
    objects: indices into `layers` of the object layers, in track order
      (track k is layers[objects[k]]).
    camera_velocity: [2] (dx, dy) image motion of static scenery per frame.
    noise_seed: seed of the sensor noise.
  """
  layers: List[Layer]
  objects: List[int]
  camera_velocity: np.ndarray
  noise_seed: int


def _quantize(xy: np.ndarray) -> np.ndarray:
  return np.round(np.asarray(xy, np.float64) * _SUBPIXEL) / _SUBPIXEL


def _unit(angle: float) -> np.ndarray:
  return np.array([math.cos(angle), math.sin(angle)])


def _rotate(v: np.ndarray, angle: float) -> np.ndarray:
  c, s = math.cos(angle), math.sin(angle)
  return np.array([c * v[0] - s * v[1], s * v[0] + c * v[1]])


def place(image: np.ndarray, offset: np.ndarray, height: int, width: int,
          replicate: bool = False) -> np.ndarray:
  """Translates a sprite array so its pixel (0, 0) lands at `offset`.

  Args:
    image: [h, w] or [h, w, C] float32.
    offset: [2] (x, y), multiples of 1/32 for exact results.
    height: output height.
    width: output width.
    replicate: extend the sprite by border replication (textures) instead of
      zeros (mattes).

  Returns:
    [height, width] or [height, width, C] float32, bilinear.
  """
  m = np.array([[1, 0, -offset[0]], [0, 1, -offset[1]]], np.float64)
  border = cv2.BORDER_REPLICATE if replicate else cv2.BORDER_CONSTANT
  return cv2.warpAffine(image, m, (width, height),
                        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                        borderMode=border, borderValue=0)


def _opaque(layer: Layer, t: int, height: int, width: int,
            shift: Optional[np.ndarray] = None) -> np.ndarray:
  """[H, W] bool matte of `layer` at frame t, optionally shifted."""
  offset = layer.offsets[t] if shift is None else layer.offsets[t] + shift
  return place(layer.sprite.alpha, offset, height, width) >= 0.5


def _roam_path(start: np.ndarray, velocity: np.ndarray, config: RenderConfig,
               rng: np.random.Generator) -> np.ndarray:
  """Centres [T, 2]: constant velocity, random turns, bounces at the border.

  Bounces happen when the centre reaches the frame edge, so up to half the
  object leaves the frame before it comes back.
  """
  centres = np.zeros((config.num_frames, 2))
  c, v = start.astype(np.float64), velocity.astype(np.float64)
  limits = np.array([config.width - 1, config.height - 1], np.float64)
  for t in range(config.num_frames):
    centres[t] = c
    if rng.random() < config.turn_prob:
      v = _rotate(v, rng.uniform(-np.pi / 3, np.pi / 3))
    for axis in range(2):
      nxt = c[axis] + v[axis]
      if (nxt < 0 and v[axis] < 0) or (nxt > limits[axis] and v[axis] > 0):
        v[axis] = -v[axis]
    c = c + v
  return centres


def _cross_path(radius: float, speed: float, config: RenderConfig,
                rng: np.random.Generator) -> np.ndarray:
  """Centres [T, 2] of an object that enters or leaves through a border.

  The crossing frame is chosen so that the object is entirely outside the
  frame on at least two frames (faster objects if the clip is short).
  """
  h, w, n = config.height, config.width, config.num_frames
  side = int(rng.integers(4))
  normal = [np.array([-1.0, 0]), np.array([1.0, 0]), np.array([0, -1.0]),
            np.array([0, 1.0])][side]
  along = rng.uniform(0.3, 0.7)
  border = [np.array([0.0, along * (h - 1)]),
            np.array([w - 1.0, along * (h - 1)]),
            np.array([along * (w - 1), 0.0]),
            np.array([along * (w - 1), h - 1.0])][side]
  tilt = rng.uniform(-np.pi / 5, np.pi / 5)
  out = _rotate(normal, tilt)
  # Frames from the crossing until the object has fully left (at speed s):
  # ceil((radius + 2) / (s cos tilt)); at most n - 4 to leave two frames out.
  need = (radius + 2) / (max(n - 4, 1) * math.cos(tilt))
  speed = min(max(speed, need), 2 * config.object_speed[1])
  frames_out = math.ceil((radius + 2) / (speed * math.cos(tilt)))
  hi = max(n - 2 - frames_out, 1)
  lo = min(max(2, n // 4), hi)
  t_cross = int(rng.integers(lo, hi + 1))
  t = np.arange(n, dtype=np.float64)[:, None]
  if rng.random() < 0.5:  # Leaves.
    return border + (t - t_cross) * speed * out
  return border + ((n - 1 - t_cross) - t) * speed * out  # Enters.


def _touching_pair(
    sprite_a: sprites.Sprite, sprite_b: sprites.Sprite, config: RenderConfig,
    rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
  """Centres [T, 2] x 2 of two objects in contact at a middle frame.

  B slides along A's side (relative velocity roughly perpendicular to the
  line joining them), so they stay in contact for several frames while
  moving differently: the case where only flow separates two same-class
  instances (paper eq 3).
  """
  h, w, n = config.height, config.width, config.num_frames
  t_mid = int(rng.integers(n // 3, max(2 * n // 3, n // 3) + 1))
  ca = np.array([rng.uniform(0.35, 0.65) * (w - 1),
                 rng.uniform(0.35, 0.65) * (h - 1)])
  u = _unit(rng.uniform(0, 2 * np.pi))
  va = _unit(rng.uniform(0, 2 * np.pi)) * rng.uniform(*config.object_speed)
  rel = _rotate(np.array([-u[1], u[0]]) * rng.choice([-1.0, 1.0]),
                rng.uniform(-np.pi / 9, np.pi / 9))
  vb = va + rel * rng.uniform(*config.touching_relative_speed)

  # Bisect the centre distance along u at which the mattes stop overlapping,
  # on a canvas big enough for both wherever they are.
  pad = int(math.ceil(sprite_a.radius + sprite_b.radius)) + 4
  size = 2 * pad + 1
  origin = np.array([pad, pad], np.float64)
  mat_a = place(sprite_a.alpha, _quantize(origin - sprite_a.center), size,
                size) >= 0.5

  def overlap(dist):
    cb = origin + dist * u
    mat_b = place(sprite_b.alpha, _quantize(cb - sprite_b.center), size,
                  size) >= 0.5
    return bool((mat_a & mat_b).any())

  near, far = 0.0, sprite_a.radius + sprite_b.radius + 2
  for _ in range(14):
    mid = (near + far) / 2
    if overlap(mid):
      near = mid
    else:
      far = mid
  # Slightly overlapping: one occludes the other along a shared boundary.
  cb = ca + (far - rng.uniform(0.5, 2.0)) * u
  t = np.arange(n, dtype=np.float64)[:, None] - t_mid
  return ca + t * va, cb + t * vb


def _object_sprite(class_id: int, config: RenderConfig,
                   rng: np.random.Generator) -> sprites.Sprite:
  length = rng.uniform(*config.object_length) * min(config.height,
                                                    config.width)
  return sprites.creature(length, rng.uniform(*config.object_aspect),
                          rng.uniform(*config.part_fraction),
                          sprites.PART_STYLES[class_id], rng)


def sample_scene(config: RenderConfig, rng: np.random.Generator) -> Scene:
  """Draws the layers and trajectories of one video."""
  h, w, n = config.height, config.width, config.num_frames
  num = int(rng.integers(config.min_instances, config.max_instances + 1))
  touching = (config.max_instances >= 2 and
              rng.random() < config.touching_pair_prob)
  crossing = rng.random() < config.crossing_prob
  num = max(num, min(2 * touching + crossing, config.max_instances))
  if touching and crossing and num < 3:
    crossing = False
  roles = [TOUCH] * (2 * touching) + [CROSS] * crossing
  roles += [ROAM] * (num - len(roles))
  classes = list(rng.integers(config.num_classes, size=num))
  if touching:
    classes[1] = classes[0]

  # Camera: the scenery's image velocity; quantised cumulative offsets keep
  # the background's flow exact.
  velocity = np.zeros(2)
  if rng.random() < config.camera_motion_prob:
    velocity = (_unit(rng.uniform(0, 2 * np.pi)) *
                rng.uniform(*config.camera_speed))
  drift = _quantize(np.arange(n)[:, None] * velocity[None, :])
  margin = int(math.ceil(np.abs(drift).max())) + 4
  layers = [Layer(sprites.background(h + 2 * margin, w + 2 * margin, rng),
                  drift - margin)]

  object_layers = []
  touch_sprites = []
  for role, class_id in zip(roles, classes):
    sprite = _object_sprite(int(class_id), config, rng)
    speed = rng.uniform(*config.object_speed)
    if role == ROAM:
      start = np.array([rng.uniform(0.15, 0.85) * (w - 1),
                        rng.uniform(0.15, 0.85) * (h - 1)])
      centres = _roam_path(start, _unit(rng.uniform(0, 2 * np.pi)) * speed,
                           config, rng)
    elif role == CROSS:
      centres = _cross_path(sprite.radius, speed, config, rng)
    else:
      centres = None
      touch_sprites.append(sprite)
    object_layers.append([sprite, centres, int(class_id), role])
  if touching:
    path_a, path_b = _touching_pair(touch_sprites[0], touch_sprites[1],
                                    config, rng)
    object_layers[0][1], object_layers[1][1] = path_a, path_b

  tracks = []
  for sprite, centres, class_id, role in object_layers:
    offsets = _quantize(centres) - np.asarray(sprite.center)
    tracks.append(Layer(sprite, _quantize(offsets), class_id, role))
  # Random track order (roles are not tied to track index) and depth order.
  tracks = [tracks[i] for i in rng.permutation(len(tracks))]
  depth = rng.permutation(len(tracks))
  objects = [0] * len(tracks)
  for k in depth:
    layers.append(tracks[k])
    objects[k] = len(layers) - 1

  if rng.random() < config.occluder_prob:
    width = rng.uniform(*config.occluder_width) * w
    column = sprites.pillar(h + 2 * margin, width, rng)
    x0 = rng.uniform(0.2, 0.8) * w - column.alpha.shape[1] / 2
    offsets = _quantize(drift + np.array([round(x0), -margin]))
    layers.append(Layer(column, offsets))  # In front of every object.
  return Scene(layers=layers, objects=objects, camera_velocity=velocity,
               noise_seed=int(rng.integers(2**31)))


def render_scene(scene: Scene, config: RenderConfig,
                 track_id_base: int = 0) -> Dict[str, np.ndarray]:
  """Composites a scene; see render_video for the returned arrays."""
  h, w, n = config.height, config.width, config.num_frames
  layers = scene.layers
  frames = np.zeros((n, h, w, 3), np.uint8)
  owner = np.zeros((n, h, w), np.int32)  # Index of the top layer per pixel.
  noise = np.random.default_rng(scene.noise_seed)
  for t in range(n):
    image = np.zeros((h, w, 3), np.float32)
    for li, layer in enumerate(layers):
      opaque = _opaque(layer, t, h, w)
      rgb = place(layer.sprite.rgb, layer.offsets[t], h, w, replicate=True)
      image[opaque] = rgb[opaque]
      owner[t][opaque] = li
    if config.noise_std > 0:
      image += noise.normal(0, config.noise_std, image.shape).astype(
          np.float32)
    frames[t] = np.clip(np.round(image), 0, 255).astype(np.uint8)

  # Instance map: value k + 1 where track k's layer is on top.
  layer_to_value = np.zeros(len(layers), np.uint16)
  for k, li in enumerate(scene.objects):
    layer_to_value[li] = k + 1
  instance_map = layer_to_value[owner][..., None]

  flow = np.zeros((n - 1, h, w, 2), np.float32)
  occlusion = np.zeros((n - 1, h, w), bool)
  ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
  for t in range(n - 1):
    for li, layer in enumerate(layers):
      own = owner[t] == li
      if not own.any():
        continue
      d = layer.displacement(t)
      flow[t][own] = d.astype(np.float32)
      # A pixel of this layer stays visible unless it leaves the frame or a
      # layer in front covers the point it moves to.
      gone = ((xs + d[0] < 0) | (xs + d[0] > w - 1) |
              (ys + d[1] < 0) | (ys + d[1] > h - 1))
      for front in layers[li + 1:]:
        gone |= _opaque(front, t + 1, h, w, shift=-d)
      occlusion[t] |= own & gone

  num_tracks = len(scene.objects)
  track_classes = np.array([layers[li].class_id for li in scene.objects],
                           np.int64)
  counts = np.zeros((n, config.num_classes), np.int64)
  for k in range(num_tracks):
    counts[:, track_classes[k]] += (instance_map[..., 0] == k + 1).sum((1, 2))
  return {
      keys.FRAMES: frames,
      keys.FRAME_NAMES: np.array([f'{t:05d}.jpg' for t in range(n)]),
      keys.FRAME_LABELS: counts >= config.min_visible_pixels,
      keys.ANNOTATED: np.ones((n,), bool),
      keys.INSTANCE_MAP: instance_map,
      keys.TRACK_IDS: np.arange(1, num_tracks + 1, dtype=np.int64) +
                      track_id_base,
      keys.TRACK_CLASSES: track_classes,
      keys.GT_FLOW: flow,
      keys.GT_OCCLUSION: occlusion,
  }


def render_video(config: RenderConfig, rng: np.random.Generator,
                 track_id_base: int = 0) -> Dict[str, np.ndarray]:
  """Renders one procedural video with its ground truth.

  Args:
    config: the video family's parameters.
    rng: the video's generator (see video_rng); the output is a pure
      function of config and the generator's state.
    track_id_base: added to the tracks' ids 1..N (the TFDS builder passes
      video number * TRACK_STRIDE so that ids are unique in the dataset).

  Returns:
    A dict keyed by wsvis_tf.core.keys constants (T = config.num_frames,
    N = number of tracks, C = config.num_classes):
      FRAMES: [T, H, W, 3] uint8 RGB.
      FRAME_NAMES: [T] str, '00000.jpg', '00001.jpg', ...
      FRAME_LABELS: [T, C] bool, classes with >= min_visible_pixels visible.
      ANNOTATED: [T] bool, all True.
      INSTANCE_MAP: [T, H, W, 1] uint16, 0 background (and occluder), k the
        visible part of track k - 1.
      TRACK_IDS: [N] int64, track_id_base + 1 .. track_id_base + N.
      TRACK_CLASSES: [N] int64, 0-based classes.
      GT_FLOW: [T - 1, H, W, 2] float32 exact forward flow t -> t + 1 of
        every pixel of frame t (channel 0 dx, 1 dy), multiples of 1/32.
      GT_OCCLUSION: [T - 1, H, W] bool, pixels of frame t that are covered
        or outside the frame at t + 1.
  """
  return render_scene(sample_scene(config, rng), config, track_id_base)
