r"""Extracts DDFlow optical flow for every frame pair later stages need.

  python experiments/extract_flow.py --weights=work/flow_quick/export \
      --flow_dir=work/flows --data_dir=work/tfds

For every video of every split: flow (t, t+1) and (t+1, t) for all t, and both
directions of every (t, t+delta) pair of wsvis_tf.data.pairs.pair_indices,
written as float16 [H, W, 2] .npy files <flow_dir>/<video_id>/<a>_<b>.npy
(wsvis_tf.flow.flow_store), atomically; files that exist are skipped, so a
rerun resumes. On 2 CPU cores the procedural default (40 videos x 20 frames,
~2,200 flow files) takes ~1-2 min with the quick model.
"""

import json

from absl import flags
from absl import logging
import tensorflow_datasets as tfds

from wsvis_tf.core import entry_point
from wsvis_tf.data import sources
from wsvis_tf.flow import extract
from wsvis_tf.flow import flow_store
from wsvis_tf.flow import train_lib
from wsvis_tf.pipeline import presets

_WEIGHTS = flags.DEFINE_string(
    'weights', None, 'Directory written by train_flow.py (export/ or a stage '
    'directory) with flow_config.json.', required=True)
_FLOW_DIR = flags.DEFINE_string('flow_dir', None, 'Flow store root.',
                                required=True)
_DATASET = flags.DEFINE_string('dataset', 'synthetic', 'Video source name.')
_BUILDER_CONFIG = flags.DEFINE_string('builder_config', 'default',
                                      'Synthetic builder config.')
_DATA_DIR = flags.DEFINE_string('data_dir', 'work/tfds',
                                'TFDS data directory / manual download dir.')
_SPLITS = flags.DEFINE_list('splits', None, 'Splits (default: all).')
_DELTA = flags.DEFINE_integer(
    'delta', None, 'Paired-frame distance (default: the dataset\'s, '
    'wsvis_tf.pipeline.presets.DATASET_DEFAULTS).')
_BATCH = flags.DEFINE_integer('batch_size', 8, 'Pairs per model call.')


def main(argv):
  del argv
  delta = _DELTA.value or presets.DATASET_DEFAULTS[_DATASET.value]['delta']
  source = sources.get_source(_DATASET.value, _DATA_DIR.value,
                              _BUILDER_CONFIG.value)
  source.prepare()
  model, _ = train_lib.load_exported(_WEIGHTS.value)
  predict = extract.model_predict_fn(model)
  store = flow_store.FlowStore(_FLOW_DIR.value)
  totals = {}
  for split in _SPLITS.value or source.splits:
    n = source.num_videos(split)
    counts = extract.extract_videos(
        predict, store, tfds.as_numpy(source.videos(split)), delta,
        _BATCH.value,
        progress=lambda i, s=split, n=n: logging.info('%s: %d/%d videos', s,
                                                      i, n))
    totals[split] = counts
  print(json.dumps(totals, indent=2, sort_keys=True))


def run() -> None:
  """The `wsvis-extract-flow` console script: flags, then main."""
  entry_point.run(main, __name__)


if __name__ == '__main__':
  run()
