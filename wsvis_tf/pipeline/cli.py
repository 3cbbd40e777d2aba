"""The flags every pipeline binary shares, and the stages they select.

run_pipeline.py, train_cam.py, train_irn.py and make_pseudo_labels.py all
run (or skip, when up to date) the same stage graph on the same video
source; this module defines their common flags once, so that every binary
accepts --dataset=synthetic|ytvis|cityscapes|video_folder with --data_dir,
--dataset_config, --dataset_options and --bad_frames, and reports a bad
dataset the same way (one line on stderr, exit status 2).
"""

import os
import sys
from typing import List, Tuple

from absl import flags

from datasets.real_video import builder_config
from wsvis_tf.data import sources
from wsvis_tf.pipeline import graph
from wsvis_tf.pipeline import presets
from wsvis_tf.pipeline import stage as stage_lib

FLAGS = flags.FLAGS


def define_flags() -> None:
  """Defines --dataset, --data_dir, ..., --preset and --force."""
  flags.DEFINE_string(
      'dataset', 'synthetic', 'Video source: synthetic (the embedded '
      'default, no download), ytvis, cityscapes or video_folder.')
  flags.DEFINE_string(
      'data_dir', None, 'Real datasets: the directory holding the download '
      '(e.g. a YouTube-VIS layout). Synthetic: where to build the TFDS '
      'dataset. Prepared TFDS datasets go to <work_dir>/tfds.')
  flags.DEFINE_string(
      'dataset_config', None, 'Builder config of the dataset (default: the '
      "preset's), e.g. full or small for the real datasets.")
  flags.DEFINE_list(
      'dataset_options', [], 'Real datasets: builder config overrides, '
      'key=value, e.g. max_short_side=360,fps=5 (video_folder) or '
      'val_videos_per_class=10 (ytvis); see datasets/real_video/README.md.')
  flags.DEFINE_enum(
      'bad_frames', 'error', ['error', 'skip'], 'Real datasets: a frame that '
      'does not decode stops the build with an error naming it (error), or '
      'is skipped and counted (skip).')
  flags.DEFINE_string('work_dir', 'work/demo',
                      'Where stages write their outputs.')
  flags.DEFINE_enum('preset', 'quick', presets.preset_names(),
                    'Stage settings: smoke, quick or paper.')
  flags.DEFINE_list('force', [], 'Stages to rerun even if up to date.')
  flags.DEFINE_integer(
      'seed', 0, 'Seed of every training stage (DDFlow, CAM, IRN: weights, '
      'data order, augmentation). With op determinism, the same seed gives '
      'the same outputs on the same machine; each stage record carries it.')


def work_dir() -> str:
  return os.path.abspath(FLAGS.work_dir)


def source_and_stages(program: str
                     ) -> Tuple[sources.VideoSource, List[stage_lib.Stage]]:
  """The video source and the preset's stages, from the flags.

  A bad dataset name, option or download is a usage error: one line
  '<program>: error: ...' on stderr and exit status 2.
  """
  data_dir = os.path.abspath(FLAGS.data_dir) if FLAGS.data_dir else None
  try:
    options = builder_config.parse_options(FLAGS.dataset_options)
    if FLAGS.bad_frames != 'error':
      options['bad_frames'] = FLAGS.bad_frames
    source = graph.make_source(FLAGS.dataset, data_dir, FLAGS.preset,
                               os.path.join(work_dir(), 'tfds'),
                               FLAGS.dataset_config, options)
    stages = graph.build_stages(FLAGS.preset, source, FLAGS.seed)
  except ValueError as e:
    print(f'{program}: error: {e}', file=sys.stderr)
    sys.exit(2)
  return source, stages
