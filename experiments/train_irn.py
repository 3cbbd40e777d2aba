r"""Trains IRN / flowIRN heads: the pipeline up to its 'irn_train' stage.

  nice -n 10 python experiments/train_irn.py --dataset=synthetic \
      --work_dir=work/demo --preset=quick

runs (or skips, when up to date in --work_dir) the stages irn_train reads
(data, DDFlow flow, CAM training and extraction, IR labels) and then
irn_train itself: IRN's boundary and displacement heads on a frozen
backbone (the CAM network's in the smoke and quick presets; a separate
ImageNet ResNet-50 from --imagenet_weights in paper and cityscapes, as
official IRN), with the f-Bound loss (paper eq 3) when the preset enables it
(all presets do: flowIRN). A rerun resumes from the
latest checkpoint. On 2 CPU cores the quick preset's irn_train takes ~3 min
(the upstream stages ~35 min the first time). TensorBoard:
`tensorboard --logdir <work_dir>/irn_train/tensorboard`.
Flags as run_pipeline.py (wsvis_tf/pipeline/cli.py);
--force=irn_train retrains.
"""

import json
import os
import sys

from absl import app
from absl import flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# pylint: disable=g-import-not-at-top
from wsvis_tf.pipeline import cli

cli.define_flags()
FLAGS = flags.FLAGS
STAGE = 'irn_train'


def main(argv):
  del argv
  source, stages = cli.source_and_stages('train_irn')
  records = cli.run_stages('train_irn', stages, {'source': source},
                           force=FLAGS.force, until=STAGE)
  record = records[STAGE]
  print(json.dumps(record.metrics, indent=2, sort_keys=True))
  print(f'IRN model: {record.path("model.json")} ({record.status}, '
        f'{record.wall_time_s:.0f} s)')


if __name__ == '__main__':
  app.run(main)
