"""End to end: experiments/run_pipeline.py on the procedural default (smoke).

Runs the binary as a user would (a subprocess), then checks the stage records
and outputs, that a second run skips every stage, and that a changed stage
config reruns only that stage.
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
    if os.path.exists(os.path.join(base, 'experiments', 'run_pipeline.py')):
      return base
  raise FileNotFoundError('experiments/run_pipeline.py not found')


def run_pipeline(*args):
  root = _repo_root()
  env = dict(os.environ, PYTHONPATH=root, TF_CPP_MIN_LOG_LEVEL='2')
  proc = subprocess.run(
      [sys.executable, os.path.join(root, 'experiments', 'run_pipeline.py'),
       *args], capture_output=True, text=True, env=env, timeout=900)
  if proc.returncode != 0:
    raise AssertionError(f'run_pipeline failed ({proc.returncode}):\n'
                         f'{proc.stdout}\n{proc.stderr[-4000:]}')
  return proc.stdout


def status_lines(stdout):
  out = {}
  for line in stdout.splitlines():
    parts = line.split()
    if len(parts) >= 3 and parts[1] in ('ran', 'skipped'):
      out[parts[0]] = parts[1]
  return out


class RunPipelineTest(absltest.TestCase):

  def test_smoke_pipeline_runs_records_and_resumes(self):
    work = self.create_tempdir().full_path
    stdout = run_pipeline('--dataset=synthetic', f'--work_dir={work}',
                          '--preset=smoke')
    statuses = status_lines(stdout)
    self.assertIn('data', statuses)
    self.assertTrue(all(s == 'ran' for s in statuses.values()), statuses)
    sheet = os.path.join(work, 'contact_sheet', 'contact_sheet.png')
    self.assertIn(f'Contact sheet: {sheet}', stdout)
    self.assertGreater(os.path.getsize(sheet), 1000)

    with open(os.path.join(work, 'data', 'dataset.json')) as f:
      summary = json.load(f)
    self.assertEqual(summary['splits']['train']['videos'], 4)
    self.assertEqual(summary['splits']['validation']['videos'], 2)
    with open(os.path.join(work, 'data', 'ground_truth',
                           'train_frames.json')) as f:
      coco = json.load(f)
    self.assertEqual(len(coco['images']),
                     summary['splits']['train']['annotated_frames'])
    self.assertNotEmpty(coco['annotations'])
    for name in statuses:
      with open(os.path.join(work, name, 'stage.json')) as f:
        record = json.load(f)
      self.assertEqual(record['name'], name)
      self.assertIn('wall_time_s', record)

    # Second run: everything is up to date.
    statuses = status_lines(run_pipeline(
        '--dataset=synthetic', f'--work_dir={work}', '--preset=smoke'))
    self.assertTrue(all(s == 'skipped' for s in statuses.values()), statuses)

    # A forced stage reruns; the stages before it do not.
    statuses = status_lines(run_pipeline(
        '--dataset=synthetic', f'--work_dir={work}', '--preset=smoke',
        '--force=contact_sheet'))
    self.assertEqual(statuses['contact_sheet'], 'ran')
    self.assertEqual(statuses['data'], 'skipped')

  def test_unknown_dataset_is_a_usage_error(self):
    root = _repo_root()
    proc = subprocess.run(
        [sys.executable, os.path.join(root, 'experiments', 'run_pipeline.py'),
         '--dataset=nope', f'--work_dir={self.create_tempdir().full_path}'],
        capture_output=True, text=True,
        env=dict(os.environ, PYTHONPATH=root), timeout=300)
    self.assertNotEqual(proc.returncode, 0)
    self.assertIn("unknown dataset 'nope'", proc.stderr)


if __name__ == '__main__':
  absltest.main()
