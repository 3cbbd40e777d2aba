"""Tests of the procedural renderer: determinism, exact GT, failure modes."""

import dataclasses

from absl.testing import absltest
import numpy as np
from scipy import ndimage

from datasets.synthetic import render
from datasets.synthetic import synthetic
from wsvis_tf.core import flow_ops
from wsvis_tf.core import keys

TINY = synthetic.TINY_CONFIG.render
DEFAULT = synthetic.DEFAULT_CONFIG.render


def _video(config, index, split='train'):
  return render.render_video(config, render.video_rng(config.seed, split,
                                                      index))


def _warp(images, flow):
  """Backward-warps [T-1, H, W, C] frames t+1 by the flow t->t+1."""
  return flow_ops.warp(images.astype(np.float32), flow).numpy()


def _adjacent(a, b):
  """Whether two [H, W] bool masks share a 4-neighbour boundary."""
  return bool((a[:, :-1] & b[:, 1:]).any() or (b[:, :-1] & a[:, 1:]).any() or
              (a[:-1] & b[1:]).any() or (b[:-1] & a[1:]).any())


class DeterminismTest(absltest.TestCase):

  def test_same_seed_same_video_other_seed_other_video(self):
    a = _video(TINY, 0)
    b = _video(TINY, 0)
    self.assertEqual(sorted(a), sorted(b))
    for key in a:
      np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    c = render.render_video(TINY, render.video_rng(TINY.seed + 1, 'train', 0))
    self.assertFalse(np.array_equal(a[keys.FRAMES], c[keys.FRAMES]))
    d = _video(TINY, 0, split='validation')
    self.assertFalse(np.array_equal(a[keys.FRAMES], d[keys.FRAMES]))

  def test_shapes_and_dtypes(self):
    v = _video(TINY, 1)
    t, h, w, c = TINY.num_frames, TINY.height, TINY.width, TINY.num_classes
    n = len(v[keys.TRACK_IDS])
    self.assertBetween(n, TINY.min_instances, TINY.max_instances)
    expected = {
        keys.FRAMES: ((t, h, w, 3), np.uint8),
        keys.FRAME_LABELS: ((t, c), np.bool_),
        keys.ANNOTATED: ((t,), np.bool_),
        keys.INSTANCE_MAP: ((t, h, w, 1), np.uint16),
        keys.TRACK_IDS: ((n,), np.int64),
        keys.TRACK_CLASSES: ((n,), np.int64),
        keys.GT_FLOW: ((t - 1, h, w, 2), np.float32),
        keys.GT_OCCLUSION: ((t - 1, h, w), np.bool_),
    }
    for key, (shape, dtype) in expected.items():
      self.assertEqual(v[key].shape, shape, key)
      self.assertEqual(v[key].dtype, dtype, key)
    self.assertEqual(list(v[keys.FRAME_NAMES][:2]), ['00000.jpg', '00001.jpg'])
    self.assertTrue(v[keys.ANNOTATED].all())
    # Flow is a multiple of 1/32 px, hence exact in float16.
    flow = v[keys.GT_FLOW]
    np.testing.assert_array_equal(flow.astype(np.float16).astype(np.float32),
                                  flow)

  def test_bad_config(self):
    with self.assertRaises(ValueError):
      render.RenderConfig(num_classes=99)
    with self.assertRaises(ValueError):
      render.RenderConfig(min_instances=3, max_instances=2)


class GroundTruthTest(absltest.TestCase):
  """Warping frame t+1 and its masks with the GT flow gives back frame t."""

  def _check_video(self, config, index):
    v = _video(dataclasses.replace(config, noise_std=0.0), index)
    inst = v[keys.INSTANCE_MAP][..., 0]
    flow, occ = v[keys.GT_FLOW], v[keys.GT_OCCLUSION]
    n = len(v[keys.TRACK_IDS])
    # Pixels of frame t that stay visible, and are not within a pixel of an
    # occlusion or a label edge (a binary mask cannot carry the subpixel
    # edge position, so edge pixels may flip when warped).
    near_occ = ndimage.binary_dilation(occ, np.ones((1, 3, 3), bool))
    edge = (ndimage.minimum_filter(inst[:-1], (1, 3, 3)) !=
            ndimage.maximum_filter(inst[:-1], (1, 3, 3)))
    interior = ~near_occ & ~edge
    visible = ~occ

    masks_next = np.stack([inst[1:] == k + 1 for k in range(n)], -1)
    masks_now = np.stack([inst[:-1] == k + 1 for k in range(n)], -1)
    stats = {}
    for name, f in (('gt', flow), ('zero', 0 * flow)):
      warped = _warp(masks_next, f) >= 0.5
      i_all = (warped & masks_now & visible[..., None]).sum()
      u_all = ((warped | masks_now) & visible[..., None]).sum()
      i_in = (warped & masks_now & interior[..., None]).sum()
      u_in = ((warped | masks_now) & interior[..., None]).sum()
      photo = np.abs(_warp(v[keys.FRAMES][1:], f) -
                     v[keys.FRAMES][:-1].astype(np.float32))
      moving = interior & (np.abs(flow).max(-1) >= 1)
      stats[name] = dict(iou_all=i_all / max(u_all, 1),
                         iou_in=i_in / max(u_in, 1),
                         photo=photo[interior].mean(),
                         photo_moving=photo[moving].mean())
    return stats, v

  def test_warping_reproduces_frames_and_masks(self):
    # Whole-mask IoU also counts edge pixels that flip: a bigger share of
    # the small objects of the tiny config.
    for config, indices, min_iou in ((TINY, range(4), 0.85),
                                     (DEFAULT, range(3), 0.95)):
      for index in indices:
        stats, _ = self._check_video(config, index)
        gt, zero = stats['gt'], stats['zero']
        msg = f'{config.height}x{config.width} video {index}: {stats}'
        self.assertGreater(gt['iou_in'], 0.995, msg)
        self.assertGreater(gt['iou_all'], min_iou, msg)
        self.assertLess(gt['photo'], 1.5, msg)
        # The check can fail: without the motion the agreement drops.
        self.assertLess(zero['iou_all'], gt['iou_all'] - 0.02, msg)
        self.assertGreater(zero['photo_moving'], 2 * gt['photo_moving'], msg)

  def test_flow_is_per_layer_translation(self):
    v = _video(DEFAULT, 3)
    inst = v[keys.INSTANCE_MAP][..., 0]
    flow = v[keys.GT_FLOW]
    for t in range(len(flow)):
      for k in range(len(v[keys.TRACK_IDS])):
        vectors = flow[t][inst[t] == k + 1]
        if vectors.size:
          self.assertEqual(len(np.unique(vectors, axis=0)), 1)

  def test_occlusion_marks_leaving_and_covered_pixels(self):
    found_edge = found_covered = False
    for index in range(12):
      v = _video(DEFAULT, index)
      occ, flow = v[keys.GT_OCCLUSION], v[keys.GT_FLOW]
      inst = v[keys.INSTANCE_MAP][..., 0]
      h, w = inst.shape[1:]
      ys, xs = np.mgrid[0:h, 0:w]
      leaving = ((xs + flow[..., 0] < 0) | (xs + flow[..., 0] > w - 1) |
                 (ys + flow[..., 1] < 0) | (ys + flow[..., 1] > h - 1))
      # Every pixel that moves out of the frame is occluded.
      self.assertTrue(occ[leaving].all())
      found_edge |= bool((leaving & (inst[:-1] > 0)).any())
      # Object pixels that go behind something: visible at t, covered at
      # t + 1 although inside the frame.
      found_covered |= bool((occ & ~leaving & (inst[:-1] > 0)).any())
      self.assertLess(occ.mean(), 0.2)
    self.assertTrue(found_edge)
    self.assertTrue(found_covered)


class FailureModesTest(absltest.TestCase):
  """The default config's videos provoke the paper's failure modes."""

  NUM_VIDEOS = 24

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.scenes, cls.videos = [], []
    for index in range(cls.NUM_VIDEOS):
      scene = render.sample_scene(
          DEFAULT, render.video_rng(DEFAULT.seed, 'train', index))
      cls.scenes.append(scene)
      cls.videos.append(render.render_scene(scene, DEFAULT))

  def test_part_area_fraction(self):
    fractions = [s.layers[li].sprite.part_fraction()
                 for s in self.scenes for li in s.objects]
    self.assertGreaterEqual(min(fractions), 0.12)
    self.assertLessEqual(max(fractions), 0.3)
    self.assertBetween(float(np.mean(fractions)), 0.15, 0.25)

  def test_camera_motion(self):
    moving = 0
    for v in self.videos:
      background = v[keys.INSTANCE_MAP][:-1, ..., 0] == 0
      speed = np.linalg.norm(v[keys.GT_FLOW][background], axis=-1)
      moving += bool(speed.size) and speed.max() > 0.1
      objects = np.linalg.norm(v[keys.GT_FLOW][~background], axis=-1)
      if speed.size and objects.size:
        # Objects move faster than the camera: flow magnitude tells them.
        self.assertGreater(np.median(objects), np.median(speed))
    self.assertBetween(moving / self.NUM_VIDEOS, 0.5, 0.95)

  def test_touching_same_class_pairs_with_different_motion(self):
    with_pair = 0
    for v in self.videos:
      inst = v[keys.INSTANCE_MAP][..., 0]
      classes = v[keys.TRACK_CLASSES]
      found = False
      for t in range(len(v[keys.GT_FLOW])):
        for a in range(len(classes)):
          for b in range(a + 1, len(classes)):
            ma, mb = inst[t] == a + 1, inst[t] == b + 1
            if classes[a] != classes[b] or not ma.any() or not mb.any():
              continue
            diff = (v[keys.GT_FLOW][t][ma][0] - v[keys.GT_FLOW][t][mb][0])
            if np.linalg.norm(diff) > 1.0 and _adjacent(ma, mb):
              found = True
      with_pair += found
    self.assertGreaterEqual(with_pair / self.NUM_VIDEOS, 0.2)

  def test_instances_hidden_on_some_frames(self):
    with_hidden = 0
    for v in self.videos:
      inst = v[keys.INSTANCE_MAP][..., 0]
      n = len(v[keys.TRACK_IDS])
      area = np.stack([(inst == k + 1).sum((1, 2)) for k in range(n)], 1)
      shown = area >= DEFAULT.min_visible_pixels
      with_hidden += bool((shown.any(0) & ~shown.all(0)).any())
    self.assertGreaterEqual(with_hidden / self.NUM_VIDEOS, 0.25)

  def test_frame_labels_agree_with_instance_map(self):
    for v in self.videos:
      inst = v[keys.INSTANCE_MAP][..., 0]
      labels = v[keys.FRAME_LABELS]
      for t in range(len(inst)):
        area = np.zeros(DEFAULT.num_classes, np.int64)
        for k, c in enumerate(v[keys.TRACK_CLASSES]):
          area[c] += (inst[t] == k + 1).sum()
        np.testing.assert_array_equal(
            labels[t], area >= DEFAULT.min_visible_pixels)
      self.assertLessEqual(inst.max(), len(v[keys.TRACK_IDS]))


class TrackIdsTest(absltest.TestCase):

  def test_unique_across_splits(self):
    ids = []
    for split in ('train', 'validation'):
      for _, example in synthetic.generate_videos(synthetic.TINY_CONFIG,
                                                  split):
        ids.extend(example[keys.TRACK_IDS].tolist())
    self.assertLen(set(ids), len(ids))


if __name__ == '__main__':
  absltest.main()
