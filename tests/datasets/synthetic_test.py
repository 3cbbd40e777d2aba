"""Tests of the wsvis_synthetic TFDS builder (tiny config): offline, exact."""

import os
import re
import socket
import tempfile
from unittest import mock

from absl.testing import absltest
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from datasets.synthetic import synthetic
from wsvis_tf.core import keys


def _no_network(*args, **kwargs):
  raise AssertionError(f'network access during the build: {args} {kwargs}')


def _build(data_dir):
  # Any socket connection or name lookup fails the test.
  with mock.patch.object(socket.socket, 'connect', _no_network), \
       mock.patch.object(socket, 'create_connection', _no_network), \
       mock.patch.object(socket, 'getaddrinfo', _no_network):
    return synthetic.prepare('tiny', data_dir)


def _examples(builder, split):
  return list(tfds.as_numpy(builder.as_dataset(split=split,
                                               shuffle_files=False)))


class WsvisSyntheticTest(absltest.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.tmp = tempfile.TemporaryDirectory()
    cls.dirs = [os.path.join(cls.tmp.name, f'build{i}') for i in range(2)]
    cls.builders = [_build(d) for d in cls.dirs]
    cls.builder = cls.builders[0]
    cls.train = _examples(cls.builder, 'train')
    cls.validation = _examples(cls.builder, 'validation')

  @classmethod
  def tearDownClass(cls):
    cls.tmp.cleanup()
    super().tearDownClass()

  def test_info(self):
    info = self.builder.info
    self.assertEqual(info.name, 'wsvis_synthetic')
    self.assertEqual(str(info.version), '1.0.0')
    self.assertEqual(info.splits['train'].num_examples, 4)
    self.assertEqual(info.splits['validation'].num_examples, 2)
    self.assertEqual(synthetic.class_names(self.builder),
                     ['red_triangle', 'green_disc', 'blue_square',
                      'yellow_diamond'])

  def test_examples(self):
    cfg = synthetic.TINY_CONFIG.render
    t, h, w, c = cfg.num_frames, cfg.height, cfg.width, cfg.num_classes
    names = []
    for ex in self.train + self.validation:
      names.append(ex[keys.VIDEO_ID].decode())
      n = len(ex[keys.TRACK_IDS])
      self.assertEqual(ex[keys.FRAMES].shape, (t, h, w, 3))
      self.assertEqual(ex[keys.FRAMES].dtype, np.uint8)
      self.assertEqual(ex[keys.INSTANCE_MAP].shape, (t, h, w, 1))
      self.assertEqual(ex[keys.INSTANCE_MAP].dtype, np.uint16)
      self.assertEqual(ex[keys.FRAME_LABELS].shape, (t, c))
      self.assertEqual(ex[keys.FRAME_LABELS].dtype, np.bool_)
      self.assertEqual(ex[keys.ANNOTATED].shape, (t,))
      self.assertEqual(ex[keys.TRACK_CLASSES].shape, (n,))
      self.assertEqual(ex[keys.TRACK_CLASSES].dtype, np.int64)
      self.assertEqual(ex[keys.GT_FLOW].shape, (t - 1, h, w, 2))
      self.assertEqual(ex[keys.GT_FLOW].dtype, np.float16)
      self.assertEqual(ex[keys.GT_OCCLUSION].shape, (t - 1, h, w))
      self.assertEqual(ex[keys.GT_OCCLUSION].dtype, np.bool_)
      self.assertEqual(list(ex[keys.FRAME_NAMES]),
                       [f'{i:05d}.jpg'.encode() for i in range(t)])
      self.assertLessEqual(ex[keys.INSTANCE_MAP].max(), n)
    self.assertCountEqual(names, [f'syn_train_{i:04d}' for i in range(4)] +
                          [f'syn_validation_{i:04d}' for i in range(2)])
    for name in names:
      self.assertRegex(name, re.compile(r'^syn_(train|validation)_\d{4}$'))

  def test_track_ids_unique_across_dataset(self):
    ids = np.concatenate([ex[keys.TRACK_IDS]
                          for ex in self.train + self.validation])
    self.assertLen(np.unique(ids), len(ids))

  def test_matches_renderer(self):
    # The stored examples decode to exactly what the renderer produced:
    # PNG and zlib are lossless, and flow is a multiple of 1/32 px.
    rendered = dict(synthetic.generate_videos(synthetic.TINY_CONFIG, 'train'))
    for ex in self.train:
      want = rendered[ex[keys.VIDEO_ID].decode()]
      for key in (keys.FRAMES, keys.INSTANCE_MAP, keys.FRAME_LABELS,
                  keys.ANNOTATED, keys.TRACK_IDS, keys.TRACK_CLASSES,
                  keys.GT_FLOW, keys.GT_OCCLUSION):
        np.testing.assert_array_equal(ex[key], want[key], err_msg=key)

  def test_two_builds_identical(self):
    second_train = _examples(self.builders[1], 'train')
    self.assertLen(second_train, len(self.train))
    for a, b in zip(self.train, second_train):
      self.assertEqual(a[keys.VIDEO_ID], b[keys.VIDEO_ID])
      self.assertEqual(a[keys.FRAMES].tobytes(), b[keys.FRAMES].tobytes())
      self.assertEqual(a[keys.INSTANCE_MAP].tobytes(),
                       b[keys.INSTANCE_MAP].tobytes())
    # The encoded features too (the record bytes may differ only in the
    # order protobuf serialises the feature map in).
    for split in ('train', 'validation'):
      records = []
      for d in self.dirs:
        path = os.path.join(d, 'wsvis_synthetic', 'tiny', '1.0.0',
                            f'wsvis_synthetic-{split}.tfrecord-00000-of-00001')
        records.append([tf.train.Example.FromString(r) for r in
                        tf.data.TFRecordDataset(path).as_numpy_iterator()])
      self.assertEqual(records[0], records[1])


if __name__ == '__main__':
  absltest.main()
