r"""Trains DDFlow (paper sec 4.2) unsupervised on a video source's frames.

  nice -n 10 python experiments/train_flow.py --preset=quick \
      --model_dir=work/flow_quick --data_dir=work/tfds

trains the `quick` preset on wsvis_synthetic/default (built into --data_dir on
first use, ~10 s): 400 photometric + 2,600 census/occlusion steps, batch 4,
128x160. Measured: 12.1 min wall (4.2 steps/s) on 2 CPU cores; bench EPE
0.142 px vs DIS 0.173 px (wsvis_tf/flow/README.md, "Where the training time
goes"). `--preset=smoke` runs a few steps in
~1 min; `--preset=paper` is the original 100k + 300k + 300k recipe (GPUs).

Rerunning the same command resumes from the latest checkpoint in
<model_dir>/checkpoints. --init_checkpoint starts from weights you already
have (a weights prefix or a directory written by this binary; nothing is
downloaded). TensorBoard: `tensorboard --logdir <model_dir>/summaries`.
The final weights and config are written to <model_dir>/export/.

--strategy: default | mirrored (local GPUs, else logical CPUs) |
multi_worker_mirrored (TF_CONFIG names the cluster; every worker runs this
command with the same --model_dir on a shared file system, and only the
chief writes into it) | one_device (README: Distributed training).
"""

import json
import os

from absl import flags
from absl import logging

from wsvis_tf.core import entry_point
from wsvis_tf.core import training
from wsvis_tf.data import sources
from wsvis_tf.flow import config as config_lib
from wsvis_tf.flow import train_data
from wsvis_tf.flow import train_lib

_PRESET = flags.DEFINE_enum('preset', 'quick', sorted(config_lib.PRESETS),
                            'Flow config preset.')
_OVERRIDES = flags.DEFINE_string(
    'overrides', None, 'JSON dict overriding the preset, e.g. '
    '\'{"train": {"batch_size": 8}}\'.')
_DATASET = flags.DEFINE_string('dataset', 'synthetic', 'Video source name.')
_BUILDER_CONFIG = flags.DEFINE_string(
    'builder_config', None, 'Synthetic builder config (default: tiny for '
    'the smoke preset, default otherwise).')
_DATA_DIR = flags.DEFINE_string('data_dir', 'work/tfds',
                                'TFDS data directory / manual download dir.')
_SPLIT = flags.DEFINE_string('split', 'train', 'Split trained on.')
_EVAL_SPLIT = flags.DEFINE_string('eval_split', 'validation',
                                  'Split for ground-truth EPE logs.')
_MODEL_DIR = flags.DEFINE_string('model_dir', None, 'Output directory.',
                                 required=True)
_INIT = flags.DEFINE_string('init_checkpoint', None,
                            'Weights to start from (local path only).')
_STRATEGY = flags.DEFINE_enum('strategy', 'default', training.STRATEGIES,
                              'tf.distribute strategy.')
_JIT = flags.DEFINE_bool('jit_compile', True, 'XLA-compile the train step.')


def main(argv):
  del argv
  overrides = json.loads(_OVERRIDES.value) if _OVERRIDES.value else None
  config = config_lib.get_config(_PRESET.value, overrides)
  builder_config = _BUILDER_CONFIG.value or (
      'tiny' if _PRESET.value == 'smoke' else 'default')
  source = sources.get_source(_DATASET.value, _DATA_DIR.value,
                              builder_config)
  source.prepare()
  data = train_data.pairs_from_source(source, _SPLIT.value,
                                      config.train.frame_distances)
  eval_pairs = (train_data.eval_pairs_from_source(
      source, _EVAL_SPLIT.value, config.train.eval_pairs)
                if _EVAL_SPLIT.value in source.splits else [])
  logging.info('DDFlow %s: %d pairs of %dx%d frames, %d steps', _PRESET.value,
               len(data.pairs), *data.image_size, config.train.total_steps)
  strategy = training.make_strategy(_STRATEGY.value)
  metrics, model = train_lib.train(config, data, _MODEL_DIR.value, eval_pairs,
                                   _INIT.value, strategy=strategy,
                                   jit_compile=_JIT.value)
  # Every worker saves (collective); a non-chief into its scratch directory.
  write_dir = training.worker_model_dir(_MODEL_DIR.value, strategy)
  export = os.path.join(write_dir, 'export')
  train_lib.save_weights(model, export, config)
  if not training.is_chief(strategy):
    training.remove_worker_model_dir(_MODEL_DIR.value, strategy)
    return
  print(json.dumps(metrics, indent=2, sort_keys=True))
  print(f'Weights: {export}')


def run() -> None:
  """The `wsvis-train-flow` console script: flags, then main."""
  entry_point.run(main, __name__)


if __name__ == '__main__':
  run()
