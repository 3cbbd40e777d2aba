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
    self.assertTrue(any(l.startswith('ours, tf NMS ') for l in lines),
                    proc.stdout)
    # tf-models' own export builds our backbone (registered in its
    # factory): both rows, and the same scores from the one checkpoint.
    self.assertTrue(any(l.startswith('tfmodels ') for l in lines),
                    proc.stdout)
    # (With tf-models' NMS, ours restored the same weights.)
    diff = re.search(r'max \|score ours, tf NMS - score tf-models\| on kept '
                     r'detections: ([0-9.e+-]+)', proc.stdout)
    self.assertIsNotNone(diff, proc.stdout)
    self.assertLess(float(diff.group(1)), 1e-4)
    kept = re.search(r'kept \(and pasted\) per image: ([0-9.]+); the same '
                     r'detections with either NMS on [0-2] of 2 images',
                     proc.stdout)
    self.assertIsNotNone(kept, proc.stdout)
    # Random weights score above 0.05: masks were pasted, not skipped.
    self.assertGreater(float(kept.group(1)), 0)
    match = re.fullmatch(r'RESULT ours_fps=([0-9.]+) tfmodels_fps=([0-9.]+) '
                         r'ratio=([0-9.]+) ours_tf_nms_fps=([0-9.]+) '
                         r'ratio_tf_nms=([0-9.]+)', lines[-1])
    self.assertIsNotNone(match, lines[-1])
    ours, theirs, ratio, tf_nms, ratio_tf_nms = (
        float(g) for g in match.groups())
    self.assertGreater(ours, 0)
    self.assertGreater(theirs, 0)
    self.assertAlmostEqual(ratio, ours / theirs, delta=0.01)
    self.assertAlmostEqual(ratio_tf_nms, tf_nms / theirs, delta=0.01)


if __name__ == '__main__':
  absltest.main()
