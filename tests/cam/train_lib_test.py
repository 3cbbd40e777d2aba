"""A tiny CAM network learns a toy task; its CAM peaks on the class part."""

import numpy as np
import tensorflow as tf

from tests.cam import toy_data
from wsvis_tf.cam import config as config_lib
from wsvis_tf.cam import extraction
from wsvis_tf.cam import input_pipeline
from wsvis_tf.cam import model as model_lib
from wsvis_tf.cam import train_lib
from wsvis_tf.core import keys


class TrainCamTest(tf.test.TestCase):

  def test_learns_the_toy_task_and_cams_find_the_parts(self):
    tf.random.set_seed(0)
    data = toy_data.toy_dataset(256, seed=0)
    cfg = config_lib.cam_config_from_dict({
        'backbone': {'name': 'resnet_tiny'},
        'train': {'crop_size': 64, 'resize_long': [64, 80],
                  'batch_size': 16, 'learning_rate': 0.1, 'log_every': 50,
                  'checkpoint_every': 100}})
    frames = tf.data.Dataset.from_tensor_slices(
        {keys.IMAGE: data['image'], keys.LABELS: data['labels']})
    model_dir = self.create_tempdir().full_path
    result = train_lib.train_cam(
        lambda: model_lib.build_cam_model(cfg, 2),
        lambda: input_pipeline.training_dataset(
            frames, 64, (64, 80), 16, cache=True, seed=0),
        cfg.train, num_steps=300, model_dir=model_dir)
    # The loss falls at least 4x (first step ~0.7).
    self.assertGreater(result['first_loss'], 0.5)
    self.assertLess(result['final_loss'], result['first_loss'] / 4)
    self.assertEqual(result['nonfinite_examples'], 0)
    self.assertTrue(result['checkpoint'].endswith('ckpt-300'))

    model = model_lib.CamNet(2, 'resnet_tiny', cfg.backbone.frozen_stages,
                             cfg.backbone.frozen_bn)
    model_lib.restore_cam_model(model, result['checkpoint'])
    extractor = extraction.CamExtractor(model, (1.0, 2.0))
    test = toy_data.toy_dataset(24, seed=1)
    hits = total = 0
    for image, labels, parts in zip(test['image'], test['labels'],
                                    test['parts']):
      cams = extractor(image, labels)
      for k, c in enumerate(cams[extraction.NPZ_KEYS]):
        y, x = np.unravel_index(
            np.argmax(cams[extraction.NPZ_HIGH_RES][k]), image.shape[:2])
        near = [abs(y - (py + 4)) <= 8 and abs(x - (px + 4)) <= 8
                for pc, py, px in parts if pc == c]
        hits += any(near)
        total += 1
    # The peak of each class's CAM lies on (within 4 px of) one of its parts.
    self.assertGreaterEqual(hits / total, 0.8, f'{hits}/{total}')

  def test_resume_and_poly_schedule(self):
    data = toy_data.toy_dataset(32, seed=2)
    cfg = config_lib.cam_config_from_dict({
        'backbone': {'name': 'resnet_tiny'},
        'train': {'batch_size': 8, 'log_every': 1, 'checkpoint_every': 2}})
    frames = tf.data.Dataset.from_tensor_slices(
        {keys.IMAGE: data['image'], keys.LABELS: data['labels']})
    model_dir = self.create_tempdir().full_path
    calls = []

    def run(steps):
      return train_lib.train_cam(
          lambda: model_lib.build_cam_model(cfg, 2),
          lambda: input_pipeline.training_dataset(frames, 64, (64, 64), 8),
          cfg.train, steps, model_dir, init_fn=calls.append)

    run(3)
    self.assertLen(calls, 1)
    result = run(5)  # resumes at step 3; init_fn not called again
    self.assertLen(calls, 1)
    self.assertTrue(result['checkpoint'].endswith('ckpt-5'))
    again = run(5)  # nothing left to do
    self.assertIsNone(again['first_loss'])
    schedule = train_lib.PolyDecay(0.1, 10, 0.9)
    self.assertAllClose(schedule(0), 0.1)
    self.assertAllClose(schedule(5), 0.1 * 0.5 ** 0.9)
    self.assertAllClose(schedule(20), 0.0)


if __name__ == '__main__':
  tf.test.main()
