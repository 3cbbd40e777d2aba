"""Small image files for reports: palette PNGs and animated GIFs (Pillow).

The procedural frames are textured, so a full-colour PNG of a sheet of
them is ~1 byte a pixel; a 64-colour palette without dithering keeps
instances, outlines and text legible at a tenth of the size. GIFs share one
palette over all their frames, so a colour (a track id) stays the same
colour from frame to frame.
"""

import io
from typing import Sequence

import numpy as np
from PIL import Image

DEFAULT_COLORS = 64


def _check_rgb(image: np.ndarray, what: str) -> np.ndarray:
  image = np.asarray(image)
  if image.ndim != 3 or image.shape[-1] != 3 or image.dtype != np.uint8:
    raise ValueError(f'{what}: expected a [H, W, 3] uint8 image, got '
                     f'{image.dtype} {list(image.shape)}')
  return image


def _palette_image(image: np.ndarray, colors: int) -> Image.Image:
  if not 2 <= colors <= 256:
    raise ValueError(f'colors must be in [2, 256], got {colors}')
  return Image.fromarray(image).quantize(
      colors=colors, method=Image.Quantize.MEDIANCUT,
      dither=Image.Dither.NONE)


def png_bytes(image: np.ndarray, colors: int = DEFAULT_COLORS) -> bytes:
  """A [H, W, 3] uint8 RGB image as a palette PNG of at most `colors`."""
  buf = io.BytesIO()
  _palette_image(_check_rgb(image, 'png_bytes'), colors).save(
      buf, 'PNG', optimize=True)
  return buf.getvalue()


def gif_bytes(frames: Sequence[np.ndarray], frame_ms: int,
              colors: int = DEFAULT_COLORS) -> bytes:
  """An animated, looping GIF of T [H, W, 3] uint8 RGB frames.

  Args:
    frames: T >= 1 frames of one size.
    frame_ms: Display time of each frame in milliseconds (> 0).
    colors: Size of the one palette shared by every frame.
  """
  frames = [_check_rgb(f, 'gif_bytes') for f in frames]
  if not frames:
    raise ValueError('gif_bytes: no frames')
  if any(f.shape != frames[0].shape for f in frames):
    raise ValueError(f'gif_bytes: frames of different sizes '
                     f'{sorted({f.shape for f in frames})}')
  if frame_ms <= 0:
    raise ValueError(f'gif_bytes: frame_ms must be > 0, got {frame_ms}')
  palette = _palette_image(np.concatenate(frames, axis=0), colors)
  images = [Image.fromarray(f).quantize(palette=palette,
                                        dither=Image.Dither.NONE)
            for f in frames]
  buf = io.BytesIO()
  images[0].save(buf, 'GIF', save_all=True, append_images=images[1:],
                 duration=int(frame_ms), loop=0, optimize=False)
  return buf.getvalue()
