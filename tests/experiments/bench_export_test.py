"""Smoke test of experiments/bench_export.py on the smoke experiment."""

import re
import tempfile

from absl.testing import absltest

from tests.experiments import binaries


class BenchExportTest(absltest.TestCase):

  def test_prints_table_and_result_line(self):
    with tempfile.TemporaryDirectory() as tmp:
      proc = binaries.run('bench_export.py',
                          '--experiment=maskrcnn_pseudolabels_smoke',
                          f'--work_dir={tmp}', '--rounds=2', '--warmup=1',
                          '--batch_size=2', timeout=600)
    lines = proc.stdout.strip().splitlines()
    self.assertIn('input: 2 x 64 x 96 x 3 uint8', proc.stdout)
    self.assertTrue(any(l.startswith('ours ') for l in lines), proc.stdout)
    # tf-models' own export builds our backbone (registered in its
    # factory): both rows, and the same scores from the one checkpoint.
    self.assertTrue(any(l.startswith('tfmodels ') for l in lines),
                    proc.stdout)
    diff = re.search(r'max \|score ours - score tf-models\| on kept '
                     r'detections: ([0-9.e+-]+); kept \(and pasted\) per '
                     r'image: ([0-9.]+)', proc.stdout)
    self.assertIsNotNone(diff, proc.stdout)
    self.assertLess(float(diff.group(1)), 1e-4)
    # Random weights score above 0.05: masks were pasted, not skipped.
    self.assertGreater(float(diff.group(2)), 0)
    match = re.fullmatch(r'RESULT ours_fps=([0-9.]+) tfmodels_fps=([0-9.]+) '
                         r'ratio=([0-9.]+)', lines[-1])
    self.assertIsNotNone(match, lines[-1])
    ours, theirs, ratio = (float(g) for g in match.groups())
    self.assertGreater(ours, 0)
    self.assertGreater(theirs, 0)
    self.assertAlmostEqual(ratio, ours / theirs, delta=0.01)


if __name__ == '__main__':
  absltest.main()
