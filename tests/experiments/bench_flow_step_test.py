"""experiments/bench_flow_step.py on the smoke network and tiny frames."""

import re

from absl.testing import absltest

from tests.experiments import binaries

_ROW = re.compile(r'(photometric|census_occlusion)\s+(shifts|extract_patches)'
                  r'\s+(on|off)\s+([0-9.]+)\s+([0-9.]+)\s+([0-9.]+)')


class BenchFlowStepTest(absltest.TestCase):

  def test_times_every_variant_from_the_same_start(self):
    proc = binaries.run('bench_flow_step.py', '--preset=smoke',
                        '--image_size=32,48', '--steps=1', '--warmup=0',
                        timeout=900)
    lines = proc.stdout.strip().splitlines()
    rows = [_ROW.fullmatch(l.strip()) for l in lines]
    rows = [r.groups() for r in rows if r]
    # smoke has a photometric and a census stage (distillation not timed):
    # 2 stages x 2 cost volumes x XLA on / off.
    self.assertLen(rows, 8, proc.stdout)
    self.assertLen({r[:3] for r in rows}, 8)
    # The same weights and frames: each stage's first loss is the same for
    # every variant (the cost volumes agree; XLA only rounds differently).
    for stage in ('photometric', 'census_occlusion'):
      losses = [float(r[5]) for r in rows if r[0] == stage]
      self.assertLess(max(losses) - min(losses), 1e-3 * max(losses), stage)
    match = re.fullmatch(
        r'RESULT photometric_ms=([0-9.]+) photometric_patches_ms=([0-9.]+) '
        r'photometric_speedup=([0-9.]+) census_occlusion_ms=([0-9.]+) '
        r'census_occlusion_patches_ms=([0-9.]+) '
        r'census_occlusion_speedup=([0-9.]+) train_min=([0-9.]+) '
        r'train_patches_min=([0-9.]+)', lines[-1])
    self.assertIsNotNone(match, lines[-1])
    ms = {(r[0], r[1], r[2]): float(r[3]) for r in rows}
    self.assertAlmostEqual(float(match.group(1)),
                           ms[('photometric', 'shifts', 'on')], delta=0.051)
    self.assertAlmostEqual(
        float(match.group(6)),
        ms[('census_occlusion', 'extract_patches', 'on')] /
        ms[('census_occlusion', 'shifts', 'on')], delta=0.02)

  def test_bad_image_size_is_a_clear_error(self):
    proc = binaries.run('bench_flow_step.py', '--image_size=32',
                        check=False, timeout=300)
    self.assertNotEqual(proc.returncode, 0)
    self.assertIn('--image_size must be height,width, got 32', proc.stderr)


if __name__ == '__main__':
  absltest.main()
