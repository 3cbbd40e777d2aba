"""Tests for wsvis_tf.core.mask_ops (checked against pycocotools itself)."""

import json

from absl.testing import absltest
import numpy as np
from pycocotools import mask as coco_mask

from wsvis_tf.core import mask_ops


class RleTest(absltest.TestCase):

  def test_round_trip_random_masks(self):
    rng = np.random.default_rng(0)
    for shape in ((1, 1), (7, 3), (33, 50)):
      mask = (rng.uniform(size=shape) > 0.6).astype(np.uint8)
      rle = mask_ops.encode(mask)
      json.dumps(rle)  # JSON-serialisable
      self.assertEqual(rle['size'], list(shape))
      np.testing.assert_array_equal(mask_ops.decode(rle), mask)
      self.assertEqual(mask_ops.area(rle), int(mask.sum()))

  def test_uncompressed_rle_is_accepted(self):
    # 3x2 column-major: 2 zeros, 3 ones, 1 zero.
    rle = {'size': [3, 2], 'counts': [2, 3, 1]}
    want = np.array([[0, 1], [0, 1], [1, 0]], np.uint8)
    np.testing.assert_array_equal(mask_ops.decode(rle), want)
    with self.assertRaisesRegex(ValueError, 'sum to 5'):
      mask_ops.decode({'size': [3, 2], 'counts': [2, 3]})

  def test_polygon_and_size_checks(self):
    poly = [[1, 1, 5, 1, 5, 4, 1, 4]]
    rle = mask_ops.to_coco_rle(poly, 8, 8)
    want = coco_mask.merge(coco_mask.frPyObjects(poly, 8, 8))
    self.assertEqual(rle['counts'], want['counts'])
    with self.assertRaisesRegex(ValueError, r'size \[8, 8\] does not match'):
      mask_ops.to_coco_rle(mask_ops.encode(np.ones((8, 8))), 8, 9)

  def test_encode_rejects_wrong_rank(self):
    with self.assertRaisesRegex(ValueError, r'\[H, W\]'):
      mask_ops.encode(np.zeros((2, 3, 4)))


class BoxAndOverlapTest(absltest.TestCase):

  def test_masks_to_boxes_and_coco_box(self):
    m = np.zeros((2, 6, 8), np.uint8)
    m[0, 1:4, 2:7] = 1
    boxes = mask_ops.masks_to_boxes(m)
    np.testing.assert_array_equal(boxes, [[1, 2, 4, 7], [0, 0, 0, 0]])
    np.testing.assert_array_equal(mask_ops.yxyx_to_xywh(boxes[:1]),
                                  [[2, 1, 5, 3]])
    self.assertEqual(mask_ops.rle_to_coco_box(mask_ops.encode(m[0])),
                     [2.0, 1.0, 5.0, 3.0])
    np.testing.assert_array_equal(
        mask_ops.xywh_to_yxyx(mask_ops.yxyx_to_xywh(boxes)), boxes)

  def test_iou_iom_against_pycocotools(self):
    rng = np.random.default_rng(1)
    a = (rng.uniform(size=(3, 10, 12)) > 0.5).astype(np.uint8)
    b = (rng.uniform(size=(4, 10, 12)) > 0.7).astype(np.uint8)
    want = coco_mask.iou(mask_ops.encode_many(a) and
                         [coco_mask.encode(np.asfortranarray(x)) for x in a],
                         [coco_mask.encode(np.asfortranarray(x)) for x in b],
                         [0] * 4)
    np.testing.assert_allclose(mask_ops.mask_iou(a, b), want, atol=1e-6)
    # IoM: a mask inside a bigger one has IoM 1 but IoU < 1.
    small = np.zeros((1, 5, 5)); small[0, 1:3, 1:3] = 1
    big = np.zeros((1, 5, 5)); big[0, :4, :4] = 1
    self.assertEqual(mask_ops.mask_iom(small, big)[0, 0], 1.0)
    self.assertAlmostEqual(mask_ops.mask_iou(small, big)[0, 0], 4 / 16)

  def test_box_iou_hand_case(self):
    a = np.array([[0, 0, 2, 2]])
    b = np.array([[1, 1, 3, 3], [5, 5, 6, 6]])
    np.testing.assert_allclose(mask_ops.box_iou(a, b), [[1 / 7, 0.0]])


if __name__ == '__main__':
  absltest.main()
