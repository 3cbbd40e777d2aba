"""train_cam.py, train_irn.py and make_pseudo_labels.py as a user runs them.

They share run_pipeline.py's flags (wsvis_tf/pipeline/cli.py) and work
directory: each runs the stages it needs, and skips those an earlier binary
already ran.
"""

import json
import os

from absl.testing import absltest

from tests.experiments import binaries


def stage_status(work, name):
  with open(os.path.join(work, name, 'stage.json')) as f:
    return json.load(f)


class StageBinariesTest(absltest.TestCase):

  def test_binaries_share_one_work_dir(self):
    work = self.create_tempdir().full_path
    common = ['--dataset=synthetic', f'--work_dir={work}', '--preset=smoke']
    out = binaries.run('train_cam.py', *common, '--until=ir_labels').stdout
    self.assertIn('CAM checkpoint:', out)
    for name in ('data', 'cam_train', 'cam', 'ir_labels'):
      self.assertEqual(stage_status(work, name)['name'], name)
    self.assertFalse(os.path.exists(os.path.join(work, 'irn_train')))
    cam_record = stage_status(work, 'cam_train')

    out = binaries.run('train_irn.py', *common).stdout
    self.assertIn('IRN model:', out)
    # The CAM network was reused, not retrained.
    self.assertEqual(stage_status(work, 'cam_train')['fingerprint'],
                     cam_record['fingerprint'])
    self.assertEqual(stage_status(work, 'cam_train')['wall_time_s'],
                     cam_record['wall_time_s'])
    self.assertFalse(os.path.exists(os.path.join(work, 'pseudo_labels')))

    out = binaries.run('make_pseudo_labels.py', *common).stdout
    path = os.path.join(work, 'pseudo_labels', 'pseudo_labels.json')
    self.assertIn(f'Pseudo-labels: {path}', out)
    with open(path) as f:
      coco = json.load(f)
    self.assertNotEmpty(coco['images'])

  def test_bad_dataset_is_a_usage_error_in_every_binary(self):
    for binary in ('train_cam.py', 'train_irn.py', 'make_pseudo_labels.py'):
      proc = binaries.run(binary, '--dataset=ytvis',
                 f'--data_dir={self.create_tempdir().full_path}/missing',
                 f'--work_dir={self.create_tempdir().full_path}',
                 check=False)
      self.assertEqual(proc.returncode, 2, binary)
      self.assertIn(f'{binary[:-3]}: error:', proc.stderr)


if __name__ == '__main__':
  absltest.main()
