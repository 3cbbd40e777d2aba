"""The pipeline binaries' shared flags and errors, as a user meets them.

Through the binaries (subprocesses): the paper presets refuse to start
without ImageNet weights (one line, status 2), --train_from_scratch warns,
--imagenet_weights reaches the stages; a corrupt JPEG met while the data
stage prepares a YouTube-VIS download, and a download of 2 videos, are one
line and status 2 in every binary; a 12-video download prepares with a
scaled-down validation split. Each of the 11 binary runs stops at or before
the data stage: ~2.5 min on 2 shared CPU cores in all.
"""

import json
import os

from absl.testing import absltest

from datasets.real_video import test_fixtures
from datasets.ytvis import ytvis_json
from tests.experiments import binaries
from wsvis_tf.backbones import resnet
from wsvis_tf.pipeline import presets

PROGRAMS = ('run_pipeline', 'train_cam', 'ablate_flowirn')


def write_ytvis(root, n):
  """A tiny YouTube-VIS download of n videos, 3 categories."""
  videos = [test_fixtures.moving_boxes(f'vid_{i:02d}', [(0, 7, 13)[i % 3]],
                                       num_frames=3, seed=i)
            for i in range(n)]
  test_fixtures.write_ytvis(root, videos, ytvis_json.YTVIS_2019_CLASSES,
                            annotated_frames=False)


class PipelineFlagsTest(absltest.TestCase):

  def run_binary(self, program, *args, check=False):
    return binaries.run(f'{program}.py', '--preset=smoke',
                        f'--work_dir={self.create_tempdir().full_path}',
                        *args, check=check)

  def assert_one_line_error(self, proc, program):
    """Status 2, one '<program>: error:' line, no traceback; the line."""
    self.assertEqual(proc.returncode, 2, proc.stderr[-3000:])
    self.assertNotIn('Traceback', proc.stderr)
    lines = [l for l in proc.stderr.splitlines()
             if l.startswith(f'{program}: error:')]
    self.assertLen(lines, 1, proc.stderr[-3000:])
    return lines[0]

  def test_paper_presets_refuse_to_start_without_weights(self):
    for program, preset in (('run_pipeline', 'paper'),
                            ('train_cam', 'cityscapes')):
      line = self.assert_one_line_error(
          self.run_binary(program, f'--preset={preset}'), program)
      self.assertIn(f'--preset={preset} starts ResNet-50 from ImageNet '
                    'weights', line)
      self.assertIn('--imagenet_weights=PATH', line)
      self.assertIn('--train_from_scratch', line)
      self.assertIn(presets.IMAGENET_WEIGHTS_FILE, line)
      self.assertIn(presets.IMAGENET_WEIGHTS_URL, line)

  def test_train_from_scratch_warns(self):
    proc = self.run_binary('run_pipeline', '--preset=paper',
                           '--train_from_scratch', '--list_stages',
                           check=True)
    self.assertIn('The paper preset trains from scratch, departing from the '
                  'paper', proc.stderr)
    irn_train = next(l for l in proc.stdout.splitlines()
                     if l.startswith('irn_train '))
    self.assertIn('cam_train', irn_train)  # IRN on the CAM backbone

  def test_imagenet_weights_reach_the_stages(self):
    root = self.create_tempdir().full_path
    weights = os.path.join(root, 'resnet50.h5')
    resnet.build_resnet('resnet50').save_weights(weights)
    proc = self.run_binary('run_pipeline', '--preset=paper',
                           f'--imagenet_weights={weights}', '--list_stages',
                           check=True)
    irn_train = next(l for l in proc.stdout.splitlines()
                     if l.startswith('irn_train '))
    # A separate ImageNet backbone: irn_train no longer reads cam_train.
    self.assertNotIn('cam_train', irn_train)
    self.assertNotIn('departing from the paper', proc.stderr)
    # A file of another architecture is refused before any stage runs.
    tiny = os.path.join(root, 'tiny.h5')
    resnet.build_resnet('resnet_tiny').save_weights(tiny)
    line = self.assert_one_line_error(
        self.run_binary('run_pipeline', '--preset=paper',
                        f'--imagenet_weights={tiny}'), 'run_pipeline')
    self.assertIn(f"'{tiny}' does not fit backbone 'resnet50'", line)

  def test_corrupt_jpeg_is_one_line_in_every_binary(self):
    data = self.create_tempdir('ytvis').full_path
    write_ytvis(data, 4)
    path = os.path.join(data, 'train_all_frames', 'JPEGImages', 'vid_02',
                        '00001.jpg')
    with open(path, 'r+b') as f:
      head = f.read()[:200]
      f.seek(0)
      f.truncate()
      f.write(head)
    for program in PROGRAMS:
      line = self.assert_one_line_error(
          self.run_binary(program, '--dataset=ytvis', f'--data_dir={data}'),
          program)
      self.assertEqual(line, f'{program}: error: {path} does not decode as '
                       'an image (corrupt or truncated). Re-download it, or '
                       'pass --bad_frames=skip to skip bad frames.')

  def test_ytvis_download_of_two_videos_is_one_line(self):
    data = self.create_tempdir('ytvis').full_path
    write_ytvis(data, 2)
    line = self.assert_one_line_error(
        self.run_binary('run_pipeline', '--dataset=ytvis',
                        f'--data_dir={data}'), 'run_pipeline')
    self.assertIn(f'the YouTube-VIS directory {data} has 2 video(s)', line)

  def test_small_ytvis_download_prepares_with_defaults(self):
    data = self.create_tempdir('ytvis').full_path
    write_ytvis(data, 12)
    work = self.create_tempdir('work').full_path
    proc = binaries.run('run_pipeline.py', '--dataset=ytvis',
                        f'--data_dir={data}', f'--work_dir={work}',
                        '--preset=smoke', '--until=data')
    warnings = [l for l in proc.stderr.splitlines() if 'too few' in l]
    self.assertLen(warnings, 1)
    self.assertIn('12 videos are too few for 10 validation videos per '
                  'category', warnings[0])
    self.assertIn('asked 10, used 1', warnings[0])
    with open(os.path.join(work, 'data', 'dataset.json')) as f:
      splits = json.load(f)['splits']
    # 70 % of 12 is 8.4: 9 videos train, 3 (one per category) validate.
    self.assertEqual((splits['train']['videos'],
                      splits['validation']['videos']), (9, 3))
    with open(os.path.join(work, 'data', 'ground_truth',
                           'validation_videos.json')) as f:
      gt = json.load(f)
    self.assertCountEqual([a['category_id'] for a in gt['annotations']],
                          [1, 8, 14])


if __name__ == '__main__':
  absltest.main()
