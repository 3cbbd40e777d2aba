r"""Trains IRN / flowIRN heads: the pipeline up to its 'irn_train' stage.

  nice -n 10 python experiments/train_irn.py --dataset=synthetic \
      --work_dir=work/demo --preset=quick

runs (or skips, when up to date in --work_dir) the stages irn_train reads
(data, DDFlow flow, CAM training and extraction, IR labels) and then
irn_train itself: IRN's boundary and displacement heads on the CAM
network's frozen backbone, with the f-Bound loss (paper eq 3) when the
preset enables it (all presets do: flowIRN). A rerun resumes from the
latest checkpoint. On 2 CPU cores the quick preset's irn_train takes ~3 min
(the upstream stages ~35 min the first time). TensorBoard:
`tensorboard --logdir <work_dir>/irn_train/tensorboard`.
Flags as run_pipeline.py; --force=irn_train retrains.
"""

import json
import os
import sys

from absl import app
from absl import flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# pylint: disable=g-import-not-at-top
from wsvis_tf.pipeline import graph
from wsvis_tf.pipeline import presets
from wsvis_tf.pipeline import runner

_DATASET = flags.DEFINE_string('dataset', 'synthetic', 'Video source.')
_DATA_DIR = flags.DEFINE_string('data_dir', None, 'As run_pipeline.py.')
_WORK_DIR = flags.DEFINE_string('work_dir', 'work/demo', 'Work directory.')
_PRESET = flags.DEFINE_enum('preset', 'quick', presets.preset_names(),
                            'Stage settings.')
_FORCE = flags.DEFINE_list('force', [], 'Stages to rerun.')
STAGE = 'irn_train'


def main(argv):
  del argv
  work_dir = os.path.abspath(_WORK_DIR.value)
  data_dir = os.path.abspath(_DATA_DIR.value) if _DATA_DIR.value else None
  source = graph.make_source(_DATASET.value, data_dir, _PRESET.value,
                             os.path.join(work_dir, 'tfds'))
  stages = graph.build_stages(_PRESET.value, source)
  records = runner.run_stages(stages, work_dir, resources={'source': source},
                              force=_FORCE.value, until=STAGE)
  record = records[STAGE]
  print(json.dumps(record.metrics, indent=2, sort_keys=True))
  print(f'IRN model: {record.path("model.json")} ({record.status}, '
        f'{record.wall_time_s:.0f} s)')


if __name__ == '__main__':
  app.run(main)
