"""Writes a split of wsvis_synthetic as a YouTube-VIS directory.

Builds the TFDS dataset first if it is not in --data_dir yet (offline), then
writes <out_dir>/JPEGImages/<video>/<frame>.jpg and <out_dir>/instances.json
(YouTube-VIS 2019 format), e.g.:

  wsvis-synthetic-to-ytvis --data_dir=/tmp/tfds --config=default \
    --split=train --out_dir=/tmp/syn_ytvis

(the console script; `python datasets/synthetic/export_ytvis.py` is the same).

About 11 s for the default train split on 2 CPU cores from scratch (5 s
when the TFDS dataset is already built); writes 6.5 MB.
"""

from absl import flags
from absl import logging
import tensorflow_datasets as tfds

from datasets.synthetic import synthetic
from wsvis_tf.core import entry_point
from wsvis_tf.data import gt_export

_DATA_DIR = flags.DEFINE_string('data_dir', None,
                                'TFDS data directory (built there if absent).')
_CONFIG = flags.DEFINE_enum('config', 'default', ['default', 'tiny'],
                            'wsvis_synthetic builder config.')
_SPLIT = flags.DEFINE_enum('split', 'train', ['train', 'validation'],
                           'Split to export.')
_OUT_DIR = flags.DEFINE_string('out_dir', None, 'Output directory.',
                               required=True)
_JSON_NAME = flags.DEFINE_string('json_name', 'instances.json',
                                 'Name of the annotation JSON in out_dir.')


def main(argv):
  del argv
  builder = synthetic.prepare(_CONFIG.value, _DATA_DIR.value)
  examples = tfds.as_numpy(
      builder.as_dataset(split=_SPLIT.value, shuffle_files=False))
  gt = gt_export.write_ytvis_layout(examples, synthetic.class_names(builder),
                                    _OUT_DIR.value, _JSON_NAME.value)
  logging.info('Wrote %d videos, %d tracks to %s', len(gt['videos']),
               len(gt['annotations']), _OUT_DIR.value)


def run() -> None:
  """The `wsvis-synthetic-to-ytvis` console script: flags, then main."""
  entry_point.run(main, __name__)


if __name__ == '__main__':
  run()
