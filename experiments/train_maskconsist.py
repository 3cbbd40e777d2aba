r"""Trains Mask R-CNN on pseudo-labels, with or without MaskConsist.

A tf-models style binary: a registered experiment
(wsvis_tf/maskconsist/experiments.py), YAML files and a params_override
string on top, then tf-models' Orbit training loop in --model_dir
(checkpoints, resume after a kill, TensorBoard summaries, progress with
steps/s and ETA):

  python experiments/train_maskconsist.py --experiment=maskconsist_synthetic \
      --model_dir=work/demo/maskconsist --params_override="\
  task.train_data.source.tfds_dir=work/demo/tfds,\
  task.train_data.pseudo_labels=work/demo/pseudo_labels/pseudo_labels.json,\
  task.train_data.flow_dir=work/demo/flow/flows,\
  task.model.backbone.wsvis_resnet.cam_checkpoint=\
  work/demo/cam_train/checkpoints"

Each experiment's docstring gives its expected run time (the synthetic ones
on 2 CPU cores). --strategy: default | mirrored (local GPUs, else logical
CPUs) | multi_worker_mirrored (TF_CONFIG) | one_device. Prints the final
metrics as one JSON line.
"""

import json
import os
import sys

from absl import flags

from official.core import exp_factory
from official.modeling import hyperparams
from wsvis_tf.core import entry_point
# Registers the experiment configs with tf-models' exp_factory.
from wsvis_tf.maskconsist import experiments  # pylint: disable=unused-import
from wsvis_tf.maskconsist import train_lib

_EXPERIMENT = flags.DEFINE_string('experiment', None,
                                  'A registered experiment name.')
_CONFIG_FILE = flags.DEFINE_multi_string(
    'config_file', [], 'YAML files overriding the experiment, in order.')
_PARAMS_OVERRIDE = flags.DEFINE_string(
    'params_override', '', 'Comma-separated key=value overrides (or YAML), '
    'applied last.')
_MODEL_DIR = flags.DEFINE_string('model_dir', None,
                                 'Checkpoints and summaries.')
_STRATEGY = flags.DEFINE_enum('strategy', 'default', train_lib.STRATEGIES,
                              'tf.distribute strategy.')
flags.mark_flags_as_required(['experiment', 'model_dir'])


def parse_params(experiment: str, config_files, params_override: str):
  """The experiment with YAML files and overrides applied (tf-models way)."""
  params = exp_factory.get_exp_config(experiment)
  for path in config_files:
    params = hyperparams.override_params_dict(params, path, is_strict=True)
  if params_override:
    params = hyperparams.override_params_dict(params, params_override,
                                              is_strict=True)
  params.validate()
  return params


def main(argv):
  del argv
  try:
    params = parse_params(_EXPERIMENT.value, _CONFIG_FILE.value,
                          _PARAMS_OVERRIDE.value)
    train_lib.check_config(params, os.path.abspath(_MODEL_DIR.value))
  except (KeyError, ValueError) as e:
    print(f'train_maskconsist: error: {e}', file=sys.stderr)
    sys.exit(2)
  metrics = train_lib.train(params, os.path.abspath(_MODEL_DIR.value),
                            _STRATEGY.value)
  print(json.dumps(metrics, sort_keys=True))


def run() -> None:
  """Console script wsvis-train-maskconsist (pyproject.toml)."""
  entry_point.run(main, __name__)


if __name__ == '__main__':
  run()
