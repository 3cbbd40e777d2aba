"""Frame-level instance segmentation AP (COCO 'segm'), through pycocotools.

The numbers are pycocotools' COCOeval ones: the ground truth and results go
through `formats` (validation) and are then handed to COCOeval unchanged in
meaning, with results prepared as COCO.loadRes prepares them. pycocotools'
progress prints are captured and sent to absl logging, so a binary's stdout
stays clean.
"""

import contextlib
import io
from typing import Any, Dict, List, Sequence, Union

from absl import logging
import numpy as np
from pycocotools import coco as coco_api
from pycocotools import cocoeval

from wsvis_tf.evaluation import formats

# Output keys of evaluate_frames.
AP = 'AP'
AP50 = 'AP50'
AP75 = 'AP75'

# Indices into COCOeval.stats (pycocotools' summarize(), segm / bbox).
STAT_AP, STAT_AP50, STAT_AP75 = 0, 1, 2
STAT_AR1, STAT_AR10 = 6, 7


def run_quietly(evaluator: cocoeval.COCOeval) -> np.ndarray:
  """evaluate(), accumulate(), summarize() with pycocotools' prints logged.

  Args:
    evaluator: A configured COCOeval (or subclass).

  Returns:
    The [12] float64 `stats` of summarize(); -1 where undefined (no ground
    truth in the setting), as pycocotools reports it.
  """
  captured = io.StringIO()
  with contextlib.redirect_stdout(captured):
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
  logging.debug('pycocotools:\n%s', captured.getvalue().rstrip())
  return np.asarray(evaluator.stats, np.float64)


def _coco(dataset: Dict[str, Any]) -> coco_api.COCO:
  """An in-memory pycocotools COCO index, without its progress print."""
  coco = coco_api.COCO()
  coco.dataset = dataset
  with contextlib.redirect_stdout(io.StringIO()):
    coco.createIndex()
  return coco


def frame_evaluator(ground_truth: formats.CocoGroundTruth,
                    results: List[Dict[str, Any]]) -> cocoeval.COCOeval:
  """A COCOeval ('segm') over validated ground truth and results."""
  gt = _coco(ground_truth.dataset)
  # As COCO.loadRes builds it; loadRes itself fails on an empty list.
  dt = _coco({'images': ground_truth.dataset['images'],
              'categories': ground_truth.dataset['categories'],
              'annotations': results})
  return cocoeval.COCOeval(gt, dt, iouType='segm')


def evaluate_frames(
    ground_truth: Union[formats.Source, formats.CocoGroundTruth],
    results: Union[formats.Source, Sequence[Dict[str, Any]]],
) -> Dict[str, float]:
  """COCO mask AP of frame-level results.

  Args:
    ground_truth: COCO instances JSON: a path, the parsed dict, or a
      formats.CocoGroundTruth.
    results: COCO results: a path or the parsed list of {image_id,
      category_id, segmentation, score}.

  Returns:
    {'AP': AP@[.5:.95], 'AP50', 'AP75'} as fractions in [0, 1], -1 where
    there is no ground truth (pycocotools' convention).

  Raises:
    FileNotFoundError, ValueError: missing or malformed inputs (see formats).
  """
  ground_truth = formats.load_coco_ground_truth(ground_truth)
  results = formats.load_coco_results(results, ground_truth)
  stats = run_quietly(frame_evaluator(ground_truth, results))
  return {AP: float(stats[STAT_AP]), AP50: float(stats[STAT_AP50]),
          AP75: float(stats[STAT_AP75])}
