"""per_video.run_videos: a Beam run killed midway resumes where it stopped.

A task writes one file per frame (atomically), like the real stages; a
worker raises on one video after writing half of its frames. The rerun
(Beam with two worker processes, or in-process) must process exactly the
videos without a summary, the failed one included, leave the summaries of
the finished ones untouched, and give the summaries of an uninterrupted run.
"""

import json
import os
import tempfile

from absl.testing import absltest
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from datasets.synthetic import synthetic
from wsvis_tf.core import atomic_io
from wsvis_tf.core import keys
from wsvis_tf.data import sources
from wsvis_tf.pipeline import per_video

_BEAM = per_video.Execution('DirectRunner', (
    '--direct_num_workers=2', '--direct_running_mode=multi_processing'))


class FrameSumTask(per_video.VideoTask):
  """Writes each frame's pixel sum to a file; logs every process call."""

  def __init__(self, out_dir, calls_dir, fail_on=None):
    self.out_dir = out_dir
    self.calls_dir = calls_dir
    self.fail_on = fail_on

  def setup(self):
    # One call per worker process (its pid), as a model load would be.
    return os.getpid()

  def process(self, state, video):
    video_id = keys.as_text(video[keys.VIDEO_ID])
    atomic_io.write_text(os.path.join(self.calls_dir,
                                      f'{video_id}.{os.getpid()}.'
                                      f'{len(os.listdir(self.calls_dir))}'),
                         str(state))
    frames = video[keys.FRAMES]
    sums = []
    for t in range(len(frames)):
      if video_id == self.fail_on and t == len(frames) // 2:
        raise RuntimeError(f'worker killed on {video_id}')
      sums.append(int(frames[t].astype(np.int64).sum()))
      atomic_io.write_text(os.path.join(self.out_dir, video_id, f'{t}.txt'),
                           str(sums[-1]))
    return {'sums': sums}


def _read(path):
  with open(path) as f:
    return f.read()


def _strip(summaries):
  """The summaries without THIS_RUN, and the THIS_RUN flags."""
  return ([{k: v for k, v in s.items() if k != per_video.THIS_RUN}
           for s in summaries], [s[per_video.THIS_RUN] for s in summaries])


def _calls(calls_dir):
  return sorted(name.split('.')[0] for name in os.listdir(calls_dir))


class BeamResumeTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.root = tempfile.mkdtemp(dir=absltest.get_default_test_tmpdir())
    synthetic.prepare('tiny', os.path.join(cls.root, 'tfds'))
    cls.source = sources.get_source('synthetic',
                                    os.path.join(cls.root, 'tfds'), 'tiny')
    cls.ids = per_video.video_ids(cls.source, 'train')

  def _dirs(self):
    d = self.create_tempdir().full_path
    out, calls = os.path.join(d, 'out'), os.path.join(d, 'calls')
    os.makedirs(calls)
    return d, out, calls

  def test_in_process_and_beam_give_the_same_summaries(self):
    d1, out1, calls1 = self._dirs()
    local = per_video.run_videos(FrameSumTask(out1, calls1), self.source,
                                 'train', d1)
    d2, out2, calls2 = self._dirs()
    beam = per_video.run_videos(FrameSumTask(out2, calls2), self.source,
                                'train', d2, _BEAM)
    self.assertLen(local, len(self.ids))
    self.assertEqual(local, beam)
    self.assertEqual(_strip(beam)[1], [True] * len(self.ids))
    # Reference: the frame sums straight from the dataset.
    videos = {keys.as_text(v[keys.VIDEO_ID]): v for v in
              tfds.as_numpy(self.source.videos('train'))}
    for video_id, summary in zip(self.ids, beam):
      self.assertEqual(summary['sums'],
                       [int(f.astype(np.int64).sum())
                        for f in videos[video_id][keys.FRAMES]])
    self.assertEqual(_calls(calls2), sorted(self.ids))
    # Both worker processes took videos (the work is spread).
    self.assertLen({name.split('.')[1] for name in os.listdir(calls2)}, 2)
    # A rerun finds every video done and calls nothing.
    before = _calls(calls2)
    again = per_video.run_videos(FrameSumTask(out2, calls2), self.source,
                                 'train', d2, _BEAM)
    self.assertEqual(_strip(again), (_strip(beam)[0],
                                      [False] * len(self.ids)))
    self.assertEqual(_calls(calls2), before)

  def test_killed_beam_run_resumes(self):
    self._check_resume(_BEAM)

  def test_killed_in_process_run_resumes_on_beam(self):
    done = self._check_resume(None)
    # The loop stopped at the third video: the first two were done.
    self.assertCountEqual(done, self.ids[:2])

  def _check_resume(self, kill_execution):
    d, out, calls = self._dirs()
    victim = self.ids[2]
    with self.assertRaisesRegex(Exception, f'worker killed on {victim}'):
      per_video.run_videos(FrameSumTask(out, calls, fail_on=victim),
                           self.source, 'train', d, kill_execution)
    done = {v: per_video.record_path(d, 'train', v) for v in self.ids
            if per_video.read_record(per_video.record_path(d, 'train', v))
            is not None}
    self.assertNotIn(victim, done)
    # The victim's first frames were written, its summary was not.
    self.assertTrue(os.path.exists(os.path.join(out, victim, '0.txt')))
    mtimes = {v: os.stat(p).st_mtime_ns for v, p in done.items()}
    contents = {v: _read(p) for v, p in done.items()}
    first_calls = len(os.listdir(calls))
    for execution in (_BEAM, None):
      with self.subTest(runner=execution and execution.runner):
        summaries = per_video.run_videos(FrameSumTask(out, calls),
                                         self.source, 'train', d, execution)
        self.assertLen(summaries, len(self.ids))
        # Only the unfinished videos are this run's (none the second time).
        self.assertEqual(_strip(summaries)[1], [
            execution is _BEAM and v not in done for v in self.ids])
        for v, p in done.items():
          self.assertEqual(os.stat(p).st_mtime_ns, mtimes[v])
          self.assertEqual(_read(p), contents[v])
    # Exactly the unfinished videos were processed again, once each.
    redone = sorted(os.listdir(calls))
    redone_ids = [n.split('.')[0] for n in redone]
    self.assertLen(redone_ids, first_calls + len(self.ids) - len(done))
    after_failure = [v for v in self.ids if v not in done]
    for v in after_failure:
      self.assertIn(v, redone_ids)
    # Same summaries as an uninterrupted run.
    d2, out2, calls2 = self._dirs()
    clean = per_video.run_videos(FrameSumTask(out2, calls2), self.source,
                                 'train', d2)
    self.assertEqual(_strip(summaries)[0], _strip(clean)[0])
    with open(per_video.record_path(d, 'train', victim)) as f:
      self.assertEqual(json.load(f)['video_id'], victim)
    return done

  def test_parse_execution(self):
    self.assertFalse(per_video.parse_execution('', []).uses_beam)
    self.assertFalse(per_video.parse_execution('in_process').uses_beam)
    e = per_video.parse_execution(
        'DirectRunner', ['direct_num_workers=2', '--direct_running_mode='
                         'multi_processing'])
    self.assertEqual(e.beam_options, ('--direct_num_workers=2',
                                      '--direct_running_mode=multi_processing'))
    self.assertEqual(e.pipeline_options().get_all_options()[
        'direct_num_workers'], 2)
    with self.assertRaisesRegex(ValueError, 'need a Beam runner'):
      per_video.parse_execution('in_process', ['direct_num_workers=2'])
    with self.assertRaisesRegex(ValueError, 'not in --beam_options'):
      per_video.parse_execution('DirectRunner', ['runner=Other'])
    with self.assertRaisesRegex(ValueError, 'invalid video id'):
      per_video.record_path('/d', 'train', '../x')

  def test_beam_stages_choose_the_runner_per_stage(self):
    everything = per_video.parse_execution('DirectRunner',
                                           ['direct_num_workers=2'])
    some = per_video.parse_execution('DirectRunner', ['direct_num_workers=2'],
                                     ['ir_labels', ' pseudo_labels'])
    self.assertEqual(some.stages, ('ir_labels', 'pseudo_labels'))
    for kind in per_video.STAGE_KINDS:
      resources = {per_video.EXECUTION: everything}
      self.assertIs(per_video.execution_of(resources, kind), everything)
      got = per_video.execution_of({per_video.EXECUTION: some}, kind)
      if kind in ('ir_labels', 'pseudo_labels'):
        self.assertIs(got, some)
        self.assertEqual(got.runner, 'DirectRunner')
      else:
        self.assertFalse(got.uses_beam, kind)
        self.assertEqual(got.beam_options, ())
      self.assertFalse(per_video.execution_of({}, kind).uses_beam)
    with self.assertRaisesRegex(ValueError, "unknown stage 'pseudo'.*"
                                'flow'):
      per_video.parse_execution('DirectRunner', [], ['cam', 'pseudo'])
    with self.assertRaisesRegex(ValueError, 'need a Beam runner'):
      per_video.parse_execution('in_process', [], ['cam'])
    with self.assertRaisesRegex(ValueError, 'unknown per-video stage kind'):
      per_video.execution_of({}, 'mask')


if __name__ == '__main__':
  tf.test.main()
