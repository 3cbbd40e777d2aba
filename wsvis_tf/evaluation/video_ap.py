"""Video instance segmentation AP/AR: the YouTube-VIS metric.

Reproduces the youtubevos cocoapi evaluator (`PythonAPI/pycocotools/
ytvoseval.py`, Yang et al. ICCV 2019). That evaluator is pycocotools'
COCOeval with the video as the evaluation unit and three changes, which is
how it is built here: a COCOeval subclass whose "images" are videos.

  1. IoU is the sequence IoU (ytvoseval `computeIoU.iou_seq`): over the
     video's frames, sum |d & g| where both tracks have a mask, add the area
     of the one mask where only one has; IoU = sum I / sum U (0 if U = 0).
     Crowd tracks use the same IoU (unlike COCO's intersection-over-detection
     for crowds); crowd still means "ignored, matchable many times".
  2. Area ranges are on a track's `avg_area` (mean of its nonzero per-frame
     areas) with YouTube-VIS bounds: small < 128^2 <= medium < 256^2 <=
     large (COCO uses 32^2, 96^2).
  3. Everything else -- results sorted by score (stable) and cut to
     maxDets[-1] = 100 per (video, category), greedy matching in score order
     at IoU 0.5:0.05:0.95, crowd / ignore handling, 101 recall points,
     maxDets [1, 10, 100], the 12 summary stats -- is COCOeval's
     evaluateImg / accumulate / summarize, which ytvoseval copies verbatim
     (with 'area' renamed 'avg_area'; we store avg_area as 'area').
"""

from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np
from pycocotools import cocoeval
from pycocotools import mask as coco_mask

from wsvis_tf.evaluation import formats
from wsvis_tf.evaluation import frame_ap

# Output keys of evaluate_videos.
MAP = 'mAP'
AP50 = 'AP50'
AP75 = 'AP75'
AR1 = 'AR1'
AR10 = 'AR10'

# ytvoseval Params.setDetParams: area ranges in pixels^2 over avg_area.
YTVIS_AREA_RANGES = [[0 ** 2, 1e5 ** 2], [0 ** 2, 128 ** 2],
                     [128 ** 2, 256 ** 2], [256 ** 2, 1e5 ** 2]]

RleSequence = Sequence[Optional[Dict[str, Any]]]


def sequence_iou(detection: RleSequence, ground_truth: RleSequence) -> float:
  """The YouTube-VIS IoU of two tracks over the frames of a video.

  Args:
    detection: Per-frame pycocotools RLE, or None where the track has no mask.
    ground_truth: The same for the other track; same length.

  Returns:
    sum_t |d_t & g_t| / sum_t |d_t | g_t| (a frame where only one side has a
    mask adds its area to the union), 0.0 when the union is empty.
  """
  if len(detection) != len(ground_truth):
    raise ValueError(f'sequence_iou: {len(detection)} vs {len(ground_truth)} '
                     f'frames')
  return float(_sequence_ious([detection], [ground_truth])[0, 0])


def _sequence_ious(detections: List[RleSequence],
                   ground_truths: List[RleSequence]) -> np.ndarray:
  """[D, G] sequence IoUs, with per-frame areas computed once."""
  def areas(seqs):
    return [[None if m is None else int(coco_mask.area(m)) for m in s]
            for s in seqs]
  d_areas, g_areas = areas(detections), areas(ground_truths)
  ious = np.zeros((len(detections), len(ground_truths)))
  for i, (d_seq, d_area) in enumerate(zip(detections, d_areas)):
    for j, (g_seq, g_area) in enumerate(zip(ground_truths, g_areas)):
      inter = union = 0
      for d, g, da, ga in zip(d_seq, g_seq, d_area, g_area):
        if d is not None and g is not None:
          both = int(coco_mask.area(coco_mask.merge([d, g], intersect=True)))
          inter += both
          union += da + ga - both
        else:
          union += da if d is not None else (ga if g is not None else 0)
      ious[i, j] = inter / union if union > 0 else 0.0
  return ious


class VideoEval(cocoeval.COCOeval):
  """COCOeval over videos with the sequence IoU (see the module docstring).

  Usage: VideoEval(ground_truth, results) then frame_ap.run_quietly(e).
  Keeps COCOeval's evaluateImg / accumulate / summarize; replaces only the
  data preparation (_prepare) and the IoU (computeIoU).
  """

  def __init__(self, ground_truth: formats.YtvisGroundTruth,
               results: List[Dict[str, Any]]):
    # No COCO index objects: _prepare below reads the validated lists.
    super().__init__(cocoGt=None, cocoDt=None, iouType='segm')
    self._ground_truth = ground_truth
    self._results = results
    self.params.imgIds = sorted(ground_truth.videos)
    self.params.catIds = list(ground_truth.category_ids)
    self.params.areaRng = [list(r) for r in YTVIS_AREA_RANGES]

  def _prepare(self) -> None:
    p = self.params
    videos, categories = set(p.imgIds), set(p.catIds)
    self._gts = {}
    self._dts = {}
    for gt in self._ground_truth.annotations:
      if gt['video_id'] in videos and gt['category_id'] in categories:
        # COCOeval's evaluateImg reads 'area', 'ignore', 'iscrowd', 'id'.
        # ytvoseval: ignore = iscrowd (any stored 'ignore' is overridden).
        entry = dict(gt, area=gt['avg_area'], ignore=int(gt['iscrowd']))
        self._gts.setdefault((gt['video_id'], gt['category_id']),
                             []).append(entry)
    for dt in self._results:
      if dt['video_id'] in videos and dt['category_id'] in categories:
        entry = dict(dt, area=dt['avg_area'])
        self._dts.setdefault((dt['video_id'], dt['category_id']),
                             []).append(entry)
    # COCOeval indexes missing keys and expects empty lists.
    self._gts = _DefaultList(self._gts)
    self._dts = _DefaultList(self._dts)
    self.evalImgs = []
    self.eval = {}

  def computeIoU(self, imgId: int, catId: int):  # pylint: disable=invalid-name
    """[D, G] sequence IoUs of one (video, category), D <= maxDets[-1].

    Rows follow the score order (stable sort, as evaluateImg re-sorts).
    """
    p = self.params
    gts = self._gts[imgId, catId]
    dts = self._dts[imgId, catId]
    if not gts and not dts:
      return []
    order = np.argsort([-d['score'] for d in dts], kind='mergesort')
    dts = [dts[i] for i in order][:p.maxDets[-1]]
    return _sequence_ious([d['segmentations'] for d in dts],
                          [g['segmentations'] for g in gts])


class _DefaultList(dict):
  """A dict that answers [] for a missing key (like defaultdict(list))."""

  def __missing__(self, key):
    return []


def evaluate_videos(
    ground_truth: Union[formats.Source, formats.YtvisGroundTruth],
    results: Union[formats.Source, Sequence[Dict[str, Any]]],
) -> Dict[str, float]:
  """The YouTube-VIS metrics of video results.

  Args:
    ground_truth: YouTube-VIS JSON: a path, the parsed dict, or a
      formats.YtvisGroundTruth.
    results: YouTube-VIS results: a path or the parsed list of {video_id,
      category_id, score, segmentations}.

  Returns:
    {'mAP': AP@[.5:.95], 'AP50', 'AP75', 'AR1', 'AR10'} as fractions in
    [0, 1], -1 where there is no ground truth (pycocotools' convention).

  Raises:
    FileNotFoundError, ValueError: missing or malformed inputs (see formats).
  """
  ground_truth = formats.load_ytvis_ground_truth(ground_truth)
  results = formats.load_ytvis_results(results, ground_truth)
  stats = frame_ap.run_quietly(VideoEval(ground_truth, results))
  return {MAP: float(stats[frame_ap.STAT_AP]),
          AP50: float(stats[frame_ap.STAT_AP50]),
          AP75: float(stats[frame_ap.STAT_AP75]),
          AR1: float(stats[frame_ap.STAT_AR1]),
          AR10: float(stats[frame_ap.STAT_AR10])}
