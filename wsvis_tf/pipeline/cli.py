"""The flags every pipeline binary shares, and the stages they select.

run_pipeline.py, train_cam.py, train_irn.py, make_pseudo_labels.py and
ablate_flowirn.py all run (or skip, when up to date) stages of the same
graph on the same video source; this module defines their common flags
once, so that every binary accepts --dataset=synthetic|ytvis|cityscapes|
video_folder with --data_dir, --dataset_config, --dataset_options and
--bad_frames, the backbone's initialisation (--imagenet_weights or
--train_from_scratch, which the paper and cityscapes presets need), and
reports a bad dataset or flag the same way: one line '<program>: error:
...' on stderr and exit status 2, both when the flags are read and when the
dataset is prepared (run_stages). --runner and --beam_options choose how the
per-video stages run (in this process, or on an Apache Beam runner:
wsvis_tf/pipeline/per_video.py); run_stages hands that to every stage.
"""

import json
import os
import sys
from typing import (Any, Dict, List, Mapping, NoReturn, Optional, Sequence,
                    Tuple)

from absl import flags

from datasets.real_video import builder_config
from datasets.real_video import manual_dir
from wsvis_tf.core import training
from wsvis_tf.data import sources
from wsvis_tf.pipeline import graph
from wsvis_tf.pipeline import per_video
from wsvis_tf.pipeline import presets
from wsvis_tf.pipeline import runner
from wsvis_tf.pipeline import stage as stage_lib

FLAGS = flags.FLAGS

# Exit status of a usage error: a bad flag, dataset or download (as absl's
# own flag errors and evaluate.py).
EXIT_USAGE = 2


def define_flags() -> None:
  """Defines --dataset, --data_dir, ..., --preset, --force and the weights."""
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
                    'Stage settings: smoke, quick, paper or cityscapes.')
  flags.DEFINE_list('force', [], 'Stages to rerun even if up to date.')
  flags.DEFINE_integer(
      'seed', 0, 'Seed of every training stage (DDFlow, CAM, IRN: weights, '
      'data order, augmentation). With op determinism, the same seed gives '
      'the same outputs on the same machine; each stage record carries it.')
  flags.DEFINE_string(
      'imagenet_weights', None, 'ImageNet weights of ResNet-50: a local '
      f'Keras HDF5 file, keras.applications\' {presets.IMAGENET_WEIGHTS_FILE}'
      ' (nothing is downloaded). The paper and cityscapes presets need it, '
      'or --train_from_scratch: the CAM network starts from it and the IRN '
      'heads sit on a separate frozen copy, as in the paper and IRN.')
  flags.DEFINE_enum(
      'strategy', 'default', [n for n in training.STRATEGIES
                              if n != 'multi_worker_mirrored'],
      'tf.distribute strategy of the training stages (DDFlow, CAM, IRN, '
      'Mask R-CNN/MaskConsist): default (one device), mirrored (every local '
      'GPU, else every logical CPU) or one_device. An execution option: it '
      'does not change fingerprints. Multi-worker training (TF_CONFIG) runs '
      'through the training libraries and train_maskconsist.py '
      '(README: Distributed training).')
  flags.DEFINE_string(
      'runner', per_video.IN_PROCESS, 'How the per-video stages (flow, cam, '
      'ir_labels, pseudo_labels) run: in_process (a loop in this process), '
      'or an Apache Beam runner by name: DirectRunner, DataflowRunner, '
      'FlinkRunner, SparkRunner, ... An execution option: it does not change '
      'a stage\'s fingerprint or its artifacts (README: Beam).')
  flags.DEFINE_list(
      'beam_options', [], 'Beam pipeline options for --runner, key=value, '
      'e.g. direct_num_workers=2,direct_running_mode=multi_processing, or '
      'project=P,region=R,temp_location=gs://B/tmp for Dataflow.')
  flags.DEFINE_list(
      'beam_stages', [], 'Which per-video stages run on --runner, the others '
      'in this process: a subset of flow,cam,ir_labels,pseudo_labels '
      '(default: all four). E.g. --beam_stages=ir_labels,pseudo_labels puts '
      'the CPU-bound Python stages on Beam workers and keeps the TensorFlow '
      'graph stages (flow, cam), which use every local core or GPU from one '
      'process, in the launcher (README: Beam).')
  flags.DEFINE_string(
      'preset_overrides', None, 'JSON object {stage: settings} deep-merged '
      'into the preset, e.g. \'{"cam_train": {"cam": {"class_bias": true}}, '
      '"pseudo_labels": {"irn": {"inference": {"walk_normalization": '
      '"per_class"}}}}\'. Changed settings change the stages\' '
      'fingerprints, so the stages they reach (and those after) rerun.')
  flags.DEFINE_bool(
      'train_from_scratch', False, 'paper and cityscapes presets: train '
      'ResNet-50 from random weights instead of --imagenet_weights '
      '(departs from the paper; a warning says how).')


def work_dir() -> str:
  return os.path.abspath(FLAGS.work_dir)


def execution(program: str) -> per_video.Execution:
  """--runner, --beam_options and --beam_stages; bad values are a usage
  error."""
  try:
    return per_video.parse_execution(FLAGS.runner, FLAGS.beam_options,
                                     FLAGS.beam_stages)
  except (ValueError, ImportError) as e:
    usage_error(program, e)


def usage_error(program: str, message: Any) -> NoReturn:
  """Prints '<program>: error: <message>' on stderr; exits with status 2."""
  print(f'{program}: error: {message}', file=sys.stderr)
  sys.exit(EXIT_USAGE)


def _missing_weights_message(preset: str) -> str:
  return (
      f'--preset={preset} starts ResNet-50 from ImageNet weights, as the '
      'paper does: pass --imagenet_weights=PATH, PATH being keras.'
      f'applications\' {presets.IMAGENET_WEIGHTS_FILE} (on a machine with '
      f'internet, download {presets.IMAGENET_WEIGHTS_URL}, or run python -c '
      '"import tf_keras; tf_keras.applications.ResNet50(weights=\'imagenet\','
      ' include_top=False)", which saves it in ~/.keras/models/), or pass '
      '--train_from_scratch to train without it')


def source_and_preset(program: str
                     ) -> Tuple[sources.VideoSource, Dict[str, Any]]:
  """The video source and the preset dict (presets.pipeline_preset).

  A bad dataset name, option or download, or a paper preset without
  --imagenet_weights or --train_from_scratch, is a usage error.
  """
  data_dir = os.path.abspath(FLAGS.data_dir) if FLAGS.data_dir else None
  weights = (os.path.abspath(FLAGS.imagenet_weights)
             if FLAGS.imagenet_weights else None)
  try:
    options = builder_config.parse_options(FLAGS.dataset_options)
    if FLAGS.bad_frames != 'error':
      options['bad_frames'] = FLAGS.bad_frames
    source = graph.make_source(FLAGS.dataset, data_dir, FLAGS.preset,
                               os.path.join(work_dir(), 'tfds'),
                               FLAGS.dataset_config, options)
    preset = presets.apply_seed(
        presets.pipeline_preset(FLAGS.preset, source.name, weights,
                                FLAGS.train_from_scratch), FLAGS.seed)
    if FLAGS.preset_overrides:
      try:
        overrides = json.loads(FLAGS.preset_overrides)
      except json.JSONDecodeError as e:
        raise ValueError(f'--preset_overrides is not JSON: {e}') from e
      preset = presets.apply_overrides(preset, overrides)
  except presets.MissingWeightsError as e:
    usage_error(program, _missing_weights_message(e.preset))
  except ValueError as e:
    usage_error(program, e)
  return source, preset


def source_and_stages(program: str
                     ) -> Tuple[sources.VideoSource, List[stage_lib.Stage]]:
  """The video source and the preset's stages, from the flags.

  Usage errors as source_and_preset; building the stages also checks the
  ImageNet weights file (a missing file, or one that is not a ResNet-50, is
  a usage error too).
  """
  source, preset = source_and_preset(program)
  try:
    stages = graph.preset_stages(preset, source)
  except (ValueError, KeyError) as e:
    # KeyError: a setting the stage's config does not know (a typo in
    # --preset_overrides).
    usage_error(program, e)
  return source, stages


def run_stages(program: str, stages: Sequence[stage_lib.Stage],
               resources: Mapping[str, Any],
               force: Sequence[str] = (),
               until: Optional[str] = None
              ) -> Dict[str, stage_lib.StageRecord]:
  """runner.run_stages in cli.work_dir(); a bad dataset is a usage error.

  The real-data builders check the download while it is prepared (in the
  data stage: a frame that does not decode, a file missing, a malformed
  JSON) and raise manual_dir.InputError naming the file; that error, and
  only that type (its subclasses included: frame_io.BadFrameError), ends
  the binary with one line and status 2. Any other exception is a bug or a
  failure of the run and keeps its traceback.

  The per-video stages run as --runner and --beam_options say (the
  per_video.EXECUTION resource, unless resources has one); the training
  stages under --strategy (the 'strategy' resource, unless given).
  """
  resources = dict(resources)
  if per_video.EXECUTION not in resources:
    resources[per_video.EXECUTION] = execution(program)
  if 'strategy' not in resources and FLAGS.strategy != 'default':
    resources['strategy'] = training.make_strategy(FLAGS.strategy)
  try:
    return runner.run_stages(stages, work_dir(), resources=resources,
                             force=force, until=until)
  except manual_dir.InputError as e:
    usage_error(program, e)
