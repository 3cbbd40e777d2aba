r"""Video AP of the UnOVOST tracker on ground-truth masks (procedural videos).

  python experiments/bench_tracker.py --data_dir=work/tfds

builds (if needed) wsvis_synthetic/<--builder_config> into --data_dir and,
on the videos of --split, gives the tracker each frame's ground-truth
instance masks with the ids removed (independent proposals, score 1) and
tracks them twice: with the exact flow (GT_FLOW) and with no flow. The
tracks are scored with the project's YouTube-VIS evaluator
(wsvis_tf/evaluation/video_ap.py). --frame_stride=5 tracks every 5th
frame only, as the paper does on YouTube-VIS, with the exact per-frame
flows chained. Prints a table (video AP, AP50, AP75,
AR1, AR10, tracks per video, seconds per video) and a last line
  RESULT ap50_exact_flow=... ap50_no_flow=... seconds_per_video=...
Target: AP50 >= 0.95 with exact flow on the default validation videos.
Takes ~20 s on 2 CPU cores (building the default dataset once: ~1 min);
--builder_config=tiny: ~10 s.
"""

import os
import sys

from absl import app
from absl import flags
import tensorflow_datasets as tfds

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from wsvis_tf.data import sources  # pylint: disable=g-import-not-at-top
from wsvis_tf.tracking import benchmark

_DATA_DIR = flags.DEFINE_string('data_dir', 'work/tfds', 'TFDS data dir.')
_BUILDER_CONFIG = flags.DEFINE_string('builder_config', 'default',
                                      'wsvis_synthetic config.')
_SPLIT = flags.DEFINE_string('split', 'validation', 'Split measured.')
_SEED = flags.DEFINE_integer('seed', 0, 'Seeds the within-frame shuffle.')
_FRAME_STRIDE = flags.DEFINE_integer(
    'frame_stride', 1, 'Track and evaluate frames 0, k, 2k, ... only, with '
    'the exact flows chained (YouTube-VIS lists every 5th frame).')


def main(argv):
  del argv
  source = sources.get_source('synthetic', _DATA_DIR.value,
                              _BUILDER_CONFIG.value)
  source.prepare()
  examples = list(tfds.as_numpy(source.videos(_SPLIT.value)))
  results = benchmark.run(examples, source.class_names, seed=_SEED.value,
                          frame_stride=_FRAME_STRIDE.value)
  print(f'{source.builder.info.full_name} {_SPLIT.value}: {len(examples)} '
        f'videos, every {_FRAME_STRIDE.value} frame(s), ground-truth masks '
        'as proposals; metrics in %')
  print(benchmark.table(results))
  print(benchmark.result_line(results))


if __name__ == '__main__':
  app.run(main)
