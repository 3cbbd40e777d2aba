r"""Frames per second: our SavedModel against tf-models' export of it.

  python experiments/bench_export.py --work_dir=/tmp/bench_export
  python experiments/bench_export.py --model_dir=work/demo/maskrcnn_train \
      --work_dir=/tmp/bench_export

exports one checkpoint twice, with serving/export.py and with tf-models'
official/vision/serving/export_saved_model_lib (image_tensor, dynamic
batch), loads both and times them on the same uint8 batch, alternating
after warm-up (serving/benchmark.py says what each one computes). Without
--model_dir the checkpoint is a random initialisation of --experiment
(default maskrcnn_pseudolabels_synthetic: 128 x 160 frames, resnet_small
FPN). Prints a table, then the last line

  RESULT ours_fps=... tfmodels_fps=... ratio=...

(tfmodels_fps=nan if tf-models' export failed; the table says why). ~3 min
on 2 shared CPU cores with the defaults, most of it the two exports and
loading them; serving/README.md has measured figures.
"""

import os
import tempfile

from absl import flags

from serving import benchmark
from serving import model_source
from wsvis_tf.core import entry_point

_MODEL_DIR = flags.DEFINE_string(
    'model_dir', None, 'A stage dir (model.json) or a model dir '
    '(params.yaml + checkpoints); default: a random init of --experiment.')
_EXPERIMENT = flags.DEFINE_string(
    'experiment', benchmark.DEFAULT_EXPERIMENT,
    'Registered experiment initialised at random (without --model_dir).')
_CLASS_NAMES = flags.DEFINE_list('class_names', None,
                                 'Class names, if the model has none.')
_WORK_DIR = flags.DEFINE_string('work_dir', None,
                                'Where the exports go (default: a temp dir).')
_BATCH_SIZE = flags.DEFINE_integer('batch_size', 1, 'Frames per call.')
_ROUNDS = flags.DEFINE_integer('rounds', 20, 'Timed calls of each model.')
_WARMUP = flags.DEFINE_integer('warmup', 3, 'Untimed calls of each first.')
_SEED = flags.DEFINE_integer('seed', 0, 'Random initialisation seed.')


def main(argv):
  del argv
  with tempfile.TemporaryDirectory() as tmp:
    work_dir = os.path.abspath(_WORK_DIR.value or tmp)
    if _MODEL_DIR.value:
      spec = model_source.resolve_model(model_dir=_MODEL_DIR.value,
                                        class_names=_CLASS_NAMES.value)
      source = spec.source
    else:
      spec = benchmark.random_init_checkpoint(_EXPERIMENT.value, work_dir,
                                              _SEED.value)
      source = f'{_EXPERIMENT.value}, random initialisation (seed ' \
               f'{_SEED.value})'
    result = benchmark.run(spec, work_dir, _BATCH_SIZE.value, _ROUNDS.value,
                           _WARMUP.value)
    print(benchmark.table(result, source))
    print(benchmark.result_line(result))


def run() -> None:
  """The `wsvis-bench-export` console script: flags, then main."""
  entry_point.run(main, __name__)


if __name__ == '__main__':
  run()
