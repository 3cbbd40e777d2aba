"""Stages of the paper's second step: Mask R-CNN and MaskConsist, predictions.

maskrcnn_train (reads data, pseudo_labels, and cam_train when the backbone
  starts from the CAM classifier)
  Mask R-CNN trained on the flowIRN pseudo-labels (the baseline of paper
  Table 6, task.maskconsist off) through tf-models' trainer
  (wsvis_tf/maskconsist/train_lib.py): checkpoints in model/ (a killed run
  resumes), TensorBoard under model/train, model.json {experiment,
  checkpoint, labels}.
maskconsist_train (reads data, flow, pseudo_labels[, cam_train])
  The same with MaskConsist (paper sec 3.3).
predict_maskrcnn, predict (reads data, the train stage, flow)
  The trained model's frame predictions (score >= 0.05, NMS 0.5: paper sec
  4.2) on the training frames and on every frame of the held-out split:
  <split>_predictions.json per split, a COCO instances JSON with scores
  (the pseudo-label format; train_labels.json keeps the training frames'
  predictions with score >= label_min_score, the next self-training
  round's labels), frame AP / AP50 / AP75 against the ground truth where
  it exists, and TC (paper Table 6: AP50 of each frame's predictions
  against the previous frame's, flow-warped) on the held-out videos.

Config of a train stage: {'experiment': a registered experiment
(wsvis_tf/maskconsist/experiments.py), 'overrides': a nested dict over its
config (e.g. {'trainer': {'train_steps': 500}}), 'strategy': a
train_lib.STRATEGIES name, 'labels_stage': the stage whose JSON it trains on
(pseudo_labels, or a predict stage for self-training), 'labels_file'}.
The work-dir paths (tfds dir, pseudo-labels, flows, CAM checkpoint) are
filled in here, so the fingerprint holds only settings.

Config of a predict stage: {'train_stage', 'splits', 'min_score',
'mask_threshold', 'tc_score_threshold', 'label_min_score', 'batch_size'}.
"""

import copy
import hashlib
import json
import os
from typing import Any, Dict, List, Mapping

from absl import logging
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from official.core import exp_factory
from official.modeling import hyperparams
from wsvis_tf.core import atomic_io
from wsvis_tf.core import keys
from wsvis_tf.core import mask_ops
from wsvis_tf.core import training
from wsvis_tf.evaluation import frame_ap
from wsvis_tf.evaluation import instances as instances_lib
from wsvis_tf.evaluation import temporal
from wsvis_tf.irn import pseudo_labels as pseudo_lib
from wsvis_tf.maskconsist import config as mc_config
from wsvis_tf.maskconsist import experiments  # pylint: disable=unused-import
from wsvis_tf.maskconsist import inference
from wsvis_tf.maskconsist import task as task_lib
from wsvis_tf.maskconsist import train_lib
from wsvis_tf.pipeline import stage as stage_lib
from wsvis_tf.pipeline.components import cam as cam_component
from wsvis_tf.pipeline.components import data as data_component
from wsvis_tf.pipeline.components import flow as flow_component

MASKRCNN_TRAIN = 'maskrcnn_train'
MASKCONSIST_TRAIN = 'maskconsist_train'
PREDICT_MASKRCNN = 'predict_maskrcnn'
PREDICT = 'predict'
MODEL_DIR = 'model'
MODEL_JSON = 'model.json'
PREDICTIONS = '{split}_predictions.json'
# The training frames' predictions with score >= label_min_score: the
# labels of the next self-training round.
TRAIN_LABELS = 'train_labels.json'
DEFAULT_LABELS_FILE = 'pseudo_labels.json'


def _override(params, overrides: Mapping[str, Any]) -> None:
  if overrides:
    params.override(copy.deepcopy(dict(overrides)), is_strict=True)


def experiment_params(config: Mapping[str, Any]):
  """The experiment config of a train stage config (no work-dir paths)."""
  name = config['experiment']
  try:
    params = exp_factory.get_exp_config(name)
  except LookupError:
    # pylint: disable-next=protected-access
    registered = exp_factory._REGISTERED_CONFIGS
    known = sorted(n for n in registered
                   if n.startswith(('maskrcnn_pseudolabels_', 'maskconsist_')))
    raise ValueError(f'unknown Mask R-CNN experiment {name!r}; registered: '
                     f'{known}') from None
  _override(params, config.get('overrides') or {})
  return params


# --- training ---------------------------------------------------------------


def _run_train(ctx: stage_lib.StageContext) -> Dict[str, Any]:
  source = ctx.resources['source']
  cfg = ctx.config
  params = experiment_params(cfg)
  task = params.task
  data = task.train_data
  data.source.dataset = source.name
  data.source.tfds_dir = source.builder.data_dir
  labels_record = ctx.input(cfg['labels_stage'])
  data.pseudo_labels = labels_record.path(cfg['labels_file'])
  # The dataset's classes + background (tf-models), whatever the
  # experiment's default (a video folder names its own classes).
  task.model.num_classes = len(source.class_names) + 1
  if task.maskconsist:
    data.flow_dir = flow_component.store_of(
        ctx.input(flow_component.NAME)).root
  backbone = task.model.backbone.get()
  if backbone.init == mc_config.INIT_CAM:
    backbone.cam_checkpoint = cam_component.cam_checkpoint_path(
        ctx.input(cam_component.CAM_TRAIN))
  model_dir = ctx.path(MODEL_DIR)
  # --strategy (the 'strategy' resource) over the stage config's name.
  strategy = ctx.resources.get('strategy') or cfg.get('strategy', 'default')
  metrics = train_lib.train(params, model_dir, strategy, source=source)
  training.canonical_checkpoint_state(model_dir)
  checkpoint = tf.train.latest_checkpoint(model_dir)
  atomic_io.write_json(ctx.path(MODEL_JSON), {
      'experiment': cfg['experiment'],
      'checkpoint': os.path.relpath(checkpoint, ctx.directory),
      'maskconsist': bool(task.maskconsist),
      'labels': os.path.relpath(data.pseudo_labels, ctx.work_dir),
      'class_names': source.class_names}, indent=2)
  out = {k: v for k, v in metrics.items()
         if isinstance(v, (int, float, str)) and k != 'checkpoint'}
  return {k: (round(v, 5) if isinstance(v, float) else v)
          for k, v in out.items()}


def make_train_stage(config: Mapping[str, Any], name: str,
                     labels_stage: str = 'pseudo_labels') -> stage_lib.Stage:
  """A Mask R-CNN / MaskConsist training stage (module docstring)."""
  config = {'strategy': 'default', 'labels_stage': labels_stage,
            'labels_file': DEFAULT_LABELS_FILE, **copy.deepcopy(dict(config))}
  params = experiment_params(config)  # unknown experiment or key: fail now
  # The resolved experiment in the fingerprint: a changed default in
  # wsvis_tf/maskconsist/experiments.py retrains, as a changed override does.
  config['experiment_sha256'] = hashlib.sha256(json.dumps(
      params.as_dict(), sort_keys=True, default=str).encode()).hexdigest()
  inputs = ['data'] + ([config['labels_stage']]
                       if config['labels_stage'] != 'data' else [])
  if params.task.maskconsist:
    inputs.append(flow_component.NAME)
  if params.task.model.backbone.get().init == mc_config.INIT_CAM:
    inputs.append(cam_component.CAM_TRAIN)
  what = 'MaskConsist' if params.task.maskconsist else 'Mask R-CNN'
  return stage_lib.Stage(
      name=name, run=_run_train, config=config, inputs=tuple(inputs),
      outputs=(MODEL_JSON, MODEL_DIR),
      description=f'train {what} ({config["experiment"]}) on '
      f'{config["labels_stage"]}')


# --- predictions ------------------------------------------------------------


def load_trained_model(record: stage_lib.StageRecord, source):
  """(model, experiment params) of a train stage's final checkpoint."""
  info = atomic_io.read_json(record.path(MODEL_JSON))
  params = exp_factory.get_exp_config(info['experiment'])
  params = hyperparams.override_params_dict(
      params, record.path(os.path.join(MODEL_DIR, 'params.yaml')),
      is_strict=False)
  task = task_lib.MaskConsistTask(params.task, source=source)
  model = task.build_model()
  tf.train.Checkpoint(model=model).restore(
      record.path(info['checkpoint'])).expect_partial()
  return model, params


def predictions_to_annotations(prediction: inference.FramePredictions
                              ) -> List[Dict[str, Any]]:
  """A frame's predictions as COCO annotations with scores (no ids)."""
  out = []
  for k in range(len(prediction)):
    rle = mask_ops.encode(prediction.masks[k])
    out.append({'category_id': int(prediction.classes[k]),
                'segmentation': rle, 'area': float(mask_ops.area(rle)),
                'bbox': mask_ops.rle_to_coco_box(rle), 'iscrowd': 0,
                'score': round(float(prediction.scores[k]), 6)})
  return out


def _frames_of(video, annotated_only: bool) -> List[int]:
  annotated = video[keys.ANNOTATED]
  return [t for t in range(len(video[keys.FRAMES]))
          if annotated[t] or not annotated_only]


def _run_predict(ctx: stage_lib.StageContext) -> Dict[str, Any]:
  source = ctx.resources['source']
  cfg = ctx.config
  model, params = load_trained_model(ctx.input(cfg['train_stage']), source)
  predictor = inference.FramePredictor(model, params.task.model,
                                       cfg['min_score'],
                                       cfg['mask_threshold'])
  store = flow_component.store_of(ctx.input(flow_component.NAME))
  class_names = source.class_names
  categories = [{'id': c + 1, 'name': n} for c, n in enumerate(class_names)]
  metrics: Dict[str, Any] = {}
  for split in cfg['splits']:
    if split not in source.splits:
      # A declared output: an empty prediction set, said in the log and
      # the metrics (e.g. a video folder has no held-out split).
      logging.warning('[%s] the dataset has no %r split (it has %s): '
                      'writing an empty %s', ctx.stage.name, split,
                      source.splits, PREDICTIONS.format(split=split))
      pseudo_lib.write(ctx.path(PREDICTIONS.format(split=split)),
                       pseudo_lib.assemble([], categories, {},
                                           f'no {split} split'))
      metrics[f'{split}_frames'] = 0
      continue
    # The held-out split: every frame (TC needs consecutive ones); the
    # training split: its training (annotated) frames.
    held_out = split != 'train'
    gt_path = data_component.frames_gt_path(ctx.input('data'), split)
    gt = atomic_io.read_json(gt_path) if os.path.exists(gt_path) else None
    gt_ids = ({im['file_name']: im['id'] for im in gt['images']}
              if gt else {})
    images, by_id, tc_values = [], {}, []
    total = source.num_videos(split)
    for i, video in enumerate(tfds.as_numpy(source.videos(split))):
      video_id = keys.as_text(video[keys.VIDEO_ID])
      frame_ids = _frames_of(video, annotated_only=not held_out)
      frames = video[keys.FRAMES]
      predictions = predictor([frames[t] for t in frame_ids],
                              cfg['batch_size'])
      for t, prediction in zip(frame_ids, predictions):
        name = pseudo_lib.coco_file_name(
            video_id, keys.as_text(video[keys.FRAME_NAMES][t]))
        image_id = len(images) + 1
        images.append({'id': image_id, 'file_name': name,
                       'height': int(frames.shape[1]),
                       'width': int(frames.shape[2]),
                       'frame_index': int(t)})
        by_id[image_id] = predictions_to_annotations(prediction)
      if held_out and len(frame_ids) > 1:
        # TC (paper Tab. 6): the mean over every defined pair of the split.
        tc_values += temporal.pair_values(
            [instances_lib.FrameInstances(p.masks, p.classes, p.scores)
             for p in predictions],
            np.stack([store.read(video_id, frame_ids[k + 1], frame_ids[k])
                      for k in range(len(frame_ids) - 1)]),
            cfg['tc_score_threshold'])
      ctx.progress(i + 1, total, f'{split} videos')
    coco = pseudo_lib.assemble(images, categories, by_id,
                               f'wsvis-tf predictions ({ctx.stage.name})')
    pseudo_lib.write(ctx.path(PREDICTIONS.format(split=split)), coco)
    def scored(coco_json):
      # Frame AP on the annotated frames, with the ground truth's ids.
      results = [dict(r, image_id=gt_ids[images[r['image_id'] - 1][
          'file_name']]) for r in pseudo_lib.as_results(coco_json)
                 if images[r['image_id'] - 1]['file_name'] in gt_ids]
      return frame_ap.evaluate_frames(gt, results)

    if split == 'train':
      confident = {k: [a for a in v if a['score'] >= cfg['label_min_score']]
                   for k, v in by_id.items()}
      labels = pseudo_lib.assemble(
          images, categories, confident,
          f'wsvis-tf self-training labels ({ctx.stage.name}, score >= '
          f'{cfg["label_min_score"]})')
      pseudo_lib.write(ctx.path(TRAIN_LABELS), labels)
      metrics['train_labels'] = len(labels['annotations'])
      if gt:
        metrics['train_labels_AP50'] = round(scored(labels)[frame_ap.AP50],
                                             4)
    metrics[f'{split}_frames'] = len(images)
    metrics[f'{split}_detections'] = len(coco['annotations'])
    if gt:
      ap = scored(coco)
      metrics.update({f'{split}_{k}': round(v, 4) for k, v in ap.items()})
      logging.info('[%s] %s: AP %.4f AP50 %.4f', ctx.stage.name, split,
                   ap[frame_ap.AP], ap[frame_ap.AP50])
    if held_out:
      # The pairs TC is defined on (a prediction >= tc_score_threshold on
      # the first frame): few pairs make a TC of little weight.
      metrics[f'{split}_TC_pairs'] = len(tc_values)
    if tc_values:
      metrics[f'{split}_TC'] = round(float(np.mean(tc_values)), 4)
  return metrics


# label_min_score: not in the paper, which does not say which predictions
# of the second step label the third; 0.5, the usual Mask R-CNN display cut
# (the TC reference threshold too), keeps the confident ones.
PREDICT_DEFAULTS = {'splits': ['train', 'validation'], 'min_score': 0.05,
                    'mask_threshold': 0.5,
                    'tc_score_threshold': temporal.DEFAULT_SCORE_THRESHOLD,
                    'label_min_score': 0.5, 'batch_size': 4}


def make_predict_stage(config: Mapping[str, Any], name: str,
                       train_stage: str) -> stage_lib.Stage:
  """A predict stage over a train stage's model (module docstring)."""
  unknown = set(config) - set(PREDICT_DEFAULTS)
  if unknown:
    raise KeyError(f'unknown predict config keys {sorted(unknown)}; known: '
                   f'{sorted(PREDICT_DEFAULTS)}')
  config = {**copy.deepcopy(PREDICT_DEFAULTS), **copy.deepcopy(dict(config)),
            'train_stage': train_stage}
  # Version 2: TC pooled over the split's pairs, with their count.
  return stage_lib.Stage(
      name=name, run=_run_predict, config=config, version=2,
      inputs=('data', train_stage, flow_component.NAME),
      outputs=tuple(PREDICTIONS.format(split=s) for s in config['splits'])
      + ((TRAIN_LABELS,) if 'train' in config['splits'] else ()),
      description=f'frame predictions of {train_stage}, frame AP and TC')


def make_stages(preset: Mapping[str, Mapping[str, Any]]
               ) -> List[stage_lib.Stage]:
  """maskrcnn_train, maskconsist_train, predict_maskrcnn, predict from a
  preset's entries of those names ([] without them)."""
  stages: List[stage_lib.Stage] = []
  if MASKRCNN_TRAIN in preset:
    stages.append(make_train_stage(preset[MASKRCNN_TRAIN], MASKRCNN_TRAIN))
  if MASKCONSIST_TRAIN in preset:
    stages.append(make_train_stage(preset[MASKCONSIST_TRAIN],
                                   MASKCONSIST_TRAIN))
  predict = preset.get(PREDICT, {})
  if MASKRCNN_TRAIN in preset:
    stages.append(make_predict_stage(predict, PREDICT_MASKRCNN,
                                     MASKRCNN_TRAIN))
  if MASKCONSIST_TRAIN in preset:
    stages.append(make_predict_stage(predict, PREDICT, MASKCONSIST_TRAIN))
  return stages


def self_training_stages(preset: Mapping[str, Mapping[str, Any]],
                         rounds: int) -> List[stage_lib.Stage]:
  """The paper's third step, `rounds` times: MaskConsist trained on the
  previous round's MaskConsist predictions of the training frames
  (maskconsist_train_r2 on predict's train_predictions.json, predict_r2,
  ...)."""
  stages = []
  previous = PREDICT
  for r in range(2, rounds + 2):
    train_cfg = dict(preset[MASKCONSIST_TRAIN])
    train_cfg['labels_file'] = TRAIN_LABELS
    train = make_train_stage(train_cfg, f'{MASKCONSIST_TRAIN}_r{r}',
                             labels_stage=previous)
    stages += [train, make_predict_stage(preset.get(PREDICT, {}),
                                         f'{PREDICT}_r{r}', train.name)]
    previous = f'{PREDICT}_r{r}'
  return stages
