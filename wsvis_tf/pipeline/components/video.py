"""Stages after the segmenter's predictions: tracks and the paper's metrics.

track_maskrcnn, track (read data, flow, and predict_maskrcnn / predict)
  Each predict stage's per-frame predictions of a split -> per-video
  instance tracks with UnOVOST (wsvis_tf/tracking, paper sec 4.4), with
  the flow stage's flows and the frames (the default appearance
  embedding): <split>_tracks.json, YouTube-VIS results (video_id of the
  data stage's ground_truth/<split>_videos.json, category_id, score,
  segmentations: a compressed RLE or None per frame that JSON lists). The
  per-video work is wsvis_tf.tracking.frame_predictions.track_video; the
  stage reads the inputs, checks them and calls it.
evaluate (reads data and the predict and track stages that exist)
  For each segmenter and split: video mAP, AP50, AP75, AR1, AR10 of its
  tracks against <split>_videos.json (wsvis_tf/evaluation/video_ap.py; the
  paper's Table 3), the frame AP, AP50, AP75 and TC its predict stage
  measured (Table 6), and the semantic IoU of its frame predictions
  (wsvis_tf/evaluation/semantic.py; the paper reports it on Cityscapes):
  metrics.json, the headline numbers in the stage metrics.

Config of a track stage: {'predict_stage', 'splits' (those of the predict
stage), 'use_flow' (False: zero motion), 'appearance' (False: the default
embedding without the frames' colours), 'min_score' (proposals below it
are not tracked), 'tracker': TrackerConfig fields}. Config of evaluate:
{'semantic_iou': 'auto' (on Cityscapes only) | True | False,
'semantic_score_threshold'}.
"""

import copy
import dataclasses
import os
import time
from typing import Any, Dict, List, Mapping, Optional, Sequence

from absl import logging
import tensorflow_datasets as tfds

from wsvis_tf.core import atomic_io
from wsvis_tf.core import keys
from wsvis_tf.evaluation import frame_ap
from wsvis_tf.evaluation import semantic
from wsvis_tf.evaluation import video_ap
from wsvis_tf.irn import pseudo_labels as pseudo_lib
from wsvis_tf.pipeline import stage as stage_lib
from wsvis_tf.pipeline.components import data as data_component
from wsvis_tf.pipeline.components import flow as flow_component
from wsvis_tf.pipeline.components import segmenter
from wsvis_tf.tracking import frame_predictions
from wsvis_tf.tracking import tracker as tracker_lib

TRACK_MASKRCNN = 'track_maskrcnn'
TRACK = 'track'
EVALUATE = 'evaluate'
TRACKS = '{split}_tracks.json'
METRICS_JSON = 'metrics.json'


@dataclasses.dataclass(frozen=True)
class Model:
  """A segmenter of the run and the stages that hold its outputs."""
  key: str          # metrics.json key
  title: str        # for tables
  predict_stage: str
  track_stage: str


# Paper Tables 3 and 6: the baseline, then MaskConsist.
MODELS = (Model('maskrcnn', 'Mask R-CNN', segmenter.PREDICT_MASKRCNN,
                TRACK_MASKRCNN),
          Model('maskconsist', 'MaskConsist', segmenter.PREDICT, TRACK))

# Keys of metrics.json.
MODELS_KEY = 'models'
SPLITS_KEY = 'splits'
FRAME_KEY = 'frame'
VIDEO_KEY = 'video'
SEMANTIC_KEY = 'semantic'
SKIPPED_KEY = 'skipped'
TC = 'TC'

# TrackerConfig fields a track stage config may set (UnOVOST's by default).
_TRACKER_FIELDS = ('overlap_iou', 'match_iou', 'max_proposals_per_frame',
                   'max_tracks')
TRACK_DEFAULTS = {'use_flow': True, 'appearance': True, 'min_score': 0.0,
                  'tracker': {}}


def config_with_defaults(config: Mapping[str, Any],
                         defaults: Mapping[str, Any],
                         what: str) -> Dict[str, Any]:
  """defaults overridden by config (deep copies); KeyError on unknown keys.
  """
  unknown = set(config) - set(defaults)
  if unknown:
    raise KeyError(f'unknown {what} config keys {sorted(unknown)}; known: '
                   f'{sorted(defaults)}')
  return {**copy.deepcopy(dict(defaults)), **copy.deepcopy(dict(config))}


def tracker_config(overrides: Mapping[str, Any]) -> tracker_lib.TrackerConfig:
  """TrackerConfig with a track stage's 'tracker' overrides."""
  unknown = set(overrides) - set(_TRACKER_FIELDS)
  if unknown:
    raise KeyError(f'unknown tracker config keys {sorted(unknown)}; known: '
                   f'{list(_TRACKER_FIELDS)}')
  return tracker_lib.TrackerConfig(**overrides)


def ground_truth_videos(record: stage_lib.StageRecord, split: str
                       ) -> Optional[Dict[str, Any]]:
  """The data stage's YouTube-VIS JSON of a split, or None if absent."""
  path = data_component.videos_gt_path(record, split)
  return atomic_io.read_json(path) if os.path.exists(path) else None


def _track_split(ctx: stage_lib.StageContext, split: str) -> Dict[str, Any]:
  """Tracks every video of a split; writes <split>_tracks.json."""
  source = ctx.resources['source']
  cfg = ctx.config
  if split not in source.splits:
    # The predict stage wrote an empty prediction set for it (a video
    # folder has no held-out split): no tracks, said in the log.
    logging.warning('[%s] the dataset has no %r split (it has %s): writing '
                    'no tracks for it', ctx.stage.name, split, source.splits)
    atomic_io.write_json(ctx.path(TRACKS.format(split=split)), [])
    return {f'{split}_videos': 0, f'{split}_tracks': 0}
  path = ctx.input(cfg['predict_stage']).path(
      segmenter.PREDICTIONS.format(split=split))
  index = frame_predictions.load(path)
  gt = ground_truth_videos(ctx.input(data_component.NAME), split)
  gt_videos = {v['name']: v for v in gt['videos']} if gt else {}
  if gt:
    # Fail before any tracking on predictions of videos the split lacks.
    frame_predictions.unknown_videos(path, index, list(gt_videos))
  store = (flow_component.store_of(ctx.input(flow_component.NAME))
           if cfg['use_flow'] else None)
  config = tracker_config(cfg['tracker'])
  entries: List[Dict[str, Any]] = []
  names, seconds, tracked_frames = [], 0.0, 0
  total = source.num_videos(split)
  for i, video in enumerate(tfds.as_numpy(source.videos(split))):
    name = keys.as_text(video[keys.VIDEO_ID])
    names.append(name)
    frames = video[keys.FRAMES]
    file_names = [pseudo_lib.coco_file_name(name, keys.as_text(f))
                  for f in video[keys.FRAME_NAMES]]
    predictions = index.get(name, {})
    frame_predictions.check_video(path, name, predictions, file_names,
                                  frames.shape[1:3])
    if gt:
      if name not in gt_videos:
        gt_path = data_component.videos_gt_path(
            ctx.input(data_component.NAME), split)
        raise ValueError(f'{gt_path} lacks video {name!r} of split '
                         f'{split!r}')
      video_id = gt_videos[name]['id']
      listed = gt_videos[name]['file_names']
    else:
      # gt_export's numbering: 1, 2, ... in the split's order.
      video_id, listed = i + 1, None
    if not predictions:
      continue
    read_flow = None
    if store is not None:
      read_flow = (lambda a, b, n=name, s=frames.shape[1:3]:
                   store.read(n, a, b, s))
    start = time.perf_counter()
    entries += frame_predictions.track_video(
        video_id, name, predictions, read_flow,
        frames if cfg['appearance'] else None, listed, config,
        cfg['min_score'], path)
    seconds += time.perf_counter() - start
    tracked_frames += len(predictions)
    ctx.progress(i + 1, total, f'{split} videos')
  frame_predictions.unknown_videos(path, index, names)
  atomic_io.write_json(ctx.path(TRACKS.format(split=split)), entries)
  n = max(len(names), 1)
  logging.info('[%s] %s: %d tracks in %d videos, %.3f s a video',
               ctx.stage.name, split, len(entries), len(names), seconds / n)
  return {f'{split}_videos': len(names), f'{split}_tracks': len(entries),
          f'{split}_tracked_frames': tracked_frames,
          f'{split}_seconds_per_video': round(seconds / n, 4)}


def _run_track(ctx: stage_lib.StageContext) -> Dict[str, Any]:
  metrics: Dict[str, Any] = {}
  for split in ctx.config['splits']:
    metrics.update(_track_split(ctx, split))
  return metrics


def make_track_stage(config: Mapping[str, Any], name: str,
                     predict_stage: stage_lib.Stage) -> stage_lib.Stage:
  """A track stage over a predict stage's predictions of its splits.

  The splits are the predict stage's (its config 'splits'): the stages are
  built before the dataset is prepared, when its splits are not known yet.
  """
  config = {**config_with_defaults(config, TRACK_DEFAULTS, 'track'),
            'predict_stage': predict_stage.name,
            'splits': list(predict_stage.config['splits'])}
  tracker_config(config['tracker'])  # Fail now on a bad key or value.
  return stage_lib.Stage(
      name=name, run=_run_track, config=config,
      inputs=(data_component.NAME, flow_component.NAME, predict_stage.name),
      outputs=tuple(TRACKS.format(split=s) for s in config['splits']),
      description=f'UnOVOST tracks of {predict_stage.name}\'s predictions')


# --- evaluation -------------------------------------------------------------


def _semantic_iou(gt_path: str, predictions_path: str,
                  threshold: float) -> Dict[str, Any]:
  """Semantic IoU of a predict stage's frame predictions on the GT frames.

  The predictions' images are matched to the ground truth's by file_name
  (their ids differ); frames the ground truth does not list are left out.
  """
  gt = atomic_io.read_json(gt_path)
  coco = atomic_io.read_json(predictions_path)
  gt_ids = {im['file_name']: im['id'] for im in gt['images']}
  names = {im['id']: im['file_name'] for im in coco['images']}
  results = [dict(r, image_id=gt_ids[names[r['image_id']]])
             for r in pseudo_lib.as_results(coco)
             if names[r['image_id']] in gt_ids]
  out = semantic.semantic_iou_from_coco(gt, results, threshold)
  return {semantic.MIOU: round(out[semantic.MIOU], 4)}


def _run_evaluate(ctx: stage_lib.StageContext) -> Dict[str, Any]:
  source = ctx.resources['source']
  cfg = ctx.config
  data_record = ctx.input(data_component.NAME)
  want_semantic = cfg['semantic_iou']
  if want_semantic == 'auto':
    want_semantic = source.name == 'cityscapes'
  report: Dict[str, Any] = {MODELS_KEY: {}}
  if not want_semantic:
    report[SEMANTIC_KEY] = {SKIPPED_KEY: (
        f'semantic IoU is reported on Cityscapes (paper Table 2); dataset '
        f'{source.name!r} (config semantic_iou={cfg["semantic_iou"]!r})')}
  headline: Dict[str, Any] = {}
  for model in MODELS:
    if model.predict_stage not in ctx.inputs:
      continue
    predict = ctx.input(model.predict_stage)
    track = ctx.input(model.track_stage) if model.track_stage in ctx.inputs \
        else None
    splits: Dict[str, Any] = {}
    for split in predict.config['splits']:
      if split not in source.splits:
        continue
      entry: Dict[str, Any] = {}
      frame = {k: predict.metrics[f'{split}_{k}']
               for k in (frame_ap.AP, frame_ap.AP50, frame_ap.AP75, TC)
               if f'{split}_{k}' in predict.metrics}
      if frame:
        entry[FRAME_KEY] = frame
      gt_videos = data_component.videos_gt_path(data_record, split)
      tracks = (track.path(TRACKS.format(split=split))
                if track is not None else None)
      if tracks and os.path.exists(tracks) and os.path.exists(gt_videos):
        video = video_ap.evaluate_videos(gt_videos, tracks)
        entry[VIDEO_KEY] = {k: round(v, 4) for k, v in video.items()}
      gt_frames = data_component.frames_gt_path(data_record, split)
      if want_semantic and os.path.exists(gt_frames):
        entry[SEMANTIC_KEY] = _semantic_iou(
            gt_frames, predict.path(segmenter.PREDICTIONS.format(split=split)),
            cfg['semantic_score_threshold'])
      splits[split] = entry
      held_out = split != 'train'
      for group, values in entry.items():
        for k, v in values.items():
          if held_out or group == VIDEO_KEY:
            headline[f'{model.key}_{split}_{group}_{k}'] = v
    report[MODELS_KEY][model.key] = {
        'title': model.title, 'predict_stage': model.predict_stage,
        'track_stage': track.name if track is not None else None,
        SPLITS_KEY: splits}
  atomic_io.write_json(ctx.path(METRICS_JSON), report, indent=2)
  for k, v in sorted(headline.items()):
    logging.info('[%s] %s = %s', ctx.stage.name, k, v)
  return headline


EVALUATE_DEFAULTS = {'semantic_iou': 'auto',
                     'semantic_score_threshold':
                         0.5}  # semantic.semantic_iou_from_coco's default


def make_evaluate_stage(config: Mapping[str, Any],
                        stage_names: Sequence[str]) -> stage_lib.Stage:
  """The evaluate stage over the predict and track stages in stage_names."""
  config = config_with_defaults(config, EVALUATE_DEFAULTS, 'evaluate')
  if config['semantic_iou'] not in ('auto', True, False):
    raise ValueError(f"evaluate: semantic_iou must be 'auto', true or false, "
                     f"got {config['semantic_iou']!r}")
  inputs = [data_component.NAME]
  for model in MODELS:
    inputs += [s for s in (model.predict_stage, model.track_stage)
               if s in stage_names]
  return stage_lib.Stage(
      name=EVALUATE, run=_run_evaluate, config=config, inputs=tuple(inputs),
      outputs=(METRICS_JSON,),
      description='video AP/AR of the tracks, frame AP and TC, semantic IoU')


def make_stages(preset: Mapping[str, Mapping[str, Any]],
                stages: Sequence[stage_lib.Stage]) -> List[stage_lib.Stage]:
  """track_maskrcnn, track and evaluate after the predict stages in
  `stages` ([] when there is none)."""
  by_name = {s.name: s for s in stages}
  out = []
  for model in MODELS:
    if model.predict_stage in by_name:
      out.append(make_track_stage(preset.get(TRACK, {}), model.track_stage,
                                  by_name[model.predict_stage]))
  if out:
    names = list(by_name) + [s.name for s in out]
    out.append(make_evaluate_stage(preset.get(EVALUATE, {}), names))
  return out
