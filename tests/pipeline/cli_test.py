"""cli.run_stages: dataset errors are usage errors, nothing else is."""

import contextlib
import io

from absl import flags
from absl.testing import absltest
from absl.testing import flagsaver
import tensorflow as tf

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

  def test_beam_stages_reach_the_stages_not_the_fingerprint(self):
    _, local_fp = self.run_capturing()
    seen, fp = self.run_capturing(runner='DirectRunner',
                                  beam_stages=['pseudo_labels'])
    execution = seen[per_video.EXECUTION]
    self.assertEqual(execution.stages, ('pseudo_labels',))
    self.assertEqual(execution.for_stage('pseudo_labels').runner,
                     'DirectRunner')
    self.assertFalse(execution.for_stage('flow').uses_beam)
    self.assertEqual(fp, local_fp)

  def test_unknown_beam_stage_is_a_usage_error(self):
    stderr = io.StringIO()
    with self.assertRaises(SystemExit) as raised, \
        contextlib.redirect_stderr(stderr):
      self.run_capturing(runner='DirectRunner', beam_stages=['ir_label'])
    self.assertEqual(raised.exception.code, cli.EXIT_USAGE)
    self.assertIn("prog: error: --beam_stages: unknown stage 'ir_label'",
                  stderr.getvalue())

  def test_strategy_reaches_the_stages_not_the_fingerprint(self):
    default, default_fp = self.run_capturing()
    self.assertNotIn('strategy', default)
    mirrored, mirrored_fp = self.run_capturing(strategy='mirrored')
    self.assertIsInstance(mirrored['strategy'],
                          tf.distribute.MirroredStrategy)
    self.assertEqual(mirrored_fp, default_fp)
    with self.assertRaises(flags.IllegalFlagValueError):
      flags.FLAGS['strategy'].parse('multi_worker_mirrored')

  def test_beam_options_without_runner_are_a_usage_error(self):
    stderr = io.StringIO()
    with self.assertRaises(SystemExit) as raised, \
        contextlib.redirect_stderr(stderr):
      self.run_capturing(beam_options=['direct_num_workers=2'])
    self.assertEqual(raised.exception.code, cli.EXIT_USAGE)
    self.assertIn('need a Beam runner', stderr.getvalue())


class PresetOverridesTest(absltest.TestCase):

  def stages(self, overrides):
    with flagsaver.flagsaver(work_dir=self.create_tempdir().full_path,
                             dataset='synthetic', preset='smoke',
                             preset_overrides=overrides):
      _, stages = cli.source_and_stages('prog')
    return {s.name: s for s in stages}

  def usage_error(self, overrides):
    stderr = io.StringIO()
    with self.assertRaises(SystemExit) as raised, \
        contextlib.redirect_stderr(stderr):
      self.stages(overrides)
    self.assertEqual(raised.exception.code, cli.EXIT_USAGE)
    return [l for l in stderr.getvalue().splitlines()
            if l.startswith('prog: error:')]

  def test_overrides_reach_the_stage_configs(self):
    plain = self.stages(None)
    stages = self.stages(
        '{"cam_train": {"cam": {"class_bias": true}}, "pseudo_labels": '
        '{"irn": {"inference": {"walk_normalization": "per_class"}}}}')
    self.assertTrue(stages['cam_train'].config['cam']['class_bias'])
    self.assertNotIn('class_bias', plain['cam_train'].config['cam'])
    # The rest of the preset's settings stay (deep merge).
    self.assertEqual(stages['cam_train'].config['cam']['backbone'],
                     plain['cam_train'].config['cam']['backbone'])
    self.assertEqual(stages['pseudo_labels'].config['irn']['inference'][
        'walk_normalization'], 'per_class')

  def test_bad_overrides_are_usage_errors(self):
    self.assertIn('--preset_overrides is not JSON',
                  self.usage_error('{"cam_train": ')[0])
    self.assertIn("no stage 'cam_trian'",
                  self.usage_error('{"cam_trian": {}}')[0])
    self.assertIn('must be a JSON object', self.usage_error('[1]')[0])
    # A setting the stage's config does not know.
    self.assertIn('clas_bias', self.usage_error(
        '{"cam_train": {"cam": {"clas_bias": true}}}')[0])


if __name__ == '__main__':
  absltest.main()
