"""Tests for wsvis_tf.flow.flow_store and wsvis_tf.flow.extract."""

import os
import tempfile

import numpy as np
import tensorflow as tf

from wsvis_tf.core import keys
from wsvis_tf.flow import extract
from wsvis_tf.flow import flow_store


class FlowStoreTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.root = self.create_tempdir().full_path
    self.store = flow_store.FlowStore(self.root)

  def test_round_trip_layout_and_dtype(self):
    flow = np.random.default_rng(0).uniform(-5, 5, (6, 7, 2))
    path = self.store.write('vid', 3, 5, flow)
    self.assertEqual(path, os.path.join(self.root, 'vid', '00003_00005.npy'))
    self.assertEqual(np.load(path).dtype, np.float16)
    got = self.store.read('vid', 3, 5, expected_size=(6, 7))
    self.assertEqual(got.dtype, np.float32)
    self.assertAllClose(got, flow, atol=5e-3)
    self.assertTrue(self.store.exists('vid', 3, 5))
    self.assertFalse(self.store.exists('vid', 5, 3))
    self.assertEqual(self.store.pairs('vid'), [(3, 5)])
    self.assertEqual(self.store.video_ids(), ['vid'])
    # No temporary files left behind.
    self.assertEqual(os.listdir(os.path.join(self.root, 'vid')),
                     ['00003_00005.npy'])

  def test_nan_flow_on_disk_is_a_clear_error(self):
    bad = np.zeros((4, 4, 2), np.float16)
    bad[1, 2, 0] = np.nan
    path = self.store.path('vid', 0, 1)
    os.makedirs(os.path.dirname(path))
    np.save(path, bad)
    with self.assertRaisesRegex(flow_store.FlowStoreError,
                                r'00000_00001\.npy has 1 NaN/Inf'):
      self.store.read('vid', 0, 1)

  def test_truncated_wrong_shape_missing_and_wrong_size(self):
    path = self.store.write('v', 0, 1, np.ones((8, 8, 2)))
    with open(path, 'rb') as f:
      data = f.read()
    with open(path, 'wb') as f:
      f.write(data[:len(data) // 2])
    with self.assertRaisesRegex(flow_store.FlowStoreError,
                                'corrupt or truncated.*00000_00001'):
      self.store.read('v', 0, 1)
    np.save(self.store.path('v', 1, 0), np.ones((8, 8, 3), np.float16))
    with self.assertRaisesRegex(flow_store.FlowStoreError, 'expected float16'):
      self.store.read('v', 1, 0)
    with self.assertRaisesRegex(flow_store.FlowStoreError,
                                'missing flow file .*00002_00003'):
      self.store.read('v', 2, 3)
    self.store.write('v', 4, 5, np.ones((8, 8, 2)))
    with self.assertRaisesRegex(flow_store.FlowStoreError, 'expected'):
      self.store.read('v', 4, 5, expected_size=(8, 9))

  def test_write_refuses_bad_flows(self):
    with self.assertRaisesRegex(ValueError, 'NaN/Inf'):
      self.store.write('v', 0, 1, np.full((2, 2, 2), np.inf))
    with self.assertRaisesRegex(ValueError, 'overflows float16'):
      self.store.write('v', 0, 1, np.full((2, 2, 2), 1e6))
    with self.assertRaisesRegex(ValueError, r'\[H, W, 2\]'):
      self.store.write('v', 0, 1, np.zeros((2, 2)))
    with self.assertRaisesRegex(ValueError, 'two different frames'):
      self.store.path('v', 1, 1)
    self.assertFalse(self.store.exists('v', 0, 1))

  def test_flow_for_frame(self):
    for t in range(3):
      self.store.write('v', t, t + 1, np.full((2, 2, 2), t, np.float32))
    self.store.write('v', 3, 2, np.full((2, 2, 2), -7, np.float32))
    self.assertEqual(self.store.flow_for_frame('v', 1, 4)[0, 0, 0], 1)
    self.assertEqual(self.store.flow_for_frame('v', 3, 4)[0, 0, 0], -7)
    with self.assertRaisesRegex(ValueError, 'at least 2'):
      self.store.flow_for_frame('v', 0, 1)


def _fake_predict(im1, im2):
  """Forward flow = frame-index difference read from the pixels."""
  d = (im2[..., :1] - im1[..., :1]) * 255.0
  fw = np.concatenate([d, np.zeros_like(d)], -1)
  return fw, -fw


class ExtractTest(tf.test.TestCase):

  def test_required_pairs(self):
    pairs = extract.required_pairs(5, 2)
    for t in range(4):
      self.assertIn((t, t + 1), pairs)
      self.assertIn((t + 1, t), pairs)
    # pair_indices(5, 2): 0-2, 1-3, 2-4, 3-1, 4-2, both directions.
    self.assertIn((0, 2), pairs)
    self.assertIn((2, 0), pairs)
    self.assertIn((4, 2), pairs)
    self.assertEqual(len(pairs), len(set(pairs)))
    with self.assertRaisesRegex(ValueError, 'at least 2 frames'):
      extract.required_pairs(1, 2)

  def test_extract_writes_both_directions_and_skips_existing(self):
    root = self.create_tempdir().full_path
    store = flow_store.FlowStore(root)
    t = 4
    frames = np.stack([np.full((8, 10, 3), i, np.uint8) for i in range(t)])
    video = {keys.VIDEO_ID: b'vid', keys.FRAMES: frames,
             keys.ANNOTATED: np.ones(t, bool)}
    calls = []

    def predict(a, b):
      calls.append(len(a))
      return _fake_predict(a, b)

    counts = extract.extract_videos(predict, store, [video], delta=2,
                                    batch_size=3)
    want = extract.required_pairs(t, 2)
    self.assertEqual(counts['written'], len(want))
    self.assertEqual(store.pairs('vid'), want)
    self.assertAllClose(store.read('vid', 1, 3)[..., 0], np.full((8, 10), 2.0))
    self.assertAllClose(store.read('vid', 3, 1)[..., 0], np.full((8, 10), -2.0))
    calls.clear()
    os.remove(store.path('vid', 2, 3))
    counts = extract.extract_videos(predict, store, [video], delta=2)
    self.assertEqual(counts['written'], 1)
    self.assertEqual(counts['skipped'], len(want) - 1)
    self.assertEqual(calls, [1])

  def test_single_frame_video_is_a_clear_error(self):
    store = flow_store.FlowStore(self.create_tempdir().full_path)
    video = {keys.VIDEO_ID: 'one', keys.FRAMES: np.zeros((1, 8, 8, 3),
                                                         np.uint8)}
    with self.assertRaisesRegex(ValueError, 'at least 2 frames'):
      extract.extract_videos(_fake_predict, store, [video], delta=2)


if __name__ == '__main__':
  tf.test.main()
