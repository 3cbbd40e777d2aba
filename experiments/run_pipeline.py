r"""Runs the wsvis-tf pipeline: every stage that exists, in order.

  python experiments/run_pipeline.py --dataset=synthetic --work_dir=work/demo \
      --preset=quick

(`make demo` runs exactly that.) Stages write into <work_dir>/<stage>/ and a
record stage.json; a stage whose record matches its config and inputs is
skipped, so a rerun after a crash resumes, and a changed config reruns only
what depends on it. On 2 CPU cores the quick preset's stages so far take
about a minute (building the procedural dataset dominates).

Real data (datasets/real_video/README.md): --dataset=ytvis|cityscapes|
video_folder --data_dir=DOWNLOAD, e.g.

  python experiments/run_pipeline.py --dataset=ytvis \
      --data_dir=/data/ytvis2019 --work_dir=work/ytvis --preset=quick

with --dataset_config, --dataset_options=key=value,... and
--bad_frames=error|skip to choose how the dataset is prepared.

Flags: --until=STAGE stops after a stage; --force=a,b reruns stages;
--list_stages prints the stages and exits.
"""

import os
import sys

from absl import app
from absl import flags
from absl import logging

# Running as a script: make the repository root importable.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# pylint: disable=g-import-not-at-top
from datasets.real_video import builder_config
from wsvis_tf.pipeline import graph
from wsvis_tf.pipeline import presets
from wsvis_tf.pipeline import runner

_DATASET = flags.DEFINE_string(
    'dataset', 'synthetic', 'Video source: synthetic (the embedded default, '
    'no download), ytvis, cityscapes or video_folder.')
_DATA_DIR = flags.DEFINE_string(
    'data_dir', None, 'Real datasets: the directory holding the download '
    '(e.g. a YouTube-VIS layout). Synthetic: where to build the TFDS '
    'dataset. Prepared TFDS datasets go to <work_dir>/tfds.')
_DATASET_CONFIG = flags.DEFINE_string(
    'dataset_config', None, 'Builder config of the dataset (default: the '
    "preset's), e.g. full or small for the real datasets.")
_DATASET_OPTIONS = flags.DEFINE_list(
    'dataset_options', [], 'Real datasets: builder config overrides, '
    'key=value, e.g. max_short_side=360,fps=5 (video_folder) or '
    'val_videos_per_class=10 (ytvis); see datasets/real_video/README.md.')
_BAD_FRAMES = flags.DEFINE_enum(
    'bad_frames', 'error', ['error', 'skip'], 'Real datasets: a frame that '
    'does not decode stops the build with an error naming it (error), or is '
    'skipped and counted (skip).')
_WORK_DIR = flags.DEFINE_string('work_dir', 'work/demo',
                                'Where stages write their outputs.')
_PRESET = flags.DEFINE_enum('preset', 'quick', presets.preset_names(),
                            'Stage settings: smoke, quick or paper.')
_UNTIL = flags.DEFINE_string('until', None, 'Stop after this stage.')
_FORCE = flags.DEFINE_list('force', [], 'Stages to rerun even if up to date.')
_LIST = flags.DEFINE_bool('list_stages', False, 'List the stages and exit.')


def main(argv):
  del argv
  work_dir = os.path.abspath(_WORK_DIR.value)
  tfds_dir = os.path.join(work_dir, 'tfds')
  data_dir = os.path.abspath(_DATA_DIR.value) if _DATA_DIR.value else None
  try:
    options = builder_config.parse_options(_DATASET_OPTIONS.value)
    if _BAD_FRAMES.value != 'error':
      options['bad_frames'] = _BAD_FRAMES.value
    source = graph.make_source(_DATASET.value, data_dir, _PRESET.value,
                               tfds_dir, _DATASET_CONFIG.value, options)
    stages = graph.build_stages(_PRESET.value, source)
  except ValueError as e:
    print(f'run_pipeline: error: {e}', file=sys.stderr)
    sys.exit(2)
  if _LIST.value:
    for s in stages:
      print(f'{s.name:16s} reads {",".join(s.inputs) or "-":24s} '
            f'{s.description}')
    return
  logging.info('Pipeline: dataset=%s preset=%s work_dir=%s data_dir=%s',
               _DATASET.value, _PRESET.value, work_dir, data_dir)
  records = runner.run_stages(stages, work_dir, resources={'source': source},
                              force=_FORCE.value, until=_UNTIL.value)
  print(f'\nwsvis-tf pipeline on {_DATASET.value} ({_PRESET.value}), '
        f'work dir {work_dir}')
  print(f'{"stage":16s} {"status":8s} {"wall s":>8s}  outputs')
  for name, rec in records.items():
    outs = ', '.join(rec.path(o) for o in rec.outputs)
    print(f'{name:16s} {rec.status:8s} {rec.wall_time_s:8.1f}  {outs}')
  if 'contact_sheet' in records:
    print(f'\nContact sheet: {records["contact_sheet"].path("contact_sheet.png")}')
  if 'pseudo_labels' in records:
    rec = records['pseudo_labels']
    ap50 = rec.metrics.get('AP50')
    print(f'Pseudo-labels: {rec.path("pseudo_labels.json")}' +
          (f' (AP50 {ap50:.4f} on the training frames)'
           if ap50 is not None else ''))


if __name__ == '__main__':
  app.run(main)
