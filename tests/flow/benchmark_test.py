"""Tests for wsvis_tf.flow.benchmark on a tiny procedural video."""

import numpy as np
import tensorflow as tf

from datasets.synthetic import render
from wsvis_tf.flow import benchmark

_CONFIG = render.RenderConfig(height=48, width=64, num_frames=3,
                              min_visible_pixels=8, seed=2)


class BenchmarkTest(tf.test.TestCase):

  def test_methods_table_and_result_line(self):
    video = render.render_video(_CONFIG, render.video_rng(2, 'validation', 0))
    pairs = benchmark.ground_truth_pairs([video])
    self.assertLen(pairs, 2)
    perfect = {id(p[0]): p[2] for p in pairs}
    methods = {
        'ddflow': lambda a, b: perfect[id(a)],  # an oracle stands in
        'dis': benchmark.dis_flow_fn('medium'),
        'farneback': benchmark.farneback_flow_fn(),
    }
    results = benchmark.run(methods, pairs, warmup=1)
    by_name = {r.name: r for r in results}
    self.assertEqual(by_name['ddflow'].epe, 0.0)
    for r in results:
      self.assertTrue(np.isfinite(r.epe))
      self.assertGreaterEqual(r.ms_per_pair, 0.0)
      self.assertEqual(r.pairs, 2)
    self.assertGreater(by_name['dis'].epe, 0.0)
    line = benchmark.result_line(by_name)
    self.assertRegex(line, r'^RESULT ddflow_epe=0\.0000 dis_epe=[0-9.]+ '
                     r'farneback_epe=[0-9.]+ ddflow_ms=[0-9.]+ dis_ms=[0-9.]+$')
    self.assertIn('farneback', benchmark.table(results))

  def test_moving_and_static_split_hand_values(self):
    # Two 1x2 pairs; ground truth: one pixel moves 2 px, one 0.5 px.
    gt = np.array([[[2.0, 0.0], [0.5, 0.0]]], np.float32)
    frame = np.zeros((1, 2, 3), np.uint8)
    pairs = [(frame, frame, gt, None), (frame.copy(), frame, gt, None)]
    results = benchmark.run({'zero': benchmark.zero_flow_fn()}, pairs,
                            warmup=0)
    r = results[0]
    self.assertAllClose(r.epe, 1.25)
    self.assertAllClose(r.epe_moving, 2.0)  # >= MOVING_THRESHOLD (1 px)
    self.assertAllClose(r.epe_static, 0.5)
    self.assertTrue(np.isnan(r.epe_non_occluded))

  def test_needs_ground_truth_and_known_preset(self):
    with self.assertRaisesRegex(ValueError, 'ground-truth flow'):
      benchmark.ground_truth_pairs([{'frames': np.zeros((2, 4, 4, 3))}])
    with self.assertRaisesRegex(ValueError, 'unknown DIS preset'):
      benchmark.dis_flow_fn('slow')


if __name__ == '__main__':
  tf.test.main()
