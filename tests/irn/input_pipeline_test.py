"""Tests for wsvis_tf.irn.input_pipeline (IRN's augmentation, f-Bound flow)."""

from absl.testing import absltest
import numpy as np
import tensorflow as tf

from wsvis_tf.core import keys
from wsvis_tf.irn import input_pipeline as ip


def _example(h=40, w=56):
  image = np.full((h, w, 3), 100, np.uint8)
  label = np.zeros((h, w), np.uint8)
  label[8:24, 8:40] = 2
  label[30:, :] = 255
  flow = np.zeros((h, w, 2), np.float32)
  flow[:, 28:, 0] = 8.0  # the right half moves 8 px to the right
  return {keys.IMAGE: image, ip.IR_LABEL: label, ip.FLOW: flow}


class AugmentTest(absltest.TestCase):

  def test_shapes_and_values(self):
    tf.random.set_seed(0)
    ex = {k: tf.constant(v) for k, v in _example().items()}
    for _ in range(5):
      out = ip.train_augment(ex, 64, (0.5, 1.5), True, True)
      self.assertEqual(out[keys.IMAGE].shape, (64, 64, 3))
      self.assertEqual(out[ip.LABEL_S4].shape, (16, 16))
      self.assertEqual(out[ip.FLOW_FEATURE].shape, (16, 16, 4))
      self.assertEqual(out[ip.FLOW_VALID].shape, (16, 16))
      labels = set(np.unique(out[ip.LABEL_S4].numpy()))
      self.assertTrue(labels <= {0, 2, 255}, labels)
      # The crop is larger than the frame: some padding is invalid.
      self.assertLess(float(tf.reduce_mean(out[ip.FLOW_VALID])), 1.0)
      grad = out[ip.FLOW_FEATURE].numpy()
      self.assertTrue(np.isfinite(grad).all())

  def test_stride4_gradient_of_a_motion_edge(self):
    ex = {k: tf.constant(v) for k, v in _example(64, 64).items()}
    out = ip.train_augment(ex, 64, (1.0, 1.0), False, True, ip.STRIDE4)
    grad = out[ip.FLOW_FEATURE].numpy()
    valid = out[ip.FLOW_VALID].numpy() > 0
    self.assertTrue(valid.all() or valid.sum() > 100)
    # dFx/dx peaks at the motion edge (column 28 -> stride-4 column 7):
    # 8 px = 2 stride-4 px, central differences give 1 on both sides.
    row = grad[4, :, 0]
    self.assertAlmostEqual(float(row.max()), 1.0, places=5)
    self.assertEqual(set(np.flatnonzero(row > 0.5)), {6, 7})
    self.assertTrue(np.allclose(grad[..., 1:], 0.0))

  def test_input_resolution_gradient_keeps_the_full_edge(self):
    # At the crop's resolution the 8 px step gives (8 - 0) / 2 = 4 at
    # columns 27 and 28, i.e. in stride-4 cells 6 and 7.
    ex = {k: tf.constant(v) for k, v in _example(64, 64).items()}
    out = ip.train_augment(ex, 64, (1.0, 1.0), False, True, ip.INPUT)
    row = out[ip.FLOW_FEATURE].numpy()[4, :, 0]
    np.testing.assert_allclose(row[[6, 7]], [4.0, 4.0])
    self.assertEqual(set(np.flatnonzero(row > 0.5)), {6, 7})
    self.assertEqual(out[ip.FLOW_VALID].shape, (16, 16))
    with self.assertRaisesRegex(ValueError, 'gradient resolution'):
      ip.flow_gradient_at_stride(tf.zeros([8, 8, 2]), tf.ones([8, 8]), 'x')

  def test_flow_feature_is_the_flow_sampled_like_the_labels(self):
    ex = {k: tf.constant(v) for k, v in _example(64, 64).items()}
    out = ip.train_augment(ex, 64, (1.0, 1.0), False, True,
                           flow_feature=ip.FLOW_ITSELF)
    flow = out[ip.FLOW_FEATURE].numpy()
    self.assertEqual(flow.shape, (16, 16, 2))
    # Columns 28.. move 8 px: stride-4 cells 7.. (their labels' pixels,
    # 4 j + 2, are >= 28 from j = 7 on).
    np.testing.assert_array_equal(flow[5, :, 0],
                                  np.where(np.arange(16) >= 7, 8.0, 0.0))
    self.assertTrue(np.all(flow[..., 1] == 0.0))
    self.assertTrue(np.all(out[ip.FLOW_VALID].numpy() == 1.0))
    with self.assertRaisesRegex(ValueError, 'flow feature must be'):
      ip.flow_feature_at_stride(tf.zeros([8, 8, 2]), tf.ones([8, 8]), 'x')

  def test_flip_mirrors_the_flow_and_negates_dx(self):
    # Mirrored, the right half's +8 px motion becomes the left half's -8 px:
    # dFx/dx stays +1 (from -2 to 0 stride-4 px) but moves to columns 8, 9.
    # Without negating dx it would be -1.
    ex = {k: tf.constant(v) for k, v in _example(64, 64).items()}
    seen = set()
    for k in range(8):
      out = ip.train_augment(ex, 64, (1.0, 1.0), True, True, ip.STRIDE4,
                             seed=tf.constant([k, 3], tf.int64))
      row = out[ip.FLOW_FEATURE].numpy()[4, :, 0]
      self.assertAlmostEqual(float(row.max()), 1.0, places=5)
      seen.add(tuple(np.flatnonzero(row > 0.5)))
    self.assertEqual(seen, {(6, 7), (8, 9)})

  def test_dataset_batches(self):
    examples = [_example(), _example(48, 40)]
    ds = ip.training_dataset(
        ip.examples_dataset(lambda: examples, with_flow=False), 32,
        (0.5, 1.0), True, batch_size=2, with_flow=False)
    batch = next(iter(ds))
    self.assertEqual(batch[keys.IMAGE].shape, (2, 32, 32, 3))
    self.assertEqual(batch[ip.LABEL_S4].shape, (2, 8, 8))
    self.assertNotIn(ip.FLOW_FEATURE, batch)


  def test_same_seed_same_batches(self):
    examples = [_example(), _example(48, 40), _example(40, 44)]

    def batches(seed):
      ds = ip.training_dataset(
          ip.examples_dataset(lambda: examples, with_flow=True), 32,
          (0.5, 1.5), True, batch_size=2, with_flow=True, seed=seed)
      return [{k: v.numpy() for k, v in b.items()} for b in ds.take(4)]

    first, again, other = batches(5), batches(5), batches(6)
    for b1, b2 in zip(first, again):
      for k in b1:
        np.testing.assert_array_equal(b1[k], b2[k], err_msg=k)
    self.assertFalse(all(np.array_equal(b1[keys.IMAGE], b2[keys.IMAGE])
                         for b1, b2 in zip(first, other)))


class CheckFrameTest(absltest.TestCase):

  def test_bad_inputs(self):
    ex = _example()
    ip.check_frame(ex[keys.IMAGE], ex[ip.IR_LABEL], 4, ex[ip.FLOW], 'v/0')
    with self.assertRaisesRegex(ValueError, r'v/0: flow of shape \(20, 28, 2\)'
                                ' does not match the frame'):
      ip.check_frame(ex[keys.IMAGE], ex[ip.IR_LABEL], 4, ex[ip.FLOW][::2, ::2],
                     'v/0')
    with self.assertRaisesRegex(ValueError, 'value 2 is not in the label map'):
      ip.check_frame(ex[keys.IMAGE], ex[ip.IR_LABEL], 1, None, 'v/0')
    with self.assertRaisesRegex(ValueError, 'does not match the frame'):
      ip.check_frame(ex[keys.IMAGE], ex[ip.IR_LABEL][:-1], 4, None, 'v/0')


if __name__ == '__main__':
  absltest.main()
