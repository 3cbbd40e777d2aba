"""cli.run_stages: dataset errors are usage errors, nothing else is."""

import contextlib
import io

from absl.testing import absltest
from absl.testing import flagsaver

from datasets.real_video import frame_io
from datasets.real_video import manual_dir
from wsvis_tf.pipeline import cli
from wsvis_tf.pipeline import per_video
from wsvis_tf.pipeline import stage as stage_lib

cli.define_flags()


def _failing_stage(error: Exception) -> stage_lib.Stage:
  def run(ctx):
    del ctx
    raise error
  return stage_lib.Stage(name='data', run=run, outputs=('x',))


class RunStagesTest(absltest.TestCase):

  def run_failing(self, error, stderr=None):
    with flagsaver.flagsaver(work_dir=self.create_tempdir().full_path), \
        contextlib.redirect_stderr(stderr or io.StringIO()):
      cli.run_stages('prog', [_failing_stage(error)], {})

  def test_dataset_errors_exit_with_one_line(self):
    for error in (manual_dir.InputError('/d/train.json: no "videos" list'),
                  frame_io.BadFrameError('/d/a.jpg does not decode')):
      stderr = io.StringIO()
      with self.assertRaises(SystemExit) as raised:
        self.run_failing(error, stderr)
      self.assertEqual(raised.exception.code, cli.EXIT_USAGE)
      # Besides absl's log lines (also on stderr here), one line: the error.
      self.assertEqual([l for l in stderr.getvalue().splitlines()
                        if not l.startswith(('I', 'W'))],
                       [f'prog: error: {error}'])

  def test_other_errors_keep_their_traceback(self):
    # A ValueError of the project's own code (not a dataset error) or any
    # other exception is a bug or a failed run: it propagates.
    for error in (ValueError('shapes do not match'),
                  RuntimeError('out of memory'), KeyError('frames')):
      with self.assertRaises(type(error)):
        self.run_failing(error)


class ExecutionFlagsTest(absltest.TestCase):

  def run_capturing(self, **flag_values):
    seen = {}

    def run(ctx):
      seen.update(ctx.resources)
      with open(ctx.path('x'), 'w') as f:
        f.write('x')

    stage = stage_lib.Stage(name='data', run=run, outputs=('x',))
    with flagsaver.flagsaver(work_dir=self.create_tempdir().full_path,
                             **flag_values):
      records = cli.run_stages('prog', [stage], {'source': 's'})
    return seen, records['data'].fingerprint

  def test_runner_reaches_the_stages_not_the_fingerprint(self):
    local, local_fp = self.run_capturing()
    self.assertFalse(local[per_video.EXECUTION].uses_beam)
    beam, beam_fp = self.run_capturing(
        runner='DirectRunner',
        beam_options=['direct_num_workers=2',
                      'direct_running_mode=multi_processing'])
    self.assertEqual(beam[per_video.EXECUTION], per_video.Execution(
        'DirectRunner', ('--direct_num_workers=2',
                         '--direct_running_mode=multi_processing')))
    self.assertEqual(beam['source'], 's')
    self.assertEqual(beam_fp, local_fp)

  def test_beam_options_without_runner_are_a_usage_error(self):
    stderr = io.StringIO()
    with self.assertRaises(SystemExit) as raised, \
        contextlib.redirect_stderr(stderr):
      self.run_capturing(beam_options=['direct_num_workers=2'])
    self.assertEqual(raised.exception.code, cli.EXIT_USAGE)
    self.assertIn('need a Beam runner', stderr.getvalue())


if __name__ == '__main__':
  absltest.main()
