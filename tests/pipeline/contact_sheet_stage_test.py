"""Tests for the contact_sheet stage's pseudo-label rows."""

import json
import os

from absl.testing import absltest
import numpy as np

from wsvis_tf.core import keys
from wsvis_tf.core import mask_ops
from wsvis_tf.pipeline.components import contact_sheet
from wsvis_tf.viz import overlays


def _video(num_frames=4, height=20, width=30):
  return {
      keys.VIDEO_ID: b'vid_a',
      keys.FRAMES: np.full((num_frames, height, width, 3), 100, np.uint8),
      keys.INSTANCE_MAP: np.zeros((num_frames, height, width, 1), np.uint16),
      keys.TRACK_IDS: np.zeros([0], np.int64),
      keys.TRACK_CLASSES: np.zeros([0], np.int64),
  }


def _write_coco(path, mask):
  rle = mask_ops.encode(mask)
  rle['counts'] = rle['counts'].decode() if isinstance(
      rle['counts'], bytes) else rle['counts']
  coco = {
      'images': [{'id': 1, 'file_name': 'vid_a/00001.jpg', 'frame_index': 1,
                  'height': 20, 'width': 30},
                 {'id': 2, 'file_name': 'vid_a/00002.jpg', 'frame_index': 2,
                  'height': 20, 'width': 30}],
      'categories': [{'id': 3, 'name': 'blue_square'}],
      'annotations': [{'id': 1, 'image_id': 1, 'category_id': 3,
                       'segmentation': rle, 'score': 0.75, 'iscrowd': 0,
                       'area': int(mask.sum()), 'bbox': [0, 0, 1, 1]}],
  }
  with open(path, 'w') as f:
    json.dump(coco, f)


class PseudoLabelRowsTest(absltest.TestCase):

  def test_load_indexes_masks_by_video_and_frame(self):
    mask = np.zeros((20, 30), np.uint8)
    mask[4:9, 10:20] = 1
    path = os.path.join(self.create_tempdir().full_path, 'p.json')
    _write_coco(path, mask)
    index = contact_sheet.load_pseudo_labels(path)
    self.assertEqual(sorted(index), [('vid_a', 1)])
    (got, label), = index[('vid_a', 1)]
    np.testing.assert_array_equal(got, mask)
    self.assertEqual(label, 'blue_square 0.75')

  def test_missing_field_names_the_file(self):
    path = os.path.join(self.create_tempdir().full_path, 'bad.json')
    with open(path, 'w') as f:
      json.dump({'images': [{'id': 1, 'file_name': 'v/0.jpg'}],
                 'categories': [], 'annotations': []}, f)
    with self.assertRaisesRegex(ValueError, 'bad.json.*frame_index'):
      contact_sheet.load_pseudo_labels(path)

  def test_sheet_draws_pseudo_labels_only_on_their_frame(self):
    mask = np.zeros((20, 30), np.uint8)
    mask[4:9, 10:20] = 1
    path = os.path.join(self.create_tempdir().full_path, 'p.json')
    _write_coco(path, mask)
    index = contact_sheet.load_pseudo_labels(path)
    video = _video()
    picks = [1, 2]
    tiles = contact_sheet._pseudo_tiles(video, picks, index, (40, 60))
    strip = 14
    frame1, frame2 = (t[strip:] for t in tiles)
    self.assertEqual(frame1.shape, (40, 60, 3))
    # The mask (upscaled x2) is tinted with instance colour 0 inside...
    inside = frame1[12, 30].astype(int)
    expected = (0.5 * 100 + 0.5 * overlays.instance_color(0)).astype(int)
    np.testing.assert_allclose(inside, expected, atol=1)
    # ...the rest of the frame and the frame without labels are untouched.
    np.testing.assert_array_equal(frame1[35, 2], [100, 100, 100])
    np.testing.assert_array_equal(frame2, np.full((40, 60, 3), 100))


if __name__ == '__main__':
  absltest.main()
