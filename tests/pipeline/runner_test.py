"""Tests for the pipeline spine: records, skipping, resuming, reruns."""

import json
import os
import subprocess
import sys

from absl.testing import absltest

from wsvis_tf.core import atomic_io
from wsvis_tf.pipeline import runner
from wsvis_tf.pipeline import stage as stage_lib


class Counter:

  def __init__(self):
    self.calls = {}

  def bump(self, name):
    self.calls[name] = self.calls.get(name, 0) + 1


def make_stages(counter, first_config, fail_second=False):
  """'gen' writes numbers.json from its config; 'total' sums it."""

  def gen(ctx):
    counter.bump('gen')
    atomic_io.write_json(ctx.path('numbers.json'), ctx.config['numbers'])
    return {'count': len(ctx.config['numbers'])}

  def total(ctx):
    counter.bump('total')
    partial = ctx.path('partial.txt')
    if os.path.exists(partial):
      counter.bump('resumed')
    atomic_io.write_text(partial, 'half done')
    if fail_second:
      raise RuntimeError('simulated crash')
    with open(ctx.input('gen').path('numbers.json')) as f:
      numbers = json.load(f)
    atomic_io.write_json(ctx.path('total.json'), sum(numbers))
    return {'total': sum(numbers)}

  return [
      stage_lib.Stage('gen', gen, config=first_config,
                      outputs=('numbers.json',)),
      stage_lib.Stage('total', total, config={}, inputs=('gen',),
                      outputs=('total.json',)),
  ]


class RunnerTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    self.work = self.create_tempdir().full_path

  def test_records_and_skip_on_rerun(self):
    c = Counter()
    records = runner.run_stages(
        make_stages(c, {'numbers': [1, 2, 3]}), self.work)
    self.assertEqual(records['total'].metrics, {'total': 6})
    with open(os.path.join(self.work, 'total', 'stage.json')) as f:
      record = json.load(f)
    self.assertEqual(record['config'], {})
    self.assertIn('gen', record['inputs'])
    self.assertIn('total.json', record['outputs'])
    self.assertGreaterEqual(record['wall_time_s'], 0)
    self.assertFalse(os.path.exists(os.path.join(self.work, 'total',
                                                 stage_lib.RUNNING_FILE)))
    runner.run_stages(make_stages(c, {'numbers': [1, 2, 3]}), self.work)
    self.assertEqual(c.calls, {'gen': 1, 'total': 1})

  def test_changed_config_reruns_only_what_depends_on_it(self):
    c = Counter()
    runner.run_stages(make_stages(c, {'numbers': [1, 2]}), self.work)
    # A config change whose output is identical: downstream stays skipped.
    cfg = {'numbers': [1, 2], 'comment': 'same numbers'}
    runner.run_stages(make_stages(c, cfg), self.work)
    self.assertEqual(c.calls, {'gen': 2, 'total': 1})
    # A change of the output: downstream reruns.
    records = runner.run_stages(make_stages(c, {'numbers': [5]}), self.work)
    self.assertEqual(c.calls, {'gen': 3, 'total': 2})
    self.assertEqual(records['total'].metrics['total'], 5)
    # The replaced version is kept once under .previous/.
    with open(os.path.join(self.work, runner.PREVIOUS_DIR, 'total',
                           'total.json')) as f:
      self.assertEqual(json.load(f), 3)

  def test_crash_then_resume(self):
    c = Counter()
    with self.assertRaisesRegex(RuntimeError, 'simulated crash'):
      runner.run_stages(make_stages(c, {'numbers': [4]}, fail_second=True),
                        self.work)
    self.assertFalse(os.path.exists(os.path.join(self.work, 'total',
                                                 'stage.json')))
    records = runner.run_stages(make_stages(c, {'numbers': [4]}), self.work)
    self.assertEqual(c.calls, {'gen': 1, 'total': 2, 'resumed': 1})
    self.assertEqual(records['total'].metrics['total'], 4)

  def test_tampered_output_reruns(self):
    c = Counter()
    runner.run_stages(make_stages(c, {'numbers': [1]}), self.work)
    os.remove(os.path.join(self.work, 'gen', 'numbers.json'))
    runner.run_stages(make_stages(c, {'numbers': [1]}), self.work)
    self.assertEqual(c.calls['gen'], 2)
    # Same numbers again, so downstream is still up to date.
    self.assertEqual(c.calls['total'], 1)

  def test_force_and_until(self):
    c = Counter()
    runner.run_stages(make_stages(c, {'numbers': [1]}), self.work,
                      until='gen')
    self.assertEqual(c.calls, {'gen': 1})
    runner.run_stages(make_stages(c, {'numbers': [1]}), self.work,
                      force=['gen'])
    self.assertEqual(c.calls, {'gen': 2, 'total': 1})
    with self.assertRaisesRegex(ValueError, "unknown stage 'nope'"):
      runner.run_stages(make_stages(c, {'numbers': [1]}), self.work,
                        force=['nope'])

  def test_contract_errors(self):
    def lazy(ctx):
      del ctx

    with self.assertRaisesRegex(runner.StageError, r"\['out.txt'\]"):
      runner.run_stages([stage_lib.Stage('lazy', lazy, outputs=('out.txt',))],
                        self.work)
    with self.assertRaisesRegex(ValueError, "config of stage 'bad'"):
      runner.run_stages([stage_lib.Stage('bad', lazy, config={'x': object()})],
                        self.work)
    with self.assertRaisesRegex(ValueError, "reads 'ghost'"):
      runner.run_stages([stage_lib.Stage('a', lazy, inputs=('ghost',))],
                        self.work)


class MetricsTest(absltest.TestCase):

  def test_nan_metrics_are_recorded_as_null(self):
    work = self.create_tempdir().full_path

    def nan_stage(ctx):
      atomic_io.write_text(ctx.path('x.txt'), 'x')
      return {'score': float('nan'), 'ok': 1.5}

    records = runner.run_stages(
        [stage_lib.Stage('n', nan_stage, outputs=('x.txt',))], work)
    self.assertEqual(records['n'].metrics, {'score': None, 'ok': 1.5})
    with open(os.path.join(work, 'n', 'stage.json')) as f:
      text = f.read()
    self.assertNotIn('NaN', text)
    json.loads(text)


def _current_rss_mib() -> float:
  """This process's resident set now (Linux /proc), in MiB."""
  with open('/proc/self/status') as f:
    for line in f:
      if line.startswith('VmRSS:'):
        return int(line.split()[1]) / 1024
  raise AssertionError('no VmRSS in /proc/self/status')


class PeakMemoryTest(absltest.TestCase):

  @absltest.skipUnless(os.path.exists('/proc/self/status'), 'Linux only')
  def test_records_the_peak_a_stage_sets(self):
    work = self.create_tempdir().full_path
    held = {}
    mib = 256

    def big(ctx):
      # Written bytes (not calloc's untouched pages) are resident.
      held['before_rss'] = _current_rss_mib()
      held['before_peak'] = runner.peak_rss_mb()['process']
      block = b'\x01' * (mib << 20)
      atomic_io.write_text(ctx.path('x.txt'), str(block[-1]))
      del block

    def child(ctx):
      subprocess.run([sys.executable, '-c', f"b = b'\\x01' * ({mib} << 20)"],
                     check=True)
      atomic_io.write_text(ctx.path('y.txt'), 'y')

    records = runner.run_stages(
        [stage_lib.Stage('big', big, outputs=('x.txt',)),
         stage_lib.Stage('child', child, outputs=('y.txt',))], work)
    peak = records['big'].peak_rss_mb['process']
    # MiB, not KiB or bytes: at least the block over the resident set before
    # it, at most that plus slack (or the earlier high-water mark).
    self.assertGreaterEqual(peak, held['before_rss'] + mib - 8)
    self.assertLessEqual(peak, max(held['before_peak'],
                                   held['before_rss'] + mib + 64))
    self.assertGreaterEqual(records['child'].peak_rss_mb['children'], mib)
    self.assertGreaterEqual(records['child'].peak_rss_mb['process'], peak)
    with open(os.path.join(work, 'big', 'stage.json')) as f:
      self.assertEqual(json.load(f)['peak_rss_mb'],
                       records['big'].peak_rss_mb)
    # Reloaded (a skipped stage) it is the recorded one.
    self.assertEqual(stage_lib.StageRecord.load(
        os.path.join(work, 'big')).peak_rss_mb, records['big'].peak_rss_mb)
    self.assertEqual(records['big'].peak_text(), f'{peak:.0f}')


if __name__ == '__main__':
  absltest.main()
