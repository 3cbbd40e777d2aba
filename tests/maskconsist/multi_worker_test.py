"""Two local worker processes train together (MultiWorkerMirroredStrategy).
"""

import os
import tempfile

import tensorflow as tf

from tests.distributed import cluster
from tests.experiments import binaries
from tests.maskconsist import fixtures


class MultiWorkerTest(tf.test.TestCase):

  def test_two_workers_train_in_sync(self):
    root = tempfile.mkdtemp(prefix='mc_multi_worker_')
    work = fixtures.TinyWork(root)
    work.pseudo_labels('pl.json')
    repo = binaries.repo_root('train_maskconsist.py')
    outs = [os.path.join(root, f'worker{index}.json') for index in range(2)]
    results = cluster.run_reporting_workers(
        'tests.maskconsist.multi_worker_main',
        [[root, os.path.join(root, f'model{index}'), out]
         for index, out in enumerate(outs)], outs, repo)
    for r in results:
      self.assertEqual(r['replicas'], 2)
      self.assertEqual(r['metrics']['steps'], 4)
    # Mirrored variables: both workers end with the same weights.
    self.assertAllClose(results[0]['checksum'], results[1]['checksum'],
                        rtol=1e-6)
    self.assertEqual(os.path.basename(results[0]['metrics']['checkpoint']),
                     'ckpt-4')
    self.assertIsNone(results[1]['metrics']['checkpoint'])


if __name__ == '__main__':
  tf.test.main()
