"""train() through tf-models' Orbit driver: checkpoints, resume, progress;
and predict_frames on the trained model."""

import glob
import os
import tempfile

import numpy as np
import tensorflow as tf

from official.vision.ops import anchor
from tests.maskconsist import fixtures
from wsvis_tf.backbones import resnet
from wsvis_tf.core import keys as core_keys
from wsvis_tf.maskconsist import inference
from wsvis_tf.maskconsist import keys
from wsvis_tf.maskconsist import train_lib


class TrainTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.work = fixtures.TinyWork(tempfile.mkdtemp(prefix='mc_train_test_'))

  def test_train_resume_and_predict(self):
    root = self.create_tempdir().full_path
    weights = os.path.join(root, 'imagenet.h5')
    resnet.build_resnet('resnet_tiny').save_weights(weights)
    model_dir = os.path.join(root, 'model')

    # The baseline (a smaller graph to trace twice): resuming and logging do
    # not depend on MaskConsist, whose steps task_test and the distributed
    # tests train.
    def params(steps):
      p = self.work.params(False)
      p.task.model.backbone.wsvis_resnet.init = 'imagenet'
      p.task.model.backbone.wsvis_resnet.imagenet_weights = weights
      p.trainer.train_steps = steps
      return p

    with self.assertLogs(level='INFO') as logs:
      first = train_lib.train(params(2), model_dir)
    self.assertEqual(first['steps'], 2)
    self.assertTrue(np.isfinite(first['training_loss']))
    self.assertEqual(os.path.basename(first['checkpoint']), 'ckpt-2')
    self.assertTrue(any('steps/s' in line and 'ETA' in line and
                        'step 2/2' in line for line in logs.output))
    self.assertTrue(any('Backbone: ImageNet weights' in line
                        for line in logs.output))
    self.assertTrue(os.path.exists(os.path.join(model_dir, 'params.yaml')))
    self.assertNotEmpty(glob.glob(os.path.join(model_dir, 'train',
                                               'events.out.tfevents.*')))
    # Resume: the initialisation file is not needed (nor read) any more.
    os.remove(weights)
    with self.assertLogs(level='INFO') as logs:
      second, model = train_lib.train(params(4), model_dir,
                                      return_model=True)
    self.assertEqual(second['steps'], 4)
    self.assertEqual(os.path.basename(second['checkpoint']), 'ckpt-4')
    self.assertFalse(any('Backbone:' in line for line in logs.output))
    self.assertTrue(any('step 4/4' in line for line in logs.output))
    self.assertIn('mask_loss', second)

    # predict_frames: detections in each frame's own pixels.
    cfg = params(4).task.model
    frames = self.work.videos[0][core_keys.FRAMES][:3]
    small = tf.image.resize(frames[:1], (32, 40)).numpy().astype(np.uint8)
    preds = inference.predict_frames(model, list(frames) + list(small), cfg,
                                     min_score=0.0, batch_size=2)
    self.assertLen(preds, 4)
    for p, frame in zip(preds, list(frames) + list(small)):
      self.assertEqual(p.masks.shape[1:], frame.shape[:2])
      self.assertEqual(len(p), p.masks.shape[0])
      self.assertTrue(np.all(np.diff(p.scores) <= 0))
    # Boxes: the model's canvas boxes divided by the frame's scale.
    image, info = inference.preprocess(tf.constant(small[0]), cfg)
    anchors = anchor.build_anchor_generator(
        cfg.min_level, cfg.max_level, cfg.anchor.num_scales,
        cfg.anchor.aspect_ratios, cfg.anchor.anchor_size)(image_size=(64, 96))
    out = model(image[None], image_shape=info[None, 1],
                anchor_boxes={k: v[None] for k, v in anchors.items()},
                training=False)
    n = len(preds[3])
    self.assertGreater(n, 0)
    self.assertAllClose(info[2], [2.0, 2.0])
    self.assertAllClose(preds[3].boxes, out[keys.DETECTION_BOXES][0, :n] / 2,
                        atol=1e-4)
    self.assertAllEqual(preds[3].classes, out[keys.DETECTION_CLASSES][0, :n])
    high = inference.predict_frames(model, frames[:1], cfg, min_score=0.3)
    self.assertTrue(np.all(high[0].scores >= 0.3))


if __name__ == '__main__':
  tf.test.main()
