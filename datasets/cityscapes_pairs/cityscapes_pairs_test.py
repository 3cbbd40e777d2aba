"""Tests for the wsvis_cityscapes_pairs builder on tiny Cityscapes layouts.

Run: PYTHONPATH=. .venv/bin/python \
  datasets/cityscapes_pairs/cityscapes_pairs_test.py (~10 s).
"""

import os

from absl.testing import absltest
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from datasets.cityscapes_pairs import cityscapes_pairs
from datasets.real_video import frame_io
from datasets.real_video import manual_dir
from datasets.real_video import test_fixtures
from wsvis_tf.core import keys
from wsvis_tf.data import pairs

ANNOTATED = {'train': [('aachen', 0, 19), ('bochum', 0, 313)],
             'val': [('frankfurt', 1, 294)]}
PERSON, CAR, BICYCLE = 0, 2, 7


class CityscapesPairsTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    self.root = self.create_tempdir('data').full_path

  def build(self, root=None, **options):
    builder = cityscapes_pairs.prepare(
        root or self.root, tfds_dir=self.create_tempdir().full_path,
        **options)
    return builder, {split: {e[keys.VIDEO_ID].decode(): e for e in
                             tfds.as_numpy(builder.as_dataset(split=split))}
                     for split in builder.info.splits}

  def test_extracted(self):
    test_fixtures.write_cityscapes(self.root, ANNOTATED)
    builder, examples = self.build()
    self.assertEqual(sorted(examples['train']),
                     ['aachen_000000_000019', 'bochum_000000_000313'])
    self.assertEqual(sorted(examples['validation']),
                     ['frankfurt_000001_000294'])
    video = examples['train']['bochum_000000_000313']
    self.assertEqual([n.decode() for n in video[keys.FRAME_NAMES]],
                     [f'bochum_000000_{n:06d}_leftImg8bit.png'
                      for n in (310, 313, 316)])
    # The right sequence frames: the marker block is 100 + 10 * offset.
    np.testing.assert_allclose(video[keys.FRAMES][:, 2:6, 2:6].mean(
        axis=(1, 2, 3)), [70, 100, 130], atol=3)
    np.testing.assert_array_equal(video[keys.ANNOTATED],
                                  [False, True, False])
    _, ids = test_fixtures.cityscapes_frame(1)
    want = np.zeros(ids.shape, np.uint16)
    want[ids == 26000], want[ids == 26001], want[ids == 33000] = 1, 2, 3
    np.testing.assert_array_equal(video[keys.INSTANCE_MAP][1, ..., 0], want)
    self.assertFalse(video[keys.INSTANCE_MAP][[0, 2]].any())
    np.testing.assert_array_equal(video[keys.TRACK_CLASSES],
                                  [CAR, CAR, BICYCLE])
    # Person appears only as a group region: a label, not an instance.
    for labels in video[keys.FRAME_LABELS]:
      self.assertEqual(np.flatnonzero(labels).tolist(),
                       [PERSON, CAR, BICYCLE])
    all_ids = np.concatenate([e[keys.TRACK_IDS] for s in examples.values()
                              for e in s.values()])
    self.assertLen(set(all_ids.tolist()), 9)
    self.assertEqual(builder.info.features[keys.TRACK_CLASSES].feature.names,
                     list(cityscapes_pairs.CLASS_NAMES))

  def test_zipped_equals_extracted_and_pairs(self):
    test_fixtures.write_cityscapes(self.root, ANNOTATED)
    _, extracted = self.build()
    zipped = self.create_tempdir('zipped').full_path
    test_fixtures.write_cityscapes(zipped, ANNOTATED, zipped=True)
    self.assertCountEqual(os.listdir(zipped),
                          ['gtFine_trainvaltest.zip',
                           'leftImg8bit_sequence_trainvaltest.zip'])
    builder, got = self.build(zipped)
    for split in extracted:
      for name, want in extracted[split].items():
        for k in (keys.FRAMES, keys.INSTANCE_MAP, keys.FRAME_LABELS,
                  keys.TRACK_IDS):
          np.testing.assert_array_equal(got[split][name][k], want[k])
    video = next(iter(builder.as_dataset(split='train').take(1)))
    # The one anchor (t, index 1) pairs with t + 3 (index 2), at delta 1
    # (the pipeline's) and at the paper's delta 3 (clipped at the end).
    for delta in (1, 3):
      got_pairs = [(int(p[keys.pair_key(keys.FRAME_INDEX, 'a')]),
                    int(p[keys.pair_key(keys.FRAME_INDEX, 'b')]))
                   for p in pairs.video_to_pairs(video, delta=delta)]
      self.assertEqual(got_pairs, [(1, 2)])

  def test_size_cap(self):
    test_fixtures.write_cityscapes(self.root, ANNOTATED)
    _, examples = self.build(max_long_side=16)
    video = examples['validation']['frankfurt_000001_000294']
    self.assertEqual(video[keys.FRAMES].shape, (3, 12, 16, 3))
    self.assertEqual(video[keys.INSTANCE_MAP].shape, (3, 12, 16, 1))

  def test_missing_gtfine(self):
    os.makedirs(os.path.join(self.root, 'leftImg8bit_sequence'))
    with self.assertRaisesRegex(
        manual_dir.InputError,
        r'(?s)gtFine .*not found.*gtFine_trainvaltest\.zip'):
      cityscapes_pairs.make_builder(self.root)

  def test_missing_neighbour(self):
    test_fixtures.write_cityscapes(self.root, ANNOTATED)
    path = os.path.join(self.root, 'leftImg8bit_sequence', 'train', 'aachen',
                        'aachen_000000_000022_leftImg8bit.png')
    os.remove(path)
    with self.assertRaisesRegex(manual_dir.InputError,
                                f'missing file: {path}'):
      self.build()

  def test_corrupt_frame_error_or_skip(self):
    test_fixtures.write_cityscapes(self.root, ANNOTATED)
    path = os.path.join(self.root, 'leftImg8bit_sequence', 'train', 'aachen',
                        'aachen_000000_000016_leftImg8bit.png')
    with open(path, 'wb') as f:
      f.write(b'not a png')
    with self.assertRaisesRegex(frame_io.BadFrameError, path):
      self.build()
    builder, examples = self.build(bad_frames='skip')
    self.assertEqual(list(examples['train']), ['bochum_000000_000313'])
    self.assertEqual(builder.info.metadata['skipped_frames']['train'],
                     {'count': 1, 'frames': [path]})

  def test_offset_is_checked(self):
    test_fixtures.write_cityscapes(self.root, ANNOTATED)
    with self.assertRaisesRegex(ValueError, 'offset must be'):
      cityscapes_pairs.make_builder(self.root, offset=11)


if __name__ == '__main__':
  tf.config.set_visible_devices([], 'GPU')
  absltest.main()
