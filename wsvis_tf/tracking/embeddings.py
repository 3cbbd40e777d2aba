"""The default appearance embedding of a proposal, when none is given.

UnOVOST merges tracklets across gaps by the distance between their mean
ReID vectors (128-d features of a re-identification network). A caller may
pass the detector's ROI features instead (FrameProposals.embeddings); when
it does not, the tracker uses this plain, training-free embedding, so that
it works on any frames:

  colour    sqrt of the mask's joint RGB histogram, COLOUR_BINS per channel
            (64 bins), normalised to sum 1 over the mask's pixels: what the
            object looks like, insensitive to its shape and to the mask's
            outline. The square root (Hellinger embedding) makes the L2
            distance between two such vectors sqrt(2) times the Hellinger
            distance of the histograms, in [0, sqrt(2)], and keeps a few
            dominant colours from swamping the rest.
  geometry  the mask's centroid (y / H, x / W) and sqrt(area / (H W)):
            where and how big the object is, in [0, 1] each. Instances of
            one class often look alike (on the procedural data they share
            their body texture); after a short gap the one that reappears
            near where another vanished, at its size, is the likely same.
            Its distances, at most sqrt(3), are on the scale of the colour
            part's, so neither part needs a tuned weight.

Without frames (VideoPredictions.images None) only the geometry part is
used. Every vector is float32; an empty mask gets zeros.
"""

from typing import Optional

import numpy as np

# Bins per RGB channel of the colour histogram (4^3 = 64 bins).
COLOUR_BINS = 4
COLOUR_DIM = COLOUR_BINS ** 3
GEOMETRY_DIM = 3


def geometry_embeddings(masks: np.ndarray) -> np.ndarray:
  """[N, H, W] binary masks -> [N, 3] float32 (cy / H, cx / W, sqrt(a / HW))."""
  masks = np.asarray(masks) != 0
  if masks.ndim != 3:
    raise ValueError(f'geometry_embeddings: masks must be [N, H, W], got '
                     f'{masks.shape}')
  n, h, w = masks.shape
  area = masks.sum(axis=(1, 2)).astype(np.float64)
  safe = np.maximum(area, 1)
  ys = (masks.sum(axis=2) * np.arange(h)).sum(axis=1) / safe
  xs = (masks.sum(axis=1) * np.arange(w)).sum(axis=1) / safe
  out = np.stack([ys / max(h - 1, 1), xs / max(w - 1, 1),
                  np.sqrt(area / (h * w))], axis=1)
  out[area == 0] = 0
  return out.reshape(n, GEOMETRY_DIM).astype(np.float32)


def colour_embeddings(image: np.ndarray, masks: np.ndarray) -> np.ndarray:
  """sqrt of each mask's normalised joint RGB histogram.

  Args:
    image: A [H, W, 3] uint8 RGB frame.
    masks: A [N, H, W] binary array.

  Returns:
    A [N, 64] float32 array; each row has unit L2 norm (zeros for an empty
    mask).
  """
  image = np.asarray(image)
  masks = np.asarray(masks) != 0
  if image.dtype != np.uint8 or image.shape != masks.shape[1:] + (3,):
    raise ValueError(f'colour_embeddings: image must be uint8 '
                     f'{list(masks.shape[1:]) + [3]}, got {image.dtype} '
                     f'{list(image.shape)}')
  shift = 8 - int(np.log2(COLOUR_BINS))
  q = (image >> shift).astype(np.int64)
  bins = (q[..., 0] * COLOUR_BINS + q[..., 1]) * COLOUR_BINS + q[..., 2]
  out = np.zeros((masks.shape[0], COLOUR_DIM), np.float64)
  for i, mask in enumerate(masks):
    counts = np.bincount(bins[mask], minlength=COLOUR_DIM)
    if counts.sum():
      out[i] = np.sqrt(counts / counts.sum())
  return out.astype(np.float32)


def default_embeddings(image: Optional[np.ndarray],
                       masks: np.ndarray) -> np.ndarray:
  """The default embedding of a frame's proposals (module docstring).

  Args:
    image: A [H, W, 3] uint8 RGB frame, or None for geometry only.
    masks: A [N, H, W] binary array.

  Returns:
    A [N, 67] float32 array (colour then geometry), or [N, 3] without image.
  """
  geometry = geometry_embeddings(masks)
  if image is None:
    return geometry
  return np.concatenate([colour_embeddings(image, masks), geometry], axis=1)
