"""Tests for the wsvis_video_folder builder (mp4 files, frame folders).

Run: PYTHONPATH=. .venv/bin/python datasets/video_folder/video_folder_test.py
(~10 s).
"""

import os

from absl.testing import absltest
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from datasets.real_video import frame_io
from datasets.real_video import manual_dir
from datasets.real_video import test_fixtures
from datasets.video_folder import video_folder
from wsvis_tf.core import keys
from wsvis_tf.data import pairs

CLASSES = ['person', 'dog', 'cat']


def frames(num, seed):
  return test_fixtures.moving_boxes('x', [0], num_frames=num,
                                    seed=seed)[keys.FRAMES]


class VideoFolderTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    self.root = self.create_tempdir('data').full_path

  def write(self, **kwargs):
    videos = {'park': (frames(12, 0), ['dog', 'person']),
              'sofa': (frames(12, 1), ['cat']),
              'yard': (frames(5, 2), ['dog'])}
    kwargs.setdefault('as_frames', ['sofa'])
    kwargs.setdefault('splits', {'yard': 'validation'})
    return test_fixtures.write_video_folder(self.root, videos, **kwargs)

  def build(self, **options):
    builder = video_folder.prepare(
        self.root, tfds_dir=self.create_tempdir().full_path, **options)
    return builder, {e[keys.VIDEO_ID].decode(): e
                     for split in builder.info.splits
                     for e in tfds.as_numpy(builder.as_dataset(split=split))}

  def test_csv_with_class_list(self):
    self.write(class_list=CLASSES)
    builder, videos = self.build()
    self.assertEqual(builder.info.features[keys.TRACK_CLASSES].feature.names,
                     CLASSES)
    self.assertEqual(builder.info.splits['train'].num_examples, 2)
    self.assertEqual(builder.info.splits['validation'].num_examples, 1)
    self.assertCountEqual(videos, ['videos__park', 'videos__sofa',
                                   'videos__yard'])
    park = videos['videos__park']
    self.assertEqual(park[keys.FRAMES].shape, (12, 24, 32, 3))
    self.assertEqual(park[keys.FRAME_NAMES][-1], b'000011.jpg')
    np.testing.assert_array_equal(park[keys.FRAME_LABELS],
                                  np.tile([True, True, False], (12, 1)))
    self.assertTrue(park[keys.ANNOTATED].all())
    self.assertFalse(park[keys.INSTANCE_MAP].any())
    self.assertEqual(park[keys.TRACK_IDS].shape, (0,))
    # A frame folder, in natural order.
    sofa = videos['videos__sofa']
    self.assertEqual([n.decode() for n in sofa[keys.FRAME_NAMES]],
                     [f'frame_{t}.jpg' for t in range(12)])
    self.assertLess(np.abs(sofa[keys.FRAMES].astype(int) -
                           frames(12, 1)).mean(), 8)
    np.testing.assert_array_equal(sofa[keys.FRAME_LABELS][0],
                                  [False, False, True])

  def test_json_without_class_list_sorts_classes(self):
    self.write(label_format='json')
    builder, _ = self.build()
    self.assertEqual(builder.info.features[keys.TRACK_CLASSES].feature.names,
                     sorted(CLASSES))

  def test_stride_fps_and_max_frames(self):
    self.write()
    _, videos = self.build(frame_stride=3)
    self.assertEqual([n.decode() for n in
                      videos['videos__park'][keys.FRAME_NAMES]],
                     ['000000.jpg', '000003.jpg', '000006.jpg', '000009.jpg'])
    self.assertEqual([n.decode() for n in
                      videos['videos__sofa'][keys.FRAME_NAMES]],
                     ['frame_0.jpg', 'frame_3.jpg', 'frame_6.jpg',
                      'frame_9.jpg'])
    # The mp4s are 10 fps: fps=5 keeps every other frame.
    _, videos = self.build(fps=5, max_frames=4)
    self.assertEqual([n.decode() for n in
                      videos['videos__park'][keys.FRAME_NAMES]],
                     ['000000.jpg', '000002.jpg', '000004.jpg', '000006.jpg'])

  def test_pairs_at_video_end(self):
    self.write()
    builder, _ = self.build()
    video = next(iter(builder.as_dataset(split='validation')))
    got = [(int(p[keys.pair_key(keys.FRAME_INDEX, 'a')]),
            int(p[keys.pair_key(keys.FRAME_INDEX, 'b')]))
           for p in pairs.video_to_pairs(video, delta=3)]
    # 5 frames, all anchors: 0, 1 look forward, 2..4 look back.
    self.assertEqual(got, [(0, 3), (1, 4), (2, 4), (3, 0), (4, 1)])
    np.testing.assert_array_equal(got, pairs.pair_indices(5, 3))

  def test_edited_labels_make_a_new_config(self):
    path = self.write(class_list=CLASSES)
    first = video_folder.make_builder(self.root).builder_config.name
    self.assertEqual(first,
                     video_folder.make_builder(self.root).builder_config.name)
    with open(path, 'a') as f:
      f.write('videos/yard.mp4,cat,train\n')
    with self.assertRaisesRegex(manual_dir.InputError, 'same id'):
      video_folder.make_builder(self.root)
    with open(path) as f:
      lines = f.readlines()
    with open(path, 'w') as f:
      f.writelines(lines[:-2] + ['videos/yard.mp4,cat,train\n'])
    self.assertNotEqual(
        first, video_folder.make_builder(self.root).builder_config.name)

  def test_unknown_class(self):
    path = self.write(class_list=['person', 'dog'])
    with self.assertRaisesRegex(
        manual_dir.InputError,
        f"{path} line 3: unknown class\\(es\\) \\['cat'\\] for video "
        'videos/sofa'):
      video_folder.make_builder(self.root)

  def test_missing_video(self):
    path = self.write()
    os.remove(os.path.join(self.root, 'videos', 'yard.mp4'))
    missing = os.path.join(self.root, 'videos', 'yard.mp4')
    with self.assertRaisesRegex(manual_dir.InputError,
                                f'{path} line 4: video {missing} does not '
                                'exist'):
      video_folder.make_builder(self.root)

  def test_missing_label_file(self):
    with self.assertRaisesRegex(manual_dir.InputError,
                                'no label file.*labels.csv or labels.json'):
      video_folder.make_builder(self.root)

  def test_video_with_one_frame(self):
    test_fixtures.write_video_folder(
        self.root, {'a': (frames(4, 0), ['dog']), 'b': (frames(1, 1), ['cat'])})
    with self.assertRaisesRegex(
        manual_dir.InputError,
        f'video {os.path.join(self.root, "videos", "b.mp4")} has 1 frame'):
      self.build()

  def test_corrupt_frame_error_or_skip(self):
    self.write()
    path = os.path.join(self.root, 'videos', 'sofa', 'frame_4.jpg')
    with open(path, 'wb') as f:
      f.write(b'\xff\xd8 truncated')
    with self.assertRaisesRegex(frame_io.BadFrameError, path):
      self.build()
    builder, videos = self.build(bad_frames='skip')
    self.assertLen(videos['videos__sofa'][keys.FRAMES], 11)
    self.assertEqual(builder.info.metadata['skipped_frames']['train'],
                     {'count': 1, 'frames': [path]})


if __name__ == '__main__':
  tf.config.set_visible_devices([], 'GPU')
  absltest.main()
