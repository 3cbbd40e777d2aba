r"""Instance pseudo-labels of every training frame: up to 'pseudo_labels'.

  nice -n 10 python experiments/make_pseudo_labels.py --dataset=synthetic \
      --work_dir=work/demo --preset=quick

runs (or skips, when up to date in --work_dir) every stage pseudo_labels
reads, then IRN's instance inference (flip-averaged boundaries, centroid
clustering, the sparse beta-10 / 2^8-step random walk, fragment scoring) on
each training frame, with f-CAMs (paper eq 2) when the preset uses them.
Writes <work_dir>/pseudo_labels/pseudo_labels.json: COCO instances, RLE
masks, file_name '<video>/<frame file>', image ids of the data stage's
ground truth; frames are cached one by one, so an interrupted run resumes,
and the JSON is written last, atomically (with zero annotations, and a
warning, if nothing was found). Prints its AP50 against the training ground
truth. On 2 CPU cores the quick preset's 640 frames take ~2 min.
Flags as run_pipeline.py (wsvis_tf/pipeline/cli.py);
--force=pseudo_labels recomputes.
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
STAGE = 'pseudo_labels'


def main(argv):
  del argv
  source, stages = cli.source_and_stages('make_pseudo_labels')
  records = cli.run_stages('make_pseudo_labels', stages,
                           {'source': source}, force=FLAGS.force,
                           until=STAGE)
  record = records[STAGE]
  print(json.dumps(record.metrics, indent=2, sort_keys=True))
  print(f'Pseudo-labels: {record.path("pseudo_labels.json")}')


if __name__ == '__main__':
  app.run(main)
