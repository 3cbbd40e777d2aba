"""Tests for wsvis_tf.tracking.warping: moving masks to the next frame."""

import numpy as np
import tensorflow as tf

from wsvis_tf.evaluation import temporal
from wsvis_tf.tracking import warping

H, W = 12, 16


def box(y0, x0, y1, x1):
  mask = np.zeros((H, W), bool)
  mask[y0:y1, x0:x1] = True
  return mask


def constant_flow(dx, dy):
  return np.broadcast_to(np.float32([dx, dy]), (H, W, 2)).copy()


class WarpBackwardTest(tf.test.TestCase):

  def test_matches_the_tensorflow_warp(self):
    # temporal.warp_masks (flow_ops.warp on TF) is the project's reference.
    rng = np.random.default_rng(0)
    masks = rng.random((3, H, W)) < 0.4
    flow = rng.normal(0, 3, (H, W, 2)).astype(np.float32)
    got = warping.warp_backward(masks, flow)
    want = temporal.warp_masks(masks, flow).astype(bool)
    self.assertAllEqual(got, want)

  def test_translation(self):
    # Moving right by 3 and down by 2: the backward flow is (-3, -2).
    got = warping.warp_backward(box(2, 2, 6, 6)[None], constant_flow(-3, -2))
    self.assertAllEqual(got[0], box(4, 5, 8, 9))
    # Half a pixel: the bilinear value is 0.5 on both edges, >= 0.5 is in.
    got = warping.warp_backward(box(2, 2, 6, 6)[None], constant_flow(-0.5, 0))
    self.assertAllEqual(got[0], box(2, 2, 6, 7))

  def test_empty_and_bad_shapes(self):
    self.assertEqual(warping.warp_backward(np.zeros((0, H, W)),
                                           constant_flow(1, 1)).shape,
                     (0, H, W))
    with self.assertRaisesRegex(ValueError, r'flow must be \[H, W, 2\]'):
      warping.warp_backward(box(0, 0, 2, 2)[None], np.zeros((H, W, 3)))
    with self.assertRaisesRegex(ValueError, r'masks must be \[N, H, W\]'):
      warping.warp_backward(box(0, 0, 2, 2), constant_flow(0, 0))


class SplatForwardTest(tf.test.TestCase):

  def test_translation(self):
    got = warping.splat_forward(box(2, 2, 6, 6)[None], constant_flow(3, 2))
    self.assertAllEqual(got[0], box(4, 5, 8, 9))
    # Sub-pixel: as the backward warp of the matching backward flow.
    got = warping.splat_forward(box(2, 2, 6, 6)[None], constant_flow(0.5, 0))
    self.assertAllEqual(got[0], box(2, 2, 6, 7))
    # 0.25 px: the leading edge gets 0.25 (out), the trailing one 0.75.
    got = warping.splat_forward(box(2, 2, 6, 6)[None], constant_flow(0.25, 0))
    self.assertAllEqual(got[0], box(2, 2, 6, 6))

  def test_object_over_static_background_keeps_its_leading_edge(self):
    # Only the object moves (flow 2 px right inside it, 0 elsewhere): the
    # static background also lands on the object's new pixels, which must
    # not thin the moved mask (the weights are not normalised).
    mask = box(3, 3, 8, 8)
    flow = np.zeros((H, W, 2), np.float32)
    flow[mask] = [2, 0]
    got = warping.splat_forward(mask[None], flow)
    self.assertAllEqual(got[0], box(3, 5, 8, 10))

  def test_leaving_the_image(self):
    got = warping.splat_forward(box(0, 10, 4, 16)[None], constant_flow(4, -2))
    self.assertAllEqual(got[0], box(0, 14, 2, 16))

  def test_several_masks_independent(self):
    rng = np.random.default_rng(1)
    masks = rng.random((4, H, W)) < 0.3
    flow = rng.normal(0, 2, (H, W, 2)).astype(np.float32)
    together = warping.splat_forward(masks, flow)
    for i in range(4):
      self.assertAllEqual(together[i], warping.splat_forward(masks[i:i + 1],
                                                             flow)[0])


class ComposeForwardTest(tf.test.TestCase):

  def test_translations_add(self):
    got = warping.compose_forward([constant_flow(1.5, 0), constant_flow(2, -1),
                                   constant_flow(0, 3)])
    self.assertAllClose(got, constant_flow(3.5, 2))

  def test_second_flow_sampled_where_the_first_lands(self):
    rng = np.random.default_rng(2)
    second = rng.normal(0, 2, (H, W, 2)).astype(np.float32)
    got = warping.compose_forward([constant_flow(2, 1), second])
    # Pixel (x, y) lands on (x + 2, y + 1), inside for x < W - 2, y < H - 1.
    self.assertAllClose(got[:H - 1, :W - 2],
                        constant_flow(2, 1)[:H - 1, :W - 2] + second[1:, 2:])
    # Half-way between two pixels: their mean.
    got = warping.compose_forward([constant_flow(0.5, 0), second])
    self.assertAllClose(got[:, :W - 1, 0] - 0.5,
                        (second[:, :W - 1, 0] + second[:, 1:, 0]) / 2)

  def test_one_flow_and_errors(self):
    flow = constant_flow(1, 2)
    self.assertAllEqual(warping.compose_forward([flow]), flow)
    with self.assertRaisesRegex(ValueError, 'at least one'):
      warping.compose_forward([])
    with self.assertRaisesRegex(ValueError, 'shapes'):
      warping.compose_forward([flow, flow[:-1]])


class MoveMasksTest(tf.test.TestCase):

  def test_dispatch(self):
    masks = box(2, 2, 6, 6)[None]
    self.assertAllEqual(warping.move_masks(masks, None, warping.FORWARD),
                        masks)
    self.assertAllEqual(
        warping.move_masks(masks, constant_flow(1, 0), warping.FORWARD)[0],
        box(2, 3, 6, 7))
    self.assertAllEqual(
        warping.move_masks(masks, constant_flow(1, 0), warping.BACKWARD)[0],
        box(2, 1, 6, 5))
    with self.assertRaisesRegex(ValueError, 'direction'):
      warping.move_masks(masks, constant_flow(1, 0), 'up')


if __name__ == '__main__':
  tf.test.main()
