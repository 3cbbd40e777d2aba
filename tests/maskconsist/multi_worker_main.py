"""One worker of tests/maskconsist/multi_worker_test.py (a subprocess).

  python -m tests.maskconsist.multi_worker_main WORK_DIR MODEL_DIR OUT.json

with TF_CONFIG naming this worker: trains the smoke MaskConsist experiment
on the prepared tiny data under MultiWorkerMirroredStrategy and writes its
metrics and a checksum of its final weights to OUT.json.
"""

import json
import sys

import numpy as np

from tests.maskconsist import fixtures
from wsvis_tf.maskconsist import train_lib


def main(work_dir: str, model_dir: str, out_path: str) -> None:
  strategy = train_lib.make_strategy('multi_worker_mirrored')
  work = fixtures.TinyWork(work_dir)
  params = work.params(True, pseudo_labels=work_dir + '/pl.json')
  metrics, model = train_lib.train(params, model_dir, strategy,
                                   source=work.source, return_model=True)
  weights = model.get_weights()
  checksum = float(sum(np.sum(np.abs(w), dtype=np.float64) for w in weights))
  with open(out_path, 'w') as f:
    json.dump({'metrics': metrics, 'replicas': strategy.num_replicas_in_sync,
               'checksum': checksum, 'variables': len(weights)}, f)


if __name__ == '__main__':
  main(*sys.argv[1:4])
