"""End to end: experiments/run_pipeline.py on the procedural default (smoke).

Runs the binary as a user would (a subprocess), then checks the stage records
and outputs, that a second run skips every stage, and that a changed stage
config reruns only that stage.
"""

import json
import os

from absl.testing import absltest

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

  def test_smoke_pipeline_runs_records_and_resumes(self):
    work = self.create_tempdir().full_path
    stdout = run_pipeline('--dataset=synthetic', f'--work_dir={work}',
                          '--preset=smoke')
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

  def test_same_seed_same_outputs(self):
    # Two runs of the first half with the same seed, in two work dirs: every
    # stage writes the same outputs (stage.json's output digest covers
    # every file of a stage's outputs: flows, CAMs, IR labels, checkpoints,
    # pseudo-labels; TensorBoard logs are not outputs), and a third run
    # with another seed does not.
    runs = {}
    for name, seed in (('a', 0), ('b', 0), ('c', 1)):
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
