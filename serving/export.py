r"""Exports a trained Mask R-CNN / MaskConsist model as a TF Serving SavedModel.

Library: `export_saved_model(spec, export_dir, ...)` with a ModelSpec from
`model_source.resolve_model`. Binary (console script `wsvis-export`):

  # a pipeline stage dir (model.json beside model/)
  python -m serving.export --model_dir=work/demo/maskconsist_train \
      --export_dir=work/export/wsvis
  # a model dir (params.yaml + checkpoints), e.g. train_maskconsist's
  python -m serving.export --model_dir=work/demo/maskconsist \
      --export_dir=work/export/wsvis --class_names=a,b,c,d
  # a registered experiment and a checkpoint
  python -m serving.export --experiment=maskrcnn_pseudolabels_synthetic \
      --checkpoint=DIR_OR_PREFIX --params_override="..." \
      --export_dir=work/export/wsvis

writes, atomically (a temporary sibling renamed into place: a TF Serving
polling export_dir never sees half a version):

  <export_dir>/<version>/saved_model.pb, variables/   the two signatures
      (signature_keys.py; export_module.py builds them)
  <export_dir>/<version>/assets.extra/tf_serving_warmup_requests
  <export_dir>/<version>/assets.extra/params.yaml     the exported config
  <export_dir>/<version>/assets.extra/export.json     source, checkpoint,
      class names, min_score, mask_threshold, input size
  <export_dir>/models.config   a TF Serving model config naming
      export_dir (base path) and --model_name

The export traces the graph twice (one per signature): 20-50 s for the smoke
and the synthetic models on 2 shared CPU cores, plus ~10 s of imports.
"""

import json
import os
import sys
from typing import Optional

from absl import flags
from absl import logging

from official.core import export_base
from official.core import train_utils
from serving import client
from serving import export_module
from serving import model_source
from serving import signature_keys as sk
from serving import warmup
from wsvis_tf.core import atomic_io
from wsvis_tf.core import entry_point

MODELS_CONFIG = 'models.config'
EXPORT_JSON = 'export.json'


def models_config_text(model_name: str, base_path: str) -> str:
  """A TF Serving --model_config_file (text ModelServerConfig proto)."""
  return ('model_config_list {\n'
          '  config {\n'
          f'    name: "{model_name}"\n'
          f'    base_path: "{base_path}"\n'
          '    model_platform: "tensorflow"\n'
          '  }\n'
          '}\n')


def export_saved_model(spec: model_source.ModelSpec, export_dir: str,
                       version: int = 1,
                       model_name: str = client.DEFAULT_MODEL_NAME,
                       min_score: float = 0.05, mask_threshold: float = 0.5,
                       overwrite: bool = False) -> str:
  """Writes version `version` of the model under export_dir.

  Args:
    spec: The model (model_source.resolve_model).
    export_dir: The TF Serving base path (module docstring for its files).
    version: The version directory's number (TF Serving serves the highest).
    model_name: The name in models.config (and in the warm-up requests).
    min_score: Detections below it are dropped in the graph.
    mask_threshold: Pasted mask probabilities >= it are 1 in the masks.
    overwrite: Replace an existing version directory.

  Returns:
    The SavedModel directory <export_dir>/<version>.

  Raises:
    ValueError: the version exists (and not overwrite) or is not >= 1, or
      the model's checkpoint does not match its config.
  """
  if version < 1:
    raise ValueError(f'version must be >= 1, got {version}')
  export_dir = os.path.abspath(export_dir)
  path = os.path.join(export_dir, str(version))
  if os.path.exists(path) and not overwrite:
    raise ValueError(f'{path} exists; pass overwrite (--overwrite) or '
                     'another version')
  module = export_module.ServingModule(
      spec.params, spec.class_names, min_score=min_score,
      mask_threshold=mask_threshold)
  logging.info('Exporting %s (%s) to %s', spec.checkpoint, spec.source, path)
  with atomic_io.atomic_dir(path) as tmp:
    try:
      # tf-models' export: restores the checkpoint into the module's model
      # (every model variable must be matched) and saves the signatures.
      export_base.export(module, function_keys=export_module.FUNCTION_KEYS,
                         export_savedmodel_dir=tmp,
                         checkpoint_path=spec.checkpoint, timestamped=False)
    except AssertionError as e:
      raise ValueError(f'checkpoint {spec.checkpoint} does not fit the model '
                       f'of {spec.source}: {e}') from e
    input_size = list(spec.params.task.model.input_size[:2])
    warmup.write_warmup_file(tmp, warmup.warmup_requests(input_size,
                                                         model_name))
    extra = os.path.join(tmp, sk.ASSETS_EXTRA)
    train_utils.serialize_config(spec.params, extra)
    atomic_io.write_json(os.path.join(extra, EXPORT_JSON), {
        'source': spec.source, 'experiment': spec.experiment,
        'checkpoint': spec.checkpoint, 'class_names': spec.class_names,
        'min_score': min_score, 'mask_threshold': mask_threshold,
        'input_size': input_size, 'signatures': list(sk.SIGNATURES),
    }, indent=1)
  atomic_io.write_text(os.path.join(export_dir, MODELS_CONFIG),
                       models_config_text(model_name, export_dir))
  return path


# --- Binary. ------------------------------------------------------------------

_FLAGS = {}


def _define_flags() -> None:
  """The binary's flags, defined only when it runs (the benchmark and the
  tests import this module as a library)."""
  if _FLAGS:
    return
  _FLAGS.update(
      model_dir=flags.DEFINE_string(
          'model_dir', None, 'A pipeline stage dir (model.json) or a model '
          'dir (params.yaml + checkpoints).'),
      experiment=flags.DEFINE_string(
          'experiment', None,
          'A registered experiment (instead of --model_dir).'),
      checkpoint=flags.DEFINE_string(
          'checkpoint', None, 'Checkpoint prefix or directory (required '
          'with --experiment; overrides the one of --model_dir).'),
      params_override=flags.DEFINE_string(
          'params_override', '',
          'tf-models overrides (a.b=c,... or YAML), applied last.'),
      class_names=flags.DEFINE_list(
          'class_names', None, 'Class names in id order (default: '
          'model.json, else the dataset of the config).'),
      export_dir=flags.DEFINE_string('export_dir', None,
                                     'The TF Serving model base path.'),
      version=flags.DEFINE_integer('version', 1, 'The version directory.'),
      model_name=flags.DEFINE_string('model_name', client.DEFAULT_MODEL_NAME,
                                     'The model name in models.config.'),
      min_score=flags.DEFINE_float('min_score', 0.05,
                                   'Detections below it are dropped.'),
      mask_threshold=flags.DEFINE_float('mask_threshold', 0.5,
                                        'Mask probability threshold.'),
      overwrite=flags.DEFINE_bool('overwrite', False,
                                  'Replace an existing version.'))
  flags.mark_flag_as_required('export_dir')


def main(argv) -> Optional[int]:
  del argv
  f = {k: v.value for k, v in _FLAGS.items()}
  try:
    spec = model_source.resolve_model(
        model_dir=f['model_dir'] or '', experiment=f['experiment'] or '',
        checkpoint=f['checkpoint'] or '',
        params_override=f['params_override'], class_names=f['class_names'])
    path = export_saved_model(
        spec, f['export_dir'], f['version'], f['model_name'],
        f['min_score'], f['mask_threshold'], f['overwrite'])
  except ValueError as e:
    print(f'wsvis-export: error: {e}', file=sys.stderr)
    return 2
  print(json.dumps({
      'saved_model': path,
      'models_config': os.path.join(os.path.abspath(f['export_dir']),
                                    MODELS_CONFIG),
      'class_names': spec.class_names}))
  return None


def run() -> None:
  """Console script wsvis-export (pyproject.toml)."""
  _define_flags()
  entry_point.run(main, __name__)


if __name__ == '__main__':
  run()
