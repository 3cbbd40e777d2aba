"""Sprites of the procedural videos: textured layers with a soft alpha matte.

A sprite is drawn once per video and afterwards only translated, so that the
optical flow of its pixels is exactly its displacement (see render.py). Every
layer is a `Sprite`: an RGB texture defined on its whole canvas (so bilinear
sampling at the matte's edge never mixes in black) and a soft alpha from 4x
supersampled polygons (so the 0.5-thresholded, subpixel-shifted matte has
smooth, shift-consistent edges).

Objects follow the paper's failure mode (a) (sec 1, Fig. 1a: CAMs cover only
the discriminative part): a BODY whose shape, aspect and texture are drawn
independently of the class from one palette shared by all classes, plus a
small class-specific PART (own colour and shape) at the body's front end.
"""

import dataclasses
import math
from typing import Optional, Sequence, Tuple

import cv2
import numpy as np

# Polygons are rasterised at this factor and area-averaged down: soft alpha.
_SUPERSAMPLE = 4


@dataclasses.dataclass(frozen=True)
class PartStyle:
  """The class-specific part: the only visual evidence of an object's class."""
  name: str
  rgb: Tuple[int, int, int]
  shape: str


# One entry per class, in class-index order. Saturated colours that neither the
# body palette (desaturated browns) nor the background (muted greens/greys)
# contains, and a distinct outline each, so a classifier needs only the part.
PART_STYLES = (
    PartStyle('red_triangle', (225, 35, 35), 'triangle'),
    PartStyle('green_disc', (40, 205, 60), 'disc'),
    PartStyle('blue_square', (40, 80, 235), 'square'),
    PartStyle('yellow_diamond', (240, 215, 30), 'diamond'),
    PartStyle('magenta_star', (215, 45, 205), 'star'),
    PartStyle('cyan_cross', (35, 215, 225), 'cross'),
    PartStyle('orange_hexagon', (250, 140, 25), 'hexagon'),
    PartStyle('white_chevron', (245, 245, 245), 'chevron'),
)

BODY_SHAPES = ('ellipse', 'capsule', 'egg', 'blob')


@dataclasses.dataclass
class Sprite:
  """A layer: texture + matte on a small canvas.

  Attributes:
    rgb: [h, w, 3] float32 texture in [0, 255], defined on the whole canvas.
    alpha: [h, w] float32 matte in [0, 1]; a pixel is opaque where >= 0.5.
    part_alpha: [h, w] float32 matte of the class part (objects only), a
      subset of `alpha`; None for background and occluders.
    center: (x, y) float canvas point that the layer's position refers to.
  """
  rgb: np.ndarray
  alpha: np.ndarray
  part_alpha: Optional[np.ndarray] = None
  center: Tuple[float, float] = (0.0, 0.0)

  @property
  def radius(self) -> float:
    """Largest distance from `center` to an opaque pixel (pixels)."""
    ys, xs = np.nonzero(self.alpha >= 0.5)
    if not ys.size:
      return 0.0
    return float(np.sqrt((xs - self.center[0])**2 +
                         (ys - self.center[1])**2).max())

  def part_fraction(self) -> float:
    """Opaque part pixels / opaque object pixels, on the unshifted canvas."""
    if self.part_alpha is None:
      return 0.0
    opaque = self.alpha >= 0.5
    return float((opaque & (self.part_alpha >= 0.5)).sum() /
                 max(int(opaque.sum()), 1))


def _rotate(points: np.ndarray, angle: float) -> np.ndarray:
  c, s = math.cos(angle), math.sin(angle)
  return points @ np.array([[c, s], [-s, c]], np.float64)


def _raster(polygons: Sequence[np.ndarray], height: int,
            width: int) -> np.ndarray:
  """Canvas-coordinate (x, y) polygons -> [height, width] float32 soft matte."""
  big = np.zeros((height * _SUPERSAMPLE, width * _SUPERSAMPLE), np.uint8)
  # Pixel centres are integers at both scales; canvas pixel i spans
  # [i - 0.5, i + 0.5), i.e. supersampled pixels 4i .. 4i + 3.
  pts = [np.round((p + 0.5) * _SUPERSAMPLE - 0.5).astype(np.int32)
         for p in polygons]
  cv2.fillPoly(big, pts, 255)
  small = cv2.resize(big.astype(np.float32) / 255.0, (width, height),
                     interpolation=cv2.INTER_AREA)
  return small


def _part_polygon(shape: str) -> np.ndarray:
  """Unit-size part outline in (forward, left) coordinates, [K, 2]."""
  phi = np.linspace(0, 2 * np.pi, 40, endpoint=False)
  if shape == 'triangle':  # Points forward, like a beak.
    return np.array([[1.0, 0.0], [-0.5, 0.87], [-0.5, -0.87]])
  if shape == 'disc':
    return np.stack([np.cos(phi), np.sin(phi)], 1) * 0.8
  if shape == 'square':
    return np.array([[0.7, 0.7], [-0.7, 0.7], [-0.7, -0.7], [0.7, -0.7]])
  if shape == 'diamond':
    return np.array([[1.0, 0.0], [0.0, 0.6], [-1.0, 0.0], [0.0, -0.6]])
  if shape == 'star':
    k = np.arange(10)
    r = np.where(k % 2 == 0, 1.0, 0.45)
    return np.stack([r * np.cos(k * np.pi / 5), r * np.sin(k * np.pi / 5)], 1)
  if shape == 'cross':
    w = 0.33
    return np.array([[1, w], [w, w], [w, 1], [-w, 1], [-w, w], [-1, w],
                     [-1, -w], [-w, -w], [-w, -1], [w, -1], [w, -w], [1, -w]],
                    np.float64)
  if shape == 'hexagon':
    k = np.arange(6)
    return np.stack([np.cos(k * np.pi / 3), np.sin(k * np.pi / 3)], 1) * 0.85
  if shape == 'chevron':
    return np.array([[1.0, 0.0], [-0.3, 0.9], [-0.75, 0.9], [0.3, 0.0],
                     [-0.75, -0.9], [-0.3, -0.9]])
  raise ValueError(f'unknown part shape {shape!r}')


def _body_polygon(shape: str, half_length: float, half_width: float,
                  rng: np.random.Generator) -> np.ndarray:
  """Body outline in (forward, left) pixel coordinates, [K, 2]."""
  phi = np.linspace(0, 2 * np.pi, 72, endpoint=False)
  c, s = np.cos(phi), np.sin(phi)
  if shape == 'ellipse':
    u, v = c, s
  elif shape == 'capsule':  # Superellipse: a rounded rectangle.
    u = np.sign(c) * np.abs(c)**0.5
    v = np.sign(s) * np.abs(s)**0.5
  elif shape == 'egg':  # One end blunter than the other, either way round.
    u, v = c, s * (1 + rng.choice([-1.0, 1.0]) * 0.3 * c)
  elif shape == 'blob':  # Low-frequency radial wobble, star-convex.
    r = np.ones_like(phi)
    for k in (2, 3, 4):
      r += rng.uniform(0.0, 0.1) * np.cos(k * phi + rng.uniform(0, 2 * np.pi))
    u, v = c * r, s * r
  else:
    raise ValueError(f'unknown body shape {shape!r}')
  return np.stack([u * half_length, v * half_width], 1)


def _value_noise(height: int, width: int, scales: Sequence[float],
                 rng: np.random.Generator) -> np.ndarray:
  """Multi-octave smooth noise, [height, width] float32 in [0, 1]."""
  out = np.zeros((height, width), np.float32)
  for scale in scales:
    gh, gw = int(height / scale) + 3, int(width / scale) + 3
    grid = rng.normal(size=(gh, gw)).astype(np.float32)
    up = cv2.resize(grid, (int(gw * scale), int(gh * scale)),
                    interpolation=cv2.INTER_CUBIC)
    out += up[:height, :width] * math.sqrt(scale)
  lo, hi = np.percentile(out, [1, 99])
  return np.clip((out - lo) / max(hi - lo, 1e-6), 0, 1)


def _hsv_to_rgb(h: float, s: float, v: float) -> np.ndarray:
  """h in degrees, s and v in [0, 1] -> [3] float32 RGB in [0, 255]."""
  hsv = np.array([[[h / 2.0, s * 255.0, v * 255.0]]], np.float32)
  return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)[0, 0].astype(
      np.float32)


def background(height: int, width: int,
               rng: np.random.Generator) -> Sprite:
  """A textured, muted backdrop (ground seen from above) of the given size.

  Texture at several scales gives a flow estimator something to lock on to;
  the palette avoids the saturated part colours and the body browns.
  """
  hue = rng.uniform(70, 200)  # Olive .. teal .. slate.
  c1 = _hsv_to_rgb(hue, rng.uniform(0.1, 0.3), rng.uniform(0.3, 0.5))
  c2 = _hsv_to_rgb(hue + rng.uniform(-30, 30), rng.uniform(0.05, 0.3),
                   rng.uniform(0.55, 0.75))
  n = _value_noise(height, width, (3, 8, 20, 48), rng)[..., None]
  rgb = c1 * (1 - n) + c2 * n
  # Pebbles and strokes: sharp edges for flow at object-free regions.
  for _ in range(int(rng.integers(12, 30))):
    matte = np.zeros((height, width), np.float32)
    x, y = rng.uniform(0, width), rng.uniform(0, height)
    if rng.random() < 0.6:
      axes = (int(rng.uniform(2, 9)), int(rng.uniform(2, 7)))
      cv2.ellipse(matte, (int(x), int(y)), axes, rng.uniform(0, 180), 0, 360,
                  1.0, -1)
    else:
      a = rng.uniform(0, np.pi)
      d = rng.uniform(8, 30)
      cv2.line(matte, (int(x), int(y)),
               (int(x + d * math.cos(a)), int(y + d * math.sin(a))), 1.0,
               int(rng.integers(1, 3)))
    shade = rng.uniform(0.6, 1.35)
    matte = cv2.GaussianBlur(matte, (3, 3), 0)[..., None]
    rgb = rgb * (1 - matte) + np.clip(rgb * shade, 0, 255) * matte
  rgb += rng.normal(0, 4, size=rgb.shape).astype(np.float32)
  return Sprite(rgb=np.clip(rgb, 0, 255).astype(np.float32),
                alpha=np.ones((height, width), np.float32))


def pillar(height: int, pillar_width: float,
           rng: np.random.Generator) -> Sprite:
  """A static vertical occluder (grey stone column) `height` pixels tall.

  It hides objects that pass behind it: the paper's missing-instance failure
  mode (sec 1, Fig. 1b: an instance occluded on some frames).
  """
  w = int(math.ceil(pillar_width)) + 4
  v = rng.uniform(0.45, 0.7)
  base = _hsv_to_rgb(rng.uniform(0, 360), rng.uniform(0.0, 0.08), v)
  streaks = _value_noise(height, w, (2, 6), rng)
  # Vertical streaks: stretch horizontal noise along y.
  grain = cv2.resize(_value_noise(4, w, (1.5,), rng), (w, height),
                     interpolation=cv2.INTER_LINEAR)
  shade = 0.75 + 0.25 * streaks + 0.2 * (grain - 0.5)
  x = np.arange(w, dtype=np.float32)
  rim = 1 - 0.25 * np.abs((x - (w - 1) / 2) / ((w - 1) / 2))**2  # Cylinder.
  rgb = base[None, None, :] * (shade * rim[None, :])[..., None]
  left = (w - pillar_width) / 2
  poly = np.array([[left, -2], [left + pillar_width, -2],
                   [left + pillar_width, height + 2], [left, height + 2]])
  alpha = _raster([poly - 0.5], height, w)
  return Sprite(rgb=np.clip(rgb, 0, 255).astype(np.float32), alpha=alpha,
                center=(0.0, 0.0))


def creature(length: float, aspect: float, part_fraction: float,
             style: PartStyle, rng: np.random.Generator) -> Sprite:
  """A moving object: class-agnostic body + class part at its front end.

  Args:
    length: body length along its heading, pixels.
    aspect: length / width of the body (>= 1).
    part_fraction: wanted share of the object's area covered by the part
      (met to within a few percent by rescaling the part).
    style: the class's part style.
    rng: randomness for the body shape, heading and texture.

  Returns:
    A Sprite with `part_alpha` set and `center` at the body's centre.
  """
  heading = rng.uniform(0, 2 * np.pi)
  half_l = length / 2
  half_w = half_l / aspect
  body_poly = _body_polygon(str(rng.choice(BODY_SHAPES)), half_l, half_w, rng)
  unit_part = _part_polygon(style.shape)
  size = 2 * int(math.ceil(half_l * 1.45)) + 7
  center = ((size - 1) / 2.0, (size - 1) / 2.0)

  def to_canvas(poly):
    return _rotate(poly, heading) * np.array([1.0, -1.0]) + center

  body = _raster([to_canvas(body_poly)], size, size)
  body_area = float((body >= 0.5).sum())

  def part_at(radius):
    # Centred just inside the front tip, so the part caps the body's end.
    poly = unit_part * radius + np.array([half_l - 0.35 * radius, 0.0])
    return _raster([to_canvas(poly)], size, size)

  # The part's share of the union grows monotonically with its radius:
  # a few multiplicative corrections on the area ratio converge.
  radius = math.sqrt(part_fraction * body_area / np.pi)
  radius = min(max(radius, 1.5), 0.6 * half_l)
  for _ in range(5):
    part = part_at(radius)
    union = np.maximum(body, part)
    got = float((part >= 0.5).sum()) / max(float((union >= 0.5).sum()), 1.0)
    if got <= 0:
      radius *= 1.5
      continue
    radius = min(max(radius * math.sqrt(part_fraction / got), 1.0),
                 0.6 * half_l)
  part = part_at(radius)
  alpha = np.maximum(body, part)
  part = np.minimum(part, alpha)

  # Body texture from one palette for every class (desaturated browns/tans),
  # with a class-independent pattern: the body carries no class evidence.
  body_rgb = _hsv_to_rgb(rng.uniform(15, 45), rng.uniform(0.2, 0.5),
                         rng.uniform(0.5, 0.85))
  yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
  along = ((xx - center[0]) * math.cos(heading) -
           (yy - center[1]) * math.sin(heading))
  pattern = rng.integers(3)
  if pattern == 0:  # Bands across the body.
    period = rng.uniform(4, 9)
    shade = 1 + rng.uniform(0.12, 0.3) * np.sin(2 * np.pi * along / period)
  elif pattern == 1:  # Mottled.
    shade = 0.75 + 0.45 * _value_noise(size, size, (2, 5), rng)
  else:  # Spots.
    spots = _value_noise(size, size, (3,), rng)
    shade = 1 - 0.35 * (spots > 0.7)
  shade = shade * (0.92 + 0.16 * _value_noise(size, size, (1.5,), rng))
  rgb = body_rgb[None, None, :] * shade[..., None]
  part_rgb = (np.array(style.rgb, np.float32) * rng.uniform(0.85, 1.05) +
              rng.normal(0, 6, size=(size, size, 3)).astype(np.float32))
  # Outside the body the part colour is spread a pixel further, so that the
  # subpixel-shifted texture at the part's outer edge stays part-coloured.
  spread = np.where(body >= 0.5, part,
                    cv2.dilate(part, np.ones((3, 3), np.uint8)))[..., None]
  rgb = rgb * (1 - spread) + part_rgb * spread
  return Sprite(rgb=np.clip(rgb, 0, 255).astype(np.float32), alpha=alpha,
                part_alpha=part, center=center)
