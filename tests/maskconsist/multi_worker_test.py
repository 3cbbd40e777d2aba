"""Two local worker processes train together (MultiWorkerMirroredStrategy).
"""

import json
import os
import socket
import subprocess
import sys
import tempfile

import tensorflow as tf

from tests.experiments import binaries
from tests.maskconsist import fixtures


def _free_ports(n):
  sockets = [socket.socket() for _ in range(n)]
  for s in sockets:
    s.bind(('localhost', 0))
  ports = [s.getsockname()[1] for s in sockets]
  for s in sockets:
    s.close()
  return ports


class MultiWorkerTest(tf.test.TestCase):

  def test_two_workers_train_in_sync(self):
    root = tempfile.mkdtemp(prefix='mc_multi_worker_')
    work = fixtures.TinyWork(root)
    work.pseudo_labels('pl.json')
    repo = binaries.repo_root('train_maskconsist.py')
    cluster = {'worker': [f'localhost:{p}' for p in _free_ports(2)]}
    procs, outs = [], []
    for index in range(2):
      out = os.path.join(root, f'worker{index}.json')
      env = dict(os.environ, PYTHONPATH=repo, TF_CPP_MIN_LOG_LEVEL='2',
                 CUDA_VISIBLE_DEVICES='-1',
                 TF_CONFIG=json.dumps({'cluster': cluster, 'task': {
                     'type': 'worker', 'index': index}}))
      procs.append(subprocess.Popen(
          [sys.executable, '-m', 'tests.maskconsist.multi_worker_main',
           root, os.path.join(root, f'model{index}'), out],
          env=env, cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
          text=True))
      outs.append(out)
    logs = []
    for proc in procs:
      try:
        logs.append(proc.communicate(timeout=600)[0])
      finally:
        if proc.poll() is None:
          proc.kill()
    for proc, log in zip(procs, logs):
      self.assertEqual(proc.returncode, 0, log[-4000:])
    results = []
    for out in outs:
      with open(out) as f:
        results.append(json.load(f))
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
