"""Where a trained model is: its config, its checkpoint, its class names.

Three ways to name a model (the export binary's flags), resolved by
`resolve_model` into one `ModelSpec`:

  * a stage dir: the pipeline's maskrcnn_train / maskconsist_train stage
    writes `model.json` {experiment, checkpoint (relative to the stage dir),
    class_names, ...} beside its model dir `model/`; the config is
    `model/params.yaml` when there is one (what training really ran), else
    the registered experiment with model.json's `params_override` if any;
  * a model dir: `train_lib.train` / tf-models' trainer writes params.yaml
    and checkpoints there; the latest checkpoint is used;
  * an experiment name + a checkpoint (prefix or directory).

`params_override` (tf-models' "a.b=c,..." or YAML) applies last in every
case. Class names come from model.json, else from an explicit list, else
from the dataset the config names (its TFDS builder info: no data needs to
be prepared); their count must be task.model.num_classes - 1.
"""

import dataclasses
import os
from typing import List, Optional, Sequence

from absl import logging
import tensorflow as tf

from datasets.real_video import builder_config
from official.core import config_definitions
from official.core import exp_factory
from official.modeling import hyperparams
from wsvis_tf.core import atomic_io
from wsvis_tf.data import sources
from wsvis_tf.maskconsist import config as config_lib
# Registers the maskconsist experiments with tf-models' exp_factory.
from wsvis_tf.maskconsist import experiments  # pylint: disable=unused-import

MODEL_JSON = 'model.json'
PARAMS_YAML = 'params.yaml'
# The pipeline stage's model dir inside its stage dir.
STAGE_MODEL_DIR = 'model'


@dataclasses.dataclass
class ModelSpec:
  """A trained model, ready to export.

  Attributes:
    params: The experiment config (task: MaskConsistTaskConfig), validated.
    checkpoint: The checkpoint prefix (absolute path).
    class_names: Names of classes 1..num_classes - 1.
    experiment: The registered experiment name, if known ('' if not).
    source: What it was resolved from (for logs and the export's record).
  """
  params: config_definitions.ExperimentConfig
  checkpoint: str
  class_names: List[str]
  experiment: str = ''
  source: str = ''


def _checkpoint_prefix(path: str, what: str) -> str:
  """A checkpoint prefix from a prefix or a directory; raises if none."""
  path = os.path.abspath(path)
  if tf.io.gfile.isdir(path):
    latest = tf.train.latest_checkpoint(path)
    if not latest:
      raise ValueError(f'{what}: no checkpoint in directory {path}')
    return latest
  if not tf.io.gfile.exists(path + '.index'):
    raise ValueError(f'{what}: {path} is not a checkpoint (no {path}.index)')
  return path


def _override(params, override: str, what: str):
  try:
    return hyperparams.override_params_dict(params, override, is_strict=True)
  except (KeyError, ValueError, AttributeError) as e:
    raise ValueError(f'{what}: cannot apply {override!r}: {e}') from e


def params_from_yaml(path: str) -> config_definitions.ExperimentConfig:
  """The experiment config a params.yaml (tf-models serialize_config) holds.
  """
  if not tf.io.gfile.exists(path):
    raise ValueError(f'no {PARAMS_YAML} at {path}')
  base = config_definitions.ExperimentConfig(
      task=config_lib.MaskConsistTaskConfig())
  return _override(base, path, path)


def params_from_experiment(experiment: str
                          ) -> config_definitions.ExperimentConfig:
  try:
    return exp_factory.get_exp_config(experiment)
  except (KeyError, LookupError) as e:
    raise ValueError(f'unknown experiment {experiment!r}: {e}') from e


def dataset_class_names(params: config_definitions.ExperimentConfig
                       ) -> List[str]:
  """The class names of the dataset task.train_data.source names."""
  cfg = params.task.train_data.source
  source = sources.get_source(
      cfg.dataset, cfg.data_dir or None, cfg.builder_config or None,
      cfg.tfds_dir or None, builder_config.parse_options(cfg.options))
  return source.class_names


def _finish(params, checkpoint: str, class_names: Optional[Sequence[str]],
            params_override: str, experiment: str, source: str) -> ModelSpec:
  if params_override:
    params = _override(params, params_override, 'params_override')
  if not isinstance(params.task, config_lib.MaskConsistTaskConfig):
    raise ValueError(f'{source}: the task is a {type(params.task).__name__}, '
                     'not a MaskConsistTaskConfig')
  params.validate()
  if class_names is None:
    try:
      class_names = dataset_class_names(params)
    except Exception as e:  # pylint: disable=broad-except
      raise ValueError(
          f'{source}: no class names given and none from the dataset '
          f'task.train_data.source ({e}); pass class_names') from e
    logging.info('Class names from the dataset: %s', class_names)
  class_names = [str(n) for n in class_names]
  want = params.task.model.num_classes - 1
  if len(class_names) != want:
    raise ValueError(f'{source}: {len(class_names)} class names '
                     f'{class_names}, but task.model.num_classes = '
                     f'{want + 1} needs {want} (plus background)')
  return ModelSpec(params, checkpoint, class_names, experiment, source)


def resolve_model(model_dir: str = '', experiment: str = '',
                  checkpoint: str = '', params_override: str = '',
                  class_names: Optional[Sequence[str]] = None) -> ModelSpec:
  """The ModelSpec of a stage dir, a model dir, or experiment + checkpoint.

  Args:
    model_dir: A stage dir (with model.json) or a model dir (with
      params.yaml and checkpoints). Exclusive with experiment.
    experiment: A registered experiment name (with checkpoint).
    checkpoint: A checkpoint prefix or directory: required with experiment;
      with model_dir it replaces the one found there.
    params_override: tf-models overrides applied last.
    class_names: Overrides the class names found (model.json or dataset).

  Returns:
    The ModelSpec.

  Raises:
    ValueError: naming the file, field or flag at fault.
  """
  if bool(model_dir) == bool(experiment):
    raise ValueError('give exactly one of model_dir (a stage dir with '
                     f'{MODEL_JSON} or a model dir with {PARAMS_YAML}) and '
                     'experiment (with checkpoint)')
  if experiment:
    if not checkpoint:
      raise ValueError(f'experiment {experiment!r} needs a checkpoint')
    return _finish(params_from_experiment(experiment),
                   _checkpoint_prefix(checkpoint, 'checkpoint'), class_names,
                   params_override, experiment, f'experiment {experiment}')
  model_dir = os.path.abspath(model_dir)
  if not tf.io.gfile.isdir(model_dir):
    raise ValueError(f'model_dir {model_dir} is not a directory')
  info_path = os.path.join(model_dir, MODEL_JSON)
  if tf.io.gfile.exists(info_path):
    info = atomic_io.read_json(info_path)
    for field in ('checkpoint', 'class_names'):
      if field not in info:
        raise ValueError(f'{info_path} has no {field!r} field')
    experiment = info.get('experiment', '')
    yaml_path = os.path.join(model_dir, STAGE_MODEL_DIR, PARAMS_YAML)
    if tf.io.gfile.exists(yaml_path):
      params = params_from_yaml(yaml_path)
    elif experiment:
      params = params_from_experiment(experiment)
      if info.get('params_override'):
        params = _override(params, info['params_override'],
                           f'{info_path} params_override')
    else:
      raise ValueError(f'{info_path} names no experiment and {yaml_path} '
                       'does not exist')
    ckpt = _checkpoint_prefix(checkpoint or os.path.join(
        model_dir, info['checkpoint']), checkpoint and 'checkpoint' or
                              f'{info_path} checkpoint')
    return _finish(params, ckpt,
                   class_names if class_names is not None else
                   info['class_names'], params_override, experiment,
                   info_path)
  yaml_path = os.path.join(model_dir, PARAMS_YAML)
  if not tf.io.gfile.exists(yaml_path):
    raise ValueError(f'model_dir {model_dir} has neither {MODEL_JSON} (a '
                     f'pipeline stage dir) nor {PARAMS_YAML} (a model dir)')
  ckpt = _checkpoint_prefix(checkpoint or model_dir,
                            'checkpoint' if checkpoint else 'model_dir')
  return _finish(params_from_yaml(yaml_path), ckpt, class_names,
                 params_override, '', yaml_path)
