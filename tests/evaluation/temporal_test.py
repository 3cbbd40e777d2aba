"""Tests for wsvis_tf.evaluation.temporal (TC, paper Tab. 6)."""

from absl.testing import absltest
import numpy as np

from tests.evaluation import fixtures
from wsvis_tf.evaluation import instances
from wsvis_tf.evaluation import temporal

H, W = 16, 24
DX = 3  # Objects move 3 px right from frame t to t+1.


def _frame(boxes, classes, scores):
  return instances.FrameInstances(
      np.stack([fixtures.box_mask(H, W, b) for b in boxes]), classes, scores)


def _shift(box, dx):
  y0, x0, y1, x1 = box
  return (y0, x0 + dx, y1, x1 + dx)


CAR = (2, 4, 8, 9)
DOG = (10, 12, 14, 17)


class WarpMasksTest(absltest.TestCase):

  def test_translation(self):
    # Backward flow t+1 -> t of a move by +DX is the constant (-DX, 0).
    flow = np.zeros((H, W, 2), np.float32)
    flow[..., 0] = -DX
    warped = temporal.warp_masks(fixtures.box_mask(H, W, CAR)[None], flow)
    np.testing.assert_array_equal(warped[0],
                                  fixtures.box_mask(H, W, _shift(CAR, DX)))

  def test_half_pixel_binarised_at_one_half(self):
    flow = np.full((H, W, 2), 0.0, np.float32)
    flow[..., 0] = -0.5
    warped = temporal.warp_masks(fixtures.box_mask(H, W, CAR)[None], flow)
    # Column 4 samples 3.5 (value .5, kept); column 9 samples 8.5 (kept).
    np.testing.assert_array_equal(warped[0],
                                  fixtures.box_mask(H, W, (2, 4, 8, 10)))

  def test_empty(self):
    self.assertEqual(temporal.warp_masks(np.zeros((0, H, W)),
                                         np.zeros((H, W, 2))).shape,
                     (0, H, W))


class TemporalConsistencyTest(absltest.TestCase):

  def test_identical_predictions_zero_flow(self):
    frame = _frame([CAR, DOG], [1, 2], [0.9, 0.8])
    flows = np.zeros((2, H, W, 2), np.float32)
    self.assertAlmostEqual(
        temporal.temporal_consistency([frame, frame, frame], flows), 1.0,
        places=12)

  def test_translation_flow(self):
    flows = np.zeros((1, H, W, 2), np.float32)
    flows[..., 0] = -DX
    t0 = _frame([CAR, DOG], [1, 1], [0.9, 0.8])
    moved = _frame([_shift(CAR, DX), _shift(DOG, DX)], [1, 1], [0.9, 0.8])
    self.assertAlmostEqual(
        temporal.temporal_consistency([t0, moved], flows), 1.0, places=12)
    # The dog's prediction did not move: IoU (5 - 3) / (5 + 3) = .25 with
    # its warped ground truth -> at IoU .5 recall [.5, .5], precision
    # [1, .5]: AP50 = 51/101.
    half = _frame([_shift(CAR, DX), DOG], [1, 1], [0.9, 0.8])
    self.assertAlmostEqual(
        temporal.temporal_consistency([t0, half], flows), 51 / 101,
        places=12)
    # Nothing moved: both miss.
    self.assertEqual(temporal.temporal_consistency([t0, t0], flows), 0.0)

  def test_score_threshold_and_undefined_pairs(self):
    flows = np.zeros((2, H, W, 2), np.float32)
    low = _frame([CAR], [1], [0.3])  # Below the threshold: no ground truth.
    high = _frame([CAR], [1], [0.9])
    self.assertEqual(temporal.pair_ap50(low, high, flows[0]), -1.0)
    # Pair (low, high) is undefined, pair (high, high) is 1.
    self.assertAlmostEqual(
        temporal.temporal_consistency([low, high, high], flows), 1.0,
        places=12)
    self.assertEqual(temporal.temporal_consistency([low, low], flows[:1]),
                     -1.0)
    # The defined pairs' values, in order, undefined ones left out: in
    # (high, low, high) the pair (high, low) is defined (AP ranks every
    # prediction at t+1, whatever its score) and (low, high) is not.
    for frames in ([low, high, high], [high, low, high]):
      values = temporal.pair_values(frames, flows)
      self.assertLen(values, 1)
      self.assertAlmostEqual(values[0], 1.0, places=12)
    self.assertEqual(temporal.pair_values([low, low], flows[:1]), [])

  def test_bad_flow_shape(self):
    frame = _frame([CAR], [1], [0.9])
    with self.assertRaisesRegex(ValueError, r'backward_flows must be'):
      temporal.temporal_consistency([frame, frame], np.zeros((H, W, 2)))


if __name__ == '__main__':
  absltest.main()
