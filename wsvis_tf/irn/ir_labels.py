"""Inter-pixel relation (IR) labels from CAMs (IRN: step/cam_to_ir_label.py).

From a frame's `high_res` CAMs [K, H, W] (or f-CAMs, paper eq 2) and the
frame's class keys [K]:

  1. confident foreground: prepend a constant background plane of
     fg_threshold (0.30), take the argmax, optionally refine with the dense
     CRF on the frame, map to labels (0 background, c + 1 class c): fg_conf;
  2. confident background: the same with bg_threshold (0.05): bg_conf;
  3. combine: the label is fg_conf; pixels that fg_conf calls background get
     IGNORE (255), unless bg_conf calls them background too, which gives 0.

So a pixel is foreground only where its CAM is strong, background only where
every CAM is weak, and ignored in between. IRN's pair labels then use only
the non-ignored pixels. A frame without labels (K = 0) is all background.

PNG format (`save_ir_label`): one 8-bit grey PNG per frame, same size as the
frame, 0 background, c + 1 for 0-based class c (so at most 254 classes),
255 ignore.
"""

from typing import Optional

import cv2
import numpy as np

from wsvis_tf.core import atomic_io
from wsvis_tf.irn import dense_crf

# IRN run_sample.py: conf_fg_thres, conf_bg_thres.
FG_THRESHOLD = 0.30
BG_THRESHOLD = 0.05
IGNORE = 255
BACKGROUND = 0
MAX_CLASSES = 254


def check_keys(class_keys: np.ndarray, num_classes: Optional[int]
              ) -> np.ndarray:
  """[K] int class indices, checked against the label map's size.

  Raises:
    ValueError: an index is negative or not < num_classes, repeated, or the
      label map does not fit in the 8-bit PNG format.
  """
  class_keys = np.asarray(class_keys).astype(np.int64).ravel()
  limit = MAX_CLASSES if num_classes is None else num_classes
  if num_classes is not None and num_classes > MAX_CLASSES:
    raise ValueError(f'{num_classes} classes do not fit 8-bit IR labels '
                     f'(at most {MAX_CLASSES})')
  bad = class_keys[(class_keys < 0) | (class_keys >= limit)]
  if bad.size:
    raise ValueError(f'class index {int(bad[0])} is outside the label map of '
                     f'{limit} classes')
  if len(np.unique(class_keys)) != len(class_keys):
    raise ValueError(f'class indices repeat: {class_keys.tolist()}')
  return class_keys


def threshold_labels(cams: np.ndarray, threshold: float) -> np.ndarray:
  """Argmax over [threshold plane; cams]: [H, W] indices into [bg, keys]."""
  padded = np.concatenate(
      [np.full((1,) + cams.shape[1:], threshold, np.float32),
       cams.astype(np.float32)], axis=0)
  return np.argmax(padded, axis=0)


def _labelling(image, cams, lut, threshold, crf):
  index = threshold_labels(cams, threshold)
  if crf:
    index = dense_crf.crf_inference_label(image, index, len(lut))
  return lut[index]


def make_ir_label(cams: np.ndarray, class_keys: np.ndarray,
                  image: Optional[np.ndarray] = None,
                  num_classes: Optional[int] = None,
                  fg_threshold: float = FG_THRESHOLD,
                  bg_threshold: float = BG_THRESHOLD,
                  crf: bool = True) -> np.ndarray:
  """The IR label map of one frame (see module docstring).

  Args:
    cams: [K, H, W] float `high_res` CAMs or f-CAMs of the frame's classes.
    class_keys: [K] 0-based class index of each map.
    image: [H, W, 3] uint8 RGB frame; needed when crf is True.
    num_classes: Size of the label map, to check class_keys against.
    fg_threshold: IRN conf_fg_thres (0.30).
    bg_threshold: IRN conf_bg_thres (0.05).
    crf: Refine both labellings with IRN's dense CRF.

  Returns:
    [H, W] uint8: 0 background, c + 1 class c, 255 ignore.

  Raises:
    ValueError: shapes disagree, a class index is outside the label map, or
      crf is True without an image of the CAMs' size.
  """
  cams = np.asarray(cams)
  if cams.ndim != 3:
    raise ValueError(f'cams must be [K, H, W], got shape {cams.shape}')
  class_keys = check_keys(class_keys, num_classes)
  if len(class_keys) != cams.shape[0]:
    raise ValueError(f'{cams.shape[0]} CAMs but {len(class_keys)} class keys')
  if not bg_threshold <= fg_threshold:
    raise ValueError(f'bg_threshold {bg_threshold} must not exceed '
                     f'fg_threshold {fg_threshold}')
  if crf:
    if image is None or np.shape(image)[:2] != cams.shape[1:]:
      raise ValueError(f'the CRF needs the [H, W, 3] frame of the CAMs '
                       f'({cams.shape[1:]}), got '
                       f'{None if image is None else np.shape(image)}')
  lut = np.concatenate([[BACKGROUND], class_keys + 1]).astype(np.uint8)
  fg_conf = _labelling(image, cams, lut, fg_threshold, crf)
  bg_conf = _labelling(image, cams, lut, bg_threshold, crf)
  # IRN: conf = fg_conf; conf[fg_conf == 0] = 255;
  # conf[bg_conf + fg_conf == 0] = 0.
  label = fg_conf.astype(np.uint8)
  label[fg_conf == BACKGROUND] = IGNORE
  label[(fg_conf == BACKGROUND) & (bg_conf == BACKGROUND)] = BACKGROUND
  return label


def save_ir_label(path: str, label: np.ndarray) -> None:
  """Writes an IR label map as an 8-bit PNG, atomically."""
  label = np.asarray(label)
  if label.ndim != 2 or label.dtype != np.uint8:
    raise ValueError(f'an IR label is [H, W] uint8, got {label.shape} '
                     f'{label.dtype}')
  ok, data = cv2.imencode('.png', label)
  if not ok:
    raise RuntimeError(f'PNG encoding failed for {path}')
  atomic_io.write_bytes(path, data.tobytes())


def load_ir_label(path: str) -> np.ndarray:
  """Reads an IR label PNG: [H, W] uint8 (0 bg, c + 1 class, 255 ignore)."""
  label = cv2.imread(path, cv2.IMREAD_UNCHANGED)
  if label is None:
    raise FileNotFoundError(f'cannot read IR label {path!r}')
  if label.ndim != 2:
    raise ValueError(f'IR label {path!r} is not a grey image')
  return label
