"""The 'cam_train' stage: the CAM classifier (paper sec 3.1, 4.2; IRN).

Reads data; trains the CAM classifier on the training frames' class labels
(first on an image dataset such as VOC 2012 when `cam.pretrain.tfds_name`
is set, paper sec 4.2). Writes checkpoints/ (tf.train.CheckpointManager,
resumed after a crash) and model.json {checkpoint, fold_checkpoints,
video_folds, config, class_names}; with cam.cross_fit_folds = k > 1 it
trains k models (model i > 0 under checkpoints/fold_<i>/), see CamConfig.
Config: {'cam': CamConfig overrides (wsvis_tf/cam/config.py)}.

wsvis_tf.pipeline.components.cam builds it (make_stages) and reads its
outputs (cam_model_info, load_cam_model, load_backbone).
"""

import functools
import os
from typing import Any, Dict, List, Mapping, Optional

from absl import logging
import tensorflow as tf
import tensorflow_datasets as tfds

from wsvis_tf.backbones import imagenet_weights
from wsvis_tf.cam import config as config_lib
from wsvis_tf.cam import extraction
from wsvis_tf.cam import input_pipeline
from wsvis_tf.cam import model as model_lib
from wsvis_tf.cam import selection
from wsvis_tf.cam import train_lib
from wsvis_tf.cam import voc
from wsvis_tf.core import atomic_io
from wsvis_tf.core import keys
from wsvis_tf.core import training
from wsvis_tf.pipeline import per_video
from wsvis_tf.pipeline import stage as stage_lib

NAME = 'cam_train'
MODEL_JSON = 'model.json'
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
  video_ids = sorted(per_video.video_ids(source, 'train'))
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
            color_jitter=t.color_jitter, mosaic=t.mosaic),
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
                         name: str = NAME) -> stage_lib.Stage:
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
