r"""EPE and speed of DDFlow, OpenCV DIS and Farneback on procedural videos.

  python experiments/bench_flow.py --weights=work/flow_quick/export \
      --data_dir=work/tfds

measures, in one run, every (t, t+1) pair of the validation videos of
wsvis_synthetic/default (8 videos, 152 pairs, exact ground-truth flow):
DDFlow (the given weights), DIS with --dis_preset (default medium, OpenCV's
most accurate preset), Farneback and zero flow. EPE is over all pixels, the
non-occluded ones, moving pixels (ground truth >= 1 px: the objects) and
static ones (the sub-pixel camera drift). Prints a table and a last line
  RESULT ddflow_epe=... dis_epe=... farneback_epe=... ddflow_ms=... dis_ms=...
Takes ~1 min on 2 CPU cores.
"""

import dataclasses

from absl import flags
import tensorflow as tf
import tensorflow_datasets as tfds

from wsvis_tf.core import entry_point
from wsvis_tf.data import sources
from wsvis_tf.flow import benchmark
from wsvis_tf.flow import extract
from wsvis_tf.flow import train_lib

_WEIGHTS = flags.DEFINE_string('weights', None, 'DDFlow export directory.',
                               required=True)
_DATA_DIR = flags.DEFINE_string('data_dir', 'work/tfds', 'TFDS data dir.')
_BUILDER_CONFIG = flags.DEFINE_string('builder_config', 'default',
                                      'wsvis_synthetic config.')
_SPLIT = flags.DEFINE_string('split', 'validation', 'Split measured.')
_DIS_PRESET = flags.DEFINE_enum('dis_preset', 'medium',
                                sorted(benchmark.DIS_PRESETS), 'DIS preset.')
_THREADS = flags.DEFINE_integer(
    'threads', 0, 'If > 0, TensorFlow and OpenCV threads (0: defaults).')


def main(argv):
  del argv
  if _THREADS.value > 0:
    tf.config.threading.set_intra_op_parallelism_threads(_THREADS.value)
    benchmark.cv2.setNumThreads(_THREADS.value)
  source = sources.get_source('synthetic', _DATA_DIR.value,
                              _BUILDER_CONFIG.value)
  source.prepare()
  pairs = benchmark.ground_truth_pairs(
      tfds.as_numpy(source.videos(_SPLIT.value)))
  model, _ = train_lib.load_exported(_WEIGHTS.value)
  methods = {
      'ddflow': benchmark.ddflow_flow_fn(extract.model_predict_fn(model)),
      'dis': benchmark.dis_flow_fn(_DIS_PRESET.value),
      'farneback': benchmark.farneback_flow_fn(),
      'zero': benchmark.zero_flow_fn(),
  }
  results = benchmark.run(methods, pairs)
  labels = {'ddflow': 'DDFlow (ours)',
            'dis': f'DIS ({_DIS_PRESET.value})', 'farneback': 'Farneback',
            'zero': 'Zero flow'}
  print(f'{source.builder.info.full_name} {_SPLIT.value}: {len(pairs)} '
        'pairs (t, t+1), EPE in pixels')
  print(benchmark.table([
      dataclasses.replace(r, name=labels[r.name]) for r in results]))
  print(benchmark.result_line({r.name: r for r in results}))


def run() -> None:
  """The `wsvis-bench-flow` console script: flags, then main."""
  entry_point.run(main, __name__)


if __name__ == '__main__':
  run()
