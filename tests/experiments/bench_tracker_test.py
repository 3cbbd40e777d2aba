"""Smoke test of experiments/bench_tracker.py on the procedural `tiny` data."""

import re
import tempfile

from absl.testing import absltest

from tests.experiments import binaries


class BenchTrackerTest(absltest.TestCase):

  def test_prints_table_and_result_line(self):
    with tempfile.TemporaryDirectory() as tmp:
      proc = binaries.run('bench_tracker.py', f'--data_dir={tmp}',
                          '--builder_config=tiny', timeout=300)
    lines = proc.stdout.strip().splitlines()
    self.assertIn('wsvis_synthetic/tiny/1.0.0 validation: 2 videos, every 1',
                  proc.stdout)
    self.assertTrue(any(l.startswith('exact_flow') for l in lines))
    self.assertTrue(any(l.startswith('no_flow') for l in lines))
    match = re.fullmatch(r'RESULT ap50_exact_flow=([0-9.]+) '
                         r'ap50_no_flow=([0-9.]+) seconds_per_video=[0-9.]+',
                         lines[-1])
    self.assertIsNotNone(match, lines[-1])
    # Ground-truth masks on the 2 tiny validation videos: every track found.
    self.assertGreaterEqual(float(match.group(1)), 0.95)


if __name__ == '__main__':
  absltest.main()
