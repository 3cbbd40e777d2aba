r"""Trains the CAM network, and optionally extracts CAMs and IR labels.

Runs the pipeline stage --until (cam_train, cam or ir_labels) and the stages
it reads (data; and flow_train / flow for f-CAMs from DDFlow), in the same
work directory and with the same records as run_pipeline.py, so a later
run_pipeline resumes from here:

  python experiments/train_cam.py --dataset=synthetic --preset=quick \
      --work_dir=work/demo --until=ir_labels

On 2 CPU cores the quick preset (640 frames of 128x160) takes about 6
minutes for cam_train (four cross-fitted resnet_small models, each 10 epochs
of its 24 videos' frames in batches of 16 crops of 256 px), 2.5 for cam and 1.5 for ir_labels (with IRN's
dense CRF; 10 s without), measured while sharing the cores with other jobs;
the flow stages it needs for f-CAMs are DDFlow's (see train_flow.py).
--preset=smoke takes about 20 s in all.

Flags as run_pipeline.py (wsvis_tf/pipeline/cli.py), among them
--imagenet_weights=FILE, the ImageNet ResNet-50 the paper and cityscapes
presets start from (a Keras HDF5 file with keras.applications.ResNet50
layer names; nothing is downloaded; or --train_from_scratch); and
--voc_data_dir=DIR, the TFDS data dir holding a prepared voc/2012
(cityscapes preset); --strategy=mirrored trains on every local GPU
(tf.distribute.MirroredStrategy).
"""

import os

from absl import flags
from absl import logging

from wsvis_tf.core import entry_point
from wsvis_tf.pipeline import cli
from wsvis_tf.pipeline.components import cam

cli.define_flags()
FLAGS = flags.FLAGS
_UNTIL = flags.DEFINE_enum('until', cam.CAM_TRAIN,
                           [cam.CAM_TRAIN, cam.CAM, cam.IR_LABELS],
                           'Last stage to run.')
_VOC_DIR = flags.DEFINE_string('voc_data_dir', None,
                               'TFDS data dir with a prepared voc/2012.')


def _needed(stages, last):
  """The stages `last` depends on, transitively, and itself, in order."""
  by_name = {s.name: s for s in stages}
  needed, todo = set(), [last]
  while todo:
    name = todo.pop()
    if name not in needed:
      needed.add(name)
      todo.extend(by_name[name].inputs)
  return [s for s in stages if s.name in needed]


def main(argv):
  del argv
  overrides = {}
  if _VOC_DIR.value:
    overrides['pretrain'] = {'data_dir': os.path.abspath(_VOC_DIR.value)}
  source, stages = cli.source_and_stages('train_cam')
  stages = _needed(stages, _UNTIL.value)
  if overrides:
    stages = [cam.override_cam_train(s, overrides)
              if s.name == cam.CAM_TRAIN else s for s in stages]
  resources = {'source': source}
  records = cli.run_stages('train_cam', stages, resources,
                           force=FLAGS.force)
  for name, rec in records.items():
    logging.info('%s %s %.1f s %s', name, rec.status, rec.wall_time_s,
                 rec.metrics)
  train = records[cam.CAM_TRAIN]
  print(f'CAM checkpoint: {cam.cam_checkpoint_path(train)}')
  for name in (cam.CAM, cam.IR_LABELS):
    if name in records:
      print(f'{name}: {records[name].directory} {records[name].metrics}')


def run() -> None:
  """The `wsvis-train-cam` console script: flags, then main."""
  entry_point.run(main, __name__)


if __name__ == '__main__':
  run()
