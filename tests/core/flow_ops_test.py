"""Tests for wsvis_tf.core.flow_ops."""

import numpy as np
import tensorflow as tf

from wsvis_tf.core import flow_ops


def _reference_warp(image, flow, padding):
  """float64 numpy bilinear backward warp, written pixel by pixel."""
  b, h, w, c = image.shape
  out = np.zeros((b, h, w, c), np.float64)
  for n in range(b):
    for y in range(h):
      for x in range(w):
        sx = x + flow[n, y, x, 0]
        sy = y + flow[n, y, x, 1]
        if padding == 'border':
          sx = min(max(sx, 0.0), w - 1.0)
          sy = min(max(sy, 0.0), h - 1.0)
        x0, y0 = int(np.floor(sx)), int(np.floor(sy))
        acc = np.zeros(c)
        for yy, wy in ((y0, 1 - (sy - y0)), (y0 + 1, sy - y0)):
          for xx, wx in ((x0, 1 - (sx - x0)), (x0 + 1, sx - x0)):
            if wx * wy == 0:
              continue
            if 0 <= yy < h and 0 <= xx < w:
              acc += wx * wy * image[n, yy, xx]
        out[n, y, x] = acc
  return out


class WarpTest(tf.test.TestCase):

  def test_matches_float64_reference(self):
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 1, (2, 9, 11, 3))
    flow = rng.uniform(-4, 4, (2, 9, 11, 2))
    for padding in ('border', 'zeros'):
      got = flow_ops.warp(image, flow, padding=padding).numpy()
      want = _reference_warp(image, flow, padding)
      self.assertAllClose(got, want, atol=1e-5, msg=padding)

  def test_integer_translation_is_exact_shift(self):
    rng = np.random.default_rng(1)
    image = rng.uniform(0, 255, (1, 12, 15, 2)).astype(np.float32)
    flow = np.zeros((1, 12, 15, 2), np.float32)
    flow[..., 0] = 3  # sample 3 columns to the right
    flow[..., 1] = -2  # and 2 rows up
    out = flow_ops.warp(image, flow).numpy()
    # out[y, x] = image[y - 2, x + 3] wherever that is inside the image.
    self.assertAllEqual(out[0, 2:, :-3], image[0, :-2, 3:])
    # Border padding replicates the edge.
    self.assertAllEqual(out[0, 0, :-3], image[0, 0, 3:])

  def test_zero_flow_is_identity_and_valid_mask(self):
    image = np.arange(2 * 5 * 6 * 1, dtype=np.float32).reshape(2, 5, 6, 1)
    flow = np.zeros((2, 5, 6, 2), np.float32)
    out, valid = flow_ops.warp(image, flow, return_valid=True)
    self.assertAllEqual(out, image)
    self.assertAllEqual(valid, np.ones((2, 5, 6, 1)))
    flow[..., 0] = 10.0
    _, valid = flow_ops.warp(image, flow, return_valid=True)
    self.assertEqual(float(tf.reduce_sum(valid)), 0.0)

  def test_gradients_flow_to_image_and_flow(self):
    image = tf.Variable(np.random.default_rng(2).uniform(size=(1, 6, 7, 1)),
                        dtype=tf.float32)
    flow = tf.Variable(np.full((1, 6, 7, 2), 0.3, np.float32))
    with tf.GradientTape() as tape:
      loss = tf.reduce_sum(flow_ops.warp(image, flow) ** 2)
    g_image, g_flow = tape.gradient(loss, [image, flow])
    self.assertGreater(float(tf.reduce_sum(tf.abs(g_image))), 0.0)
    self.assertGreater(float(tf.reduce_sum(tf.abs(g_flow))), 0.0)

  def test_works_in_tf_function_with_unknown_shapes(self):
    fn = tf.function(flow_ops.warp, input_signature=[
        tf.TensorSpec([None, None, None, 3]), tf.TensorSpec([None, None, None, 2])])
    image = np.ones((3, 7, 5, 3), np.float32)
    self.assertAllClose(fn(image, np.zeros((3, 7, 5, 2), np.float32)), image)

  def test_mismatched_sizes_raise(self):
    with self.assertRaisesRegex(ValueError, 'height'):
      flow_ops.warp(np.zeros((1, 4, 5, 1)), np.zeros((1, 6, 5, 2)))
    with self.assertRaisesRegex(ValueError, 'flow must be'):
      flow_ops.warp(np.zeros((1, 4, 5, 1)), np.zeros((1, 4, 5, 3)))

  def test_dense_image_warp_convention(self):
    image = np.random.default_rng(3).uniform(size=(1, 8, 8, 1))
    tfa_flow = np.zeros((1, 8, 8, 2))
    tfa_flow[..., 0] = 1.0  # dy: tfa samples at y - 1
    out = flow_ops.dense_image_warp(image, tfa_flow).numpy()
    self.assertAllClose(out[0, 1:], image[0, :-1])


class FlowHelpersTest(tf.test.TestCase):

  def test_resize_flow_scales_vectors(self):
    flow = np.zeros((1, 4, 8, 2), np.float32)
    flow[..., 0] = 2.0
    flow[..., 1] = 1.0
    out = flow_ops.resize_flow(flow, (8, 4)).numpy()
    self.assertEqual(out.shape, (1, 8, 4, 2))
    self.assertAllClose(out[..., 0], np.full((1, 8, 4), 1.0))
    self.assertAllClose(out[..., 1], np.full((1, 8, 4), 2.0))

  def test_flow_to_rgb(self):
    flow = np.zeros((3, 4, 2), np.float32)
    flow[0, 0] = (5, 0)
    flow[0, 1] = (-5, 0)
    rgb = flow_ops.flow_to_rgb(flow)
    self.assertEqual(rgb.dtype, np.uint8)
    self.assertAllEqual(rgb[2, 2], [255, 255, 255])  # no motion: white
    self.assertNotAllEqual(rgb[0, 0], rgb[0, 1])     # opposite directions

  def test_endpoint_error(self):
    a = np.zeros((2, 2, 2))
    b = np.zeros((2, 2, 2))
    b[0, 0] = (3, 4)
    self.assertAlmostEqual(flow_ops.endpoint_error(a, b), 5 / 4)
    mask = np.array([[True, False], [False, False]])
    self.assertAlmostEqual(flow_ops.endpoint_error(a, b, mask), 5.0)


if __name__ == '__main__':
  tf.test.main()
