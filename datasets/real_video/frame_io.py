"""Decoding, resizing and the bad-frame policy shared by the real builders.

Frames are decoded with OpenCV to RGB uint8 and downscaled (never upscaled)
to the builder config's size caps, or resized to its fixed size; label maps
(instance ids) are resized with nearest-neighbour interpolation so that ids
stay ids. A frame that does not
decode (corrupt or truncated file) either stops the build with an error that
names the file (policy 'error', the default) or is skipped, logged and counted
(policy 'skip'); the count is logged when a split is done and stored in the
dataset's metadata.
"""

import re
from typing import List, Optional, Tuple

from absl import logging
import cv2
import numpy as np

from datasets.real_video import manual_dir

BAD_FRAME_POLICIES = ('error', 'skip')
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp')
# How many skipped frame names a summary lists.
_SHOWN_SKIPS = 10


class BadFrameError(manual_dir.InputError):
  """A frame file that does not decode (policy 'error')."""


def decode_image(data: bytes) -> Optional[np.ndarray]:
  """Decodes JPEG/PNG/BMP bytes to a [H, W, 3] uint8 RGB array, or None.

  EXIF orientation is ignored: annotations (YouTube-VIS, Cityscapes) are
  drawn on the stored pixel grid, so rotating the pixels would misalign them.
  """
  if not data:
    return None
  image = cv2.imdecode(np.frombuffer(data, np.uint8),
                       cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
  if image is None or image.ndim != 3 or image.shape[2] != 3:
    return None
  return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def decode_label_png(data: bytes, name: str) -> np.ndarray:
  """Decodes a single-channel 8/16-bit PNG (e.g. Cityscapes instanceIds).

  Returns a [H, W] uint16 array; raises InputError naming the file when it
  does not decode (annotations are never skipped, whatever the policy).
  """
  image = None
  if data:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
  if image is None:
    raise manual_dir.InputError(f'cannot decode label image {name}')
  if image.ndim != 2:
    raise manual_dir.InputError(f'label image {name} has shape '
                                f'{image.shape}; expected one channel')
  return image.astype(np.uint16)


def scaled_size(height: int, width: int, max_short_side: Optional[int] = None,
                max_long_side: Optional[int] = None) -> Tuple[int, int]:
  """The (height, width) after downscaling to the caps, aspect kept.

  The scale is min(1, max_short_side / short side, max_long_side / long
  side): frames are never upscaled. None means no cap.
  """
  scale = 1.0
  if max_short_side:
    scale = min(scale, max_short_side / min(height, width))
  if max_long_side:
    scale = min(scale, max_long_side / max(height, width))
  if scale >= 1.0:
    return height, width
  return max(1, int(round(height * scale))), max(1, int(round(width * scale)))


def resize_image(image: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
  """Resizes a [H, W, 3] uint8 image to size = (height, width)."""
  if image.shape[:2] == tuple(size):
    return image
  # INTER_AREA averages the source pixels: no aliasing when shrinking; it
  # degrades to nearest neighbour when enlarging, so enlarge bilinearly.
  shrink = size[0] <= image.shape[0] and size[1] <= image.shape[1]
  return cv2.resize(image, (size[1], size[0]),
                    interpolation=cv2.INTER_AREA if shrink
                    else cv2.INTER_LINEAR)


def resize_labels(labels: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
  """Resizes a [H, W] integer label map with nearest neighbour."""
  if labels.shape[:2] == tuple(size):
    return labels
  return cv2.resize(labels, (size[1], size[0]),
                    interpolation=cv2.INTER_NEAREST)


def natural_key(name: str) -> Tuple:
  """Sort key that orders '2.jpg' before '10.jpg'."""
  return tuple(int(p) if p.isdigit() else p
               for p in re.split(r'(\d+)', name.lower()))


def image_files(names: List[str]) -> List[str]:
  """The image files among names, in natural order."""
  return sorted((n for n in names if n.lower().endswith(IMAGE_EXTENSIONS)),
                key=natural_key)


class BadFrames:
  """Applies the bad-frame policy to one split and counts what it skipped."""

  def __init__(self, policy: str, split: str = ''):
    if policy not in BAD_FRAME_POLICIES:
      raise ValueError(f'bad_frames must be one of {BAD_FRAME_POLICIES}, '
                       f'got {policy!r}')
    self.policy = policy
    self.split = split
    self.skipped: List[str] = []

  @property
  def count(self) -> int:
    return len(self.skipped)

  def bad(self, name: str, reason: str = 'does not decode as an image '
          '(corrupt or truncated)') -> None:
    """Reports a bad frame: raises (policy 'error') or records a skip."""
    if self.policy == 'error':
      raise BadFrameError(f'{name} {reason}. Re-download it, or pass '
                          '--bad_frames=skip to skip bad frames.')
    logging.warning('Skipping frame %s: it %s.', name, reason)
    self.skipped.append(name)

  def decode(self, data: bytes, name: str) -> Optional[np.ndarray]:
    """decode_image, with the policy applied; None for a skipped frame."""
    image = decode_image(data)
    if image is None:
      self.bad(name)
    return image

  def log_summary(self) -> None:
    """Logs how many frames the split skipped (call once, at its end)."""
    if not self.skipped:
      return
    shown = ', '.join(self.skipped[:_SHOWN_SKIPS])
    more = ('' if self.count <= _SHOWN_SKIPS
            else f' and {self.count - _SHOWN_SKIPS} more')
    logging.warning('Split %s: skipped %d bad frame(s): %s%s', self.split,
                    self.count, shown, more)
