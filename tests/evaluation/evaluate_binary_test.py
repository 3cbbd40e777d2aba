"""Tests for experiments/evaluate.py, run as a subprocess.

Works run directly (the script is found relative to this file) and under
Bazel (in the runfiles, through data = ["//experiments:evaluate"]).
"""

import json
import os
import subprocess
import sys

from absl.testing import absltest

from tests.evaluation import fixtures

H, W = 12, 16
MASK = fixtures.box_mask(H, W, (2, 3, 8, 11))


def _repo_root() -> str:
  runfiles = os.environ.get('TEST_SRCDIR')
  if runfiles:
    root = os.path.join(runfiles, os.environ.get('TEST_WORKSPACE',
                                                 'wsvis_tf'))
    if os.path.exists(os.path.join(root, 'experiments', 'evaluate.py')):
      return root
  return os.path.dirname(os.path.dirname(os.path.dirname(
      os.path.abspath(__file__))))


def _run(*args: str) -> subprocess.CompletedProcess:
  root = _repo_root()
  env = dict(os.environ, PYTHONPATH=root)
  return subprocess.run(
      [sys.executable, os.path.join(root, 'experiments', 'evaluate.py'),
       *args], env=env, capture_output=True, text=True, timeout=120,
      check=False)


class EvaluateBinaryTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    self.dir = self.create_tempdir().full_path

  def test_frames_prints_one_json_line(self):
    gt = fixtures.write_json(self.dir, 'gt.json', fixtures.coco_gt(
        {1: (H, W)}, [(1, 1, MASK)]))
    res = fixtures.write_json(self.dir, 'res.json', fixtures.coco_results(
        [(1, 1, MASK, 0.9)]))
    proc = _run('--mode=frames', f'--annotations={gt}', f'--results={res}')
    self.assertEqual(proc.returncode, 0, proc.stderr)
    lines = proc.stdout.splitlines()
    self.assertLen(lines, 1)
    metrics = json.loads(lines[0])
    self.assertEqual(list(metrics), ['AP', 'AP50', 'AP75'])
    self.assertAlmostEqual(metrics['AP50'], 1.0, places=12)

  def test_video_prints_one_json_line(self):
    gt = fixtures.write_json(self.dir, 'gt.json', fixtures.ytvis_gt(
        {1: (H, W, 2)}, [(1, 1, [MASK, None])]))
    res = fixtures.write_json(self.dir, 'res.json', fixtures.ytvis_results(
        [(1, 1, [MASK, None], 0.9)]))
    proc = _run('--mode=video', f'--annotations={gt}', f'--results={res}')
    self.assertEqual(proc.returncode, 0, proc.stderr)
    lines = proc.stdout.splitlines()
    self.assertLen(lines, 1)
    metrics = json.loads(lines[0])
    self.assertEqual(list(metrics), ['mAP', 'AP50', 'AP75', 'AR1', 'AR10'])
    self.assertAlmostEqual(metrics['mAP'], 1.0, places=12)

  def test_bad_results_exit_2_with_one_line(self):
    gt = fixtures.write_json(self.dir, 'gt.json', fixtures.coco_gt(
        {1: (H, W)}, [(1, 1, MASK)]))
    res = fixtures.write_json(self.dir, 'res.json', fixtures.coco_results(
        [(1, 1, MASK, 0.9), (17, 1, MASK, 0.5)]))
    proc = _run(f'--annotations={gt}', f'--results={res}')
    self.assertEqual(proc.returncode, 2)
    self.assertEqual(proc.stdout, '')
    self.assertEqual(
        proc.stderr.strip(),
        f'evaluate: error: {res}: entry 1: image_id 17 is not an image in '
        f'{gt}')
    self.assertNotIn('Traceback', proc.stderr)

  def test_missing_file_exit_2(self):
    missing = os.path.join(self.dir, 'missing.json')
    proc = _run('--mode=video', f'--annotations={missing}',
                f'--results={missing}')
    self.assertEqual(proc.returncode, 2)
    self.assertEqual(proc.stderr.strip(),
                     f'evaluate: error: {missing}: no such file')
    self.assertNotIn('Traceback', proc.stderr)


if __name__ == '__main__':
  absltest.main()
