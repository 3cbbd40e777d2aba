"""Tests for wsvis_tf.flow.train_lib and train_data: staged training, resume.

A tiny model, 48x64 procedural frames, a few steps per stage; ~40 s on 2
CPU cores.
"""

import os

import numpy as np
import tensorflow as tf

from datasets.synthetic import render
from wsvis_tf.core import keys
from wsvis_tf.flow import config as config_lib
from wsvis_tf.flow import losses as losses_lib
from wsvis_tf.flow import train_data
from wsvis_tf.flow import train_lib

_RENDER = render.RenderConfig(height=48, width=64, num_frames=4,
                              min_visible_pixels=8, seed=5)


def _videos(n=2):
  out = []
  for i in range(n):
    v = render.render_video(_RENDER, render.video_rng(5, 'train', i))
    v[keys.VIDEO_ID] = f'v{i}'
    out.append(v)
  return out


def _config(stages):
  return config_lib.get_config('smoke', {'train': {
      'stages': [{'name': n, 'steps': s} for n, s in stages],
      'checkpoint_every': 2, 'summary_every': 2, 'eval_every': 100}})


class TrainDataTest(tf.test.TestCase):

  def test_pairs_and_augmented_batches(self):
    data = train_data.collect_pairs(_videos(), distances=(1, 2))
    self.assertEqual(data.frames.shape, (8, 48, 64, 3))
    # Per 4-frame video: 3 pairs at distance 1, 2 at distance 2.
    self.assertLen(data.pairs, 10)
    self.assertAllEqual(data.pairs[:3], [[0, 1], [1, 2], [2, 3]])
    ds = train_data.make_dataset(data, batch_size=3, seed=0)
    batch = next(iter(ds))
    self.assertEqual(batch[train_data.IMAGE1].shape, (3, 48, 64, 3))
    self.assertEqual(batch[train_data.IMAGE1].dtype, tf.float32)
    self.assertLessEqual(float(tf.reduce_max(batch[train_data.IMAGE2])), 1.0)

  def test_teacher_is_flipped_swapped_and_cropped_with_the_frames(self):
    data = train_data.PairData(
        frames=np.stack([np.full((8, 10, 3), i * 10, np.uint8)
                         for i in range(2)]),
        pairs=np.array([[0, 1]], np.int32))
    teacher = {
        train_data.TEACHER_FW: np.tile(np.float16([1, 2]), (1, 8, 10, 1)),
        train_data.TEACHER_BW: np.tile(np.float16([-1, -2]), (1, 8, 10, 1)),
        train_data.TEACHER_OCC_FW: np.zeros((1, 8, 10, 1), np.uint8),
        train_data.TEACHER_OCC_BW: np.ones((1, 8, 10, 1), np.uint8)}
    ds = train_data.make_dataset(data, 1, seed=1, teacher=teacher,
                                 patch_size=(6, 7))
    seen = set()
    for batch in ds.take(40):
      im1 = batch[train_data.IMAGE1].numpy()
      fw = batch[train_data.TEACHER_FW].numpy()[0, 0, 0]
      occ = batch[train_data.TEACHER_OCC_FW].numpy()[0, 0, 0, 0]
      self.assertEqual(im1.shape, (1, 6, 7, 3))
      swapped = im1[0, 0, 0, 0] > 0
      # Swapped: the teacher's directions swap with the frames.
      self.assertEqual(occ, 1.0 if swapped else 0.0)
      self.assertAllClose(np.abs(fw), [1, 2])
      sign = -1 if swapped else 1
      seen.add((swapped, fw[0] * sign > 0, fw[1] * sign > 0))
    self.assertLen(seen, 8)  # every flip and swap combination occurs

  def test_bad_videos_raise(self):
    one = {keys.VIDEO_ID: 'one', keys.FRAMES: np.zeros((1, 8, 8, 3),
                                                       np.uint8)}
    with self.assertRaisesRegex(ValueError, 'one has 1 frame'):
      train_data.collect_pairs([one], (1,))
    a = {keys.VIDEO_ID: 'a', keys.FRAMES: np.zeros((3, 8, 8, 3), np.uint8)}
    b = {keys.VIDEO_ID: 'b', keys.FRAMES: np.zeros((3, 8, 9, 3), np.uint8)}
    with self.assertRaisesRegex(ValueError, 'frames of size'):
      train_data.collect_pairs([a, b], (1,))


class ComputeLossesTest(tf.test.TestCase):

  def test_stages_and_pyramid_terms_are_finite(self):
    cfg = config_lib.get_config('smoke', {'losses': {
        'pyramid_weights': (1.0, 0.5)}})
    model = train_lib.model_lib.build_model(cfg.model, (40, 56))
    rng = np.random.default_rng(0)
    im = rng.uniform(0, 1, (2, 2, 37, 53, 3)).astype(np.float32)
    batch = {train_data.IMAGE1: tf.constant(im[0]),
             train_data.IMAGE2: tf.constant(im[1])}
    out = model((im[0], im[1]))
    for stage in ('photometric', 'census_occlusion'):
      got = train_lib.compute_losses(out, batch, stage, cfg.losses)
      self.assertIn(train_lib.LOSS_PYRAMID, got)
      for k, v in got.items():
        self.assertTrue(np.isfinite(v.numpy()), msg=f'{stage} {k}')
      self.assertAllClose(
          got[train_lib.LOSS_TOTAL],
          got[train_lib.LOSS_PYRAMID] + got.get(
              train_lib.LOSS_PHOTOMETRIC, got.get(train_lib.LOSS_CENSUS)))
    # Block means (frames padded symmetrically to a multiple of 4).
    small = train_lib._area_downsample(tf.constant(im[0]), 4).numpy()
    self.assertEqual(small.shape, (2, 10, 14, 3))
    self.assertAllClose(small[0, 0, 0], im[0, 0, :4, :4].mean((0, 1)),
                        atol=1e-6)

  def test_smoothness_term_is_added_with_its_weight(self):
    cfg = config_lib.get_config('smoke', {'losses': {
        'smoothness_weight': 0.25, 'smoothness_edge_constant': 5.0}})
    rng = np.random.default_rng(1)
    im = rng.uniform(0, 1, (2, 2, 12, 14, 3)).astype(np.float32)
    fw = rng.normal(size=(2, 12, 14, 2)).astype(np.float32)
    bw = rng.normal(size=(2, 12, 14, 2)).astype(np.float32)
    batch = {train_data.IMAGE1: tf.constant(im[0]),
             train_data.IMAGE2: tf.constant(im[1])}
    out = {train_lib.model_lib.FLOW_FW: tf.constant(fw),
           train_lib.model_lib.FLOW_BW: tf.constant(bw)}
    got = train_lib.compute_losses(out, batch, 'census_occlusion',
                                   cfg.losses)
    want = 0.5 * (
        losses_lib.edge_aware_smoothness_loss(im[0], fw, 5.0) +
        losses_lib.edge_aware_smoothness_loss(im[1], bw, 5.0))
    self.assertAllClose(got[train_lib.LOSS_SMOOTHNESS], want, rtol=1e-6)
    self.assertAllClose(got[train_lib.LOSS_TOTAL],
                        got[train_lib.LOSS_CENSUS] + 0.25 * want, rtol=1e-6)
    # Off (the default, and the paper preset): no term.
    self.assertEqual(config_lib.paper().losses.smoothness_weight, 0.0)
    plain = train_lib.compute_losses(out, batch, 'census_occlusion',
                                     config_lib.get_config('smoke').losses)
    self.assertNotIn(train_lib.LOSS_SMOOTHNESS, plain)


class TrainTest(tf.test.TestCase):

  def test_stages_checkpoints_and_resume(self):
    videos = _videos()
    data = train_data.collect_pairs(videos, (1,))
    eval_pairs = [(videos[0][keys.FRAMES][0], videos[0][keys.FRAMES][1],
                   videos[0][keys.GT_FLOW][0].astype(np.float32))]
    model_dir = self.create_tempdir().full_path
    first = _config([('photometric', 2), ('census_occlusion', 2)])
    metrics, _ = train_lib.train(first, data, model_dir, eval_pairs,
                                 jit_compile=False)
    self.assertEqual(metrics['steps'], 4)
    self.assertTrue(np.isfinite(metrics['loss/total']))
    self.assertIn('validation_epe', metrics)
    for i, name in enumerate(('photometric', 'census_occlusion')):
      self.assertTrue(tf.io.gfile.exists(
          train_lib.stage_weights_path(model_dir, i, name) + '.index'))
    self.assertNotEmpty(os.listdir(os.path.join(model_dir, 'summaries')))

    # Rerun with a longer schedule: resumes at step 4, runs only the new
    # distillation stage (teacher = the census stage's weights).
    second = _config([('photometric', 2), ('census_occlusion', 2),
                      ('distillation', 2)])
    metrics, model = train_lib.train(second, data, model_dir, eval_pairs,
                                     jit_compile=False)
    self.assertEqual(metrics['steps'], 6)
    self.assertIn('loss/distillation', metrics)
    self.assertEqual(
        tf.train.latest_checkpoint(os.path.join(model_dir, 'checkpoints')),
        os.path.join(model_dir, 'checkpoints', 'ckpt-6'))
    # Done: a third call trains nothing.
    metrics, _ = train_lib.train(second, data, model_dir, jit_compile=False)
    self.assertEqual(metrics['steps'], 6)
    # The teacher cache is dropped once its stage is done.
    self.assertEmpty([f for f in os.listdir(os.path.join(model_dir,
                                                         'stages'))
                      if f.endswith('.npz')])

    # Weights restore into a fresh model from the model dir (latest ckpt).
    fresh, _ = train_lib.load_exported(model_dir, second)
    a = videos[1][keys.FRAMES][:2].astype(np.float32) / 255.0
    self.assertAllClose(fresh((a[:1], a[1:]))['flow_fw'],
                        model((a[:1], a[1:]))['flow_fw'], atol=1e-5)

  def test_init_checkpoint_missing_is_a_clear_error(self):
    data = train_data.collect_pairs(_videos(1), (1,))
    with self.assertRaisesRegex(FileNotFoundError, 'no DDFlow weights'):
      train_lib.train(_config([('photometric', 1)]), data,
                      self.create_tempdir().full_path,
                      init_checkpoint='/nonexistent/weights',
                      jit_compile=False)


if __name__ == '__main__':
  tf.test.main()
