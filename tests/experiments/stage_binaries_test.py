"""train_cam.py, train_irn.py and make_pseudo_labels.py as a user runs them.

They share run_pipeline.py's flags (wsvis_tf/pipeline/cli.py) and work
directory: each runs the stages it needs, and skips those an earlier binary
already ran.
"""

import json
import os
import subprocess
import sys

from absl.testing import absltest


def _repo_root():
  here = os.path.dirname(os.path.abspath(__file__))
  for base in (os.path.join(os.environ.get('TEST_SRCDIR', ''),
                            os.environ.get('TEST_WORKSPACE', 'wsvis_tf')),
               os.path.dirname(os.path.dirname(here))):
    if os.path.exists(os.path.join(base, 'experiments', 'train_irn.py')):
      return base
  raise FileNotFoundError('experiments/train_irn.py not found')


def run(binary, *args, check=True):
  root = _repo_root()
  env = dict(os.environ, PYTHONPATH=root, TF_CPP_MIN_LOG_LEVEL='2')
  proc = subprocess.run(
      [sys.executable, os.path.join(root, 'experiments', binary), *args],
      capture_output=True, text=True, env=env, timeout=900)
  if check and proc.returncode != 0:
    raise AssertionError(f'{binary} failed ({proc.returncode}):\n'
                         f'{proc.stdout}\n{proc.stderr[-4000:]}')
  return proc


def stage_status(work, name):
  with open(os.path.join(work, name, 'stage.json')) as f:
    return json.load(f)


class StageBinariesTest(absltest.TestCase):

  def test_binaries_share_one_work_dir(self):
    work = self.create_tempdir().full_path
    common = ['--dataset=synthetic', f'--work_dir={work}', '--preset=smoke']
    out = run('train_cam.py', *common, '--until=ir_labels').stdout
    self.assertIn('CAM checkpoint:', out)
    for name in ('data', 'cam_train', 'cam', 'ir_labels'):
      self.assertEqual(stage_status(work, name)['name'], name)
    self.assertFalse(os.path.exists(os.path.join(work, 'irn_train')))
    cam_record = stage_status(work, 'cam_train')

    out = run('train_irn.py', *common).stdout
    self.assertIn('IRN model:', out)
    # The CAM network was reused, not retrained.
    self.assertEqual(stage_status(work, 'cam_train')['fingerprint'],
                     cam_record['fingerprint'])
    self.assertEqual(stage_status(work, 'cam_train')['wall_time_s'],
                     cam_record['wall_time_s'])
    self.assertFalse(os.path.exists(os.path.join(work, 'pseudo_labels')))

    out = run('make_pseudo_labels.py', *common).stdout
    path = os.path.join(work, 'pseudo_labels', 'pseudo_labels.json')
    self.assertIn(f'Pseudo-labels: {path}', out)
    with open(path) as f:
      coco = json.load(f)
    self.assertNotEmpty(coco['images'])

  def test_bad_dataset_is_a_usage_error_in_every_binary(self):
    for binary in ('train_cam.py', 'train_irn.py', 'make_pseudo_labels.py'):
      proc = run(binary, '--dataset=ytvis',
                 f'--data_dir={self.create_tempdir().full_path}/missing',
                 f'--work_dir={self.create_tempdir().full_path}',
                 check=False)
      self.assertEqual(proc.returncode, 2, binary)
      self.assertIn(f'{binary[:-3]}: error:', proc.stderr)


if __name__ == '__main__':
  absltest.main()
