"""End to end: experiments/run_pipeline.py on real-data layouts (smoke).

Writes a tiny YouTube-VIS download (zips and train.json, as distributed) and
a folder of small mp4 files with labels.csv, runs the pipeline binary on
each as a user would (a subprocess), and checks the stage records and
outputs: dataset.json counts, the ground-truth JSONs, the contact sheet.
1-3 min on 2 CPU cores, most of it the stages' smoke training (flow_train,
~20-45 s a run).
"""

import json
import os

from absl.testing import absltest

from datasets.real_video import test_fixtures
from datasets.ytvis import ytvis_json
from tests.experiments import binaries

YTVIS_VIDEOS = {'vid_a': [0, 7], 'vid_b': [13], 'vid_c': [7], 'vid_d': [0]}


def run_pipeline(*args, check=True):
  return binaries.run('run_pipeline.py', *args, check=check)


def read_json(*parts):
  with open(os.path.join(*parts)) as f:
    return json.load(f)


class RunPipelineRealDataTest(absltest.TestCase):

  def check_records(self, work, stdout):
    """Every stage ran (none failed) and left its record and outputs."""
    ran = [line.split()[0] for line in stdout.splitlines()
           if len(line.split()) >= 3 and line.split()[1] == 'ran']
    self.assertIn('data', ran)
    self.assertIn('contact_sheet', ran)
    for name in ran:
      record = read_json(work, name, 'stage.json')
      self.assertEqual(record['name'], name)
      for output in record['outputs']:
        self.assertTrue(os.path.exists(os.path.join(work, name, output)),
                        f'{name}/{output}')
    sheet = os.path.join(work, 'contact_sheet', 'contact_sheet.png')
    self.assertGreater(os.path.getsize(sheet), 500)
    # Through flowIRN: a pseudo-label entry for every annotated training
    # frame (the frames Mask R-CNN trains on; with YouTube-VIS's all-frames
    # download the others only feed flow), named '<video>/<frame file>' as
    # YouTube-VIS names frames.
    for stage in ('flow', 'cam', 'irn_train', 'pseudo_labels'):
      self.assertIn(stage, ran)
    pseudo = read_json(work, 'pseudo_labels', 'pseudo_labels.json')
    train = read_json(work, 'data', 'dataset.json')['splits']['train']
    self.assertLen(pseudo['images'], train['annotated_frames'])
    for image in pseudo['images']:
      self.assertRegex(image['file_name'], r'^[^/]+/[^/]+\.jpg$')

  def test_ytvis_download(self):
    data = self.create_tempdir('ytvis').full_path
    work = self.create_tempdir('work').full_path
    videos = [test_fixtures.moving_boxes(name, classes, num_frames=7,
                                         seed=i, annotate_every=3)
              for i, (name, classes) in enumerate(YTVIS_VIDEOS.items())]
    test_fixtures.write_ytvis(data, videos, ytvis_json.YTVIS_2019_CLASSES,
                              zipped=True)
    proc = run_pipeline('--dataset=ytvis', f'--data_dir={data}',
                        f'--work_dir={work}', '--preset=smoke',
                        '--dataset_options=val_videos_per_class=1')
    self.check_records(work, proc.stdout)

    summary = read_json(work, 'data', 'dataset.json')
    self.assertEqual(summary['dataset'], 'ytvis')
    self.assertIn('val_videos_per_class.1', summary['tfds_name'])
    self.assertEqual(summary['class_names'],
                     list(ytvis_json.YTVIS_2019_CLASSES))
    splits = summary['splits']
    self.assertCountEqual(splits, ['train', 'validation'])
    self.assertEqual(splits['train']['videos'] +
                     splits['validation']['videos'], 4)
    for split, s in splits.items():
      self.assertEqual(s['frames'], 7 * s['videos'], split)
      self.assertEqual(s['annotated_frames'], 3 * s['videos'], split)
      self.assertEqual(s['frame_size'], [24, 32])
      gt = read_json(work, 'data', 'ground_truth', f'{split}_videos.json')
      self.assertLen(gt['videos'], s['videos'])
      self.assertLen(gt['annotations'], s['instances'])
      self.assertTrue(all(v['length'] == 3 for v in gt['videos']))
      coco = read_json(work, 'data', 'ground_truth', f'{split}_frames.json')
      self.assertLen(coco['images'], s['annotated_frames'])
      self.assertNotEmpty(coco['annotations'])
    tracks = sum(len(c) for c in YTVIS_VIDEOS.values())
    self.assertEqual(splits['train']['instances'] +
                     splits['validation']['instances'], tracks)

  def test_folder_of_mp4_files(self):
    data = self.create_tempdir('videos').full_path
    work = self.create_tempdir('work').full_path
    videos = {name: (test_fixtures.moving_boxes(
        name, [0], num_frames=6, seed=i)['frames'], classes)
              for i, (name, classes) in enumerate(
                  [('walk', ['person']), ('fetch', ['dog', 'person']),
                   ('nap', ['cat'])])}
    test_fixtures.write_video_folder(data, videos)
    proc = run_pipeline('--dataset=video_folder', f'--data_dir={data}',
                        f'--work_dir={work}', '--preset=smoke')
    self.check_records(work, proc.stdout)
    summary = read_json(work, 'data', 'dataset.json')
    self.assertEqual(summary['class_names'], ['cat', 'dog', 'person'])
    self.assertEqual(list(summary['splits']), ['train'])
    train = summary['splits']['train']
    self.assertEqual((train['videos'], train['frames'],
                      train['annotated_frames'], train['instances']),
                     (3, 18, 18, 0))
    coco = read_json(work, 'data', 'ground_truth', 'train_frames.json')
    self.assertLen(coco['images'], 18)
    self.assertEmpty(coco['annotations'])

  def test_missing_download_is_a_clear_error(self):
    data = self.create_tempdir('empty').full_path
    os.makedirs(os.path.join(data, 'train'))
    proc = run_pipeline('--dataset=ytvis', f'--data_dir={data}',
                        f'--work_dir={self.create_tempdir().full_path}',
                        '--preset=smoke', check=False)
    self.assertEqual(proc.returncode, 2, proc.stderr[-2000:])
    self.assertIn('YouTube-VIS annotation JSON', proc.stderr)
    self.assertIn(os.path.join(data, 'train.json'), proc.stderr)


if __name__ == '__main__':
  absltest.main()
