"""Tests for wsvis_tf.irn.random_walk: the sparse walk is IRN's dense walk."""

from absl.testing import absltest
import numpy as np

from wsvis_tf.irn import random_walk


def _ring(size=20, lo=5, hi=14):
  """A boundary map of 1s on a closed square ring, 0 elsewhere."""
  boundary = np.zeros((size, size), np.float32)
  boundary[lo, lo:hi + 1] = boundary[hi, lo:hi + 1] = 1.0
  boundary[lo:hi + 1, lo] = boundary[lo:hi + 1, hi] = 1.0
  inside = np.zeros_like(boundary, bool)
  inside[lo + 1:hi, lo + 1:hi] = True
  return boundary, inside


class RandomWalkTest(absltest.TestCase):

  def test_sparse_equals_dense_t_power(self):
    rng = np.random.default_rng(0)
    boundary = (rng.uniform(size=(9, 13)) ** 3).astype(np.float32)
    x = rng.uniform(size=(5, 9, 13)).astype(np.float32)
    for exp_times in (0, 2, 8):
      dense = random_walk.dense_random_walk(x, boundary, exp_times=exp_times)
      sparse = random_walk.random_walk(x, boundary,
                                       exp_times=exp_times).numpy()
      # Float32 rounding over 256 steps: ~4e-4 relative at worst here (the
      # same steps in float64 agree with the dense float64 walk to 6e-6).
      np.testing.assert_allclose(sparse, dense, rtol=1e-3, atol=1e-5)

  def test_weights_are_a_row_stochastic_step(self):
    boundary = np.random.default_rng(1).uniform(size=(6, 8)).astype(
        np.float32)
    weights, offsets = random_walk.transition_weights(boundary)
    self.assertEqual(weights.shape, (69, 6, 8))
    self.assertEqual(offsets.shape, (69, 2))
    np.testing.assert_allclose(weights.numpy().sum(0), 1.0, rtol=1e-5)
    # One step of the dense T, transposed, is the same operator.
    t = random_walk.dense_transition_matrix(boundary, exp_times=0)
    x = np.random.default_rng(2).uniform(size=(1, 6, 8))
    step = random_walk.propagate(x, weights, offsets, 1).numpy()
    np.testing.assert_allclose(step.reshape(-1), x.reshape(-1) @ t,
                               rtol=1e-5)

  def test_uniform_stays_uniform_inside_a_closed_boundary(self):
    boundary, inside = _ring()
    walked = random_walk.random_walk(np.ones((1, 20, 20), np.float32),
                                     boundary).numpy()[0]
    np.testing.assert_allclose(walked[inside], 1.0, rtol=1e-5)
    np.testing.assert_allclose(walked[boundary == 1], 0.0)

  def test_does_not_cross_a_closed_boundary(self):
    boundary, inside = _ring()
    x = inside[np.newaxis].astype(np.float32)
    walked = random_walk.random_walk(x, boundary).numpy()[0]
    self.assertEqual(float(np.abs(walked[~inside]).max()), 0.0)
    np.testing.assert_allclose(walked[inside], 1.0, rtol=1e-5)
    # And from outside in: the inside stays exactly 0.
    x = (~inside & (boundary == 0))[np.newaxis].astype(np.float32)
    walked = random_walk.random_walk(x, boundary).numpy()[0]
    self.assertEqual(float(np.abs(walked[inside]).max()), 0.0)

  def test_zero_channels_and_bad_shapes(self):
    out = random_walk.random_walk(np.zeros((0, 4, 5), np.float32),
                                  np.zeros((4, 5), np.float32))
    self.assertEqual(out.shape, (0, 4, 5))
    with self.assertRaisesRegex(ValueError, 'share a grid'):
      random_walk.random_walk(np.zeros((1, 4, 5)), np.zeros((4, 6)))


if __name__ == '__main__':
  absltest.main()
