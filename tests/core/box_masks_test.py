"""Tests of the in-graph paste / crop of box-relative masks."""

import numpy as np
import tensorflow as tf

from official.vision.ops import mask_ops as tfm_mask_ops
from wsvis_tf.core import box_masks
from wsvis_tf.core import mask_ops


def _bilinear_zero_padded(mask: np.ndarray, u: float, v: float) -> float:
  """Value of mask at (row u, col v), cells at integers, 0 outside."""
  def at(i, j):
    if 0 <= i < mask.shape[0] and 0 <= j < mask.shape[1]:
      return float(mask[i, j])
    return 0.0
  i0, j0 = int(np.floor(u)), int(np.floor(v))
  fu, fv = u - i0, v - j0
  return ((1 - fu) * (1 - fv) * at(i0, j0) + (1 - fu) * fv * at(i0, j0 + 1)
          + fu * (1 - fv) * at(i0 + 1, j0) + fu * fv * at(i0 + 1, j0 + 1))


def _paste_reference(mask, box, height, width):
  """Brute force: each pixel centre mapped into the box mask."""
  y1, x1, y2, x2 = box
  m, n = mask.shape
  out = np.zeros((height, width), np.float64)
  for r in range(height):
    for c in range(width):
      u = (r + 0.5 - y1) * m / (y2 - y1) - 0.5
      v = (c + 0.5 - x1) * n / (x2 - x1) - 0.5
      out[r, c] = _bilinear_zero_padded(mask, u, v)
  return out


def _crop_reference(image, box, size):
  """Brute force: each cell centre mapped into the image (pixel centres)."""
  y1, x1, y2, x2 = box
  out = np.zeros((size, size), np.float64)
  for i in range(size):
    for j in range(size):
      u = y1 + (i + 0.5) * (y2 - y1) / size - 0.5
      v = x1 + (j + 0.5) * (x2 - x1) / size - 0.5
      out[i, j] = _bilinear_zero_padded(image, u, v)
  return out


class PasteMasksTest(tf.test.TestCase):

  def test_hand_computed_corner_cell(self):
    # A 2x2 mask with its top-left cell on, box = the whole 4x4 canvas: each
    # cell covers 2x2 pixels; pixel (0, 0)'s centre is a quarter cell
    # outside the cell centre towards the zero padding (0.75 * 0.75), pixel
    # (1, 1)'s a quarter cell towards the empty cells (0.75 * 0.75 again).
    mask = np.array([[[1.0, 0.0], [0.0, 0.0]]], np.float32)
    pasted = box_masks.paste_masks(mask, [[0.0, 0.0, 4.0, 4.0]], 4, 4)[0]
    self.assertAllClose(pasted[0, 0], 0.5625)
    self.assertAllClose(pasted[1, 1], 0.5625)
    self.assertAllClose(pasted[0, 1], 0.75 * 0.75)
    self.assertAllClose(pasted[2, 2], 0.0625)
    self.assertAllClose(pasted[3, 3], 0.0)

  def test_matches_brute_force_on_hand_made_boxes(self):
    rng = np.random.default_rng(0)
    masks = rng.uniform(size=(5, 7, 6)).astype(np.float32)
    boxes = np.array([
        [2.0, 3.0, 12.0, 9.0],        # inside, integer
        [1.3, 0.7, 6.9, 13.2],        # fractional
        [-4.0, 10.0, 5.0, 22.0],      # partly outside (top, right)
        [10.5, 10.5, 11.5, 12.0],     # smaller than a pixel or two
        [0.0, 0.0, 16.0, 18.0],       # the whole canvas
    ], np.float32)
    pasted = box_masks.paste_masks(masks, boxes, 16, 18).numpy()
    self.assertEqual(pasted.shape, (5, 16, 18))
    for k in range(5):
      self.assertAllClose(pasted[k], _paste_reference(masks[k], boxes[k],
                                                      16, 18),
                          atol=1e-5, msg=f'box {k}')

  def test_matches_brute_force_on_random_boxes(self):
    # Boxes anywhere: inside, across every edge, wholly outside, thinner
    # than a pixel, larger than the canvas; non-square masks.
    rng = np.random.default_rng(3)
    masks = rng.uniform(size=(40, 5, 9)).astype(np.float32)
    y1 = rng.uniform(-15, 25, 40)
    x1 = rng.uniform(-15, 25, 40)
    boxes = np.stack([y1, x1, y1 + rng.uniform(0.2, 30, 40),
                      x1 + rng.uniform(0.2, 30, 40)], 1).astype(np.float32)
    pasted = box_masks.paste_masks(masks, boxes, 13, 21).numpy()
    for k in range(40):
      self.assertAllClose(pasted[k], _paste_reference(masks[k], boxes[k],
                                                      13, 21),
                          atol=1e-5, msg=f'box {k}: {boxes[k]}')

  def test_agrees_with_tf_models_opencv_paste(self):
    # tf-models' numpy/cv2 paste (v2) thresholds at 0.5 with OpenCV's
    # fixed-point bilinear weights: compare away from the threshold.
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:28, 0:28]
    masks = []
    for k in range(4):
      cy, cx, r = rng.uniform(8, 20), rng.uniform(8, 20), rng.uniform(5, 12)
      masks.append(((yy - cy) ** 2 + (xx - cx) ** 2 < r * r).astype(
          np.float32))
    masks = np.stack(masks)
    boxes = np.array([[5.0, 7.0, 40.0, 31.0], [20.3, 2.6, 58.1, 61.9],
                      [0.0, 30.0, 13.0, 70.0], [33.0, 44.0, 64.0, 80.0]],
                     np.float32)
    ours = box_masks.paste_masks(masks, boxes, 64, 80).numpy()
    theirs = tfm_mask_ops.paste_instance_masks_v2(
        masks, mask_ops.yxyx_to_xywh(boxes), 64, 80)
    confident = np.abs(ours - 0.5) > 0.05
    self.assertGreater(confident.mean(), 0.95)
    self.assertAllEqual((ours > 0.5)[confident], theirs[confident] > 0.5)

  def test_zero_size_boxes_paste_empty(self):
    masks = np.ones((2, 4, 4), np.float32)
    pasted = box_masks.paste_masks(
        masks, [[0.0, 0.0, 0.0, 0.0], [3.0, 3.0, 3.0, 9.0]], 8, 8)
    self.assertAllEqual(pasted, np.zeros((2, 8, 8)))

  def test_graph_mode_dynamic_sizes(self):
    fn = tf.function(box_masks.paste_masks, input_signature=[
        tf.TensorSpec([None, None, None], tf.float32),
        tf.TensorSpec([None, 4], tf.float32),
        tf.TensorSpec([], tf.int32), tf.TensorSpec([], tf.int32)])
    out = fn(tf.ones([3, 28, 28]), tf.constant([[0.0, 0.0, 10.0, 10.0]] * 3),
             tf.constant(12), tf.constant(20))
    self.assertEqual(out.shape, (3, 12, 20))
    self.assertAllClose(out[:, 2:8, 2:8], np.ones((3, 6, 6)))


class PasteBinaryBatchTest(tf.test.TestCase):

  def test_equals_per_image_pastes_padded(self):
    # Two images of different sizes; boxes larger than the mask (cells over
    # a pixel), so a low threshold keeps the fade past a box edge; boxes
    # clipped at the smaller image's border, one padding row of zeros.
    rng = np.random.default_rng(4)
    masks = rng.uniform(0.3, 1.0, size=(2, 3, 6, 5)).astype(np.float32)
    boxes = np.array([
        [[0.0, 0.0, 30.0, 20.0], [10.0, 5.0, 30.0, 20.0], [0, 0, 0, 0]],
        [[2.0, 3.0, 40.0, 50.0], [20.0, 30.0, 40.0, 50.0],
         [1.0, 1.0, 9.0, 9.0]]], np.float32)
    heights, widths = [30, 40], [20, 50]
    for threshold in (0.1, 0.5):
      out = box_masks.paste_binary_batch(masks, boxes, heights, widths,
                                         threshold).numpy()
      self.assertEqual(out.shape, (2, 3, 40, 50))
      self.assertEqual(out.dtype, np.uint8)
      for b in range(2):
        own = box_masks.paste_masks(masks[b], boxes[b], heights[b],
                                    widths[b]).numpy() >= threshold
        self.assertAllEqual(out[b, :, :heights[b], :widths[b]], own)
        self.assertEqual(int(out[b, :, heights[b]:].sum()) +
                         int(out[b, :, :, widths[b]:].sum()), 0)
      self.assertEqual(int(out[0, 2].sum()), 0)
    # The low threshold does reach past the small image's border on the
    # larger canvas before the cut (what the cut is for).
    wide = box_masks.paste_masks(masks[0], boxes[0], 40, 50).numpy()
    self.assertGreater(int((wide[:, 30:] >= 0.1).sum()), 0)


class CropMasksTest(tf.test.TestCase):

  def test_matches_brute_force(self):
    rng = np.random.default_rng(2)
    image = rng.uniform(size=(3, 20, 24)).astype(np.float32)
    boxes = np.array([[2.0, 3.0, 15.0, 20.0], [0.0, 0.0, 20.0, 24.0],
                      [5.5, 6.25, 9.75, 12.5]], np.float32)
    crops = box_masks.crop_masks(image, boxes, 9).numpy()
    for k in range(3):
      self.assertAllClose(crops[k], _crop_reference(image[k], boxes[k], 9),
                          atol=1e-5, msg=f'box {k}')

  def test_crop_then_paste_round_trips(self):
    yy, xx = np.mgrid[0:96, 0:128]
    masks = np.stack([
        (yy - 40) ** 2 / 400 + (xx - 50) ** 2 / 900 < 1,      # ellipse
        (np.abs(yy - 70) < 12) & (np.abs(xx - 100) < 20),     # rectangle
        ((yy - 20) ** 2 + (xx - 20) ** 2 < 100) | ((yy > 5) & (yy < 12) &
                                                  (xx > 25) & (xx < 60)),
    ]).astype(np.uint8)
    boxes = box_masks.masks_to_boxes(masks)
    self.assertAllEqual(boxes, mask_ops.masks_to_boxes(masks))
    crops = box_masks.crop_masks(masks, boxes, 112)
    back = box_masks.paste_masks(crops, boxes, 96, 128).numpy() > 0.5
    for k in range(3):
      inter = np.logical_and(back[k], masks[k]).sum()
      union = np.logical_or(back[k], masks[k]).sum()
      self.assertGreater(inter / union, 0.97, f'mask {k}')
    # A rectangle aligned with its own box comes back exactly.
    self.assertAllEqual(back[1], masks[1].astype(bool))


class MasksToBoxesTest(tf.test.TestCase):

  def test_matches_numpy_including_empty(self):
    rng = np.random.default_rng(3)
    masks = rng.uniform(size=(6, 13, 17)) > 0.97
    masks[2] = False
    masks[4] = False
    masks[4, 12, 16] = True
    self.assertAllEqual(box_masks.masks_to_boxes(masks),
                        mask_ops.masks_to_boxes(masks))
    batched = box_masks.masks_to_boxes(masks.reshape(2, 3, 13, 17))
    self.assertAllEqual(tf.reshape(batched, [6, 4]),
                        mask_ops.masks_to_boxes(masks))


if __name__ == '__main__':
  tf.test.main()
