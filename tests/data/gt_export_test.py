"""Tests of the COCO / YouTube-VIS ground-truth export."""

import json
import os
import tempfile

from absl.testing import absltest
import cv2
import numpy as np
from pycocotools import coco as coco_api
from pycocotools import mask as coco_mask

from datasets.synthetic import synthetic
from wsvis_tf.core import keys
from wsvis_tf.data import gt_export

CLASSES = ['cat', 'dog', 'fish']


def _hand_example():
  """3 frames of 6x8, 2 tracks; frame 1 unannotated; track 2 absent at 2."""
  inst = np.zeros((3, 6, 8, 1), np.uint16)
  inst[0, 1:3, 1:4] = 1
  inst[0, 4:6, 5:8] = 2
  inst[1, 1:3, 2:5] = 1
  inst[1, 4:6, 4:7] = 2
  inst[2, 0:2, 3:6] = 1
  frames = np.zeros((3, 6, 8, 3), np.uint8)
  frames[..., 0] = 200  # Red in RGB.
  return {
      keys.VIDEO_ID: b'vid_a',
      keys.FRAMES: frames,
      keys.FRAME_NAMES: np.array([b'00000.jpg', b'00005.jpg', b'00010.jpg']),
      keys.ANNOTATED: np.array([True, False, True]),
      keys.INSTANCE_MAP: inst,
      keys.TRACK_IDS: np.array([17, 42], np.int64),
      keys.TRACK_CLASSES: np.array([2, 0], np.int64),
  }


def _empty_example():
  """A 2-frame video without any instance."""
  return {
      keys.VIDEO_ID: 'vid_empty',
      keys.FRAMES: np.zeros((2, 6, 8, 3), np.uint8),
      keys.FRAME_NAMES: np.array(['00000.jpg', '00001.jpg']),
      keys.ANNOTATED: np.array([True, True]),
      keys.INSTANCE_MAP: np.zeros((2, 6, 8, 1), np.uint16),
      keys.TRACK_IDS: np.zeros((0,), np.int64),
      keys.TRACK_CLASSES: np.zeros((0,), np.int64),
  }


def _decode(rle):
  return coco_mask.decode({'size': rle['size'],
                           'counts': rle['counts'].encode('ascii')})


def _coco_from_dict(gt):
  api = coco_api.COCO()
  api.dataset = json.loads(json.dumps(gt))  # Must survive JSON.
  api.createIndex()
  return api


class YtvisJsonTest(absltest.TestCase):

  def test_hand_example(self):
    gt = gt_export.videos_to_ytvis_json([_hand_example(), _empty_example()],
                                        CLASSES)
    json.dumps(gt)
    self.assertEqual(gt['categories'], [{'id': 1, 'name': 'cat'},
                                        {'id': 2, 'name': 'dog'},
                                        {'id': 3, 'name': 'fish'}])
    video, empty = gt['videos']
    # Only the annotated frames are listed (YTVIS 2019 convention).
    self.assertEqual(video['file_names'], ['vid_a/00000.jpg',
                                           'vid_a/00010.jpg'])
    self.assertEqual((video['id'], video['height'], video['width'],
                      video['length']), (1, 6, 8, 2))
    self.assertEqual(empty['id'], 2)
    self.assertLen(gt['annotations'], 2)
    first, second = gt['annotations']
    self.assertEqual((first['id'], first['video_id'], first['category_id'],
                      first['iscrowd'], first['track_id']), (1, 1, 3, 0, 17))
    self.assertEqual(second['category_id'], 1)
    inst = _hand_example()[keys.INSTANCE_MAP][..., 0]
    np.testing.assert_array_equal(_decode(first['segmentations'][1]),
                                  inst[2] == 1)
    self.assertEqual(first['bboxes'][0], [1.0, 1.0, 3.0, 2.0])
    self.assertEqual(first['areas'], [6, 6])
    self.assertIsNone(second['segmentations'][1])
    self.assertIsNone(second['bboxes'][1])
    self.assertIsNone(second['areas'][1])

  def test_all_frames(self):
    gt = gt_export.videos_to_ytvis_json([_hand_example()], CLASSES,
                                        all_frames=True)
    self.assertEqual(gt['videos'][0]['length'], 3)
    first = gt['annotations'][0]
    self.assertLen(first['segmentations'], 3)
    self.assertIsNone(first['segmentations'][1])  # Not annotated.
    self.assertIsNotNone(first['segmentations'][2])

  def test_errors(self):
    bad = _hand_example()
    del bad[keys.TRACK_IDS]
    with self.assertRaisesRegex(ValueError, 'track_ids'):
      gt_export.videos_to_ytvis_json([bad], CLASSES)
    bad = _hand_example()
    bad[keys.TRACK_CLASSES] = np.array([2, 7])
    with self.assertRaisesRegex(ValueError, 'outside'):
      gt_export.videos_to_ytvis_json([bad], CLASSES)


class CocoJsonTest(absltest.TestCase):

  def test_hand_example_round_trip(self):
    examples = [_empty_example(), _hand_example()]
    gt = gt_export.videos_to_coco_json(examples, CLASSES)
    api = _coco_from_dict(gt)
    # Images: annotated frames, numbered in video then frame order.
    self.assertEqual([(i['id'], i['file_name'], i['video_id'],
                       i['frame_index']) for i in gt['images']],
                     [(1, 'vid_empty/00000.jpg', 1, 0),
                      (2, 'vid_empty/00001.jpg', 1, 1),
                      (3, 'vid_a/00000.jpg', 2, 0),
                      (4, 'vid_a/00010.jpg', 2, 2)])
    inst = _hand_example()[keys.INSTANCE_MAP][..., 0]
    for image_id, t in ((3, 0), (4, 2)):
      anns = api.loadAnns(api.getAnnIds(imgIds=[image_id]))
      self.assertLen(anns, int(inst[t].max()))
      for ann in anns:
        k = [17, 42].index(ann['track_id'])
        mask = api.annToMask(ann)
        np.testing.assert_array_equal(mask, inst[t] == k + 1)
        self.assertEqual(ann['category_id'], [3, 1][k])
        ys, xs = np.nonzero(mask)
        self.assertEqual(ann['bbox'], [xs.min(), ys.min(),
                                       xs.max() - xs.min() + 1,
                                       ys.max() - ys.min() + 1])
        self.assertEqual(ann['area'], mask.sum())
    self.assertEqual([a['id'] for a in gt['annotations']], [1, 2, 3])

  def test_size_from_instance_map(self):
    # Callers may strip pixels (FRAMES [T, 1, 1, 3]) to save memory.
    example = _hand_example()
    example[keys.FRAMES] = example[keys.FRAMES][:, :1, :1]
    gt = gt_export.videos_to_coco_json([example], CLASSES)
    self.assertEqual((gt['images'][0]['height'], gt['images'][0]['width']),
                     (6, 8))


class SyntheticRoundTripTest(absltest.TestCase):
  """Exported RLEs and boxes decode back to the renderer's instance maps."""

  def test_round_trip(self):
    examples = [ex for _, ex in synthetic.generate_videos(
        synthetic.TINY_CONFIG, 'train')]
    names = synthetic.render_lib.class_names(synthetic.TINY_CONFIG.render)
    ytvis = gt_export.videos_to_ytvis_json(examples, names)
    coco = gt_export.videos_to_coco_json(examples, names)
    self.assertLen(coco['images'], sum(len(e[keys.FRAMES]) for e in examples))
    by_track = {a['track_id']: a for a in ytvis['annotations']}
    api = _coco_from_dict(coco)
    for video_id, ex in enumerate(examples, start=1):
      inst = ex[keys.INSTANCE_MAP][..., 0]
      for k, track in enumerate(ex[keys.TRACK_IDS]):
        ann = by_track.get(int(track))
        if not (inst == k + 1).any():
          self.assertIsNone(ann)
          continue
        self.assertEqual(ann['video_id'], video_id)
        self.assertEqual(ann['category_id'], ex[keys.TRACK_CLASSES][k] + 1)
        for t, rle in enumerate(ann['segmentations']):
          mask = inst[t] == k + 1
          if not mask.any():
            self.assertIsNone(rle)
            continue
          np.testing.assert_array_equal(_decode(rle), mask)
          ys, xs = np.nonzero(mask)
          self.assertEqual(ann['bboxes'][t],
                           [xs.min(), ys.min(), xs.max() - xs.min() + 1,
                            ys.max() - ys.min() + 1])
          self.assertEqual(ann['areas'][t], mask.sum())
      # COCO: per frame, the union of the masks is the instance map.
      images = [i for i in coco['images'] if i['video_id'] == video_id]
      for image in images:
        rebuilt = np.zeros(inst.shape[1:], np.uint16)
        for ann in api.loadAnns(api.getAnnIds(imgIds=[image['id']])):
          k = list(ex[keys.TRACK_IDS]).index(ann['track_id'])
          rebuilt[api.annToMask(ann) > 0] = k + 1
        np.testing.assert_array_equal(rebuilt, inst[image['frame_index']])


class LayoutTest(absltest.TestCase):

  def test_write_ytvis_layout(self):
    examples = [ex for _, ex in synthetic.generate_videos(
        synthetic.TINY_CONFIG, 'validation')]
    names = synthetic.render_lib.class_names(synthetic.TINY_CONFIG.render)
    with tempfile.TemporaryDirectory() as out_dir:
      gt = gt_export.write_ytvis_layout(examples, names, out_dir)
      with open(os.path.join(out_dir, 'instances.json')) as f:
        self.assertEqual(json.load(f), json.loads(json.dumps(gt)))
      self.assertEqual(gt, gt_export.videos_to_ytvis_json(examples, names))
      for video, ex in zip(gt['videos'], examples):
        self.assertLen(video['file_names'], len(ex[keys.FRAMES]))
        for t, name in enumerate(video['file_names']):
          path = os.path.join(out_dir, 'JPEGImages', name)
          self.assertTrue(os.path.isfile(path), path)
          image = cv2.imread(path)[..., ::-1]
          self.assertEqual(image.shape, ex[keys.FRAMES][t].shape)
          # Quality 95: close to the original, colours in RGB order.
          err = np.abs(image.astype(float) - ex[keys.FRAMES][t]).mean()
          self.assertLess(err, 4.0)
      leftovers = [f for _, _, files in os.walk(out_dir) for f in files
                   if f.endswith('.tmp')]
      self.assertEmpty(leftovers)


if __name__ == '__main__':
  absltest.main()
