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
Flags as run_pipeline.py; --force=pseudo_labels recomputes.
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
STAGE = 'pseudo_labels'


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
  print(f'Pseudo-labels: {record.path("pseudo_labels.json")}')


if __name__ == '__main__':
  app.run(main)
