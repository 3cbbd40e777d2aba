"""Tests for wsvis_tf.cam.input_pipeline: IRN's CAM augmentation."""

import numpy as np
import tensorflow as tf

from wsvis_tf.cam import input_pipeline as ip
from wsvis_tf.core import keys


def _frames(n=5):
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, size=(n, 30, 40, 3)).astype(np.uint8)
  labels = np.eye(3, dtype=np.float32)[np.arange(n) % 3]
  return tf.data.Dataset.from_tensor_slices(
      {keys.IMAGE: images, keys.LABELS: labels})


class AugmentTest(tf.test.TestCase):

  def test_output_shapes_and_range(self):
    ex = next(iter(_frames()))
    out = ip.train_augment(ex, 32, (24, 48), tf.constant([1, 2], tf.int64))
    self.assertEqual(out[keys.IMAGE].shape, (32, 32, 3))
    self.assertAllInRange(out[keys.IMAGE], 0.0, 255.0)
    self.assertAllEqual(out[keys.LABELS], ex[keys.LABELS])

  def test_same_seed_same_output(self):
    ex = next(iter(_frames()))
    seed = tf.constant([7, 11], tf.int64)
    a = ip.train_augment(ex, 32, (24, 48), seed)[keys.IMAGE]
    b = ip.train_augment(ex, 32, (24, 48), seed)[keys.IMAGE]
    c = ip.train_augment(ex, 32, (24, 48), seed + 1)[keys.IMAGE]
    self.assertAllEqual(a, b)
    self.assertNotAllEqual(a, c)

  def test_color_jitter_keeps_hue_and_range(self):
    ex = next(iter(_frames()))
    seed = tf.constant([7, 11], tf.int64)
    plain = ip.train_augment(ex, 32, (40, 40), seed)[keys.IMAGE]
    jittered = ip.train_augment(ex, 32, (40, 40), seed, 0.3)[keys.IMAGE]
    self.assertNotAllClose(plain, jittered)
    self.assertAllInRange(jittered, 0.0, 255.0)
    # A saturated red pixel stays red-dominant (no hue change).
    red = tf.constant([[[200.0, 20.0, 20.0]]])
    for k in range(5):
      out = ip.photometric_jitter(red, 0.3, tf.constant([k, 1], tf.int64))
      r, g, b = out.numpy()[0, 0]
      self.assertGreater(r, g)
      self.assertAlmostEqual(g, b, places=3)

  def test_same_seed_same_batches(self):
    # A parallel map with stateful random ops would hand out its random
    # numbers in scheduling order; with per-example stateless seeds the
    # batches are the same on every run.
    def batches(seed):
      ds = ip.training_dataset(_frames(), 32, (24, 48), batch_size=2,
                               shuffle_buffer=5, seed=seed)
      return [b[keys.IMAGE].numpy() for b in ds.take(6)]

    first, again, other = batches(3), batches(3), batches(4)
    for a, b in zip(first, again):
      np.testing.assert_array_equal(a, b)
    self.assertFalse(all(np.array_equal(a, b) for a, b in zip(first, other)))


def _solid_frames(n=4, shapes=((30, 40), (36, 30), (30, 40), (40, 44))):
  """Frame i: one solid colour, one-hot label i; sizes differ."""
  colours = np.array([[250, 10, 10], [10, 250, 10], [10, 10, 250],
                      [250, 250, 10]], np.uint8)
  def gen():
    for i in range(n):
      h, w = shapes[i]
      yield {keys.IMAGE: np.broadcast_to(colours[i], (h, w, 3)).copy(),
             keys.LABELS: np.eye(n, dtype=np.float32)[i]}
  spec = {keys.IMAGE: tf.TensorSpec([None, None, 3], tf.uint8),
          keys.LABELS: tf.TensorSpec([n], tf.float32)}
  return tf.data.Dataset.from_generator(gen, output_signature=spec), colours


class MosaicTest(tf.test.TestCase):

  def test_quadrants_hold_the_four_frames_and_labels_are_their_union(self):
    # shuffle_buffer 1 keeps the order, so each group is frames 0..3 (of
    # three sizes). Resized to a long side of 32-40 every frame covers its
    # 16 px quadrant, so each quadrant is its frame's solid colour.
    frames, colours = _solid_frames()
    batch = next(iter(ip.training_dataset(
        frames, 32, (64, 80), batch_size=3, shuffle_buffer=1, seed=0,
        mosaic=1.0)))
    self.assertEqual(batch[keys.IMAGE].shape, (3, 32, 32, 3))
    np.testing.assert_array_equal(batch[keys.LABELS], np.ones((3, 4)))
    for image in batch[keys.IMAGE].numpy():
      for i, (y, x) in enumerate([(0, 0), (0, 16), (16, 0), (16, 16)]):
        np.testing.assert_allclose(image[y:y + 16, x:x + 16],
                                   np.broadcast_to(colours[i], (16, 16, 3)),
                                   atol=0.5)

  def test_probability_mixes_mosaics_and_single_frames(self):
    frames, colours = _solid_frames()
    batch = next(iter(ip.training_dataset(
        frames, 32, (64, 80), batch_size=80, shuffle_buffer=1, seed=1,
        mosaic=0.5)))
    mosaics = 0
    for image, labels in zip(batch[keys.IMAGE].numpy(),
                             batch[keys.LABELS].numpy()):
      if labels.sum() == 4:
        mosaics += 1
        np.testing.assert_allclose(image[16:, 16:], np.broadcast_to(
            colours[3], (16, 16, 3)), atol=0.5)
      else:
        # Not a mosaic: the group's first frame at full scale, its label.
        np.testing.assert_array_equal(labels, [1, 0, 0, 0])
        np.testing.assert_allclose(image, np.broadcast_to(
            colours[0], (32, 32, 3)), atol=0.5)
    self.assertBetween(mosaics, 25, 55)

  def test_bad_settings(self):
    frames, _ = _solid_frames()
    with self.assertRaisesRegex(ValueError, 'mosaic must be a probability'):
      ip.training_dataset(frames, 32, (64, 80), 2, mosaic=1.5)
    with self.assertRaisesRegex(ValueError, 'even crop_size'):
      ip.training_dataset(frames, 33, (64, 80), 2, mosaic=0.5)


if __name__ == '__main__':
  tf.test.main()
