"""Stages 'cam_train', 'cam' and 'ir_labels' (paper sec 3.1-3.2, IRN).

cam_train (reads data)
  Trains the CAM classifier on the training frames' class labels (first on
  an image dataset such as VOC 2012 when `cam.pretrain.tfds_name` is set,
  paper sec 4.2). Writes checkpoints/ (tf.train.CheckpointManager, resumed
  after a crash) and model.json {checkpoint, fold_checkpoints, video_folds,
  config, class_names}; with cam.cross_fit_folds = k > 1 it trains k models
  (model i > 0 under checkpoints/fold_<i>/), see CamConfig.
  Config: {'cam': CamConfig overrides (wsvis_tf/cam/config.py)}.

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

The helpers at the end (load_cam_model, load_backbone, cam_file,
ir_label_file, frame_index) are how later stages read these outputs.
"""

import functools
import os
from typing import Any, Dict, List, Mapping, Optional

from absl import logging
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds
import tf_keras

from wsvis_tf.backbones import imagenet_weights
from wsvis_tf.cam import config as config_lib
from wsvis_tf.cam import evaluation
from wsvis_tf.cam import extraction
from wsvis_tf.cam import input_pipeline
from wsvis_tf.cam import model as model_lib
from wsvis_tf.cam import selection
from wsvis_tf.cam import train_lib
from wsvis_tf.cam import voc
from wsvis_tf.core import atomic_io
from wsvis_tf.core import keys
from wsvis_tf.core import training
from wsvis_tf.flowirn import fcam
from wsvis_tf.flowirn import frame_flow
from wsvis_tf.irn import dense_crf
from wsvis_tf.irn import ir_labels
from wsvis_tf.pipeline import presets
from wsvis_tf.pipeline import stage as stage_lib

CAM_TRAIN = 'cam_train'
CAM = 'cam'
IR_LABELS = 'ir_labels'
FLOW = 'flow'
MODEL_JSON = 'model.json'
CAMS_DIR = 'cams'
LABELS_DIR = 'labels'
INDEX_JSON = 'index.json'
PRETRAIN_DIR = 'pretrain'


def _train_frames(source, split: str, annotated_only: bool):
  """Yields (video dict, frame index) of a split's training frames."""
  for video in tfds.as_numpy(source.videos(split)):
    annotated = video[keys.ANNOTATED]
    for t in range(len(video[keys.FRAMES])):
      if annotated_only and not annotated[t]:
        continue
      yield video, t


def _labelled_frames(source, split: str, video_ids: List[str],
                     annotated_only: bool):
  """Yields (frame, frame labels) of the split's videos in video_ids."""
  wanted = set(video_ids)
  for video, t in _train_frames(source, split, annotated_only):
    if keys.as_text(video[keys.VIDEO_ID]) in wanted:
      yield video[keys.FRAMES][t], video[keys.FRAME_LABELS][t]


def _video_ids(source, split: str) -> List[str]:
  ds = source.videos(split).map(lambda v: v[keys.VIDEO_ID])
  return [keys.as_text(v) for v in tfds.as_numpy(ds)]


def _videos_except(source, split: str, excluded: List[str]
                  ) -> tf.data.Dataset:
  """The split's videos without those whose id is in excluded."""
  videos = source.videos(split)
  if not excluded:
    return videos
  excluded = tf.constant(excluded)
  return videos.filter(lambda v: tf.logical_not(
      tf.reduce_any(tf.equal(v[keys.VIDEO_ID], excluded))))


def _fold_dir(fold: int) -> str:
  """Model fold > 0 of cam_train lives under checkpoints/fold_<i>/."""
  return os.path.join(train_lib.CHECKPOINT_DIR, f'fold_{fold}')


def _count_frames(source, split: str, annotated_only: bool,
                  videos: Optional[tf.data.Dataset] = None) -> int:
  ds = (source.videos(split) if videos is None else videos).map(
      lambda v: tf.reduce_sum(tf.cast(v[keys.ANNOTATED], tf.int32))
      if annotated_only else tf.shape(v[keys.ANNOTATED])[0])
  return int(sum(tfds.as_numpy(ds)))


# --- cam_train ---------------------------------------------------------------


def _init_from_pretrained(model: model_lib.CamNet, checkpoint: str,
                          source_names: List[str], target_names: List[str],
                          aliases: List[str]) -> None:
  """Backbone from a pretrained CamNet; classifier rows of same-name classes.

  Paper sec 4.2 fine-tunes the VOC-trained first stage on Cityscapes. The
  classifier column of a target class starts from the pretrained column of
  the class of the same name (or its alias 'target=source'); others keep
  their fresh initialisation.
  """
  pretrained = model_lib.CamNet(len(source_names), model.backbone_name,
                                model.frozen_stages, model.frozen_bn,
                                model.pool_top_fraction,
                                model.use_class_bias)
  model_lib.restore_cam_model(pretrained, checkpoint)
  model.backbone.set_weights(pretrained.backbone.get_weights())
  alias = dict(a.split('=', 1) for a in aliases)
  src_kernel = pretrained.classifier.get_weights()[0]
  kernel = model.classifier.get_weights()[0]
  copied = []
  for c, name in enumerate(target_names):
    src = alias.get(name, name)
    if src in source_names:
      kernel[..., c] = src_kernel[..., source_names.index(src)]
      copied.append(f'{name}<-{src}')
  model.classifier.set_weights([kernel])
  logging.info('Fine-tuning from %s; classifier columns copied: %s',
               checkpoint, copied or 'none')


def _seed(seed: int) -> None:
  """Seeds a model's initialisation and augmentation (train.seed)."""
  training.seed_everything(seed)


def _run_cam_train(ctx: stage_lib.StageContext) -> Dict[str, Any]:
  source = ctx.resources['source']
  strategy = ctx.resources.get('strategy')
  cfg = config_lib.cam_config_from_dict(ctx.config.get('cam'))
  t = cfg.train
  class_names = source.class_names
  metrics: Dict[str, Any] = {}
  init_fn = None
  if cfg.pretrain.tfds_name:
    builder = voc.voc_builder(cfg.pretrain.data_dir, cfg.pretrain.tfds_name)
    pre_names = voc.voc_class_names(builder)
    n = voc.num_examples(builder, cfg.pretrain.split)
    steps = max(1, int(n // t.batch_size * cfg.pretrain.epochs))
    logging.info('[%s] pretraining on %s (%s, %d images): %d steps',
                 ctx.stage.name, cfg.pretrain.tfds_name, cfg.pretrain.split,
                 n, steps)
    _seed(t.seed)
    pre = train_lib.train_cam(
        lambda: model_lib.build_cam_model(cfg, len(pre_names)),
        lambda: input_pipeline.training_dataset(
            voc.voc_frames(builder, cfg.pretrain.split, shuffle_files=True),
            t.crop_size, t.resize_long, t.batch_size, t.shuffle_buffer,
            cache=False, seed=t.seed),
        t, steps, ctx.path(PRETRAIN_DIR), strategy=strategy)
    metrics.update({'pretrain_steps': steps,
                    'pretrain_final_loss': pre['final_loss']})
    init_fn = functools.partial(
        _init_from_pretrained, checkpoint=pre['checkpoint'],
        source_names=pre_names, target_names=class_names,
        aliases=list(cfg.pretrain.class_aliases))
  video_ids = sorted(_video_ids(source, 'train'))
  folds = cfg.cross_fit_folds
  if folds > len(video_ids):
    raise ValueError(f'cross_fit_folds {folds} exceeds the {len(video_ids)} '
                     'training videos')
  # Fold of a video: its rank in sorted order, modulo k (balanced, stable).
  video_folds = {v: i % folds for i, v in enumerate(video_ids)}
  checkpoints, first, final, nonfinite, steps = [], [], [], 0, 0
  heldout: List[Dict[str, Any]] = []
  n = _count_frames(source, 'train', t.annotated_only)
  for fold in range(folds):
    held_out = [v for v, f in video_folds.items() if f == fold]
    videos_fn = functools.partial(_videos_except, source, 'train',
                                  held_out if folds > 1 else [])
    fold_frames = (n if folds == 1 else
                   _count_frames(source, 'train', t.annotated_only,
                                 videos_fn()))
    fold_steps = (t.steps if t.steps else
                  max(1, int(fold_frames // t.batch_size * t.epochs)))
    logging.info('[%s] model %d/%d: %d training frames, batch %d, %s: %d '
                 'steps', ctx.stage.name, fold + 1, folds, fold_frames,
                 t.batch_size, 'step budget' if t.steps else
                 f'{t.epochs} epochs', fold_steps)
    _seed(t.seed + fold)
    result = train_lib.train_cam(
        lambda: model_lib.build_cam_model(cfg, len(class_names)),
        lambda: input_pipeline.training_dataset(  # pylint: disable=cell-var-from-loop
            input_pipeline.video_frames(videos_fn(), t.annotated_only),
            t.crop_size, t.resize_long, t.batch_size, t.shuffle_buffer,
            cache=t.cache, seed=t.seed + fold,
            color_jitter=t.color_jitter),
        t, fold_steps,
        ctx.directory if fold == 0 else ctx.path(_fold_dir(fold)),
        strategy=strategy, init_fn=init_fn,
        progress_fn=lambda i, total: ctx.progress(i, total, 'steps'),
        max_to_keep=(fold_steps // t.checkpoint_every + 1
                     if cfg.selection == 'heldout_loss' else None))
    chosen = result['checkpoint']
    if cfg.selection == 'heldout_loss':
      model = model_lib.build_cam_model(cfg, len(class_names))
      chosen, values = selection.select_checkpoint(
          model, result['checkpoints'],
          functools.partial(_labelled_frames, source, 'train', held_out,
                            t.annotated_only),
          cfg.extraction.scales[0])
      steps_of = [int(c.rsplit('-', 1)[-1]) for c in result['checkpoints']]
      logging.info('[%s] model %d/%d: held-out loss %s at steps %s; chose '
                   'step %d', ctx.stage.name, fold + 1, folds,
                   [round(v, 4) for v in values], steps_of,
                   int(chosen.rsplit('-', 1)[-1]))
      heldout.append({'steps': steps_of,
                      'losses': [round(v, 5) for v in values],
                      'chosen_step': int(chosen.rsplit('-', 1)[-1])})
    checkpoints.append(os.path.relpath(chosen, ctx.directory))
    first.append(result['first_loss'])
    final.append(result['final_loss'])
    nonfinite += result['nonfinite_examples']
    steps += fold_steps
  atomic_io.write_json(ctx.path(MODEL_JSON), {
      'checkpoint': checkpoints[0], 'fold_checkpoints': checkpoints,
      'video_folds': video_folds if folds > 1 else None,
      'config': cfg.as_dict(), 'class_names': class_names,
      'num_classes': len(class_names)}, indent=2)
  metrics.update({'train_frames': n, 'steps': steps, 'models': folds,
                  'seed': t.seed,
                  'first_loss': first[0] if folds == 1 else first,
                  'final_loss': final[0] if folds == 1 else final,
                  'nonfinite_examples': nonfinite})
  if heldout:
    metrics['heldout_selection'] = heldout
  return metrics


def make_cam_train_stage(config: Mapping[str, Any],
                         name: str = CAM_TRAIN) -> stage_lib.Stage:
  """The CAM training stage; config {'cam': CamConfig overrides}."""
  config = dict(config)
  cfg = config_lib.cam_config_from_dict(config.get('cam'))  # typos fail here
  if cfg.backbone.imagenet_weights:
    # A missing or wrong file fails now, not after the stages before this.
    imagenet_weights.check_weights_file(cfg.backbone.imagenet_weights,
                                        cfg.backbone.name)
  return stage_lib.Stage(
      name=name, run=_run_cam_train, config=config, inputs=('data',),
      # 2: stateless per-example augmentation, op determinism.
      version=2,
      outputs=(MODEL_JSON, train_lib.CHECKPOINT_DIR),
      description='train the CAM classifier on frame-level class labels')


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


def _run_cam(ctx: stage_lib.StageContext) -> Dict[str, Any]:
  source = ctx.resources['source']
  train_record = ctx.input(ctx.config['train_stage'])
  info = cam_model_info(train_record)
  class_names = source.class_names
  if info['class_names'] != class_names:
    raise ValueError(f'the CAM model was trained on classes '
                     f'{info["class_names"]}, the dataset has {class_names}')
  ext_cfg = info['config']['extraction']
  extractors = [extraction.CamExtractor(load_cam_model(train_record, fold),
                                        ext_cfg['scales'], ext_cfg['flip'])
                for fold in range(len(info.get('fold_checkpoints') or [0]))]
  video_folds = info.get('video_folds')
  split = ctx.config['split']
  total = _count_frames(source, split, ctx.config['annotated_only'])
  confusion = evaluation.SemanticConfusion(len(class_names))
  frames, computed, empty, has_gt = [], 0, 0, False
  for video, t in _train_frames(source, split, ctx.config['annotated_only']):
    video_id = keys.as_text(video[keys.VIDEO_ID])
    frame_name = keys.as_text(video[keys.FRAME_NAMES][t])
    path = extraction.cam_path(ctx.path(CAMS_DIR), video_id, frame_name)
    if os.path.exists(path):
      cams = extraction.load_cams(path)
    else:
      fold = 0
      if video_folds is not None:
        if video_id not in video_folds:
          raise ValueError(f'video {video_id} was not in any cross-fitting '
                           f'fold of {ctx.config["train_stage"]}')
        fold = video_folds[video_id]
      cams = extractors[fold](video[keys.FRAMES][t],
                              video[keys.FRAME_LABELS][t], allow_empty=True)
      extraction.save_cams(path, cams)
      computed += 1
    empty += int(len(cams[extraction.NPZ_KEYS]) == 0)
    gt = _semantic_gt(video, t)
    if gt is not None:
      has_gt = True
      confusion.add(evaluation.cams_to_semantic(
          cams[extraction.NPZ_HIGH_RES], cams[extraction.NPZ_KEYS],
          ext_cfg['eval_threshold']), gt)
    frames.append({'video_id': video_id, 'frame_index': t,
                   'frame_name': frame_name,
                   'keys': cams[extraction.NPZ_KEYS].tolist()})
    ctx.progress(len(frames), total, 'frames')
  atomic_io.write_json(ctx.path(INDEX_JSON), {
      'split': split, 'class_names': class_names, 'frames': frames})
  metrics = {'frames': len(frames), 'computed': computed,
             'frames_without_labels': empty}
  if has_gt:
    metrics['cam_miou'] = _finite_or_none(confusion.miou())
    # IoU per label (background first); None for labels never seen.
    metrics['cam_iou'] = [_finite_or_none(v) for v in confusion.iou()]
  return metrics


def make_cam_stage(config: Mapping[str, Any], name: str = CAM,
                   train_stage: str = CAM_TRAIN) -> stage_lib.Stage:
  """CAM extraction; config {'split': 'train', 'annotated_only': True}."""
  config = {'split': 'train', 'annotated_only': True, **dict(config),
            'train_stage': train_stage}
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


def _run_ir_labels(ctx: stage_lib.StageContext) -> Dict[str, Any]:
  source = ctx.resources['source']
  cfg = ctx.config
  cam_record = ctx.input(cfg['cam_stage'])
  index = frame_index(cam_record)
  class_names = index['class_names']
  use_fcam = cfg['use_fcam']
  if cfg['crf']:
    dense_crf.require_crf()
  wanted = {(f['video_id'], f['frame_index']) for f in index['frames']}
  confusion = evaluation.SemanticConfusion(len(class_names))
  stats: Dict[str, int] = {}
  frames, has_gt = [], False
  for video in tfds.as_numpy(source.videos(index['split'])):
    video_id = keys.as_text(video[keys.VIDEO_ID])
    flow_fn = None
    if use_fcam:
      flow_fn = frame_flow.frame_flow_fn(
          cfg['flow_source'],
          ctx.input(cfg['flow_stage']) if cfg['flow_stage'] else None, video)
    for t in range(len(video[keys.FRAMES])):
      if (video_id, t) not in wanted:
        continue
      frame_name = keys.as_text(video[keys.FRAME_NAMES][t])
      cams = extraction.load_cams(cam_file(cam_record, video_id, frame_name))
      high_res = cams[extraction.NPZ_HIGH_RES]
      if use_fcam:
        high_res = fcam.flow_amplified_cams(
            high_res, flow_fn(t), cfg['amplification'], cfg['percentile'])
      path = _ir_label_path(ctx.path(LABELS_DIR), video_id, frame_name)
      if os.path.exists(path):
        label = ir_labels.load_ir_label(path)
      else:
        label = ir_labels.make_ir_label(
            high_res, cams[extraction.NPZ_KEYS], video[keys.FRAMES][t],
            num_classes=len(class_names), fg_threshold=cfg['fg_threshold'],
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
      ctx.progress(len(frames), len(wanted), 'frames')
  if len(frames) != len(wanted):
    raise ValueError(f'{len(wanted) - len(frames)} frames of the cam stage '
                     'are not in the dataset any more')
  fcam_settings = None
  if use_fcam:
    fcam_settings = {k: cfg[k] for k in ('amplification', 'percentile',
                                         'flow_source', 'flow_stage')}
  atomic_io.write_json(ctx.path(INDEX_JSON), {
      'split': index['split'], 'class_names': class_names, 'frames': frames,
      'fcam': fcam_settings, 'crf': cfg['crf']})
  metrics: Dict[str, Any] = {'frames': len(frames), 'use_fcam': use_fcam}
  if has_gt:
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
