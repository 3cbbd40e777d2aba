"""The split forward of MaskConsistModel is tf-models' own forward."""

import numpy as np
import tensorflow as tf
import tf_keras

from official.core import exp_factory
from official.vision.ops import anchor
from wsvis_tf.maskconsist import experiments  # pylint: disable=unused-import
from wsvis_tf.maskconsist import keys
from wsvis_tf.maskconsist import model as model_lib
from wsvis_tf.maskconsist import task as task_lib

SIZE = (64, 96)


def _flat(x):
  if isinstance(x, dict):
    return np.concatenate([np.reshape(v, [-1]) for _, v in sorted(x.items())])
  return np.asarray(x)


class SplitForwardTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cfg = exp_factory.get_exp_config('maskconsist_smoke').task.model
    tf_keras.utils.set_random_seed(0)
    cls.model = model_lib.build_maskconsist_model(
        tf_keras.layers.InputSpec(shape=[None, *SIZE, 3]), cfg)
    cls.images = tf.random.stateless_normal([4, *SIZE, 3], [1, 2])
    cls.image_shape = tf.constant([[64.0, 80.0]] * 4)
    anchors = anchor.build_anchor_generator(
        cfg.min_level, cfg.max_level, cfg.anchor.num_scales,
        cfg.anchor.aspect_ratios, cfg.anchor.anchor_size)(image_size=SIZE)
    cls.anchors = {k: tf.tile(v[None], [4, 1, 1, 1])
                   for k, v in anchors.items()}
    cls.gt_boxes = tf.constant([[[8.0, 10.0, 30.0, 40.0], [33, 50, 60, 75],
                                 [-1, -1, -1, -1]]] * 4)
    cls.gt_classes = tf.constant([[1, 3, -1]] * 4)
    cls.gt_masks = tf.concat([tf.ones([4, 2, 112, 112]),
                              -tf.ones([4, 1, 112, 112])], 1)

  def _assert_detect_equals_inference_call(self, model):
    want = model(self.images, image_shape=self.image_shape,
                 anchor_boxes=self.anchors, training=False)
    shared = model.shared_forward(self.images, training=False)
    got = model.detect(shared, self.image_shape, self.anchors)
    for key in (keys.DETECTION_BOXES, keys.DETECTION_SCORES,
                keys.DETECTION_CLASSES, keys.NUM_DETECTIONS):
      self.assertAllEqual(got[key], want[key], msg=key)
    # Masks: tf-models' on every slot up to the batch's largest
    # num_detections (each ROI through the head alone, so to float
    # rounding), 0 beyond it, where tf-models masks zero boxes.
    num = want[keys.NUM_DETECTIONS].numpy()
    kept = max(int(num.max()), 1)
    self.assertEqual(got[keys.DETECTION_MASKS].shape,
                     want[keys.DETECTION_MASKS].shape)
    self.assertAllClose(got[keys.DETECTION_MASKS][:, :kept],
                        want[keys.DETECTION_MASKS][:, :kept], atol=1e-5)
    self.assertAllEqual(got[keys.DETECTION_MASKS][:, kept:],
                        tf.zeros_like(want[keys.DETECTION_MASKS][:, kept:]))
    return num

  def test_detect_equals_inference_call(self):
    num = self._assert_detect_equals_inference_call(self.model)
    self.assertGreater(num.sum(), 0)

  def test_detect_with_fewer_detections_than_slots(self):
    # A score threshold that leaves frames with different numbers of
    # detections, all under max_num_detections: the mask head's slots are
    # cut to the largest.
    cfg = exp_factory.get_exp_config('maskconsist_smoke').task.model
    cfg.detection_generator.pre_nms_score_threshold = 0.62
    tf_keras.utils.set_random_seed(0)
    model = model_lib.build_maskconsist_model(
        tf_keras.layers.InputSpec(shape=[None, *SIZE, 3]), cfg)
    num = self._assert_detect_equals_inference_call(model)
    slots = cfg.detection_generator.max_num_detections
    self.assertBetween(int(num.max()), 1, slots - 1)
    self.assertGreater(len(set(num.tolist())), 1)  # Frames differ.

  def test_detect_is_detect_boxes_then_detect_masks(self):
    shared = self.model.shared_forward(self.images, training=False)
    want = self.model.detect(shared, self.image_shape, self.anchors)
    boxes = self.model.detect_boxes(shared, self.image_shape, self.anchors)
    self.assertNotIn(keys.DETECTION_MASKS, boxes)
    got = self.model.detect_masks(boxes)
    self.assertEqual(sorted(got), sorted(want))
    self.assertGreater(int(tf.reduce_sum(want[keys.NUM_DETECTIONS])), 0)
    for key in (keys.DETECTION_BOXES, keys.DETECTION_SCORES,
                keys.DETECTION_CLASSES, keys.NUM_DETECTIONS,
                keys.DETECTION_MASKS):
      self.assertAllEqual(got[key], want[key], msg=key)

  def test_train_heads_equal_training_call(self):
    kwargs = dict(image_shape=self.image_shape, anchor_boxes=self.anchors,
                  gt_boxes=self.gt_boxes, gt_classes=self.gt_classes,
                  gt_masks=self.gt_masks)
    # The ROI sampler draws at random: the same seed, the same draws.
    tf.random.set_seed(7)
    want = self.model(self.images, training=True, **kwargs)
    tf.random.set_seed(7)
    shared = self.model.shared_forward(self.images, training=True)
    got = self.model.train_heads(shared, self.image_shape, self.anchors,
                                 self.gt_boxes, self.gt_classes, self.gt_masks)
    self.assertGreater(int(tf.reduce_sum(tf.cast(
        want['class_targets'] > 0, tf.int32))), 0)
    for key in keys.TRAINING_OUTPUTS:
      self.assertAllClose(_flat(got[key]), _flat(want[key]), atol=1e-6,
                          msg=key)
    # The losses tf-models computes from them are equal too.
    task = task_lib.MaskConsistTask(
        exp_factory.get_exp_config('maskconsist_smoke').task)
    labels = {'rpn_score_targets': {k: tf.zeros(v.shape[:-1] + [3], tf.int32)
                                    for k, v in self.anchors.items()},
              'rpn_box_targets': {k: tf.zeros_like(v)
                                  for k, v in self.anchors.items()}}
    self.assertAllClose(task.build_losses(got, labels)['total_loss'],
                        task.build_losses(want, labels)['total_loss'])

  def test_detect_passes_no_gradient(self):
    with tf.GradientTape() as tape:
      shared = self.model.shared_forward(self.images, training=True)
      det = self.model.detect(shared, self.image_shape, self.anchors)
      total = (tf.reduce_sum(det[keys.DETECTION_SCORES]) +
               tf.reduce_sum(det[keys.DETECTION_MASKS]))
    grads = tape.gradient(total, self.model.backbone.trainable_variables +
                          self.model.decoder.trainable_variables)
    self.assertTrue(all(g is None for g in grads))

  def test_unsupported_configs(self):
    cfg = exp_factory.get_exp_config('maskconsist_smoke').task.model
    cfg.roi_sampler.cascade_iou_thresholds = [0.6]
    cfg.detection_head.class_agnostic_bbox_pred = True
    with self.assertRaisesRegex(ValueError, 'cascade'):
      model_lib.build_maskconsist_model(
          tf_keras.layers.InputSpec(shape=[None, *SIZE, 3]), cfg)
    with self.assertRaisesRegex(ValueError, 'unknown stage'):
      self.model(self.images, image_shape=self.image_shape,
                 anchor_boxes=self.anchors, stage='both')


if __name__ == '__main__':
  tf.test.main()
