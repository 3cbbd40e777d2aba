"""Drawing instance masks, boxes and flow onto frames, for people to look at."""

from typing import Optional, Sequence

import cv2
import numpy as np

from wsvis_tf.core import flow_ops
from wsvis_tf.core import mask_ops


def instance_color(index: int) -> np.ndarray:
  """A distinct, deterministic RGB colour for instance `index` (golden ratio
  steps around the hue circle)."""
  hue = int((index * 0.618033988749895 % 1.0) * 179)
  hsv = np.array([[[hue, 200, 255]]], np.uint8)
  return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)


def draw_instances(image: np.ndarray,
                   masks: np.ndarray,
                   labels: Sequence[str] = (),
                   color_ids: Optional[Sequence[int]] = None,
                   alpha: float = 0.5) -> np.ndarray:
  """Overlays [N, H, W] binary masks, their boxes and labels on an RGB image.

  Args:
    image: A [H, W, 3] uint8 RGB image.
    masks: A [N, H, W] binary array.
    labels: Optional text per mask, drawn at the box's top-left corner.
    color_ids: Optional colour index per mask (e.g. the track id, so that an
      instance keeps its colour across frames); default 0..N-1.
    alpha: Opacity of the mask fill.

  Returns:
    A new [H, W, 3] uint8 image.
  """
  out = image.astype(np.float32).copy()
  masks = np.asarray(masks) != 0
  if color_ids is None:
    color_ids = range(len(masks))
  boxes = mask_ops.masks_to_boxes(masks) if len(masks) else []
  colors = [instance_color(int(cid)) for cid in color_ids]
  for mask, color in zip(masks, colors):
    out[mask] = (1 - alpha) * out[mask] + alpha * color
  out = np.clip(out, 0, 255).astype(np.uint8)  # OpenCV draws on 8-bit only.
  for i, (mask, color) in enumerate(zip(masks, colors)):
    if not mask.any():
      continue
    color = tuple(int(c) for c in color)
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(out, contours, -1, color, 1)
    y0, x0, y1, x1 = (int(v) for v in boxes[i])
    cv2.rectangle(out, (x0, y0), (x1 - 1, y1 - 1), color, 1)
    if i < len(labels) and labels[i]:
      cv2.putText(out, str(labels[i]), (x0 + 1, max(y0 - 2, 8)),
                  cv2.FONT_HERSHEY_PLAIN, 0.7, (255, 255, 255), 1,
                  cv2.LINE_AA)
  return out


def draw_flow(flow: np.ndarray, max_magnitude: Optional[float] = None
             ) -> np.ndarray:
  """A [H, W, 2] flow as a [H, W, 3] uint8 colour image (see flow_to_rgb)."""
  return flow_ops.flow_to_rgb(flow, max_magnitude)


def grid(tiles: Sequence[Sequence[np.ndarray]], pad: int = 2,
         background: int = 32) -> np.ndarray:
  """Arranges rows of equally sized [H, W, 3] tiles into one image."""
  if not tiles or not tiles[0]:
    raise ValueError('grid: no tiles')
  h = max(t.shape[0] for row in tiles for t in row)
  w = max(t.shape[1] for row in tiles for t in row)
  cols = max(len(row) for row in tiles)
  out = np.full((len(tiles) * (h + pad) + pad, cols * (w + pad) + pad, 3),
                background, np.uint8)
  for r, row in enumerate(tiles):
    for c, tile in enumerate(row):
      y = pad + r * (h + pad)
      x = pad + c * (w + pad)
      out[y:y + tile.shape[0], x:x + tile.shape[1]] = tile
  return out


def caption(image: np.ndarray, text: str, height: int = 14) -> np.ndarray:
  """Adds a strip with text above an image."""
  strip = np.full((height, image.shape[1], 3), 0, np.uint8)
  cv2.putText(strip, text, (2, height - 4), cv2.FONT_HERSHEY_PLAIN, 0.8,
              (230, 230, 230), 1, cv2.LINE_AA)
  return np.concatenate([strip, image], axis=0)


def write_png(path: str, image: np.ndarray) -> None:
  """Writes an RGB uint8 image as PNG, atomically."""
  from wsvis_tf.core import atomic_io  # pylint: disable=g-import-not-at-top
  ok, buf = cv2.imencode('.png', cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
  if not ok:
    raise ValueError(f'could not encode a PNG for {path}')
  atomic_io.write_bytes(path, buf.tobytes())
