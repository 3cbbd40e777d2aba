"""Tests of IR labels from CAMs (IRN cam_to_ir_label) and the dense CRF."""

import os
import unittest

import numpy as np
import tensorflow as tf

from wsvis_tf.irn import dense_crf
from wsvis_tf.irn import ir_labels

_NEEDS_CRF = unittest.skipUnless(
    dense_crf.crf_available(),
    'pydensecrf is not installed (pip install pydensecrf2==1.1)')


def _two_colour_image(h=24, w=32):
  image = np.zeros((h, w, 3), np.uint8)
  image[:, :w // 2] = (200, 40, 40)
  image[:, w // 2:] = (30, 30, 160)
  return image


class IrLabelTest(tf.test.TestCase):

  def test_thresholds_and_combination_by_hand(self):
    # Two classes, keys 1 and 3 (labels 2 and 4); one pixel per case.
    cams = np.array([
        # fg 2 | ign  | bg   | fg 4 | tie at 0.30 -> not fg, ignore
        [[0.50, 0.20, 0.01, 0.10, 0.30]],
        [[0.10, 0.10, 0.04, 0.40, 0.00]],
    ], np.float32)
    label = ir_labels.make_ir_label(cams, [1, 3], num_classes=4, crf=False)
    self.assertEqual(label.dtype, np.uint8)
    self.assertAllEqual(label, [[2, 255, 0, 4, 255]])
    # At exactly the bg threshold a pixel is still background (argmax takes
    # the first, the background plane, on ties; IRN uses np.argmax too).
    self.assertAllEqual(ir_labels.make_ir_label(
        np.array([[[0.05]]]), [0], crf=False), [[0]])

  def test_frame_without_labels_is_background(self):
    label = ir_labels.make_ir_label(np.zeros((0, 3, 4)), [], num_classes=4,
                                    image=np.zeros((3, 4, 3), np.uint8))
    self.assertAllEqual(label, np.zeros((3, 4)))

  def test_class_outside_the_label_map(self):
    cams = np.ones((1, 2, 2), np.float32)
    with self.assertRaisesRegex(ValueError, 'outside the label map'):
      ir_labels.make_ir_label(cams, [4], num_classes=4, crf=False)
    with self.assertRaisesRegex(ValueError, 'outside the label map'):
      ir_labels.make_ir_label(cams, [-1], crf=False)
    with self.assertRaisesRegex(ValueError, '2 class keys'):
      ir_labels.make_ir_label(cams, [0, 1], crf=False)
    with self.assertRaisesRegex(ValueError, 'repeat'):
      ir_labels.make_ir_label(np.ones((2, 2, 2)), [1, 1], crf=False)
    with self.assertRaisesRegex(ValueError, 'CRF needs'):
      ir_labels.make_ir_label(cams, [0], image=np.zeros((3, 3, 3)))

  def test_png_round_trip(self):
    label = np.array([[0, 1, 255], [20, 0, 3]], np.uint8)
    path = os.path.join(self.get_temp_dir(), 'v', '00001.png')
    ir_labels.save_ir_label(path, label)
    self.assertAllEqual(ir_labels.load_ir_label(path), label)
    with self.assertRaises(ValueError):
      ir_labels.save_ir_label(path, label.astype(np.int32))
    with self.assertRaises(FileNotFoundError):
      ir_labels.load_ir_label(os.path.join(self.get_temp_dir(), 'no.png'))

  @_NEEDS_CRF
  def test_crf_cleans_a_noisy_labelling(self):
    image = _two_colour_image()
    truth = np.zeros((24, 32), np.int64)
    truth[:, 16:] = 1
    noisy = truth.copy()
    flip = np.random.RandomState(0).uniform(size=truth.shape) < 0.2
    noisy[flip] = 1 - noisy[flip]
    refined = dense_crf.crf_inference_label(image, noisy, 2)
    self.assertGreater((noisy != truth).mean(), 0.15)
    self.assertLess((refined != truth).mean(), 0.01)

  @_NEEDS_CRF
  def test_ir_label_with_crf_follows_the_image(self):
    # Class 0's CAM is strong on the left half but leaks 3 px into the
    # right half and has holes; the CRF snaps it to the colour edge.
    image = _two_colour_image()
    cam = np.zeros((1, 24, 32), np.float32)
    cam[0, :, :19] = 0.8
    cam[0, 5:8, 3:6] = 0.0
    label = ir_labels.make_ir_label(cam, [0], image=image, num_classes=2)
    self.assertAllEqual(label[:, :16], np.ones((24, 16)))
    self.assertAllEqual(label[:, 16:], np.zeros((24, 16)))
    plain = ir_labels.make_ir_label(cam, [0], num_classes=2, crf=False)
    self.assertAllEqual(plain[:, 16:19], np.ones((24, 3)))

  def test_crf_argument_checks(self):
    with self.assertRaises(ValueError):
      dense_crf.crf_inference_label(np.zeros((2, 2, 3), np.uint8),
                                    np.full((2, 2), 3), 2)
    self.assertAllEqual(dense_crf.crf_inference_label(
        np.zeros((2, 2, 3), np.uint8), np.zeros((2, 2)), 1), np.zeros((2, 2)))


if __name__ == '__main__':
  tf.test.main()
