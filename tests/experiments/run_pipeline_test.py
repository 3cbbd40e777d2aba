"""End to end: experiments/run_pipeline.py on the procedural default (smoke).

Runs the binary as a user would (a subprocess), then checks the stage records
and outputs, that a second run skips every stage, and that a changed stage
config reruns only that stage.
"""

import json
import os
import tempfile

from absl.testing import absltest

from datasets.real_video import test_fixtures
from tests.experiments import binaries


def run_pipeline(*args):
  return binaries.run('run_pipeline.py', *args).stdout


def status_lines(stdout):
  out = {}
  for line in stdout.splitlines():
    parts = line.split()
    if len(parts) >= 3 and parts[1] in ('ran', 'skipped'):
      out[parts[0]] = parts[1]
  return out


class RunPipelineTest(absltest.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    # One full smoke pipeline with the default seed (0), run once for both
    # tests: the first checks its records and outputs and resumes it, the
    # second compares its first half with another run of the same seed.
    # Neither changes its first-half stages (a forced contact_sheet only).
    cls.work = tempfile.mkdtemp(prefix='seed0_',
                                dir=absltest.get_default_test_tmpdir())
    cls.stdout = run_pipeline('--dataset=synthetic', f'--work_dir={cls.work}',
                              '--preset=smoke')

  def test_smoke_pipeline_runs_records_and_resumes(self):
    work, stdout = self.work, self.stdout
    statuses = status_lines(stdout)
    self.assertIn('data', statuses)
    self.assertTrue(all(s == 'ran' for s in statuses.values()), statuses)
    sheet = os.path.join(work, 'contact_sheet', 'contact_sheet.png')
    self.assertIn(f'Contact sheet: {sheet}', stdout)
    self.assertGreater(os.path.getsize(sheet), 1000)

    with open(os.path.join(work, 'data', 'dataset.json')) as f:
      summary = json.load(f)
    self.assertEqual(summary['splits']['train']['videos'], 4)
    self.assertEqual(summary['splits']['validation']['videos'], 2)
    with open(os.path.join(work, 'data', 'ground_truth',
                           'train_frames.json')) as f:
      coco = json.load(f)
    self.assertEqual(len(coco['images']),
                     summary['splits']['train']['annotated_frames'])
    self.assertNotEmpty(coco['annotations'])
    # The second step (smoke: 4 steps each): both segmenters trained, their
    # predictions on every training frame and held-out frame, scored.
    for stage in ('maskrcnn_train', 'maskconsist_train', 'predict_maskrcnn',
                  'predict'):
      self.assertEqual(statuses.get(stage), 'ran', stage)
    for stage in ('predict_maskrcnn', 'predict'):
      with open(os.path.join(work, stage, 'stage.json')) as f:
        metrics = json.load(f)['metrics']
      self.assertEqual(metrics['train_frames'],
                       summary['splits']['train']['annotated_frames'])
      self.assertEqual(metrics['validation_frames'],
                       summary['splits']['validation']['frames'])
      self.assertIn('validation_AP50', metrics)
      with open(os.path.join(work, stage,
                             'validation_predictions.json')) as f:
        predictions = json.load(f)
      self.assertLen(predictions['images'], metrics['validation_frames'])
      self.assertLen(predictions['annotations'],
                     metrics['validation_detections'])
    self.assertIn(f'MaskConsist: {os.path.join(work, "predict", "")}',
                  stdout)
    # After the segmenters: tracks, the paper's metrics, the report.
    for stage in ('track_maskrcnn', 'track', 'evaluate', 'report'):
      self.assertEqual(statuses.get(stage), 'ran', stage)
    with open(os.path.join(work, 'data', 'ground_truth',
                           'validation_videos.json')) as f:
      gt_videos = {v['id']: v['length'] for v in json.load(f)['videos']}
    for stage in ('track_maskrcnn', 'track'):
      with open(os.path.join(work, stage, 'validation_tracks.json')) as f:
        tracks = json.load(f)
      for entry in tracks:
        self.assertLen(entry['segmentations'], gt_videos[entry['video_id']])
    with open(os.path.join(work, 'evaluate', 'metrics.json')) as f:
      evaluation = json.load(f)
    for model in ('maskrcnn', 'maskconsist'):
      held_out = evaluation['models'][model]['splits']['validation']
      self.assertBetween(held_out['video']['mAP'], 0.0, 1.0)
      self.assertIn('AP50', held_out['frame'])
    self.assertRegex(stdout, r'MaskConsist \+ tracking: validation video '
                     r'mAP \d\.\d{4} AP50 \d\.\d{4}')
    report = os.path.join(work, 'report', 'report.md')
    # The binary ends by saying where the report is.
    self.assertEqual(stdout.strip().splitlines()[-1], f'Report: {report}')
    with open(report) as f:
      text = f.read()
    for heading in ('Table 4 analogue', 'Table 6 analogue',
                    'Table 3 analogue', 'Stage wall times'):
      self.assertIn(heading, text)
    images = [line[line.index('](') + 2:-1] for line in text.splitlines()
              if line.startswith('![')]
    self.assertTrue(any(i.endswith('.gif') for i in images), images)
    for image in images:
      self.assertTrue(os.path.exists(os.path.join(work, 'report', image)),
                      image)
    for name in statuses:
      with open(os.path.join(work, name, 'stage.json')) as f:
        record = json.load(f)
      self.assertEqual(record['name'], name)
      self.assertIn('wall_time_s', record)

    # Second run: everything is up to date.
    statuses = status_lines(run_pipeline(
        '--dataset=synthetic', f'--work_dir={work}', '--preset=smoke'))
    self.assertTrue(all(s == 'skipped' for s in statuses.values()), statuses)

    # A forced stage reruns; the stages before it do not.
    statuses = status_lines(run_pipeline(
        '--dataset=synthetic', f'--work_dir={work}', '--preset=smoke',
        '--force=contact_sheet'))
    self.assertEqual(statuses['contact_sheet'], 'ran')
    self.assertEqual(statuses['data'], 'skipped')

    # experiments/predict.py: this run's MaskConsist (and DDFlow) on a
    # folder of a user's own videos, whose labels name the model's classes.
    with open(os.path.join(work, 'maskconsist_train', 'model.json')) as f:
      classes = json.load(f)['class_names']
    videos = self.create_tempdir('videos').full_path
    test_fixtures.write_video_folder(videos, {
        f'clip{i}': (test_fixtures.moving_boxes(
            f'clip{i}', [0], num_frames=6, height=64, width=80,
            seed=i)['frames'], [classes[i]]) for i in range(2)},
                                     class_list=classes)
    out = self.create_tempdir('predict').full_path
    stdout = binaries.run(
        'predict.py', f'--model_dir={work}', '--dataset=video_folder',
        f'--data_dir={videos}', f'--work_dir={out}', '--preset=smoke').stdout
    predictions = os.path.join(out, 'predict', 'train_predictions.json')
    self.assertIn(f'train frame predictions: {predictions}', stdout)
    with open(predictions) as f:
      coco = json.load(f)
    self.assertLen(coco['images'], 12)  # every frame of the 2 videos
    for image in coco['images']:
      # A video folder names a video by its path: videos/clip0.mp4.
      self.assertRegex(image['file_name'],
                       r'^videos__clip[01]/[^/]+\.jpg$')
    tracks = os.path.join(out, 'track', 'train_tracks.json')
    self.assertIn(f'train video tracks: {tracks}', stdout)
    with open(os.path.join(out, 'data', 'ground_truth',
                           'train_videos.json')) as f:
      video_ids = {v['id'] for v in json.load(f)['videos']}
    with open(tracks) as f:
      for entry in json.load(f):
        self.assertIn(entry['video_id'], video_ids)
    # Labels naming other classes than the model's: a usage error.
    other = self.create_tempdir('other').full_path
    test_fixtures.write_video_folder(other, {'clip': (
        test_fixtures.moving_boxes('clip', [0], num_frames=6)['frames'],
        ['cat'])})
    proc = binaries.run(
        'predict.py', f'--model_dir={work}', '--dataset=video_folder',
        f'--data_dir={other}', f'--work_dir={out}_other', '--preset=smoke',
        check=False)
    self.assertEqual(proc.returncode, 2, proc.stderr[-2000:])
    self.assertIn("dataset 'video_folder' has ['cat']", proc.stderr)

  def test_same_seed_same_outputs(self):
    # Two runs of the first half with the same seed, in two work dirs (the
    # shared full run and a run until pseudo_labels): every stage writes
    # the same outputs (stage.json's output digest covers every file of a
    # stage's outputs: flows, CAMs, IR labels, checkpoints, pseudo-labels;
    # TensorBoard logs are not outputs), and a third run with another seed
    # does not.
    runs = {'a': self.work}
    for name, seed in (('b', 0), ('c', 1)):
      work = self.create_tempdir(name).full_path
      run_pipeline('--dataset=synthetic', f'--work_dir={work}',
                   '--preset=smoke', f'--seed={seed}',
                   '--until=pseudo_labels')
      runs[name] = work
    stages = ('data', 'flow_train', 'flow', 'cam_train', 'cam', 'ir_labels',
              'irn_train', 'pseudo_labels')

    def record(name, stage):
      with open(os.path.join(runs[name], stage, 'stage.json')) as f:
        return json.load(f)

    for stage in stages:
      self.assertEqual(record('a', stage)['output_digest'],
                       record('b', stage)['output_digest'], stage)
    for stage in ('flow_train', 'cam_train', 'irn_train'):
      self.assertNotEqual(record('a', stage)['output_digest'],
                          record('c', stage)['output_digest'], stage)
    self.assertEqual(record('c', 'cam_train')['config']['cam']['train'][
        'seed'], 1)
    with open(os.path.join(runs['a'], 'pseudo_labels',
                           'pseudo_labels.json'), 'rb') as f:
      first = f.read()
    with open(os.path.join(runs['b'], 'pseudo_labels',
                           'pseudo_labels.json'), 'rb') as f:
      self.assertEqual(first, f.read())

  def test_unknown_dataset_is_a_usage_error(self):
    proc = binaries.run(
        'run_pipeline.py', '--dataset=nope',
        f'--work_dir={self.create_tempdir().full_path}', check=False,
        timeout=300)
    self.assertNotEqual(proc.returncode, 0)
    self.assertIn("unknown dataset 'nope'", proc.stderr)


if __name__ == '__main__':
  absltest.main()
