"""Tests of flow-amplified CAMs (paper eq 2) on hand-made flow."""

import numpy as np
import tensorflow as tf

from wsvis_tf.cam import extraction
from wsvis_tf.flowirn import fcam


def _flow_with_magnitudes(magnitudes):
  """[H, W, 2] flow whose magnitude is magnitudes (3-4-5 triangles)."""
  m = np.asarray(magnitudes, np.float32)
  return np.stack([0.6 * m, 0.8 * m], axis=-1)


class FcamTest(tf.test.TestCase):

  def test_amplification_exact_with_the_percentile_threshold(self):
    # Magnitudes 0..9: numpy's 80th percentile (linear) is 7.2, so only the
    # pixels of magnitude 8 and 9 are above T and get A = 2.
    flow = _flow_with_magnitudes(np.arange(10).reshape(2, 5))
    self.assertAllClose(fcam.motion_threshold(fcam.flow_magnitude(flow), 80),
                        7.2)
    cams = np.full((2, 2, 5), 0.25, np.float32)
    cams[1] = np.linspace(0.0, 0.9, 10).reshape(2, 5)
    out = fcam.flow_amplified_cams(cams, flow, amplification=2.0,
                                   percentile=80.0)
    factor = np.ones((2, 5), np.float32)
    factor[1, 3:] = 2.0
    self.assertAllClose(out, cams * factor[None])
    self.assertAllClose(out[0, 1], [0.25, 0.25, 0.25, 0.5, 0.5])
    self.assertAllClose(out[1, 1, 3:], [0.8 * 2, 0.9 * 2])
    # Cityscapes values: A = 5, T = P50 = 4.5: magnitudes 5..9 amplified.
    out = fcam.flow_amplified_cams(cams, flow, 5.0, 50.0)
    self.assertAllClose(out[0], [[0.25] * 5, [1.25] * 5])

  def test_all_classes_alike_and_ordering_kept(self):
    rng = np.random.RandomState(0)
    flow = rng.normal(size=(6, 7, 2))
    cams = rng.uniform(size=(3, 6, 7)).astype(np.float32)
    out = fcam.flow_amplified_cams(cams, flow, 2.0, 80.0)
    ratio = out / cams
    self.assertAllClose(ratio[0], ratio[1])
    self.assertAllClose(ratio[0], ratio[2])
    self.assertAllEqual(np.argmax(out, 0), np.argmax(cams, 0))
    # P80 of 42 values sits at sorted index 0.8 * 41 = 32.8: 9 above it.
    self.assertEqual(int((ratio[0] > 1.5).sum()), 9)

  def test_zero_motion_changes_nothing(self):
    cams = np.random.RandomState(1).uniform(size=(2, 4, 4))
    self.assertAllClose(fcam.flow_amplified_cams(
        cams, np.zeros((4, 4, 2)), 2.0, 80.0), cams)

  def test_stride4_cams_use_cell_means(self):
    # 6 x 9 frame -> 2 x 3 cells of 4 x 4, the last row / column partial.
    mag = np.zeros((6, 9), np.float32)
    mag[:4, :4] = 10.0         # cell (0, 0): mean 10
    mag[:4, 4] = 10.0          # cell (0, 1): 4 of 16 px move, mean 2.5
    mag[4:, 8] = 10.0          # cell (1, 2): its only 2 px, mean 10
    flow = _flow_with_magnitudes(mag)
    # 32 zeros and 22 tens; P59.5 sits at sorted index 0.595 * 53 = 31.535,
    # between a 0 and a 10: T = 5.35.
    self.assertAllClose(fcam.motion_threshold(mag, 59.5), 5.35, atol=1e-4)
    factor = fcam.amplification_map(flow, 3.0, 59.5, stride=4)
    self.assertAllClose(factor, [[3, 1, 1], [1, 1, 3]])
    cams = np.ones((1, 2, 3), np.float32)
    self.assertAllClose(fcam.flow_amplified_cams(cams, flow, 3.0, 59.5, 4),
                        factor[None])

  def test_cam_dict_and_empty_frames(self):
    flow = _flow_with_magnitudes(np.arange(80).reshape(8, 10))
    cams = {extraction.NPZ_KEYS: np.array([1], np.int32),
            extraction.NPZ_CAM: np.ones((1, 2, 3), np.float32),
            extraction.NPZ_HIGH_RES: np.ones((1, 8, 10), np.float32)}
    out = fcam.amplify_cam_dict(cams, flow, 2.0, 80.0)
    self.assertEqual(int((out[extraction.NPZ_HIGH_RES] == 2).sum()), 16)
    self.assertAllEqual(out[extraction.NPZ_KEYS], [1])
    empty = fcam.flow_amplified_cams(np.zeros((0, 8, 10)), flow, 2.0, 80.0)
    self.assertEqual(empty.shape, (0, 8, 10))

  def test_flow_of_the_wrong_size(self):
    cams = np.ones((1, 8, 10), np.float32)
    with self.assertRaisesRegex(ValueError, 'does not fit CAMs'):
      fcam.flow_amplified_cams(cams, np.zeros((8, 12, 2)), 2.0, 80.0)
    with self.assertRaisesRegex(ValueError, 'does not fit CAMs'):
      fcam.flow_amplified_cams(np.ones((1, 3, 3)), np.zeros((8, 10, 2)),
                               2.0, 80.0, stride=4)
    with self.assertRaisesRegex(ValueError, r'\[H, W, 2\]'):
      fcam.flow_amplified_cams(cams, np.zeros((8, 10, 3)), 2.0, 80.0)
    with self.assertRaises(ValueError):
      fcam.flow_amplified_cams(cams, np.zeros((8, 10, 2)), 2.0, 180.0)


if __name__ == '__main__':
  tf.test.main()
