"""Stage 'export': the trained segmenter as a SavedModel TF Serving loads.

export (reads the train stage named in its config, maskconsist_train by
  default)
  serving/export.py on that stage's model.json and final checkpoint:
  saved_model/<version>/ (signatures serving_default on encoded images and
  serving_image_tensor on uint8 frames, with tf_serving_warmup_requests in
  assets.extra) and saved_model/models.config, the TF Serving model config
  that names it (README.md "Serving"). A rerun after a new training
  replaces the version directory.

Config: {'train_stage', 'model_name', 'version', 'min_score',
'mask_threshold'} (defaults: EXPORT_DEFAULTS; score 0.05 and mask threshold
0.5 as the predict stages, paper sec 4.2).
"""

import copy
import os
from typing import Any, Dict, Mapping

from serving import export as export_lib
from serving import model_source
from wsvis_tf.pipeline import stage as stage_lib
from wsvis_tf.pipeline.components import segmenter

NAME = 'export'
SAVED_MODEL_DIR = 'saved_model'
EXPORT_DEFAULTS = {'train_stage': segmenter.MASKCONSIST_TRAIN,
                   'model_name': 'wsvis', 'version': 1, 'min_score': 0.05,
                   'mask_threshold': 0.5}


def _run(ctx: stage_lib.StageContext) -> Dict[str, Any]:
  cfg = ctx.config
  spec = model_source.resolve_model(
      model_dir=ctx.input(cfg['train_stage']).directory)
  path = export_lib.export_saved_model(
      spec, ctx.path(SAVED_MODEL_DIR), version=cfg['version'],
      model_name=cfg['model_name'], min_score=cfg['min_score'],
      mask_threshold=cfg['mask_threshold'], overwrite=True)
  return {'saved_model': os.path.relpath(path, ctx.work_dir),
          'experiment': spec.experiment,
          'classes': len(spec.class_names)}


def make_stage(config: Mapping[str, Any]) -> stage_lib.Stage:
  """The export stage (module docstring)."""
  unknown = set(config) - set(EXPORT_DEFAULTS)
  if unknown:
    raise KeyError(f'unknown export config keys {sorted(unknown)}; known: '
                   f'{sorted(EXPORT_DEFAULTS)}')
  config = {**copy.deepcopy(EXPORT_DEFAULTS), **copy.deepcopy(dict(config))}
  if int(config['version']) < 1:
    raise ValueError(f'export version must be >= 1, got {config["version"]}')
  return stage_lib.Stage(
      name=NAME, run=_run, config=config, inputs=(config['train_stage'],),
      outputs=(SAVED_MODEL_DIR,),
      description=f'SavedModel of {config["train_stage"]} for TF Serving')
