"""Train steps of MaskConsistTask on the tiny procedural data."""

import tempfile

import numpy as np
import tensorflow as tf
import tf_keras

from official.core import train_utils
from tests.maskconsist import fixtures
from wsvis_tf.core import training
from wsvis_tf.maskconsist import keys
from wsvis_tf.maskconsist import matching
from wsvis_tf.maskconsist import matching_op
from wsvis_tf.maskconsist import task as task_lib


class TaskTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.work = fixtures.TinyWork(tempfile.mkdtemp(prefix='mc_task_test_'))

  def _setup(self, maskconsist, pseudo_labels=None, **matching_fields):
    params = self.work.params(maskconsist, pseudo_labels)
    params.task.matching.override(matching_fields)
    tf_keras.utils.set_random_seed(0)
    task = task_lib.MaskConsistTask(params.task, source=self.work.source)
    model = task.build_model()
    optimizer = train_utils.create_optimizer(task, params)
    batch = next(iter(task.build_inputs(params.task.train_data)))
    return task, model, optimizer, batch

  def _step(self, task, model, optimizer, batch, fn=None, metrics=None):
    metrics = metrics or task.build_metrics(training=True)
    before = [v.numpy() for v in model.trainable_variables]
    fn = fn or tf.function(task.train_step)
    logs = fn(batch, model=model, optimizer=optimizer, metrics=metrics)
    after = [v.numpy() for v in model.trainable_variables]
    changed = sum(not np.array_equal(a, b, equal_nan=True)
                  for a, b in zip(before, after))
    results = {m.name: float(m.result()) for m in metrics}
    return logs, results, changed / len(before)

  def test_step_trains_with_and_without_maskconsist(self):
    for maskconsist in (True, False):
      task, model, optimizer, batch = self._setup(maskconsist)
      calls = []
      # pylint: disable=protected-access
      original = model._get_backbone_and_decoder_features

      def counting(images, original=original, calls=calls):
        calls.append(images.shape)
        return original(images)

      model._get_backbone_and_decoder_features = counting
      # pylint: enable=protected-access
      step = tf.function(task.train_step)
      metrics = task.build_metrics(training=True)
      logs, results, changed = self._step(task, model, optimizer, batch,
                                          step, metrics)
      # The backbone runs once per step, on both frames of both pairs: one
      # call per trace (tf.function traces twice when the optimizer creates
      # its slots on the first call).
      self.assertLen(calls, step.experimental_get_tracing_count())
      # Reproducible from its seed: no stateful random op in a parallel
      # loop (the RPN labeler's anchor sampling under tf.map_fn).
      graph = step.get_concrete_function(
          batch, model=model, optimizer=optimizer,
          metrics=metrics).graph
      self.assertEqual(training.stateful_random_in_parallel_loops(graph), [])
      self.assertEqual(calls[0][0], 4)
      self.assertTrue(np.isfinite(float(logs['loss'])), maskconsist)
      for name in task_lib.LOSS_NAMES:
        self.assertTrue(np.isfinite(results[name]), name)
      self.assertGreater(results['mask_loss'], 0.0)
      self.assertGreater(changed, 0.9, maskconsist)
      self.assertEqual(results[task_lib.NONFINITE_STEPS], 0.0)
      stat = task_lib.STAT_PREFIX + matching_op.STAT_LABELS_BEFORE
      if maskconsist:
        self.assertGreater(results[stat], 0.0)
        self.assertGreater(
            results[task_lib.STAT_PREFIX + matching.STAT_CANDIDATES_A], 0.0)
      else:
        self.assertNotIn(stat, results)

  def test_trains_on_background_only(self):
    # MaskConsist's step (the baseline's forward is tf-models' own).
    empty = self.work.pseudo_labels('empty.json', keep=lambda a: False)
    task, model, optimizer, batch = self._setup(True, empty)
    self.assertAllEqual(batch[1][keys.GT_CLASSES],
                        -np.ones_like(batch[1][keys.GT_CLASSES]))
    logs, results, changed = self._step(task, model, optimizer, batch)
    self.assertTrue(np.isfinite(float(logs['loss'])))
    self.assertGreater(results['rpn_score_loss'], 0.0)
    self.assertGreater(changed, 0.3)

  def test_nonfinite_loss_is_skipped_and_counted(self):
    task, model, optimizer, batch = self._setup(False)
    # A NaN in the classifier's bias (after the last batch norm): the class
    # loss and every gradient through it are NaN.
    bias = [v for v in model.trainable_variables
            if 'detection-scores/bias' in v.name]
    self.assertLen(bias, 1)
    bias[0].assign(tf.fill(bias[0].shape, np.nan))
    logs, results, changed = self._step(task, model, optimizer, batch)
    self.assertEqual(changed, 0.0)
    self.assertEqual(results[task_lib.NONFINITE_STEPS], 1.0)
    self.assertEqual(float(logs['loss']), 0.0)

  def test_merged_labels_are_reencoded(self):
    # Predictions fed by hand: frame a's pseudo-labels, on both frames of
    # each pair; frame b's own labels removed. MaskConsist must give b the
    # labels of a (zero flow), encoded for Mask R-CNN, with RPN targets.
    # Without unions and IoM-NMS: one transferred label per label of a,
    # even where same-class objects overlap.
    task, model, _, batch = self._setup(True, intra_frame=False,
                                        iom_nms=False)
    images, labels = task_lib.flatten_pairs(*batch)
    labels = dict(labels)
    frames = images.shape[0]
    classes = labels[keys.GT_CLASSES].numpy()
    boxes = labels[keys.GT_BOXES].numpy()
    full = labels[keys.FULL_MASKS].numpy()
    a = np.arange(0, frames, 2)
    want_classes = classes[a]
    classes[a + 1] = -1
    full[a + 1] = False
    labels[keys.GT_CLASSES] = tf.constant(classes)
    labels[keys.FULL_MASKS] = tf.constant(full)
    n = 6
    det_boxes = np.zeros((frames, n, 4), np.float32)
    det_classes = np.zeros((frames, n), np.int32)
    det_scores = np.zeros((frames, n), np.float32)
    counts = np.zeros((frames,), np.int32)
    for f in range(frames):
      src = f - f % 2
      valid = np.flatnonzero(want_classes[src // 2] > 0)[:n]
      counts[f] = len(valid)
      det_boxes[f, :len(valid)] = boxes[src, valid]
      det_classes[f, :len(valid)] = want_classes[src // 2, valid]
      det_scores[f, :len(valid)] = 0.9
    self.assertGreater(counts.sum(), 0)

    def detect(shared, image_shape, anchor_boxes):
      del shared, image_shape, anchor_boxes
      return {keys.DETECTION_BOXES: tf.constant(det_boxes),
              keys.DETECTION_CLASSES: tf.constant(det_classes),
              keys.DETECTION_SCORES: tf.constant(det_scores),
              keys.NUM_DETECTIONS: tf.constant(counts),
              keys.DETECTION_MASKS: tf.ones([frames, n, 28, 28])}

    model.detect = detect
    new, stats = task.maskconsist_labels(model, None, labels)
    new_classes = new[keys.GT_CLASSES].numpy()
    new_boxes = new[keys.GT_BOXES].numpy()
    for p, f in enumerate(a):
      valid = want_classes[p] > 0
      self.assertAllEqual(new_classes[f], classes[f])  # a keeps its own
      self.assertAllEqual(new_boxes[f][valid], boxes[f][valid])
      got = new_classes[f + 1]
      self.assertAllEqual(sorted(got[got > 0]),
                          sorted(want_classes[p][valid]))
      # The transferred masks are the boxes (all-one box masks, the union
      # of a's warped prediction and b's): their tight boxes.
      for box in boxes[f][valid]:
        self.assertTrue(any(np.allclose(box, b, atol=1.0)
                            for b in new_boxes[f + 1][got > 0]))
      positives = sum(int(tf.reduce_sum(tf.cast(v[f + 1] == 1, tf.int32)))
                      for v in new[keys.RPN_SCORE_TARGETS].values())
      self.assertGreater(positives, 0)
    transferred = matching_op.stats_dict(stats)[matching.STAT_TRANSFERRED_B]
    self.assertAllEqual(transferred.numpy(),
                        (want_classes > 0).sum(axis=1))
    # Before maskconsist_start_step: no prediction reaches matching, the
    # pseudo-labels stay (frame b stays empty).
    new, stats = task.maskconsist_labels(model, None, labels,
                                         enabled=tf.constant(False))
    self.assertAllEqual(new[keys.GT_CLASSES], labels[keys.GT_CLASSES])
    self.assertAllEqual(new[keys.GT_BOXES][::2], labels[keys.GT_BOXES][::2])
    stats = matching_op.stats_dict(stats)
    self.assertAllEqual(stats[matching.STAT_CANDIDATES_A], [0, 0])
    self.assertAllEqual(stats[matching.STAT_TRANSFERRED_B], [0, 0])


if __name__ == '__main__':
  tf.test.main()
