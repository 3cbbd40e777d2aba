"""Stages 'irn_train' and 'pseudo_labels': IRN / flowIRN (paper sec 3.1-3.2).

irn_train (reads data, ir_labels, cam_train when the heads sit on its
  backbone, and flow when f-Bound takes its flow from the flow stage)
  Trains IRN's boundary and displacement heads on a frozen backbone (the
  CAM network's by default; a separate ImageNet ResNet-50 with
  irn.backbone.source 'imagenet', as the paper presets with ImageNet weights,
  see wsvis_tf/irn/config.py) with IRN's losses on the IR labels, plus the
  f-Bound loss (paper eq 3) when irn.flow_boundary.enabled. Writes
  checkpoints/ (resumed after a crash), tensorboard/ and model.json
  {checkpoint, backbone, config, class_names}.
  Config: {'irn': IrnConfig overrides (backbone, train, flow_boundary)}.

pseudo_labels (reads data, cam, irn_train, and flow when f-CAMs take their
  flow from the flow stage)
  IRN's instance inference on every frame of the cam stage (the training
  frames), with f-CAMs (paper eq 2) when inference.use_fcam. Writes
  pseudo_labels.json (COCO instances, RLE masks, file_name
  '<video>/<frame file>', image ids of the data stage's train_frames.json),
  after per-frame partial results in frames/ (a rerun resumes from them).
  The per-video work (the MeanShift statistic, then inference) is in
  pseudo_label_tasks.py and runs in-process or on an Apache Beam runner
  (wsvis_tf/pipeline/per_video.py); the JSON is assembled after it.
  Metrics: frames, annotations, and AP / AP50 / AP75 of the pseudo-labels
  against the training ground truth when the dataset has it.
  Config: {'irn': {'inference': InferenceConfig overrides}}.

Flow (f-Bound, f-CAMs): flow_source 'auto' reads the DDFlow flow stage when
the pipeline has one, else the exact flow of procedural data, else turns the
feature off with a warning (as the ir_labels stage does). The f-CAM settings
of pseudo_labels follow the preset's ir_labels (inherit_fcam), so inference
amplifies CAMs the way the IR labels the heads learnt from were made.

`make_irn_train_stage` / `make_pseudo_labels_stage` take a `name` and the
names of the stages they read, so the flowIRN ablation (`ablation_stages`,
paper Table 4) runs variants side by side on shared upstream stages.
"""

import copy
import os
import time
from typing import Any, Callable, Dict, List, Mapping, Optional

from absl import logging
import numpy as np
import tensorflow_datasets as tfds

from wsvis_tf.backbones import imagenet_weights
from wsvis_tf.backbones import resnet
from wsvis_tf.core import atomic_io
from wsvis_tf.core import keys
from wsvis_tf.core import training
from wsvis_tf.evaluation import frame_ap
from wsvis_tf.flowirn import frame_flow
from wsvis_tf.irn import config as config_lib
from wsvis_tf.irn import inference
from wsvis_tf.irn import input_pipeline
from wsvis_tf.irn import ir_labels
from wsvis_tf.irn import model as model_lib
from wsvis_tf.irn import pseudo_labels as pseudo_lib
from wsvis_tf.irn import train_lib
from wsvis_tf.pipeline import per_video
from wsvis_tf.pipeline import stage as stage_lib
from wsvis_tf.pipeline.components import cam as cam_component
from wsvis_tf.pipeline.components import data as data_component
from wsvis_tf.pipeline.components import pseudo_label_tasks

IRN_TRAIN = 'irn_train'
PSEUDO_LABELS = 'pseudo_labels'
MODEL_JSON = pseudo_label_tasks.MODEL_JSON
PSEUDO_LABELS_JSON = 'pseudo_labels.json'
FRAMES_DIR = 'frames'


def resolve_flow_source(source: str, flow_stage: Optional[str],
                        has_exact_flow: bool, what: str) -> Optional[str]:
  """The flow a feature reads: 'stage', 'ground_truth', or None (no flow).

  'auto' takes the flow stage when the pipeline has one, else the dataset's
  exact flow (synthetic), else None: the caller turns the feature off (with
  a warning), as the ir_labels stage does for f-CAMs.

  Raises:
    ValueError: 'stage' without a flow stage, 'ground_truth' without exact
      flow, or an unknown source.
  """
  if source == 'auto':
    resolved = ('stage' if flow_stage else
                'ground_truth' if has_exact_flow else None)
    if resolved is None:
      logging.warning('%s is on but there is no flow (no flow stage, no exact '
                      'flow in the dataset): turning it off.', what)
    return resolved
  if source not in frame_flow.SOURCES:
    raise ValueError(f'flow_source must be auto or one of '
                     f'{frame_flow.SOURCES}, got {source!r}')
  if source == 'stage' and not flow_stage:
    raise ValueError(f'{what} with flow_source "stage" needs the flow stage '
                     'in the pipeline')
  if source == 'ground_truth' and not has_exact_flow:
    raise ValueError(f'{what} with flow_source "ground_truth" needs a '
                     'dataset with exact flow (synthetic)')
  return source


def _flow_fn(ctx: stage_lib.StageContext, video: Mapping[str, Any]
             ) -> Callable[[int], np.ndarray]:
  """Frame t -> its forward flow [H, W, 2] (paper sec 4.2, frame_flow)."""
  flow_stage = ctx.config['stages'].get('flow')
  record = ctx.input(flow_stage) if flow_stage else None
  return frame_flow.frame_flow_fn(ctx.config['flow_source'], record, video)


# --- irn_train ---------------------------------------------------------------


def _backbone_fn(cfg: config_lib.IrnConfig, ctx: stage_lib.StageContext,
                 cam_train_stage: str):
  """(name, () -> frozen backbone) from the config."""
  if cfg.backbone.source == 'imagenet':
    name = cfg.backbone.name

    def build():
      backbone = resnet.build_resnet(name)
      imagenet_weights.load_imagenet_weights(backbone,
                                             cfg.backbone.imagenet_weights)
      resnet.freeze_stages(backbone, 5)
      return backbone

    return name, build
  record = ctx.input(cam_train_stage)
  info = cam_component.cam_model_info(record)
  return (info['config']['backbone']['name'],
          lambda: cam_component.load_backbone(record, frozen=True))


def _training_frames(ctx: stage_lib.StageContext, index: Mapping[str, Any],
                     labels_record: stage_lib.StageRecord, num_classes: int,
                     with_flow: bool):
  """A generator factory of {IMAGE, IR_LABEL[, FLOW]} numpy examples."""
  wanted = {(f['video_id'], f['frame_index']): f['frame_name']
            for f in index['frames']}
  source = ctx.resources['source']

  def generate():
    for video in tfds.as_numpy(source.videos(index['split'])):
      video_id = keys.as_text(video[keys.VIDEO_ID])
      flow_fn = _flow_fn(ctx, video) if with_flow else None
      for t in range(len(video[keys.FRAMES])):
        if (video_id, t) not in wanted:
          continue
        frame_name = wanted[(video_id, t)]
        image = video[keys.FRAMES][t]
        label = ir_labels.load_ir_label(cam_component.ir_label_file(
            labels_record, video_id, frame_name))
        example = {keys.IMAGE: image, input_pipeline.IR_LABEL: label}
        if flow_fn is not None:
          example[input_pipeline.FLOW] = flow_fn(t)
        input_pipeline.check_frame(image, label, num_classes,
                                   example.get(input_pipeline.FLOW),
                                   f'{video_id}/{frame_name}')
        yield example

  return generate


def _run_irn_train(ctx: stage_lib.StageContext) -> Dict[str, Any]:
  source = ctx.resources['source']
  cfg = config_lib.irn_config_from_dict(ctx.config['irn'])
  names = ctx.config['stages']
  labels_record = ctx.input(names['ir_labels'])
  index = cam_component.frame_index(labels_record)
  class_names = source.class_names
  if index['class_names'] != class_names:
    raise ValueError(f'IR labels of classes {index["class_names"]}, the '
                     f'dataset has {class_names}')
  t = cfg.train
  training.seed_everything(t.seed)
  flow = cfg.flow_boundary.enabled
  frames = _training_frames(ctx, index, labels_record, len(class_names), flow)
  n = len(index['frames'])
  if n == 0:
    raise ValueError(f'the {names["ir_labels"]} stage lists no training '
                     'frames')
  steps = max(1, int(n // t.batch_size * t.epochs))
  backbone_name, build_backbone = _backbone_fn(cfg, ctx, names['cam_train'])
  logging.info('[%s] %d frames, batch %d, %s epochs: %d steps; backbone %s '
               '(%s); f-Bound %s', ctx.stage.name, n, t.batch_size, t.epochs,
               steps, backbone_name, cfg.backbone.source,
               'on' if flow else 'off')
  result = train_lib.train_irn(
      lambda: model_lib.IrnModel(build_backbone()),
      lambda: input_pipeline.training_dataset(
          input_pipeline.examples_dataset(frames, flow), t.crop_size,
          t.rescale, t.flip, t.batch_size, flow, t.shuffle_buffer,
          t.cache, t.seed, cfg.flow_boundary.gradient_resolution,
          cfg.flow_boundary.feature),
      cfg, len(class_names), steps, ctx.directory,
      strategy=ctx.resources.get('strategy'),
      progress_fn=lambda i, total: ctx.progress(i, total, 'steps'))
  atomic_io.write_json(ctx.path(MODEL_JSON), {
      'checkpoint': os.path.relpath(result['checkpoint'], ctx.directory),
      'backbone': backbone_name, 'config': cfg.as_dict(),
      'class_names': class_names, 'num_classes': len(class_names),
      'ir_labels_fcam': index.get('fcam'), 'seed': t.seed}, indent=2)
  return {'train_frames': n, 'steps': steps, 'seed': t.seed,
          'flow_boundary': flow,
          'first_loss': result['first_loss'],
          'final_loss': result['final_loss'],
          'final_terms': result['final_terms'],
          'skipped_steps': result['skipped_steps']}


def _with_flow_source(config: Dict[str, Any], section: str, flag: str,
                      flow_stage: Optional[str], has_exact_flow: bool,
                      what: str) -> Optional[str]:
  """Resolves config['irn'][section]'s flow_source in place.

  Sets config['flow_source'] and returns the flow stage to read (or None);
  a feature without flow is switched off in the config (so the stage's
  record says so).
  """
  irn = config.setdefault('irn', {})
  part = dict(irn.get(section) or {})
  defaults = config_lib.irn_config_from_dict({section: part})
  if not getattr(getattr(defaults, section), flag):
    return None
  source = resolve_flow_source(getattr(defaults, section).flow_source,
                               flow_stage, has_exact_flow, what)
  if source is None:
    part[flag] = False
    irn[section] = part
    return None
  config['flow_source'] = source
  return flow_stage if source == 'stage' else None


def make_irn_train_stage(config: Mapping[str, Any], name: str = IRN_TRAIN,
                         ir_labels_stage: str = cam_component.IR_LABELS,
                         cam_train_stage: str = cam_component.CAM_TRAIN,
                         flow_stage: Optional[str] = None,
                         has_exact_flow: bool = False) -> stage_lib.Stage:
  """The IRN training stage (or a variant under another name).

  Args:
    config: {'irn': IrnConfig overrides}.
    name: Stage name.
    ir_labels_stage, cam_train_stage: Names of the stages read.
    flow_stage: The flow stage's name if the pipeline has one.
    has_exact_flow: The dataset has exact flow (synthetic).

  With f-Bound on, flow_source 'auto' reads the flow stage if there is one,
  else the exact flow, else f-Bound is turned off with a warning.
  """
  config = dict(config)
  config['irn'] = dict(config.get('irn') or {})
  read_flow = _with_flow_source(config, 'flow_boundary', 'enabled',
                                flow_stage, has_exact_flow,
                                f'[{name}] f-Bound')
  cfg = config_lib.irn_config_from_dict(config['irn'])
  if cfg.flow_boundary.enabled:
    # Spell out every f-Bound setting, defaults included, so that they are
    # part of the stage's fingerprint: a changed default (lambda, what eq 3
    # compares) must retrain, not reuse a stale model.
    config['irn']['flow_boundary'] = cfg.flow_boundary.as_dict()
  elif 'flow_boundary' in config['irn']:
    # Without f-Bound its settings do not matter: keep them out of the
    # fingerprint, so that IRN is not retrained when they change.
    config['irn']['flow_boundary'] = {'enabled': False}
  inputs = ['data', ir_labels_stage]
  if cfg.backbone.source == 'cam_train':
    inputs.append(cam_train_stage)
  else:
    # A missing or wrong file fails now, not after the stages before this.
    imagenet_weights.check_weights_file(cfg.backbone.imagenet_weights,
                                        cfg.backbone.name)
  stages = {'ir_labels': ir_labels_stage, 'cam_train': cam_train_stage}
  if read_flow:
    inputs.append(read_flow)
    stages['flow'] = read_flow
  config['stages'] = stages
  return stage_lib.Stage(
      name=name, run=_run_irn_train, config=config, inputs=tuple(inputs),
      # 2: stateless augmentation, fixed-order path gradients (determinism).
      version=2,
      outputs=(MODEL_JSON, train_lib.CHECKPOINT_DIR),
      description='train IRN heads' + (' with f-Bound (paper eq 3)'
                                       if cfg.flow_boundary.enabled else ''))


# --- pseudo_labels -----------------------------------------------------------

# The trained IrnModel of an irn_train record.
load_irn_model = pseudo_label_tasks.load_irn_model


def _images_and_categories(ctx: stage_lib.StageContext, split: str,
                           frames: List[Mapping[str, Any]],
                           class_names: List[str], sizes: Dict[str, Any]):
  """COCO images (ground truth's ids) and categories for the frames."""
  gt_path = data_component.frames_gt_path(ctx.input('data'), split)
  if os.path.exists(gt_path):
    gt = atomic_io.read_json(gt_path)
    by_name = {image['file_name']: image for image in gt['images']}
    images = []
    for f in frames:
      name = pseudo_lib.coco_file_name(f['video_id'], f['frame_name'])
      if name not in by_name:
        raise ValueError(f'frame {name} is not an image of {gt_path}')
      images.append(dict(by_name[name]))
    return images, gt['categories'], gt_path
  images = []
  for i, f in enumerate(frames):
    h, w = sizes[f['video_id']]
    images.append({'id': i + 1, 'file_name': pseudo_lib.coco_file_name(
        f['video_id'], f['frame_name']), 'height': h, 'width': w})
  categories = [{'id': c + 1, 'name': n} for c, n in enumerate(class_names)]
  return images, categories, None


def _run_pseudo_labels(ctx: stage_lib.StageContext) -> Dict[str, Any]:
  source = ctx.resources['source']
  execution = per_video.execution_of(ctx.resources,
                                     per_video.PSEUDO_LABELS)
  cfg = config_lib.irn_config_from_dict(ctx.config['irn']).inference
  names = ctx.config['stages']
  cam_record = ctx.input(names['cam'])
  irn_record = ctx.input(names['irn'])
  index = cam_component.frame_index(cam_record)
  split = index['split']
  class_names = source.class_names
  wanted: Dict[str, List[Any]] = {}
  for f in index['frames']:
    wanted.setdefault(f['video_id'], []).append(
        [f['frame_index'], f['frame_name']])
  start = time.time()
  checkpoint_shift = model_lib.EdgeDisplacement(
      load_irn_model(irn_record)).model.heads.mean_shift.running_mean.numpy()
  metrics_shift = {'running_mean_shift': [round(float(v), 4)
                                          for v in checkpoint_shift]}
  mean_shift = None
  if cfg.mean_shift == 'inference_set':
    # IRN: what MeanShift subtracts is the final model's mean displacement
    # over the frames it segments (deterministic: a resumed run gets the
    # same value). Summed per video, then averaged here.
    sums = per_video.run_videos(
        pseudo_label_tasks.MeanDisplacementTask(irn_record,
                             {v: [t for t, _ in ts]
                              for v, ts in wanted.items()},
                             cfg.image_scale),
        source, split, ctx.path(pseudo_label_tasks.MEAN_SHIFT_DIR), execution,
        lambda i, n: ctx.progress(i, n, 'videos (mean displacement)'))
    total = np.zeros([2], np.float64)
    for s in sums:
      total += np.asarray(s['sum'], np.float64)
    mean_shift = [float(v) for v in inference.mean_from_sums(
        total, sum(s['count'] for s in sums), checkpoint_shift)]
  metrics_shift['mean_shift'] = [
      round(float(v), 4) for v in (checkpoint_shift if mean_shift is None
                                   else mean_shift)]
  flow_stage = names.get('flow')
  task = pseudo_label_tasks.PseudoLabelsTask(
      cfg.as_dict(), irn_record, cam_record,
      ctx.input(flow_stage) if flow_stage else None,
      ctx.config.get('flow_source'), ctx.path(FRAMES_DIR),
      wanted, len(class_names), mean_shift)
  summaries = per_video.run_videos(
      task, source, split, ctx.directory, execution,
      lambda i, n: ctx.progress(i, n, 'videos'))
  partial = pseudo_lib.PartialResults(ctx.path(FRAMES_DIR))
  ids = per_video.video_ids(source, split)
  sizes = {v: tuple(s['size']) for v, s in zip(ids, summaries)}
  done = {(v, t) for v, s in zip(ids, summaries) for t in s['frames']}
  missing = [f for f in index['frames']
             if (f['video_id'], f['frame_index']) not in done]
  if missing:
    raise ValueError(f'{len(missing)} frames of the cam stage are not in the '
                     'dataset any more')
  # What this run computed (a resumed run reuses the earlier videos').
  fresh = [s for s in summaries if s[per_video.THIS_RUN]]
  counts = {k: sum(s[k] for s in fresh)
            for k in ('computed', 'frames_without_labels')}
  seconds = sum(s['seconds'] for s in fresh)
  images, categories, gt_path = _images_and_categories(
      ctx, split, index['frames'], class_names, sizes)
  by_id = {image['id']: partial.get(f['video_id'], f['frame_name'])
           for image, f in zip(images, index['frames'])}
  coco = pseudo_lib.assemble(images, categories, by_id,
                             f'wsvis-tf pseudo-labels ({ctx.stage.name})')
  metrics: Dict[str, Any] = {
      **metrics_shift,
      'frames': len(images), 'annotations': len(coco['annotations']),
      'frames_without_instances': sum(1 for a in by_id.values() if not a),
      'use_fcam': cfg.use_fcam, **counts,
      'seconds_per_frame': round(seconds / max(counts['computed'], 1), 4),
      'wall_s': round(time.time() - start, 1)}
  if gt_path:
    ap = frame_ap.evaluate_frames(gt_path, pseudo_lib.as_results(coco))
    metrics.update({k: round(v, 4) for k, v in ap.items()})
    logging.info('[%s] pseudo-labels vs ground truth: AP %.4f AP50 %.4f',
                 ctx.stage.name, ap[frame_ap.AP], ap[frame_ap.AP50])
  pseudo_lib.write(ctx.path(PSEUDO_LABELS_JSON), coco)
  return metrics


def make_pseudo_labels_stage(config: Mapping[str, Any],
                             name: str = PSEUDO_LABELS,
                             irn_stage: str = IRN_TRAIN,
                             cam_stage: str = cam_component.CAM,
                             flow_stage: Optional[str] = None,
                             has_exact_flow: bool = False
                             ) -> stage_lib.Stage:
  """The pseudo-label stage (or a variant under another name).

  Args:
    config: {'irn': {'inference': InferenceConfig overrides}}.
    name: Stage name.
    irn_stage, cam_stage: Names of the stages read.
    flow_stage: The flow stage's name if the pipeline has one.
    has_exact_flow: The dataset has exact flow (synthetic).

  With f-CAMs on, flow_source 'auto' reads the flow stage if there is one,
  else the exact flow, else f-CAMs are turned off with a warning.
  """
  config = dict(config)
  config['irn'] = dict(config.get('irn') or {})
  unknown = set(config['irn']) - {'inference'}
  if unknown:
    raise KeyError(f'pseudo_labels reads only irn.inference, got '
                   f'{sorted(unknown)}')
  read_flow = _with_flow_source(config, 'inference', 'use_fcam', flow_stage,
                                has_exact_flow, f'[{name}] f-CAMs')
  cfg = config_lib.irn_config_from_dict(config['irn']).inference
  inputs = ['data', cam_stage, irn_stage]
  stages = {'cam': cam_stage, 'irn': irn_stage}
  if read_flow:
    inputs.append(read_flow)
    stages['flow'] = read_flow
  config['stages'] = stages
  return stage_lib.Stage(
      name=name, run=_run_pseudo_labels, config=config, inputs=tuple(inputs),
      # 2: MeanShift from the inference set by default (IRN).
      version=2,
      outputs=(PSEUDO_LABELS_JSON,),
      description='IRN instance inference' +
      (' with f-CAMs (paper eq 2)' if cfg.use_fcam else '') +
      ' -> COCO pseudo-labels')


def make_stages(preset: Mapping[str, Mapping[str, Any]], source,
                flow_stage: Optional[str] = None) -> List[stage_lib.Stage]:
  """irn_train and pseudo_labels from a preset's entries of those names.

  Args:
    preset: The preset (presets.get_preset).
    source: The VideoSource (to know whether it has exact flow).
    flow_stage: The flow stage's name if the graph has one.
  """
  exact = cam_component.has_exact_flow(source)
  return [make_irn_train_stage(preset[IRN_TRAIN], flow_stage=flow_stage,
                               has_exact_flow=exact),
          make_pseudo_labels_stage(
              inherit_fcam(preset[PSEUDO_LABELS],
                           preset.get(cam_component.IR_LABELS, {})),
              flow_stage=flow_stage, has_exact_flow=exact)]


def inherit_fcam(config: Mapping[str, Any],
                 ir_labels_config: Mapping[str, Any]) -> Dict[str, Any]:
  """pseudo_labels config with f-CAM settings taken from the ir_labels one.

  Inference amplifies CAMs the way the IR labels the heads learnt from were
  made (use_fcam, amplification A, percentile p), unless the pseudo_labels
  config sets them itself.
  """
  out = copy.deepcopy(dict(config))
  inference_cfg = out.setdefault('irn', {}).setdefault('inference', {})
  ir_cfg = {**cam_component.IR_LABELS_DEFAULTS, **dict(ir_labels_config)}
  for key in ('use_fcam', 'amplification', 'percentile'):
    if key not in inference_cfg:
      inference_cfg[key] = ir_cfg[key]
  return out


def pseudo_labels_path(record: stage_lib.StageRecord) -> str:
  """The pseudo-label JSON of a pseudo_labels record."""
  return record.path(PSEUDO_LABELS_JSON)


# --- the flowIRN ablation (paper Table 4) ------------------------------------

# name: (f-CAMs, f-Bound), in Table 4's order.
VARIANTS = {'irn': (False, False), 'irn_fbound': (False, True),
            'irn_fcam': (True, False), 'flowirn': (True, True)}


def ablation_stages(preset: Mapping[str, Mapping[str, Any]], source,
                    shared: List[stage_lib.Stage],
                    variants=tuple(VARIANTS),
                    tag: str = '') -> List[stage_lib.Stage]:
  """IRN / IRN+f-Bound / IRN+f-CAMs / flowIRN stages on shared ones.

  Args:
    preset: The preset; its irn_train, pseudo_labels and ir_labels entries
      are the common settings (same data, budget and seed for every
      variant), with the two flags set per variant.
    source: The VideoSource.
    shared: The pipeline's stages up to and including 'ir_labels' (data,
      flow, CAM); the f-CAM variants read its 'ir_labels' when that one
      uses f-CAMs, else an 'ir_labels_fcam' variant is added; the others
      read an 'ir_labels_cam' variant without f-CAMs.
    variants: Names from VARIANTS.
    tag: Appended to the variant stage names (irn_train_<v><tag>, ...), so
      runs with other settings keep their own stages in the work directory.

  Returns:
    The extra stages: IR label variants, then irn_train_<v><tag>,
    pseudo_labels_<v><tag> for each variant v.
  """
  unknown = [v for v in variants if v not in VARIANTS]
  if unknown:
    raise ValueError(f'unknown variants {unknown}; known: {list(VARIANTS)}')
  names = [s.name for s in shared]
  flow_stage = 'flow' if 'flow' in names else None
  exact = cam_component.has_exact_flow(source)
  main_labels = next(s for s in shared if s.name == cam_component.IR_LABELS)
  ir_cfg = dict(preset[cam_component.IR_LABELS])
  extra: List[stage_lib.Stage] = []
  labels = {}
  for fcam_on in sorted({VARIANTS[v][0] for v in variants}):
    if bool(main_labels.config['use_fcam']) == fcam_on:
      labels[fcam_on] = main_labels.name
      continue
    name = 'ir_labels_fcam' if fcam_on else 'ir_labels_cam'
    extra.append(cam_component.make_ir_labels_stage(
        {**ir_cfg, 'use_fcam': fcam_on}, name=name, flow_stage=flow_stage,
        has_exact_flow=exact))
    if fcam_on and not extra[-1].config['use_fcam']:
      raise ValueError('the f-CAM variants need flow: add the flow stage or '
                       'use a dataset with exact flow')
    labels[fcam_on] = name
  for v in variants:
    fcam_on, fbound_on = VARIANTS[v]
    train_cfg = copy.deepcopy(dict(preset[IRN_TRAIN]))
    irn_cfg = train_cfg.setdefault('irn', {})
    irn_cfg.setdefault('flow_boundary', {})['enabled'] = fbound_on
    train = make_irn_train_stage(train_cfg, name=f'{IRN_TRAIN}_{v}{tag}',
                                 ir_labels_stage=labels[fcam_on],
                                 flow_stage=flow_stage, has_exact_flow=exact)
    if fbound_on and not train.config['irn']['flow_boundary']['enabled']:
      raise ValueError('the f-Bound variants need flow: add the flow stage '
                       'or use a dataset with exact flow')
    infer_cfg = copy.deepcopy(dict(preset[PSEUDO_LABELS]))
    infer_cfg.setdefault('irn', {}).setdefault('inference', {})[
        'use_fcam'] = fcam_on
    extra += [train, make_pseudo_labels_stage(
        inherit_fcam(infer_cfg, ir_cfg), name=f'{PSEUDO_LABELS}_{v}{tag}',
        irn_stage=train.name, flow_stage=flow_stage, has_exact_flow=exact)]
  return extra
