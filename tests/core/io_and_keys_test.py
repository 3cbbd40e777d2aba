"""Tests for atomic_io's JSON round trip and keys.as_text."""

import math
import os

from absl.testing import absltest
import numpy as np

from wsvis_tf.core import atomic_io
from wsvis_tf.core import keys


class JsonTest(absltest.TestCase):

  def test_round_trip(self):
    path = os.path.join(self.create_tempdir().full_path, 'a.json')
    atomic_io.write_json(path, {'b': [1, 2.5], 'a': 'x'})
    self.assertEqual(atomic_io.read_json(path), {'b': [1, 2.5], 'a': 'x'})

  def test_nan_is_refused_and_the_old_file_kept(self):
    path = os.path.join(self.create_tempdir().full_path, 'a.json')
    atomic_io.write_json(path, {'v': 1})
    with self.assertRaises(ValueError):
      atomic_io.write_json(path, {'v': math.nan})
    self.assertEqual(atomic_io.read_json(path), {'v': 1})
    self.assertEqual(os.listdir(os.path.dirname(path)), ['a.json'])


class AsTextTest(absltest.TestCase):

  def test_numpy_string_values(self):
    self.assertEqual(keys.as_text(b'vid_\xc3\xa9'), 'vid_\u00e9')
    self.assertEqual(keys.as_text('vid'), 'vid')
    self.assertEqual(keys.as_text(np.array(b'vid')), 'vid')
    self.assertEqual(keys.as_text(np.bytes_(b'vid')), 'vid')
    self.assertEqual(keys.as_text(np.array(7)), '7')


if __name__ == '__main__':
  absltest.main()
