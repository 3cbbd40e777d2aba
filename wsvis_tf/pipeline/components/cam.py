"""Stages 'cam_train', 'cam' and 'ir_labels' (paper sec 3.1-3.2, IRN).

cam_train (reads data)
  Trains the CAM classifier (wsvis_tf/pipeline/components/cam_training.py);
  this module reads its outputs (cam_model_info, load_cam_model, ...).

cam (reads data, cam_train)
  Multi-scale + flip CAMs of every training frame (IRN make_cam), one npz
  per frame, cams/<video_id>/<frame stem>.npz with keys `keys` [K] int32,
  `cam` [K, ceil(H/4), ceil(W/4)] float16, `high_res` [K, H, W] float16
  (wsvis_tf/cam/extraction.py); index.json lists the frames. Frames already
  on disk are skipped (resume). A frame without labels gets K = 0. With
  ground truth, metrics hold IRN's eval_cam mIoU at threshold 0.15.
  Config: {'split', 'annotated_only'}.

ir_labels (reads data, cam, and flow only for f-CAMs from the flow stage)
  IR labels (IRN cam_to_ir_label) from the CAMs, or from f-CAMs (paper eq 2)
  when use_fcam: labels/<video_id>/<frame stem>.png, 0 bg, c + 1 class c,
  255 ignore (wsvis_tf/irn/ir_labels.py); index.json lists the frames and
  the f-CAM settings (so IRN inference can amplify its CAMs the same way).
  Config: {'use_fcam', 'amplification' (A), 'percentile' (T = P_p of the
  flow magnitude), 'flow_source' ('auto' | 'stage' | 'ground_truth'),
  'crf', 'fg_threshold', 'bg_threshold', 'eval_threshold'}. Without f-CAMs
  the stage neither reads nor depends on flow (the IRN baseline).
  `make_ir_labels_stage(config, name=...)` builds variants under other names
  (the flowIRN ablation).

cam and ir_labels do their per-video work in CamTask / IrLabelsTask, in
this process or on an Apache Beam runner (wsvis_tf/pipeline/per_video.py);
index.json and the metrics are assembled from the per-video summaries.

The helpers (load_cam_model, load_backbone, cam_file, ir_label_file,
frame_index) are how later stages read these outputs.
"""

import dataclasses
import os
from typing import Any, Dict, List, Mapping, Optional, Tuple

from absl import logging
import numpy as np
import tf_keras

from wsvis_tf.cam import evaluation
from wsvis_tf.cam import extraction
from wsvis_tf.cam import model as model_lib
from wsvis_tf.core import atomic_io
from wsvis_tf.core import keys
from wsvis_tf.flowirn import fcam
from wsvis_tf.flowirn import frame_flow
from wsvis_tf.irn import dense_crf
from wsvis_tf.irn import ir_labels
from wsvis_tf.pipeline import per_video
from wsvis_tf.pipeline import presets
from wsvis_tf.pipeline import stage as stage_lib
from wsvis_tf.pipeline.components import cam_training

CAM_TRAIN = cam_training.NAME
CAM = 'cam'
IR_LABELS = 'ir_labels'
FLOW = 'flow'
MODEL_JSON = cam_training.MODEL_JSON
CAMS_DIR = 'cams'
LABELS_DIR = 'labels'
INDEX_JSON = 'index.json'
PRETRAIN_DIR = cam_training.PRETRAIN_DIR
# The cam_train stage (its module): make_cam_train_stage(config, name).
make_cam_train_stage = cam_training.make_cam_train_stage


# --- reading cam_train's outputs ---------------------------------------------


def cam_model_info(record: stage_lib.StageRecord) -> Dict[str, Any]:
  """model.json of a cam_train record, with 'checkpoint' made absolute."""
  info = atomic_io.read_json(record.path(MODEL_JSON))
  info['checkpoint'] = record.path(info['checkpoint'])
  return info


def cam_checkpoint_path(record: stage_lib.StageRecord) -> str:
  """The final checkpoint prefix written by cam_train."""
  return cam_model_info(record)['checkpoint']


def load_cam_model(record: stage_lib.StageRecord,
                   fold: int = 0) -> model_lib.CamNet:
  """A trained CamNet of a cam_train record (model `fold` of cross-fitting).
  """
  info = cam_model_info(record)
  backbone = info['config']['backbone']
  model = model_lib.CamNet(info['num_classes'], backbone['name'],
                           backbone['frozen_stages'], backbone['frozen_bn'],
                           info['config'].get('pool_top_fraction', 1.0),
                           info['config'].get('class_bias', False))
  checkpoints = info.get('fold_checkpoints') or [info['checkpoint']]
  model_lib.restore_cam_model(model, record.path(checkpoints[fold]))
  return model


def load_backbone(record: stage_lib.StageRecord,
                  frozen: bool = True) -> tf_keras.Model:
  """The CAM network's trained backbone (dict of stages), for IRN heads."""
  info = cam_model_info(record)
  return model_lib.load_backbone_from_cam_checkpoint(
      info['checkpoint'], info['config']['backbone']['name'], frozen)


# --- cam ---------------------------------------------------------------------


def cam_file(record: stage_lib.StageRecord, video_id: str,
             frame_name: str) -> str:
  """Path of a frame's CAM npz in a 'cam' record."""
  return extraction.cam_path(record.path(CAMS_DIR), video_id, frame_name)


def frame_index(record: stage_lib.StageRecord) -> Dict[str, Any]:
  """index.json of a 'cam' or 'ir_labels' record."""
  return atomic_io.read_json(record.path(INDEX_JSON))


def _finite_or_none(value: float) -> Optional[float]:
  """A metric for the stage record (strict JSON: NaN becomes None)."""
  value = float(value)
  return round(value, 4) if np.isfinite(value) else None


def _semantic_gt(video, t) -> Optional[np.ndarray]:
  if keys.INSTANCE_MAP not in video or keys.TRACK_CLASSES not in video:
    return None
  return evaluation.semantic_from_instances(video[keys.INSTANCE_MAP][t],
                                            video[keys.TRACK_CLASSES])


def _confusion_sum(summaries: List[Mapping[str, Any]], key: str,
                   num_classes: int) -> Optional[evaluation.SemanticConfusion]:
  """The sum of the videos' confusion matrices (None if none has GT)."""
  confusion = evaluation.SemanticConfusion(num_classes)
  has_gt = False
  for s in summaries:
    if s[key] is not None:
      has_gt = True
      confusion.matrix += np.asarray(s[key], np.int64)
  return confusion if has_gt else None


COMBINE_HELD_OUT = 'held_out'
COMBINE_MIN = 'min'
COMBINES = (COMBINE_HELD_OUT, COMBINE_MIN)


@dataclasses.dataclass(frozen=True)
class CamTask(per_video.VideoTask):
  """The cam stage's per-video work (multi-scale + flip CAMs of its frames).

  Summary: {'frames': index entries, 'computed', 'empty', 'confusion':
  [C+1, C+1] counts of the thresholded CAMs against GT, or None}.
  """
  train_record: stage_lib.StageRecord
  cams_dir: str
  annotated_only: bool
  num_classes: int
  eval_threshold: float
  train_stage: str
  # COMBINE_HELD_OUT or COMBINE_MIN (make_cam_stage).
  combine: str = COMBINE_HELD_OUT

  def setup(self) -> Tuple[List[extraction.CamExtractor], Any]:
    info = cam_model_info(self.train_record)
    ext_cfg = info['config']['extraction']
    extractors = [
        extraction.CamExtractor(load_cam_model(self.train_record, fold),
                                ext_cfg['scales'], ext_cfg['flip'])
        for fold in range(len(info.get('fold_checkpoints') or [0]))]
    return extractors, info.get('video_folds')

  def process(self, state, video: Mapping[str, Any]) -> Dict[str, Any]:
    extractors, video_folds = state
    video_id = keys.as_text(video[keys.VIDEO_ID])
    confusion = evaluation.SemanticConfusion(self.num_classes)
    frames, computed, empty, has_gt = [], 0, 0, False
    for t in range(len(video[keys.FRAMES])):
      if self.annotated_only and not video[keys.ANNOTATED][t]:
        continue
      frame_name = keys.as_text(video[keys.FRAME_NAMES][t])
      path = extraction.cam_path(self.cams_dir, video_id, frame_name)
      if os.path.exists(path):
        cams = extraction.load_cams(path)
      else:
        frame, labels = video[keys.FRAMES][t], video[keys.FRAME_LABELS][t]
        if self.combine == COMBINE_MIN:
          cams = extraction.agreement_cams(
              [e(frame, labels, allow_empty=True) for e in extractors])
        else:
          fold = 0
          if video_folds is not None:
            if video_id not in video_folds:
              raise ValueError(f'video {video_id} was not in any '
                               f'cross-fitting fold of {self.train_stage}')
            fold = video_folds[video_id]
          cams = extractors[fold](frame, labels, allow_empty=True)
        extraction.save_cams(path, cams)
        computed += 1
      empty += int(len(cams[extraction.NPZ_KEYS]) == 0)
      gt = _semantic_gt(video, t)
      if gt is not None:
        has_gt = True
        confusion.add(evaluation.cams_to_semantic(
            cams[extraction.NPZ_HIGH_RES], cams[extraction.NPZ_KEYS],
            self.eval_threshold), gt)
      frames.append({'video_id': video_id, 'frame_index': t,
                     'frame_name': frame_name,
                     'keys': cams[extraction.NPZ_KEYS].tolist()})
    return {'frames': frames, 'computed': computed, 'empty': empty,
            'confusion': confusion.matrix.tolist() if has_gt else None}


def _run_cam(ctx: stage_lib.StageContext) -> Dict[str, Any]:
  source = ctx.resources['source']
  train_record = ctx.input(ctx.config['train_stage'])
  info = cam_model_info(train_record)
  class_names = source.class_names
  if info['class_names'] != class_names:
    raise ValueError(f'the CAM model was trained on classes '
                     f'{info["class_names"]}, the dataset has {class_names}')
  split = ctx.config['split']
  task = CamTask(train_record, ctx.path(CAMS_DIR),
                 ctx.config['annotated_only'], len(class_names),
                 info['config']['extraction']['eval_threshold'],
                 ctx.config['train_stage'], ctx.config['combine'])
  summaries = per_video.run_videos(
      task, source, split, ctx.directory,
      per_video.execution_of(ctx.resources, per_video.CAM),
      lambda i, n: ctx.progress(i, n, 'videos'))
  frames = [f for s in summaries for f in s['frames']]
  atomic_io.write_json(ctx.path(INDEX_JSON), {
      'split': split, 'class_names': class_names, 'frames': frames})
  metrics = {'frames': len(frames),
             'computed': sum(s['computed'] for s in summaries
                             if s[per_video.THIS_RUN]),
             'frames_without_labels': sum(s['empty'] for s in summaries)}
  confusion = _confusion_sum(summaries, 'confusion', len(class_names))
  if confusion is not None:
    metrics['cam_miou'] = _finite_or_none(confusion.miou())
    # IoU per label (background first); None for labels never seen.
    metrics['cam_iou'] = [_finite_or_none(v) for v in confusion.iou()]
  return metrics


def make_cam_stage(config: Mapping[str, Any], name: str = CAM,
                   train_stage: str = CAM_TRAIN) -> stage_lib.Stage:
  """CAM extraction.

  Config {'split': 'train', 'annotated_only': True, 'combine':
  'held_out'}. With cross-fitted CAM models, combine 'held_out' takes each
  video's CAMs from the one model that never saw it; 'min' from every
  model, keeping at each location the least any of them gives a class
  (extraction.agreement_cams: the held-out model's spill over an unseen
  background and the others' over the backgrounds they learned seldom
  coincide). Not in IRN or the paper, which have one model.
  """
  config = {'split': 'train', 'annotated_only': True,
            'combine': COMBINE_HELD_OUT, **dict(config),
            'train_stage': train_stage}
  if config['combine'] not in COMBINES:
    raise ValueError(f'{name}: combine must be one of {list(COMBINES)}, got '
                     f'{config["combine"]!r}')
  return stage_lib.Stage(
      name=name, run=_run_cam, config=config, inputs=('data', train_stage),
      outputs=(CAMS_DIR, INDEX_JSON),
      description='multi-scale + flip CAMs of the training frames')


# --- ir_labels ---------------------------------------------------------------


def _ir_label_path(root: str, video_id: str, frame_name: str) -> str:
  return os.path.join(root, video_id,
                      extraction.frame_stem(frame_name) + '.png')


def ir_label_file(record: stage_lib.StageRecord, video_id: str,
                  frame_name: str) -> str:
  """Path of a frame's IR label PNG in an 'ir_labels' record."""
  return _ir_label_path(record.path(LABELS_DIR), video_id, frame_name)


@dataclasses.dataclass(frozen=True)
class IrLabelsTask(per_video.VideoTask):
  """The ir_labels stage's per-video work (IRN cam_to_ir_label).

  Summary: {'frames': index entries, 'confusion': counts of the
  thresholded (f-)CAMs against GT or None, 'stats': ir_label_stats or
  None}.
  """
  config: Mapping[str, Any]
  cam_record: stage_lib.StageRecord
  flow_record: Optional[stage_lib.StageRecord]
  labels_dir: str
  # video id -> [frame index] of the cam stage's frames.
  wanted: Mapping[str, List[int]]
  num_classes: int

  def setup(self) -> None:
    if self.config['crf']:
      dense_crf.require_crf()

  def process(self, state, video: Mapping[str, Any]) -> Dict[str, Any]:
    del state
    cfg = self.config
    video_id = keys.as_text(video[keys.VIDEO_ID])
    wanted = set(self.wanted.get(video_id, ()))
    flow_fn = None
    if cfg['use_fcam'] and wanted:
      flow_fn = frame_flow.frame_flow_fn(cfg['flow_source'],
                                         self.flow_record, video)
    confusion = evaluation.SemanticConfusion(self.num_classes)
    stats, frames, has_gt = {}, [], False
    for t in range(len(video[keys.FRAMES])):
      if t not in wanted:
        continue
      frame_name = keys.as_text(video[keys.FRAME_NAMES][t])
      cams = extraction.load_cams(cam_file(self.cam_record, video_id,
                                           frame_name))
      high_res = cams[extraction.NPZ_HIGH_RES]
      if flow_fn is not None:
        high_res = fcam.flow_amplified_cams(
            high_res, flow_fn(t), cfg['amplification'], cfg['percentile'])
      path = _ir_label_path(self.labels_dir, video_id, frame_name)
      if os.path.exists(path):
        label = ir_labels.load_ir_label(path)
      else:
        label = ir_labels.make_ir_label(
            high_res, cams[extraction.NPZ_KEYS], video[keys.FRAMES][t],
            num_classes=self.num_classes, fg_threshold=cfg['fg_threshold'],
            bg_threshold=cfg['bg_threshold'], crf=cfg['crf'])
        ir_labels.save_ir_label(path, label)
      gt = _semantic_gt(video, t)
      if gt is not None:
        has_gt = True
        stats = evaluation.ir_label_stats(label, gt, stats)
        confusion.add(evaluation.cams_to_semantic(
            high_res, cams[extraction.NPZ_KEYS], cfg['eval_threshold']), gt)
      frames.append({'video_id': video_id, 'frame_index': t,
                     'frame_name': frame_name})
    return {'frames': frames,
            'confusion': confusion.matrix.tolist() if has_gt else None,
            'stats': stats if has_gt else None}


def _run_ir_labels(ctx: stage_lib.StageContext) -> Dict[str, Any]:
  source = ctx.resources['source']
  cfg = ctx.config
  cam_record = ctx.input(cfg['cam_stage'])
  index = frame_index(cam_record)
  class_names = index['class_names']
  use_fcam = cfg['use_fcam']
  wanted: Dict[str, List[int]] = {}
  for f in index['frames']:
    wanted.setdefault(f['video_id'], []).append(f['frame_index'])
  flow_record = None
  if use_fcam and cfg.get('flow_stage'):
    flow_record = ctx.input(cfg['flow_stage'])
  task = IrLabelsTask(dict(cfg), cam_record, flow_record,
                      ctx.path(LABELS_DIR), wanted, len(class_names))
  task.setup()  # Fails now, before any worker starts, without a CRF.
  summaries = per_video.run_videos(
      task, source, index['split'], ctx.directory,
      per_video.execution_of(ctx.resources, per_video.IR_LABELS),
      lambda i, n: ctx.progress(i, n, 'videos'))
  frames = [f for s in summaries for f in s['frames']]
  if len(frames) != len(index['frames']):
    raise ValueError(f'{len(index["frames"]) - len(frames)} frames of the '
                     'cam stage are not in the dataset any more')
  fcam_settings = None
  if use_fcam:
    fcam_settings = {k: cfg[k] for k in ('amplification', 'percentile',
                                         'flow_source', 'flow_stage')}
  atomic_io.write_json(ctx.path(INDEX_JSON), {
      'split': index['split'], 'class_names': class_names, 'frames': frames,
      'fcam': fcam_settings, 'crf': cfg['crf']})
  metrics: Dict[str, Any] = {'frames': len(frames), 'use_fcam': use_fcam}
  confusion = _confusion_sum(summaries, 'confusion', len(class_names))
  if confusion is not None:
    stats: Dict[str, int] = {}
    for s in summaries:
      for k, v in (s['stats'] or {}).items():
        stats[k] = stats.get(k, 0) + v
    metrics['cam_miou'] = _finite_or_none(confusion.miou())
    metrics.update(evaluation.summarize_ir_stats(stats))
  return metrics


IR_LABELS_DEFAULTS = {
    'use_fcam': True, 'amplification': 2.0, 'percentile': 80.0,
    'flow_source': 'auto', 'crf': True,
    'fg_threshold': ir_labels.FG_THRESHOLD,
    'bg_threshold': ir_labels.BG_THRESHOLD, 'eval_threshold': 0.15,
}


def make_ir_labels_stage(config: Mapping[str, Any], name: str = IR_LABELS,
                         flow_stage: Optional[str] = None,
                         cam_stage: str = CAM,
                         has_exact_flow: bool = False) -> stage_lib.Stage:
  """The IR label stage, or a variant of it under another name.

  Args:
    config: Overrides of IR_LABELS_DEFAULTS (unknown keys are an error).
    name: Stage name, e.g. 'ir_labels_irn' for the no-f-CAM ablation.
    flow_stage: Name of the flow stage in the graph, or None if there is
      none.
    cam_stage: Name of the CAM extraction stage to read.
    has_exact_flow: The dataset has exact flow (GT_FLOW, synthetic).

  flow_source 'stage' needs flow_stage and 'ground_truth' needs exact flow
  (else ValueError); 'auto' takes the flow stage when there is one, else the
  exact flow when there is some, else turns f-CAMs off with a warning (the
  resolved use_fcam / flow_source are in the stage's config and record).
  The stage depends on flow_stage only when use_fcam is on and the flow
  comes from it; without f-CAMs the flow settings are dropped from the
  config, so they neither rerun it nor make it wait for flow.
  """
  unknown = set(config) - set(IR_LABELS_DEFAULTS)
  if unknown:
    raise KeyError(f'unknown ir_labels config keys {sorted(unknown)}; known: '
                   f'{sorted(IR_LABELS_DEFAULTS)}')
  cfg = {**IR_LABELS_DEFAULTS, **dict(config)}
  inputs = ['data', cam_stage]
  if cfg['use_fcam']:
    source = cfg['flow_source']
    if source == 'auto':
      source = ('stage' if flow_stage else
                'ground_truth' if has_exact_flow else None)
      if source is None:
        logging.warning('[%s] f-CAMs are on but there is no flow: no flow '
                        'stage and no exact flow in the dataset; making IR '
                        'labels from plain CAMs (IRN).', name)
        cfg['use_fcam'] = False
    elif source not in frame_flow.SOURCES:
      raise ValueError(f'flow_source must be auto or one of '
                       f'{frame_flow.SOURCES}, got {source!r}')
    if source == 'stage' and not flow_stage:
      raise ValueError('f-CAMs with flow_source "stage" need the flow stage '
                       'in the pipeline')
    if source == 'ground_truth' and not has_exact_flow:
      raise ValueError('f-CAMs with flow_source "ground_truth" need a '
                       'dataset with exact flow (synthetic)')
    if source == 'stage':
      inputs.append(flow_stage)
    cfg['flow_source'] = source
    cfg['flow_stage'] = flow_stage if source == 'stage' else None
  if not cfg['use_fcam']:
    for k in ('amplification', 'percentile', 'flow_source', 'flow_stage'):
      cfg.pop(k, None)
  cfg['cam_stage'] = cam_stage
  what = 'f-CAMs' if cfg['use_fcam'] else 'CAMs'
  return stage_lib.Stage(
      name=name, run=_run_ir_labels, config=cfg, inputs=tuple(inputs),
      outputs=(LABELS_DIR, INDEX_JSON),
      description=f'inter-pixel relation labels from {what} (IRN)')


def has_exact_flow(source) -> bool:
  """Whether a VideoSource's examples carry GT_FLOW (synthetic data)."""
  return keys.GT_FLOW in source.builder.info.features


def make_stages(preset: Mapping[str, Mapping[str, Any]], source,
                flow_stage: Optional[str] = None) -> List[stage_lib.Stage]:
  """cam_train, cam and ir_labels from a preset's entries of those names.

  Args:
    preset: The preset (presets.get_preset): its 'cam_train', 'cam' and
      'ir_labels' dicts.
    source: The VideoSource (to know whether it has exact flow).
    flow_stage: The flow stage's name if the graph has one (see
      make_ir_labels_stage).
  """
  return [
      make_cam_train_stage(preset[CAM_TRAIN]),
      make_cam_stage(preset[CAM]),
      make_ir_labels_stage(preset[IR_LABELS], flow_stage=flow_stage,
                           has_exact_flow=has_exact_flow(source)),
  ]


def override_cam_train(stage: stage_lib.Stage,
                       cam_overrides: Mapping[str, Any]) -> stage_lib.Stage:
  """The cam_train stage with CamConfig overrides merged into its config.

  E.g. {'backbone': {'imagenet_weights': path}} (a binary's flag).
  """
  config = dict(stage.config)
  config['cam'] = presets.deep_merge(config.get('cam') or {}, cam_overrides)
  return make_cam_train_stage(config, name=stage.name)
