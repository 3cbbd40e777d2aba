"""Tests of pseudo-label conversion and in-graph label encoding."""

import json
import os

import numpy as np
import tensorflow as tf

from official.vision.ops import anchor
from wsvis_tf.core import box_masks
from wsvis_tf.core import mask_ops
from wsvis_tf.maskconsist import labels

NAMES = ['cat', 'dog', 'fish']


def _rect(h, w, y1, x1, y2, x2):
  m = np.zeros((h, w), np.uint8)
  m[y1:y2, x1:x2] = 1
  return m


class AnnotationsToInstancesTest(tf.test.TestCase):

  def test_rle_polygon_crowd_and_empty(self):
    anns = [
        {'category_id': 2, 'segmentation': mask_ops.encode(
            _rect(20, 30, 2, 3, 10, 12)), 'iscrowd': 0},
        # A polygon: the square (5, 15)-(15, 25) in x, y.
        {'category_id': 1, 'segmentation': [[15, 5, 25, 5, 25, 15, 15, 15]]},
        {'category_id': 3, 'segmentation': mask_ops.encode(
            _rect(20, 30, 0, 0, 5, 5)), 'iscrowd': 1},
        {'category_id': 3, 'segmentation': mask_ops.encode(
            np.zeros((20, 30), np.uint8))},
    ]
    inst = labels.annotations_to_instances(anns, 20, 30, 3)
    self.assertLen(inst, 2)
    self.assertAllEqual(inst.classes, [2, 1])
    self.assertAllEqual(inst.masks[0], _rect(20, 30, 2, 3, 10, 12))
    self.assertAllEqual(inst.boxes[0], [2, 3, 10, 12])
    self.assertEqual(inst.masks.shape, (2, 20, 30))
    # pycocotools' polygon rasterisation covers the square's pixels.
    self.assertAllClose(inst.boxes[1], [5, 15, 16, 26], atol=1)

  def test_no_annotation_is_background(self):
    inst = labels.annotations_to_instances([], 8, 9, 3)
    self.assertLen(inst, 0)
    self.assertEqual(inst.masks.shape, (0, 8, 9))
    self.assertEqual(inst.boxes.shape, (0, 4))

  def test_bad_category_and_size(self):
    rle = mask_ops.encode(_rect(20, 30, 2, 3, 10, 12))
    for bad in (0, 4, '1', None):
      with self.assertRaisesRegex(ValueError, r'v/00001\.jpg.*category_id'):
        labels.annotations_to_instances(
            [{'category_id': bad, 'segmentation': rle}], 20, 30, 3,
            'v/00001.jpg')
    with self.assertRaisesRegex(ValueError, r'v/00001\.jpg.*20x31'):
      labels.annotations_to_instances(
          [{'category_id': 1, 'segmentation': rle}], 20, 31, 3,
          'v/00001.jpg')


class PseudoLabelsTest(tf.test.TestCase):

  def _write(self, coco):
    path = os.path.join(self.create_tempdir().full_path, 'pl.json')
    with open(path, 'w') as f:
      json.dump(coco, f)
    return path

  def _coco(self):
    rle = mask_ops.encode(_rect(10, 12, 1, 1, 5, 6))
    return {'images': [{'id': 1, 'file_name': 'v/00000.jpg'},
                       {'id': 2, 'file_name': 'v/00001.jpg'}],
            'annotations': [{'id': 1, 'image_id': 1, 'category_id': 3,
                             'segmentation': rle}],
            'categories': [{'id': i + 1, 'name': n}
                           for i, n in enumerate(NAMES)]}

  def test_lookup(self):
    pl = labels.PseudoLabels(self._write(self._coco()), NAMES)
    self.assertIn('v/00000.jpg', pl)
    self.assertEqual(pl.frame_key('v', '00001.png'), 'v/00001.jpg')
    inst = pl.instances('v', '00000.jpg', 10, 12)
    self.assertAllEqual(inst.classes, [3])
    self.assertLen(pl.instances('v', '00001.jpg', 10, 12), 0)
    with self.assertRaisesRegex(ValueError, r'v/00002\.jpg.*pl\.json'):
      pl.instances('v', '00002.jpg', 10, 12)
    pl.check_frames_exist(['v/00000.jpg', 'v/00001.jpg', 'v/00002.jpg'], 'x')
    with self.assertRaisesRegex(ValueError,
                                r"pl\.json names 1 frame.*'v/00001\.jpg'"):
      pl.check_frames_exist(['v/00000.jpg'], 'split train')

  def test_bad_files(self):
    coco = self._coco()
    coco['annotations'][0]['category_id'] = 4
    with self.assertRaisesRegex(ValueError, r'v/00000\.jpg.*category_id 4'):
      labels.PseudoLabels(self._write(coco), NAMES)
    coco = self._coco()
    coco['categories'][1]['name'] = 'wolf'
    with self.assertRaisesRegex(ValueError, "'wolf'.*'dog'"):
      labels.PseudoLabels(self._write(coco), NAMES)
    coco = self._coco()
    coco['images'][1]['file_name'] = 'v/00000.jpg'
    with self.assertRaisesRegex(ValueError, 'listed twice'):
      labels.PseudoLabels(self._write(coco), NAMES)
    coco = self._coco()
    coco['annotations'][0]['image_id'] = 7
    with self.assertRaisesRegex(ValueError, 'image id 7'):
      labels.PseudoLabels(self._write(coco), NAMES)
    with self.assertRaisesRegex(ValueError, 'does not exist'):
      labels.PseudoLabels('/nonexistent/pl.json', NAMES)


class GraphEncodingTest(tf.test.TestCase):

  def test_rpn_targets_ignore_padding(self):
    anchors = anchor.build_anchor_generator(2, 4, 1, [1.0], 4.0)(
        image_size=(32, 48))
    labeler = anchor.RpnAnchorLabeler(0.7, 0.3, 10000, 0.5)
    boxes = tf.constant([[4.0, 6.0, 20.0, 30.0]])
    classes = tf.constant([2])
    want, _ = labeler.label_anchors(anchors, boxes,
                                    tf.constant([[2.0]]))
    padded_boxes, padded_classes, _ = labels.pad_instances(
        boxes, classes, tf.zeros([1, 2, 2]), 5)
    got, _ = labels.rpn_targets(labeler, anchors, padded_boxes,
                                padded_classes)
    for level in want:
      self.assertAllEqual(want[level], got[level])
    # Batched, and an image without instances: only negatives.
    batch_anchors = {k: tf.stack([v, v]) for k, v in anchors.items()}
    scores, _ = labels.rpn_targets_batch(
        labeler, batch_anchors, tf.stack([padded_boxes, -tf.ones([5, 4])]),
        tf.stack([padded_classes, -tf.ones([5], tf.int32)]))
    for level in want:
      self.assertAllEqual(scores[level][0], want[level])
      self.assertEqual(int(tf.reduce_sum(tf.cast(scores[level][1] == 1,
                                                 tf.int32))), 0)
      self.assertGreater(int(tf.reduce_sum(tf.cast(scores[level][1] == 0,
                                                   tf.int32))), 0)

  def test_encode_round_trips_boxes_and_masks(self):
    # Whole masks on a stride-2 canvas -> gt boxes (input pixels) and 112
    # box masks -> pasted back: the original masks.
    yy, xx = np.mgrid[0:48, 0:64]
    masks = np.stack([
        (yy - 20) ** 2 / 150 + (xx - 25) ** 2 / 300 < 1,
        (np.abs(yy - 35) < 8) & (np.abs(xx - 50) < 10),
        np.zeros((48, 64), bool),
    ])
    classes = tf.constant([1, 3, -1])
    boxes, crops = labels.boxes_and_box_masks(masks, classes, 2, 112)
    want = mask_ops.masks_to_boxes(masks[:2]) * 2
    self.assertAllEqual(boxes[:2], want)
    self.assertAllEqual(boxes[2], [-1, -1, -1, -1])
    self.assertAllEqual(crops[2], -np.ones((112, 112)))
    back = box_masks.paste_masks(crops[:2], boxes[:2] / 2, 48, 64) > 0.5
    for k in range(2):
      iou = (np.logical_and(back[k], masks[k]).sum() /
             np.logical_or(back[k], masks[k]).sum())
      self.assertGreater(iou, 0.97)

  def test_reencode_keeps_copied_labels(self):
    masks = np.zeros((1, 3, 16, 16), bool)
    masks[0, 0, 2:6, 3:9] = True
    masks[0, 1, 8:12, 8:14] = True
    old_boxes = tf.constant([[[4.0, 6.0, 12.0, 18.0], [0.0, 0.0, 3.0, 3.0],
                              [-1.0, -1.0, -1.0, -1.0]]])
    old_masks = tf.fill([1, 3, 7, 7], 0.25)
    boxes, classes, crops = labels.reencode_labels(
        tf.constant(masks), tf.constant([[2, 1, -1]]),
        tf.constant([[1, -1, -1]]), old_boxes, old_masks, 2, 7)
    # Label 0 is a copy of input label 1: its encoding, not its mask's.
    self.assertAllEqual(boxes[0, 0], [0.0, 0.0, 3.0, 3.0])
    self.assertAllClose(crops[0, 0], np.full((7, 7), 0.25))
    # Label 1 is new: encoded from its mask (stride 2).
    self.assertAllEqual(boxes[0, 1], [16.0, 16.0, 24.0, 28.0])
    # Bilinear samples of the rectangle: 1 inside, > 0.5 in the edge cells.
    self.assertAllClose(crops[0, 1, 1:-1, 1:-1], np.ones((5, 5)))
    self.assertAllGreater(crops[0, 1], 0.5)
    self.assertAllEqual(classes, [[2, 1, -1]])
    self.assertAllEqual(boxes[0, 2], [-1.0, -1.0, -1.0, -1.0])


if __name__ == '__main__':
  tf.test.main()
