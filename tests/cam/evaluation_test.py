"""Tests of CAM / IR label evaluation against ground truth."""

import numpy as np
import tensorflow as tf

from wsvis_tf.cam import evaluation


class EvaluationTest(tf.test.TestCase):

  def test_semantic_from_instances(self):
    inst = np.array([[0, 1], [2, 2]], np.uint16)[..., None]
    self.assertAllEqual(evaluation.semantic_from_instances(inst, [3, 0]),
                        [[0, 4], [1, 1]])
    with self.assertRaises(ValueError):
      evaluation.semantic_from_instances(inst, [3])

  def test_cams_to_semantic_uses_a_background_plane(self):
    cams = np.array([[[0.1, 0.5], [0.9, 0.2]],
                     [[0.05, 0.6], [0.3, 0.1]]], np.float32)
    self.assertAllEqual(evaluation.cams_to_semantic(cams, [2, 0], 0.15),
                        [[0, 1], [3, 3]])
    self.assertAllEqual(
        evaluation.cams_to_semantic(np.zeros((0, 2, 2)), [], 0.15),
        np.zeros((2, 2)))

  def test_miou(self):
    conf = evaluation.SemanticConfusion(2)
    conf.add(np.array([[0, 1], [1, 255]]), np.array([[0, 1], [0, 2]]))
    # bg: tp 1, fp 0, fn 1 -> 1/2; class 1: tp 1, fp 1 -> 1/2; class 2 unseen
    # in the kept pixels -> NaN, skipped.
    self.assertAllClose(conf.iou()[:2], [0.5, 0.5])
    self.assertTrue(np.isnan(conf.iou()[2]))
    self.assertAllClose(conf.miou(), 0.5)
    with self.assertRaises(ValueError):
      conf.add(np.array([[5]]), np.array([[0]]))

  def test_ir_label_stats(self):
    label = np.array([[0, 255, 2], [2, 0, 1]], np.uint8)
    gt = np.array([[0, 2, 2], [0, 1, 1]], np.uint8)
    stats = evaluation.ir_label_stats(label, gt)
    self.assertEqual((stats['fg_labelled'], stats['fg_correct'],
                      stats['bg_labelled'], stats['bg_correct'],
                      stats['gt_fg'], stats['gt_fg_found'],
                      stats['ignored']), (3, 2, 2, 1, 4, 2, 1))
    summary = evaluation.summarize_ir_stats(stats)
    self.assertAllClose(summary['ir_fg_precision'], 2 / 3, atol=1e-4)
    self.assertAllClose(summary['ir_fg_recall'], 0.5)


if __name__ == '__main__':
  tf.test.main()
