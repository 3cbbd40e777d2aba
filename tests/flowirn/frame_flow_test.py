"""Tests of the flow a frame uses for f-CAMs: exact or from the flow stage."""

import os

import numpy as np
import tensorflow as tf

from wsvis_tf.core import keys
from wsvis_tf.flowirn import frame_flow


def _video(num_frames=3, h=4, w=5):
  flow = np.arange(num_frames - 1, dtype=np.float16)[:, None, None, None]
  return {keys.VIDEO_ID: b'vid', keys.FRAMES: np.zeros((num_frames, h, w, 3)),
          keys.GT_FLOW: np.broadcast_to(flow, (num_frames - 1, h, w, 2))}


class _Record:
  """The part of a StageRecord that the flow stage's store_of reads."""

  def __init__(self, directory):
    self.directory = directory

  def path(self, relative=''):
    return os.path.join(self.directory, relative)


class FrameFlowTest(tf.test.TestCase):

  def test_ground_truth(self):
    flow_fn = frame_flow.frame_flow_fn('ground_truth', None, _video())
    self.assertAllEqual(flow_fn(0), np.zeros((4, 5, 2)))
    self.assertAllEqual(flow_fn(1), np.ones((4, 5, 2)))
    self.assertAllEqual(flow_fn(2), np.ones((4, 5, 2)))  # last: previous
    self.assertEqual(flow_fn(0).dtype, np.float32)
    video = _video()
    del video[keys.GT_FLOW]
    with self.assertRaisesRegex(ValueError, 'exact flow'):
      frame_flow.frame_flow_fn('ground_truth', None, video)

  def test_flow_stage(self):
    from wsvis_tf.pipeline.components import flow as flow_component  # pylint: disable=g-import-not-at-top
    record = _Record(self.get_temp_dir())
    store = flow_component.store_of(record)
    store.write('vid', 0, 1, np.full((4, 5, 2), 2.0))
    store.write('vid', 1, 2, np.full((4, 5, 2), 3.0))
    store.write('vid', 2, 1, np.full((4, 5, 2), -3.0))
    flow_fn = frame_flow.frame_flow_fn('stage', record, _video())
    self.assertAllEqual(flow_fn(0), np.full((4, 5, 2), 2.0))
    self.assertAllEqual(flow_fn(2), np.full((4, 5, 2), -3.0))
    wrong_size = frame_flow.frame_flow_fn('stage', record, _video(h=6))
    with self.assertRaisesRegex(ValueError, 'expected'):
      wrong_size(0)

  def test_bad_sources(self):
    with self.assertRaisesRegex(ValueError, 'unknown flow source'):
      frame_flow.frame_flow_fn('ddflow', None, _video())
    with self.assertRaisesRegex(ValueError, 'record'):
      frame_flow.frame_flow_fn('stage', None, _video())


if __name__ == '__main__':
  tf.test.main()
