"""Stages 'flow_train' and 'flow': DDFlow (paper sec 4.2) in the pipeline.

  flow_train  reads data; trains DDFlow unsupervised on the training split
              (wsvis_tf.flow.train_lib) into model/ (checkpoints, per-stage
              weights, TensorBoard summaries), resuming from its checkpoints
              after an interruption; writes the final weights and config to
              export/ and the ground-truth EPE on validation (procedural
              data) to its metrics.
  flow        reads data and flow_train; writes flows/<video_id>/<a>_<b>.npy
              for every video of every split (wsvis_tf.flow.extract), skipping
              files that exist. Later stages open it with
              `flow_store.FlowStore(record.path(FLOWS_DIR))` (see
              `store_of`).

Config keys: 'preset' (a wsvis_tf.flow.config preset), 'overrides' (dict),
'delta' (the data stage's), 'eval_pairs', 'batch_size' (extraction).
"""

import dataclasses
import os
from typing import Any, Dict, Mapping

from absl import logging

from wsvis_tf.flow import config as config_lib
from wsvis_tf.flow import extract
from wsvis_tf.flow import flow_store
from wsvis_tf.flow import train_data
from wsvis_tf.flow import train_lib
from wsvis_tf.pipeline import per_video
from wsvis_tf.pipeline import stage as stage_lib

TRAIN_NAME = 'flow_train'
NAME = 'flow'
EXPORT_DIR = 'export'
MODEL_DIR = 'model'
FLOWS_DIR = 'flows'


def store_of(record: stage_lib.StageRecord) -> flow_store.FlowStore:
  """The FlowStore written by the 'flow' stage of a run."""
  return flow_store.FlowStore(record.path(FLOWS_DIR))


def _flow_config(cfg: Mapping[str, Any]) -> config_lib.FlowConfig:
  return config_lib.get_config(cfg['preset'], cfg.get('overrides') or None)


def _run_train(ctx: stage_lib.StageContext) -> Dict[str, Any]:
  source = ctx.resources['source']
  config = _flow_config(ctx.config)
  data = train_data.pairs_from_source(source, 'train',
                                      config.train.frame_distances)
  eval_pairs = []
  if 'validation' in source.splits:
    eval_pairs = train_data.eval_pairs_from_source(
        source, 'validation', ctx.config.get('eval_pairs', 32))
  logging.info('[%s] %d pairs of %dx%d frames, %d steps', TRAIN_NAME,
               len(data.pairs), *data.image_size, config.train.total_steps)
  metrics, model = train_lib.train(config, data, ctx.path(MODEL_DIR),
                                   eval_pairs,
                                   strategy=ctx.resources.get('strategy'),
                                   jit_compile=ctx.config.get('jit_compile',
                                                              True))
  train_lib.save_weights(model, ctx.path(EXPORT_DIR), config)
  metrics['train_pairs'] = len(data.pairs)
  return metrics


@dataclasses.dataclass(frozen=True)
class FlowTask(per_video.VideoTask):
  """The flow stage's per-video work: extract.extract_video_example."""
  export_dir: str
  flows_dir: str
  delta: int
  batch_size: int

  def setup(self) -> extract.PredictFn:
    model, _ = train_lib.load_exported(self.export_dir)
    return extract.model_predict_fn(model)

  def process(self, state: extract.PredictFn,
              video: Mapping[str, Any]) -> Dict[str, Any]:
    return extract.extract_video_example(
        state, flow_store.FlowStore(self.flows_dir), video, self.delta,
        self.batch_size)


def _run_extract(ctx: stage_lib.StageContext) -> Dict[str, Any]:
  source = ctx.resources['source']
  os.makedirs(ctx.path(FLOWS_DIR), exist_ok=True)
  task = FlowTask(ctx.input(TRAIN_NAME).path(EXPORT_DIR),
                  ctx.path(FLOWS_DIR), ctx.config['delta'],
                  ctx.config.get('batch_size', 8))
  metrics = {}
  by_split = per_video.run_splits(
      task, source, source.splits, ctx.directory,
      per_video.execution_of(ctx.resources, per_video.FLOW),
      lambda s, i, n: ctx.progress(i, n, f'{s} videos'))
  for split, summaries in by_split.items():
    # Files this run wrote, and the files it found (of its videos, and
    # all of those an interrupted run had finished).
    metrics[f'{split}_videos'] = len(summaries)
    metrics[f'{split}_written'] = sum(c['written'] for c in summaries
                                      if c[per_video.THIS_RUN])
    metrics[f'{split}_skipped'] = sum(
        c['skipped'] if c[per_video.THIS_RUN] else c['written'] + c['skipped']
        for c in summaries)
  return metrics


def make_train_stage(config: Mapping[str, Any]) -> stage_lib.Stage:
  config = dict(config)
  _flow_config(config)  # Fail early on a bad preset or override.
  return stage_lib.Stage(
      name=TRAIN_NAME, run=_run_train, config=config, inputs=('data',),
      # 2: pixels whose flow leaves the frame are occluded; op determinism.
      version=2,
      outputs=(MODEL_DIR, EXPORT_DIR),
      description=f'train DDFlow ({config["preset"]}) unsupervised')


def make_stage(config: Mapping[str, Any]) -> stage_lib.Stage:
  return stage_lib.Stage(
      name=NAME, run=_run_extract, config=dict(config),
      inputs=('data', TRAIN_NAME), outputs=(FLOWS_DIR,),
      description='DDFlow flow t->t+1 and t->t+delta, both directions')


def make_stages(preset: Mapping[str, Any]) -> list:
  """[flow_train, flow] from a pipeline preset ('flow_train', 'flow' and the
  data stage's delta), or [] if the preset has no 'flow_train' entry."""
  if TRAIN_NAME not in preset:
    return []
  extract_cfg = dict(preset.get(NAME, {}))
  extract_cfg['delta'] = preset['data']['delta']
  return [make_train_stage(preset[TRAIN_NAME]), make_stage(extract_cfg)]
