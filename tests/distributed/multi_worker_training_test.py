"""DDFlow, CAM and IRN training on two local worker processes
(MultiWorkerMirroredStrategy, TF_CONFIG on loopback ports), as the
segmenter's multi-worker test does for MaskConsist.

Each case trains a tiny model for 2 steps on both workers, then reruns to 3
steps: both workers resume from the chief's checkpoint (a worker starting
elsewhere would hang the collectives or end with other weights). Checked:
two replicas, identical weights on both workers, weights that moved, the
chief's checkpoints in model_dir and nothing left of the non-chief's
scratch directory.
"""

import os
import tempfile

import tensorflow as tf

from tests.distributed import cluster

# The source root (the checkout, or Bazel's runfiles tree) the workers
# import from.
_REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


class MultiWorkerTrainingTest(tf.test.TestCase):

  def _run(self, lib, steps, root):
    repo = _REPO
    model_dir = os.path.join(root, 'model')
    outs = [os.path.join(root, f'{lib}_{steps}_worker{i}.json')
            for i in range(2)]
    reports = cluster.run_reporting_workers(
        'tests.distributed.train_worker_main',
        [[lib, str(steps), model_dir, out] for out in outs], outs, repo)
    chief, other = reports
    self.assertEqual([r['replicas'] for r in reports], [2, 2])
    self.assertEqual([r['chief'] for r in reports], [True, False])
    self.assertEqual(chief['write_dir'], model_dir)
    self.assertNotEqual(other['write_dir'], model_dir)
    self.assertFalse(os.path.exists(other['write_dir']))
    # Mirrored variables: both workers end with the same weights.
    self.assertAllClose(chief['checksum'], other['checksum'], rtol=1e-6)
    self.assertTrue(chief['checkpoint'].endswith(f'ckpt-{steps}'),
                    chief['checkpoint'])
    return chief

  def _check(self, lib):
    root = tempfile.mkdtemp(prefix=f'{lib}_multi_worker_')
    first = self._run(lib, 2, root)
    second = self._run(lib, 3, root)
    self.assertNotAllClose(first['checksum'], second['checksum'])
    # Only the chief's files are in the model directory's parent.
    self.assertEqual(
        sorted(n for n in os.listdir(root) if not n.endswith('.json')),
        ['model'])
    return first, second

  def test_flow(self):
    first, second = self._check('flow')
    self.assertEqual(second['metrics']['steps'], 3)

  def test_cam(self):
    first, second = self._check('cam')
    self.assertIsNotNone(first['metrics']['first_loss'])

  def test_irn(self):
    self._check('irn')


if __name__ == '__main__':
  tf.test.main()
