"""Tests for wsvis_tf.irn.inference: clustering and end-to-end on a scene."""

from absl.testing import absltest
import numpy as np
import tensorflow as tf

from wsvis_tf.backbones import resnet
from wsvis_tf.irn import inference
from wsvis_tf.irn import model as model_lib

_SQUARES = ((3, 12, 2, 11), (3, 12, 13, 22))  # rows, cols at stride 4


def _scene(size=24, squares=_SQUARES):
  """Boundary, displacement and instance ids of squares on a stride-4 grid.

  Inside a square every pixel points at the square's centre; the boundary
  is 1 on the ring of pixels around it.
  """
  ys, xs = np.mgrid[:size, :size].astype(np.float32)
  boundary = np.zeros((size, size), np.float32)
  displacement = np.zeros((size, size, 2), np.float32)
  ids = np.zeros((size, size), np.int32)
  for k, (y0, y1, x0, x1) in enumerate(squares):
    inside = (ys >= y0) & (ys < y1) & (xs >= x0) & (xs < x1)
    ring = ((ys >= y0 - 1) & (ys <= y1) & (xs >= x0 - 1) & (xs <= x1) &
            ~inside)
    boundary[ring] = 1.0
    cy, cx = (y0 + y1 - 1) / 2, (x0 + x1 - 1) / 2
    displacement[inside] = np.stack([cy - ys, cx - xs], -1)[inside]
    ids[inside] = k + 1
  return boundary, displacement, ids


class MeanDisplacementTest(absltest.TestCase):
  """IRN's MeanShift: the mean displacement over the inference set."""

  def test_shifted_displacements_average_to_zero(self):
    tf.random.set_seed(0)
    model = model_lib.IrnModel(resnet.build_resnet('resnet_tiny'))
    model(tf.zeros([1, 32, 32, 3]))
    # Give the untrained displacement head a clear bias.
    model.heads.dp_out.set_weights([np.full_like(
        model.heads.dp_out.get_weights()[0], 0.01)])
    network = model_lib.EdgeDisplacement(model)
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (20, 28, 3)).astype(np.uint8)
              for _ in range(3)]
    shift = model.heads.mean_shift.running_mean
    shift.assign([5.0, -3.0])
    got = inference.mean_displacement(network, frames, 2.0)
    shift.assign([0.0, 0.0])
    raw = inference.mean_displacement(network, frames, 2.0)
    # What the head currently subtracts does not change the statistic.
    np.testing.assert_allclose(got, raw, rtol=1e-5, atol=1e-5)
    self.assertGreater(np.abs(raw).max(), 1e-3)
    # Subtracting it, the displacements average to zero over the frames.
    shift.assign(raw)
    means = [np.mean(network(inference.scaled_frame(f, 2.0))[
        'displacement'].numpy(), axis=(0, 1)) for f in frames]
    np.testing.assert_allclose(np.mean(means, axis=0), [0.0, 0.0],
                               atol=1e-5)
    with self.assertRaisesRegex(ValueError, 'at least one frame'):
      inference.mean_displacement(network, [], 1.0)
    # Per-video sums (the Beam path) add up to the statistic of all frames.
    first, n1 = inference.displacement_sum(network, frames[:1], 2.0)
    rest, n2 = inference.displacement_sum(network, frames[1:], 2.0)
    self.assertEqual((n1, n2), (1, 2))
    np.testing.assert_allclose(
        inference.mean_from_sums(first + rest, n1 + n2, shift.numpy()),
        raw, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(first, means[0], rtol=1e-6, atol=1e-6)


class ClusterTest(absltest.TestCase):

  def test_centroids_converge_to_square_centres(self):
    _, displacement, ids = _scene()
    centroids = inference.find_centroids(displacement)
    np.testing.assert_array_equal(centroids[ids == 1][0], [7, 6])
    self.assertTrue(np.all(centroids[ids == 1] == [7, 6]))
    # Background pixels (zero displacement) stay where they are.
    np.testing.assert_array_equal(centroids[0, 0], [0, 0])

  def test_instance_count_on_synthetic_field(self):
    squares = ((2, 9, 2, 9), (2, 9, 13, 21), (13, 22, 5, 16))
    _, displacement, ids = _scene(size=24, squares=squares)
    centroids = inference.find_centroids(displacement)
    instance_map, count = inference.cluster_centroids(centroids, displacement)
    # Three objects plus IRN's background cluster (the component the static
    # background's own centroids fall in).
    self.assertEqual(count, 4)
    object_ids = {int(np.unique(instance_map[ids == k])[0])
                  for k in (1, 2, 3)}
    self.assertLen(object_ids, 3)
    for k in (1, 2, 3):
      self.assertLen(np.unique(instance_map[ids == k]), 1)
    self.assertNotIn(int(instance_map[0, 0]), object_ids)


class EndToEndTest(absltest.TestCase):

  def test_two_instance_scene(self):
    boundary, displacement, ids = _scene()
    cams = np.zeros((2, 24, 24), np.float32)
    cams[0][ids > 0] = 1.0   # class 3 on both squares
    cams[1][ids == 2] = 0.2  # a weak class 1 on the right square only
    det = inference.instance_segmentation(boundary, displacement, cams,
                                          keys=[3, 1], image_size=(96, 94),
                                          num_classes=4)
    self.assertEqual(det.components.shape, (96, 94))
    kept = [n for n in range(len(det)) if det.scores[n] > 0]
    self.assertLen(kept, 2)
    np.testing.assert_array_equal(det.classes[kept], [3, 3])
    full = np.kron(ids, np.ones((4, 4), np.int32))[:96, :94]
    for n in kept:
      mask = det.mask(n)
      k = np.bincount(full[mask]).argmax()
      truth = full == k
      iou = (mask & truth).sum() / (mask | truth).sum()
      self.assertGreater(iou, 0.85)
    self.assertAlmostEqual(float(det.scores.max()), 1.0, places=5)
    self.assertEqual(det.masks().shape[0], len(det))

  def test_per_class_walk_normalisation_keeps_a_weak_class(self):
    # Class 3 strong on the left square, class 1 weak (0.2, under the
    # background threshold 0.25 once divided by the global maximum) on the
    # right one.
    boundary, displacement, ids = _scene()
    cams = np.zeros((2, 24, 24), np.float32)
    cams[0][ids == 1] = 1.0
    cams[1][ids == 2] = 0.2
    found = {}
    for how in ('global', 'per_class'):
      det = inference.instance_segmentation(
          boundary, displacement, cams, keys=[3, 1], image_size=(96, 96),
          params=inference.InferenceParams(walk_normalization=how))
      kept = [n for n in range(len(det)) if det.scores[n] > 0]
      found[how] = sorted(int(c) for c in det.classes[kept])
    self.assertEqual(found['global'], [3])
    self.assertEqual(found['per_class'], [1, 3])

  def test_normalise_walk_hand_values(self):
    # 2 classes x 2 instances, 1x2 maps, class-major.
    scores = tf.constant([[[4., 2.]], [[1., 0.]], [[0.5, 0.25]], [[0., 0.]]])
    np.testing.assert_allclose(
        inference.normalise_walk(scores, 2, 'global'),
        [[[1., .5]], [[.25, 0.]], [[.125, .0625]], [[0., 0.]]])
    np.testing.assert_allclose(
        inference.normalise_walk(scores, 2, 'per_class'),
        [[[1., .5]], [[.25, 0.]], [[1., .5]], [[0., 0.]]])
    zero_class = tf.concat([scores[:2], tf.zeros_like(scores[2:])], 0)
    np.testing.assert_allclose(
        inference.normalise_walk(zero_class, 2, 'per_class')[2:], 0.0)
    with self.assertRaisesRegex(ValueError, 'per_class'):
      inference.normalise_walk(scores, 2, 'mean')

  def test_segment_frame_at_twice_the_size(self):
    boundary, displacement, ids = _scene()  # the x2 frame's stride-4 grid
    seen = []

    def network(image):
      seen.append(image.shape)
      return {'boundary': tf.constant(boundary),
              'displacement': tf.constant(displacement)}

    cams = (ids[::2, ::2] > 0)[np.newaxis].astype(np.float32)  # 12 x 12
    det = inference.segment_frame(network, np.zeros((48, 47, 3), np.uint8),
                                  cams, [0], image_scale=2.0)
    self.assertEqual(tuple(seen[0]), (96, 94, 3))
    self.assertEqual(det.components.shape, (48, 47))
    kept = [n for n in range(len(det)) if det.scores[n] > 0]
    self.assertLen(kept, 2)
    full = np.kron(ids, np.ones((2, 2), np.int32))[:48, :47]
    for n in kept:
      mask = det.mask(n)
      truth = full == np.bincount(full[mask]).argmax()
      self.assertGreater((mask & truth).sum() / (mask | truth).sum(), 0.8)

  def test_resize_detections_drops_vanished_fragments(self):
    components = np.zeros((8, 8), np.int32)
    components[0:4, 0:4] = 1
    components[6, 6] = 2  # one pixel: gone at half size
    det = inference.Detections(components, np.array([0.5, 0.7], np.float32),
                               np.array([1, 2], np.int32))
    small = inference.resize_detections(det, (4, 4))
    self.assertLen(small, 1)
    self.assertEqual(int(small.mask(0).sum()), 4)
    np.testing.assert_array_equal(small.classes, [1])

  def test_no_evidence_gives_no_detections(self):
    boundary, displacement, _ = _scene()
    det = inference.instance_segmentation(
        boundary, displacement, np.zeros((1, 24, 24), np.float32), [0],
        (96, 96))
    self.assertLen(det, 0)
    self.assertEqual(det.masks().shape, (0, 96, 96))

  def test_bad_inputs_have_clear_errors(self):
    boundary, displacement, _ = _scene()
    cams = np.ones((1, 24, 24), np.float32)
    with self.assertRaisesRegex(ValueError, 'no class labels'):
      inference.instance_segmentation(boundary, displacement,
                                      np.zeros((0, 24, 24)), [], (96, 96))
    with self.assertRaisesRegex(ValueError, 'not in the label map'):
      inference.instance_segmentation(boundary, displacement, cams, [7],
                                      (96, 96), num_classes=4)
    with self.assertRaisesRegex(ValueError, 'stride-4 grid'):
      inference.instance_segmentation(boundary, displacement,
                                      np.ones((1, 20, 24)), [0], (96, 96))
    with self.assertRaisesRegex(ValueError, 'displacement'):
      inference.instance_segmentation(boundary, displacement[:, :-1], cams,
                                      [0], (96, 96))
    with self.assertRaisesRegex(ValueError, 'larger than'):
      inference.instance_segmentation(boundary, displacement, cams, [0],
                                      (100, 96))


if __name__ == '__main__':
  absltest.main()
