"""A per-video stage on Beam must give the in-process artifacts.

BeamStageTestCase runs the smoke preset's stages up to LAST in-process on
the tiny procedural dataset, copies the work directory, drops BEAM_STAGES
from the copy and reruns them with the DirectRunner on two worker processes
(multi_processing), reusing the copied upstream stages. Each Beam stage's
declared outputs must be bitwise identical (same file tree, same SHA-256 of
every file: the per-video work is the same function on the same inputs, and
TensorFlow on one CPU machine computes the same in every process), its
fingerprint the same (the runner is an execution option, not a config),
its metrics the same but for timings, and a rerun must skip every stage. A
Beam run of the last stage killed midway (the state it leaves is made by
hand) must resume without redoing its finished videos and still give the
in-process artifacts.
"""

import os
import shutil
import tempfile
from typing import Any, Dict, Sequence

from absl.testing import absltest
import tensorflow as tf

from datasets.synthetic import synthetic
from wsvis_tf.core import atomic_io
from wsvis_tf.data import sources
from wsvis_tf.irn import dense_crf
from wsvis_tf.pipeline import graph
from wsvis_tf.pipeline import per_video
from wsvis_tf.pipeline import presets
from wsvis_tf.pipeline import runner
from wsvis_tf.pipeline import stage as stage_lib

BEAM = per_video.Execution('DirectRunner', (
    '--direct_num_workers=2', '--direct_running_mode=multi_processing'))
# Metrics that are wall-clock times, not results.
TIMINGS = ('seconds_per_frame', 'wall_s')


def file_digests(path: str) -> Dict[str, str]:
  """{relative path: sha256} of every file under path (a dir or a file)."""
  if os.path.isfile(path):
    return {'': stage_lib.sha256_file(path)}
  out = {}
  for root, _, files in os.walk(path):
    for name in files:
      full = os.path.join(root, name)
      out[os.path.relpath(full, path)] = stage_lib.sha256_file(full)
  return out


class BeamStageTestCase(tf.test.TestCase):
  """Subclasses set LAST, BEAM_STAGES and optionally WITH_DDFLOW."""
  LAST: str = ''
  BEAM_STAGES: Sequence[str] = ()
  # False: no DDFlow stages; f-CAMs and f-Bound read the exact flow.
  WITH_DDFLOW = True

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    root = tempfile.mkdtemp(dir=absltest.get_default_test_tmpdir())
    tfds_dir = os.path.join(root, 'tfds')
    synthetic.prepare('tiny', tfds_dir)
    cls.source = sources.get_source('synthetic', tfds_dir, 'tiny')
    preset: Dict[str, Any] = presets.get_preset('smoke', 'synthetic')
    preset['ir_labels']['crf'] = dense_crf.crf_available()
    if not cls.WITH_DDFLOW:
      del preset['flow_train']
    stages = graph.preset_stages(preset, cls.source)
    names = [s.name for s in stages]
    cls.stages = stages[:names.index(cls.LAST) + 1]
    local_dir = os.path.join(root, 'local')
    cls.local = runner.run_stages(cls.stages, local_dir,
                                  resources={'source': cls.source})
    cls.beam_dir = os.path.join(root, 'beam')
    shutil.copytree(local_dir, cls.beam_dir)
    for name in cls.BEAM_STAGES:
      shutil.rmtree(os.path.join(cls.beam_dir, name))
    cls.resources = {'source': cls.source, per_video.EXECUTION: BEAM}
    cls.beam = runner.run_stages(cls.stages, cls.beam_dir,
                                 resources=cls.resources)

  def test_only_the_beam_stages_ran(self):
    for name, record in self.beam.items():
      self.assertEqual(record.status,
                       'ran' if name in self.BEAM_STAGES else 'skipped', name)

  def test_same_artifacts_and_fingerprints(self):
    for name in self.BEAM_STAGES:
      local, beam = self.local[name], self.beam[name]
      with self.subTest(stage=name):
        self.assertEqual(beam.fingerprint, local.fingerprint)
        self.assertEqual(beam.outputs, local.outputs)
        for out in local.outputs:
          digests = file_digests(local.path(out))
          self.assertNotEmpty(digests)
          self.assertEqual(file_digests(beam.path(out)), digests)

  def test_same_metrics(self):
    # Aggregated from the per-video summaries the same way on both paths.
    for name in self.BEAM_STAGES:
      local = {k: v for k, v in self.local[name].metrics.items()
               if k not in TIMINGS}
      beam = {k: v for k, v in self.beam[name].metrics.items()
              if k not in TIMINGS}
      self.assertEqual(beam, local, name)

  def test_every_video_has_a_summary(self):
    n = self.source.num_videos('train')
    for name in self.BEAM_STAGES:
      records = os.path.join(self.beam_dir, name, per_video.RECORDS_DIR,
                             'train')
      self.assertLen(os.listdir(records), n, name)

  def test_killed_stage_resumes(self):
    # The state a kill leaves: the runner's .running.json with the
    # fingerprint, no stage.json, some videos finished (summary written),
    # others not (no summary, none or some of their files, a temporary
    # file of an atomic write in flight).
    name = self.BEAM_STAGES[-1]
    work = os.path.join(self.create_tempdir().full_path, 'work')
    shutil.copytree(self.beam_dir, work)
    stage_dir = os.path.join(work, name)
    record = stage_lib.StageRecord.load(stage_dir)
    os.remove(os.path.join(stage_dir, stage_lib.RECORD_FILE))
    atomic_io.write_json(os.path.join(stage_dir, stage_lib.RUNNING_FILE),
                         {'fingerprint': record.fingerprint,
                          'config': record.config})
    summaries = os.path.join(stage_dir, per_video.RECORDS_DIR, 'train')
    names = sorted(os.listdir(summaries))
    unfinished = [n[:-len('.json')] for n in names[:2]]
    for video_id in unfinished:
      os.remove(os.path.join(summaries, video_id + '.json'))
    for sub in os.listdir(stage_dir):
      video_dir = os.path.join(stage_dir, sub, unfinished[0])
      if sub != per_video.RECORDS_DIR and os.path.isdir(video_dir):
        shutil.rmtree(video_dir)  # killed before any of its files
        os.makedirs(video_dir)
        with open(os.path.join(video_dir, '.half.npz.x.tmp'), 'wb') as f:
          f.write(b'half')
    finished = {n: os.stat(os.path.join(summaries, n)).st_mtime_ns
                for n in names[2:]}
    self.assertNotEmpty(finished)
    again = runner.run_stages(self.stages, work, resources=self.resources)
    self.assertEqual(again[name].status, 'ran')
    self.assertEqual(again[name].outputs, self.local[name].outputs)
    for n, mtime in finished.items():
      self.assertEqual(os.stat(os.path.join(summaries, n)).st_mtime_ns,
                       mtime, f'{n} was redone')
    self.assertCountEqual(os.listdir(summaries), names)

  def test_rerun_skips_everything(self):
    again = runner.run_stages(self.stages, self.beam_dir,
                              resources=self.resources)
    self.assertEqual({r.status for r in again.values()}, {'skipped'})
