"""Fully connected CRF refinement of a label map (IRN: crf_inference_label).

IRN refines each thresholded CAM labelling with Krahenbuhl and Koltun's dense
CRF (pydensecrf): a unary from the hard labels (probability gt_prob = 0.7 on
the given label, the rest spread evenly), a Gaussian smoothness kernel (sxy 3,
compat 3) and a bilateral appearance kernel (sxy 50, srgb 5, compat 10), 10
mean-field iterations, argmax. These are IRN's exact settings.

Implementation: `pydensecrf2` (the maintained packaging of pydensecrf, the
library IRN calls; it builds from source on Python 3.11 / numpy 2 with a C++
compiler). It is imported lazily so that the CRF-free paths work without it.
"""

import numpy as np

# IRN: misc/imutils.py crf_inference_label defaults.
CRF_ITERATIONS = 10
CRF_GT_PROB = 0.7
GAUSSIAN_SXY = 3
GAUSSIAN_COMPAT = 3
BILATERAL_SXY = 50
BILATERAL_SRGB = 5
BILATERAL_COMPAT = 10


def _import_densecrf():
  try:
    import pydensecrf.densecrf as dcrf  # pylint: disable=g-import-not-at-top
    from pydensecrf import utils  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ImportError(
        'The dense CRF of IR labels needs pydensecrf: `pip install '
        'pydensecrf2==1.1` (builds with a C++ compiler), or run with '
        'crf=False.') from e
  return dcrf, utils


def crf_available() -> bool:
  try:
    _import_densecrf()
    return True
  except ImportError:
    return False


def require_crf() -> None:
  """Raises ImportError, saying how to install it, if pydensecrf is absent."""
  _import_densecrf()


def crf_inference_label(image: np.ndarray, labels: np.ndarray,
                        num_labels: int,
                        iterations: int = CRF_ITERATIONS,
                        gt_prob: float = CRF_GT_PROB) -> np.ndarray:
  """Refines a hard labelling of an image with IRN's dense CRF.

  Args:
    image: [H, W, 3] uint8 RGB image the labels belong to.
    labels: [H, W] ints in [0, num_labels).
    num_labels: Number of labels (IRN: the frame's classes + background).
    iterations: Mean-field iterations (IRN t=10).
    gt_prob: Confidence of the given labels in the unary (IRN 0.7).

  Returns:
    [H, W] int64 refined labels in [0, num_labels).
  """
  image = np.asarray(image)
  labels = np.asarray(labels)
  if image.ndim != 3 or image.shape[-1] != 3:
    raise ValueError(f'image must be [H, W, 3], got {image.shape}')
  if labels.shape != image.shape[:2]:
    raise ValueError(f'labels {labels.shape} and image {image.shape[:2]} '
                     'differ in size')
  if labels.size and (labels.min() < 0 or labels.max() >= num_labels):
    raise ValueError(f'labels must be in [0, {num_labels}), got '
                     f'[{labels.min()}, {labels.max()}]')
  if num_labels < 2:
    return np.zeros(labels.shape, np.int64)  # nothing to decide
  dcrf, utils = _import_densecrf()
  h, w = labels.shape
  crf = dcrf.DenseCRF2D(w, h, num_labels)
  crf.setUnaryEnergy(utils.unary_from_labels(
      labels.astype(np.int64), num_labels, gt_prob=gt_prob,
      zero_unsure=False))
  crf.addPairwiseGaussian(sxy=GAUSSIAN_SXY, compat=GAUSSIAN_COMPAT)
  crf.addPairwiseBilateral(
      sxy=BILATERAL_SXY, srgb=BILATERAL_SRGB,
      rgbim=np.ascontiguousarray(image.astype(np.uint8)),
      compat=BILATERAL_COMPAT)
  q = np.array(crf.inference(iterations)).reshape(num_labels, h, w)
  return np.argmax(q, axis=0)
