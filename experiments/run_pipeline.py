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
--bad_frames=error|skip to choose how the dataset is prepared. The paper and
cityscapes presets start ResNet-50 from ImageNet weights:
--imagenet_weights=resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5
(the keras.applications file, local), or --train_from_scratch.

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
from wsvis_tf.pipeline import cli

cli.define_flags()
FLAGS = flags.FLAGS
_UNTIL = flags.DEFINE_string('until', None, 'Stop after this stage.')
_LIST = flags.DEFINE_bool('list_stages', False, 'List the stages and exit.')


def main(argv):
  del argv
  source, stages = cli.source_and_stages('run_pipeline')
  work_dir = cli.work_dir()
  if _LIST.value:
    for s in stages:
      print(f'{s.name:16s} reads {",".join(s.inputs) or "-":24s} '
            f'{s.description}')
    return
  logging.info('Pipeline: dataset=%s preset=%s work_dir=%s data_dir=%s',
               FLAGS.dataset, FLAGS.preset, work_dir, FLAGS.data_dir)
  records = cli.run_stages('run_pipeline', stages, {'source': source},
                           force=FLAGS.force, until=_UNTIL.value)
  print(f'\nwsvis-tf pipeline on {FLAGS.dataset} ({FLAGS.preset}), '
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
