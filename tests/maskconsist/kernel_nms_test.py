"""kernel_nms: tf-models' proposals and detections, on tf.image's NMS."""

import numpy as np
import tensorflow as tf
import tf_keras

from official.core import exp_factory
from official.vision.modeling.layers import detection_generator
from official.vision.modeling.layers import roi_generator
from official.vision.ops import anchor
from official.vision.ops import box_ops
from wsvis_tf.maskconsist import backbone  # pylint: disable=unused-import
from wsvis_tf.maskconsist import experiments  # pylint: disable=unused-import
from wsvis_tf.maskconsist import kernel_nms
from wsvis_tf.maskconsist import model as model_lib

IMAGE = (64, 96)
LEVELS = (2, 3, 4)
ANCHORS = 3


def _rpn_inputs(seed: int, batch: int = 2):
  """Random RPN outputs and anchors on IMAGE, levels LEVELS."""
  rng = np.random.default_rng(seed)
  anchors = anchor.build_anchor_generator(
      LEVELS[0], LEVELS[-1], 1, [0.5, 1.0, 2.0], 2.0)(image_size=IMAGE)
  scores, boxes, tiled = {}, {}, {}
  for level in map(str, LEVELS):
    h, w = IMAGE[0] // 2 ** int(level), IMAGE[1] // 2 ** int(level)
    # Continuous scores: no ties, so the order of equal scores (the one
    # thing the two NMS implementations may order differently) never
    # arises.
    scores[level] = tf.constant(rng.normal(0, 2, [batch, h, w, ANCHORS]),
                                tf.float32)
    boxes[level] = tf.constant(rng.normal(0, 0.3, [batch, h, w, 4 * ANCHORS]),
                               tf.float32)
    tiled[level] = tf.tile(anchors[level][None], [batch, 1, 1, 1])
  shape = tf.constant([[64.0, 96.0], [50.0, 70.0]][:batch])
  return boxes, scores, tiled, shape


def _greedy_nms(boxes, scores, iou_threshold, max_out):
  """Indices kept by greedy NMS (highest score first; IoU > t suppresses)."""
  order = np.argsort(-scores, kind='stable')
  area = np.maximum(boxes[:, 2] - boxes[:, 0], 0) * np.maximum(
      boxes[:, 3] - boxes[:, 1], 0)
  keep = []
  for i in order:
    if len(keep) == max_out:
      break
    ok = True
    for j in keep:
      h = min(boxes[i, 2], boxes[j, 2]) - max(boxes[i, 0], boxes[j, 0])
      w = min(boxes[i, 3], boxes[j, 3]) - max(boxes[i, 1], boxes[j, 1])
      inter = max(h, 0) * max(w, 0)
      union = area[i] + area[j] - inter
      if union > 0 and inter / union > iou_threshold:
        ok = False
        break
    if ok:
      keep.append(i)
  return np.array(keep, np.int64)


def _reference_proposals(config, inputs, training):
  """tf-models' documented steps with exact greedy NMS, in numpy."""
  raw_boxes, raw_scores, anchors, shape = inputs
  prefix = '' if training else 'test_'
  top_k = config[prefix + 'pre_nms_top_k']
  threshold = config[prefix + 'pre_nms_score_threshold']
  iou = config[prefix + 'nms_iou_threshold']
  proposals = config[prefix + 'num_proposals']
  out_boxes, out_scores = [], []
  for image in range(shape.shape[0]):
    boxes_all, scores_all = [], []
    for level in sorted(raw_scores):
      n = int(np.prod(raw_scores[level].shape[1:]))
      scores = tf.sigmoid(tf.reshape(raw_scores[level][image], [n])).numpy()
      boxes = box_ops.clip_boxes(box_ops.decode_boxes(
          tf.reshape(raw_boxes[level][image], [n, 4]),
          tf.reshape(anchors[level][image], [n, 4])), shape[image]).numpy()
      candidates = np.argsort(-scores, kind='stable')
      candidates = candidates[scores[candidates] > threshold][:top_k]
      keep = candidates[_greedy_nms(boxes[candidates], scores[candidates],
                                    iou, min(n, proposals))]
      boxes_all.append(boxes[keep])
      scores_all.append(scores[keep])
    boxes, scores = np.concatenate(boxes_all), np.concatenate(scores_all)
    order = np.argsort(-scores, kind='stable')[:proposals]
    pad = proposals - len(order)
    out_boxes.append(np.pad(boxes[order], [[0, pad], [0, 0]]))
    out_scores.append(np.pad(scores[order], [0, pad]))
  return np.stack(out_boxes), np.stack(out_scores)


def _roi_config(**overrides):
  config = dict(pre_nms_top_k=60, pre_nms_score_threshold=0.0,
                pre_nms_min_size_threshold=0.0, nms_iou_threshold=0.7,
                num_proposals=40, test_pre_nms_top_k=50,
                test_pre_nms_score_threshold=0.0,
                test_pre_nms_min_size_threshold=0.0,
                test_nms_iou_threshold=0.5, test_num_proposals=30)
  config.update(overrides)
  return config


class KernelNmsROIGeneratorTest(tf.test.TestCase):

  def _compare(self, config, seed):
    inputs = _rpn_inputs(seed)
    layer = kernel_nms.KernelNmsROIGenerator(**config)
    for training in (True, False):
      want_rois, want_scores = _reference_proposals(config, inputs, training)
      got_rois, got_scores = layer(*inputs, training=training)
      self.assertAllClose(got_scores, want_scores, atol=1e-6,
                          msg=f'training={training}')
      self.assertAllClose(got_rois, want_rois, atol=1e-4,
                          msg=f'training={training}')
    return inputs

  def test_greedy_nms_proposals(self):
    for seed in range(3):
      self._compare(_roi_config(), seed)

  def test_greedy_nms_proposals_where_suppressions_chain(self):
    # IoU 0.3: a box suppressed by one that was itself suppressed stays
    # (greedy NMS); tf-models' sorted NMS drops some such boxes, so it
    # proposes other ROIs on these inputs.
    config = _roi_config(pre_nms_top_k=20, num_proposals=40,
                         nms_iou_threshold=0.3)
    inputs = self._compare(config, 11)
    theirs, _ = roi_generator.MultilevelROIGenerator(**config)(
        *inputs, training=True)
    want, _ = _reference_proposals(config, inputs, True)
    self.assertNotAllClose(theirs, want)

  def test_greedy_nms_proposals_with_a_score_threshold(self):
    self._compare(_roi_config(pre_nms_score_threshold=0.6,
                              test_pre_nms_score_threshold=0.8), 7)

  def test_keeps_the_pre_nms_top_k(self):
    # tf-models' own batched option suppresses over every anchor of a level
    # (no pre-NMS top-k) and proposes other ROIs on these inputs: the kernel
    # layer must not be that. (A top-k under the proposals per level: the
    # top-k then bounds each level's proposals.)
    config = _roi_config(pre_nms_top_k=20, num_proposals=40,
                         nms_iou_threshold=0.3)
    inputs = self._compare(config, 11)
    batched = roi_generator.MultilevelROIGenerator(
        **dict(config, use_batched_nms=True))
    other, _ = batched(*inputs, training=True)
    want, _ = _reference_proposals(config, inputs, True)
    self.assertNotAllClose(other, want)

  def test_falls_back_where_it_would_differ(self):
    # A minimum box size (applied before tf-models' top-k): the parent's
    # own path.
    config = _roi_config(pre_nms_min_size_threshold=6.0,
                         test_pre_nms_min_size_threshold=6.0)
    inputs = _rpn_inputs(3)
    want = roi_generator.MultilevelROIGenerator(**config)(*inputs,
                                                          training=True)
    got = kernel_nms.KernelNmsROIGenerator(**config)(*inputs, training=True)
    self.assertAllClose(got, want)


class KernelDetectionGeneratorTest(tf.test.TestCase):

  def test_per_class_greedy_nms(self):
    rng = np.random.default_rng(0)
    batch, rois_n, classes, max_out = 2, 200, 5, 40
    y = rng.uniform(0, 50, [batch, rois_n, 1])
    x = rng.uniform(0, 80, [batch, rois_n, 1])
    h, w = rng.uniform(4, 30, y.shape), rng.uniform(4, 30, x.shape)
    rois = tf.constant(np.concatenate([y, x, y + h, x + w], -1), tf.float32)
    box_outputs = tf.constant(rng.normal(0, 0.5, [batch, rois_n, 4 * classes]),
                              tf.float32)
    class_outputs = tf.constant(rng.normal(0, 2, [batch, rois_n, classes]),
                                tf.float32)
    shape = tf.constant([[64.0, 96.0], [60.0, 90.0]])
    v2 = detection_generator.DetectionGenerator(
        pre_nms_score_threshold=0.05, nms_iou_threshold=0.5,
        max_num_detections=max_out)
    layer = kernel_nms.kernel_detection_generator(v2, rois_n)
    self.assertEqual(layer.get_config()['nms_version'], 'batched')
    got = layer(box_outputs, class_outputs, rois, shape)
    decoded = detection_generator.DetectionGenerator(apply_nms=False)(
        box_outputs, class_outputs, rois, shape)
    for image in range(batch):
      rows = []
      boxes = decoded['decoded_boxes'][image].numpy()  # [N, C - 1, 4]
      scores = decoded['decoded_box_scores'][image].numpy()  # [N, C - 1]
      for c in range(classes - 1):
        ok = np.flatnonzero(scores[:, c] > 0.05)
        for i in ok[_greedy_nms(boxes[ok, c], scores[ok, c], 0.5, max_out)]:
          rows.append((scores[i, c], c + 1, boxes[i, c]))
      rows.sort(key=lambda r: -r[0])
      rows = rows[:max_out]
      n = int(got['num_detections'][image])
      self.assertEqual(n, len(rows))
      self.assertGreater(n, 10)
      self.assertAllClose(got['detection_scores'][image, :n],
                          [r[0] for r in rows], atol=1e-6)
      self.assertAllEqual(got['detection_classes'][image, :n],
                          [r[1] for r in rows])
      self.assertAllClose(got['detection_boxes'][image, :n],
                          [r[2] for r in rows], atol=1e-4)

  def test_other_versions_unchanged(self):
    v1 = detection_generator.DetectionGenerator(nms_version='v1')
    self.assertIs(kernel_nms.kernel_detection_generator(v1, 100), v1)
    no_nms = detection_generator.DetectionGenerator(apply_nms=False)
    self.assertIs(kernel_nms.kernel_detection_generator(no_nms, 100), no_nms)

  def test_top_k_under_the_proposals_keeps_v2(self):
    det = detection_generator.DetectionGenerator(pre_nms_top_k=500)
    self.assertIs(kernel_nms.kernel_detection_generator(det, 501), det)
    self.assertEqual(
        kernel_nms.kernel_detection_generator(det, 500).get_config()[
            'nms_version'], 'batched')

  def test_no_swap_when_v2_top_k_drops_proposals(self):
    rois = roi_generator.MultilevelROIGenerator(test_num_proposals=1000)
    det = detection_generator.DetectionGenerator(pre_nms_top_k=500)
    new_rois, new_det = kernel_nms.use_kernel_nms(rois, det)
    self.assertIsInstance(new_rois, kernel_nms.KernelNmsROIGenerator)
    self.assertIs(new_det, det)


class ModelTest(tf.test.TestCase):

  def test_model_config_selects_the_kernel(self):
    cfg = exp_factory.get_exp_config('maskconsist_smoke').task.model
    self.assertTrue(cfg.kernel_nms)
    spec = tf_keras.layers.InputSpec(shape=[None, *IMAGE, 3])
    model = model_lib.build_maskconsist_model(spec, cfg)
    self.assertIsInstance(model.roi_generator,
                          kernel_nms.KernelNmsROIGenerator)
    self.assertEqual(
        model.detection_generator.get_config()['nms_version'], 'batched')
    cfg.kernel_nms = False
    model = model_lib.build_maskconsist_model(spec, cfg)
    self.assertNotIsInstance(model.roi_generator,
                             kernel_nms.KernelNmsROIGenerator)
    self.assertEqual(
        model.detection_generator.get_config()['nms_version'], 'v2')


if __name__ == '__main__':
  tf.test.main()
