"""Tests of the MaskConsist pair input pipeline on hand-made videos."""

import json
import os

import numpy as np
import tensorflow as tf

from official.vision.ops import anchor
from official.vision.ops import preprocess_ops
from wsvis_tf.core import keys as core_keys
from wsvis_tf.core import mask_ops
from wsvis_tf.flow import flow_store
from wsvis_tf.maskconsist import config as config_lib
from wsvis_tf.maskconsist import input_pipeline
from wsvis_tf.maskconsist import keys
from wsvis_tf.maskconsist import labels

H, W = 30, 40
NAMES = ['cat', 'dog']
# Frame (video, t) -> [(class, (y1, x1, y2, x2))]; v0 frame 2 has none.
OBJECTS = {
    ('v0', 0): [(1, (4, 6, 14, 20)), (2, (16, 22, 26, 36))],
    ('v0', 1): [(1, (4, 8, 14, 22))],
    ('v0', 2): [],
    ('v0', 3): [(2, (10, 2, 20, 12))],
    ('v0', 4): [(2, (11, 3, 21, 13))],
    ('v1', 0): [(1, (0, 0, 8, 8))],
    ('v1', 1): [(1, (1, 1, 9, 9))],
    ('v1', 2): [(1, (2, 2, 10, 10))],
}
FLOW = (1.5, -0.5)  # every flow file: a constant (dx, dy) times (b - a)


def _mask(box):
  m = np.zeros((H, W), np.uint8)
  y1, x1, y2, x2 = box
  m[y1:y2, x1:x2] = 1
  return m


def _videos():
  rng = np.random.default_rng(0)
  out = []
  for vid, length, annotated in (('v0', 5, [1, 0, 1, 1, 1]),
                                 ('v1', 3, [1, 1, 1])):
    out.append({
        core_keys.VIDEO_ID: vid,
        core_keys.FRAMES: rng.integers(0, 256, (length, H, W, 3), np.uint8),
        core_keys.FRAME_NAMES: [f'{t:05d}.jpg' for t in range(length)],
        core_keys.ANNOTATED: np.array(annotated, bool)})
  return out


def _coco(objects=None):
  objects = OBJECTS if objects is None else objects
  images, anns = [], []
  for (vid, t), objs in sorted(objects.items()):
    images.append({'id': len(images) + 1, 'file_name': f'{vid}/{t:05d}.jpg',
                   'height': H, 'width': W})
    for c, box in objs:
      anns.append({'id': len(anns) + 1, 'image_id': len(images),
                   'category_id': c, 'iscrowd': 0,
                   'segmentation': mask_ops.encode(_mask(box))})
  return {'images': images, 'annotations': anns,
          'categories': [{'id': 1, 'name': 'cat'}, {'id': 2, 'name': 'dog'}]}


class PairPipelineTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.dir = self.create_tempdir().full_path
    self.store = flow_store.FlowStore(os.path.join(self.dir, 'flows'))
    for vid, length in (('v0', 5), ('v1', 3)):
      for a in range(length):
        for b in range(length):
          if a != b:
            self.store.write(vid, a, b, np.broadcast_to(
                np.array(FLOW, np.float32) * (b - a), (H, W, 2)))
    self.videos = _videos()

  def _labels(self, coco=None):
    path = os.path.join(self.dir, 'pl.json')
    with open(path, 'w') as f:
      json.dump(coco or _coco(), f)
    return labels.PseudoLabels(path, NAMES)

  def _source(self, coco=None, store=True):
    return input_pipeline.PairSource(lambda: iter(self.videos),
                                     self._labels(coco), 2,
                                     self.store if store else None)

  def _params(self, input_size=(32, 64), stride=1, hflip=False,
              scale=(1.0, 1.0), matching=True):
    data = config_lib.PairDataConfig()
    data.parser.aug_rand_hflip = hflip
    data.parser.aug_scale_min, data.parser.aug_scale_max = scale
    data.parser.max_num_instances = 4
    data.parser.mask_crop_size = 16
    # Every anchor sampled: targets do not depend on random sampling.
    data.parser.rpn_batch_size_per_im = 100000
    data.matching_stride = stride
    model = config_lib.MaskRCNN(num_classes=3,
                                input_size=list(input_size) + [3],
                                min_level=2, max_level=5)
    model.anchor.anchor_size = 2.0
    return input_pipeline.ParseParams.from_configs(data, model, matching)

  def _raw(self, source, index):
    return next(e for e in source.elements() if
                e[input_pipeline.RAW_INDEX] == index)

  def test_pairs_in_order(self):
    source = self._source()
    got = [(p.video_id, p.a, p.b) for p in source.pairs]
    # pairs.pair_indices: t + 2, else t - 2, else the farthest frame; only
    # annotated frames are frame a.
    self.assertEqual(got, [('v0', 0, 2), ('v0', 2, 4), ('v0', 3, 1),
                           ('v0', 4, 2), ('v1', 0, 2), ('v1', 1, 2),
                           ('v1', 2, 0)])
    self.assertLen(source, 7)
    indices = [int(e[input_pipeline.RAW_INDEX]) for e in source.elements()]
    self.assertEqual(indices, list(range(7)))
    halves = [[int(e[input_pipeline.RAW_INDEX])
               for e in source.elements(s, 2)] for s in (0, 1)]
    self.assertEqual(halves, [[0, 2, 4, 6], [1, 3, 5]])

  def test_parse_matches_tf_models_geometry(self):
    source = self._source()
    params = self._params()
    raw = self._raw(source, 2)  # v0 frames 3 -> 1
    images, out = input_pipeline.parse_pair(
        {k: tf.constant(v) for k, v in raw.items()}, tf.constant([0, 1]),
        params)
    self.assertEqual(images.shape, (2, 32, 64, 3))
    frames = self.videos[0][core_keys.FRAMES]
    for f, t in enumerate((3, 1)):
      want, info = preprocess_ops.resize_and_crop_image(
          preprocess_ops.normalize_image(frames[t]), [32, 64], [32, 64])
      self.assertAllClose(images[f], want, atol=1e-5)
      self.assertAllClose(out[keys.IMAGE_INFO][f], info)
    scale = np.array([32 / 30, 43 / 40] * 2, np.float32)  # 40 * 32/30 ~ 43
    self.assertAllClose(out[keys.IMAGE_INFO][0, 2], scale[:2])
    for f, t in enumerate((3, 1)):
      objs = OBJECTS[('v0', t)]
      n = len(objs)
      self.assertAllEqual(out[keys.GT_CLASSES][f], [c for c, _ in objs] +
                          [-1] * (4 - n))
      self.assertAllClose(out[keys.GT_BOXES][f, :n],
                          [np.array(b, np.float32) * scale for _, b in objs])
      self.assertAllEqual(out[keys.GT_BOXES][f, n:], -np.ones((4 - n, 4)))
      # Box masks of rectangles: inside everywhere.
      self.assertAllGreater(out[keys.GT_MASKS][f, :n], 0.5)
      # RPN targets: tf-models' labeler on the boxes.
      anchors = anchor.build_anchor_generator(2, 5, 1, [0.5, 1.0, 2.0],
                                              2.0)(image_size=(32, 64))
      want, _ = anchor.RpnAnchorLabeler(0.7, 0.3, 100000, 0.5).label_anchors(
          anchors, out[keys.GT_BOXES][f, :n],
          tf.constant([[float(c)] for c, _ in objs]))
      for level in want:
        self.assertAllEqual(out[keys.RPN_SCORE_TARGETS][level][f],
                            want[level])
      # Whole masks on the canvas: the rectangles, scaled.
      for k, (_, box) in enumerate(objs):
        expected = np.zeros((32, 64), bool)
        y1, x1, y2, x2 = np.round(np.array(box) * scale).astype(int)
        expected[y1:y2, x1:x2] = True
        got = out[keys.FULL_MASKS][f, k].numpy()
        self.assertLessEqual(np.sum(got != expected),
                             2 * (y2 - y1 + x2 - x1), f'frame {t} obj {k}')
      self.assertFalse(out[keys.FULL_MASKS][f, n:].numpy().any())
    # Flow 3 -> 1 is 2 * (-1.5, 0.5) px; on the canvas x the scale.
    flow_ab = out[keys.FLOW_AB].numpy()
    self.assertAllClose(flow_ab[5, 10], [-3.0 * 43 / 40, 1.0 * 32 / 30])
    self.assertAllClose(out[keys.FLOW_BA][5, 10], [3.0 * 43 / 40,
                                                   -1.0 * 32 / 30])
    # Padding (x >= 43) has no flow.
    self.assertAllEqual(flow_ab[:, 44:], np.zeros((32, 20, 2)))

  def test_background_frame(self):
    source = self._source()
    raw = self._raw(source, 1)  # v0 frames 2 (no pseudo-label) -> 4
    _, out = input_pipeline.parse_pair(
        {k: tf.constant(v) for k, v in raw.items()}, tf.constant([0, 1]),
        self._params())
    self.assertAllEqual(out[keys.GT_CLASSES][0], [-1] * 4)
    self.assertAllEqual(out[keys.GT_BOXES][0], -np.ones((4, 4)))
    self.assertFalse(out[keys.FULL_MASKS][0].numpy().any())
    for level, targets in out[keys.RPN_SCORE_TARGETS].items():
      self.assertEqual(int(tf.reduce_sum(tf.cast(targets[0] == 1, tf.int32))),
                       0, level)
    self.assertAllEqual(out[keys.GT_CLASSES][1][:1], [2])

  def test_flip_is_shared_by_both_frames(self):
    source = self._source()
    params = self._params(input_size=(32, 64), stride=1, hflip=True)
    raw = {k: tf.constant(v) for k, v in self._raw(source, 0).items()}
    parsed = {}
    for s in range(40):
      seed = tf.constant([3, s])
      flip = bool(tf.random.stateless_uniform(
          [], tf.random.experimental.stateless_fold_in(seed, 0)) < 0.5)
      if flip not in parsed:
        parsed[flip] = input_pipeline.parse_pair(raw, seed, params)
    (img0, out0), (img1, out1) = parsed[False], parsed[True]
    w = 43  # scaled width
    self.assertAllClose(img1[:, :, :w], img0[:, :, w - 1::-1], atol=1e-4)
    self.assertAllClose(out1[keys.FULL_MASKS][:, :, :, :w],
                        out0[keys.FULL_MASKS][:, :, :, w - 1::-1])
    boxes0 = out0[keys.GT_BOXES].numpy()
    boxes1 = out1[keys.GT_BOXES].numpy()
    valid = boxes0[..., 0] >= 0
    self.assertAllClose(boxes1[valid][:, 1], w - boxes0[valid][:, 3],
                        atol=1e-4)
    self.assertAllClose(boxes1[valid][:, 3], w - boxes0[valid][:, 1],
                        atol=1e-4)
    flow0, flow1 = out0[keys.FLOW_AB].numpy(), out1[keys.FLOW_AB].numpy()
    self.assertAllClose(flow1[:, :w, 0], -flow0[:, w - 1::-1, 0])
    self.assertAllClose(flow1[:, :w, 1], flow0[:, w - 1::-1, 1])

  def test_fixed_scale_matches_tf_models_and_strided_canvas(self):
    source = self._source()
    params = self._params(input_size=(32, 64), stride=2, scale=(0.75, 0.75))
    raw = self._raw(source, 4)  # v1 frames 0 -> 2
    images, out = input_pipeline.parse_pair(
        {k: tf.constant(v) for k, v in raw.items()}, tf.constant([5, 6]),
        params)
    frame = self.videos[1][core_keys.FRAMES][0]
    want, info = preprocess_ops.resize_and_crop_image(
        preprocess_ops.normalize_image(frame), [32, 64], [32, 64],
        aug_scale_min=0.75, aug_scale_max=0.75)
    self.assertAllClose(images[0], want, atol=1e-5)
    self.assertAllClose(out[keys.IMAGE_INFO][0], info)
    self.assertEqual(out[keys.FULL_MASKS].shape, (2, 4, 16, 32))
    sy, sx = info[2].numpy()
    self.assertAllClose(out[keys.FLOW_AB][2, 2],
                        [2 * 1.5 * sx / 2, 2 * -0.5 * sy / 2])

  def test_jitter_and_determinism(self):
    source = self._source()
    params = self._params(input_size=(32, 64), stride=2, hflip=True,
                          scale=(0.5, 2.0))

    def batches(seed):
      ds = input_pipeline.pairs_dataset(source, params, 2, True, seed,
                                        shuffle_buffer_size=8, cache=True)
      return [tf.nest.map_structure(lambda x: x.numpy(), b)
              for b in ds.take(5)]

    first, again, other = batches(4), batches(4), batches(5)
    for a, b in zip(first, again):
      tf.nest.map_structure(self.assertAllEqual, a, b)
    differs = any(not np.array_equal(a[0], b[0])
                  for a, b in zip(first, other))
    self.assertTrue(differs)
    infos = np.concatenate([b[1][keys.IMAGE_INFO] for b in first])
    scales = infos[:, :, 2, 0].reshape(-1)
    self.assertGreater(scales.max() - scales.min(), 0.1)
    # Both frames of a pair share one geometry.
    self.assertAllEqual(infos[:, 0], infos[:, 1])
    # Offsets stay within the scaled image.
    offsets = infos[:, 0, 3]
    scaled = infos[:, 0, 0] * infos[:, 0, 2]
    self.assertTrue(np.all(offsets <= np.maximum(scaled - [32, 64], 0) + 1))

  def test_input_size_must_fit_the_levels(self):
    with self.assertRaisesRegex(ValueError, r'input_size \[32, 48\].*2\^max'
                                r'_level = 32'):
      self._params(input_size=(32, 48))
    with self.assertRaisesRegex(ValueError, 'matching_stride 3'):
      self._params(stride=3)

  def test_without_matching_inputs(self):
    source = self._source(store=False)
    ds = input_pipeline.pairs_dataset(source, self._params(matching=False),
                                      2, True, 0)
    images, out = next(iter(ds))
    self.assertEqual(images.shape, (2, 2, 32, 64, 3))
    self.assertNotIn(keys.FULL_MASKS, out)
    self.assertNotIn(keys.FLOW_AB, out)

  # --- Bad input. -------------------------------------------------------------

  def test_frames_of_a_pair_differ_in_size(self):
    empty = labels.empty_instances(H, W)
    with self.assertRaisesRegex(ValueError, 'pair x.*differ in size'):
      input_pipeline.pair_example(
          np.zeros((H, W, 3), np.uint8), np.zeros((H, W + 1, 3), np.uint8),
          empty, empty, where='pair x')

  def test_flow_of_the_wrong_shape(self):
    empty = labels.empty_instances(H, W)
    frame = np.zeros((H, W, 3), np.uint8)
    with self.assertRaisesRegex(ValueError,
                                r'pair y: flow b->a.*\(30, 40, 2\)'):
      input_pipeline.pair_example(frame, frame, empty, empty,
                                  np.zeros((H, W, 2)), np.zeros((H, W - 2, 2)),
                                  'pair y')
    # A flow file of the wrong size: the error names the file.
    self.store.write('v1', 2, 0, np.zeros((H // 2, W // 2, 2), np.float32))
    with self.assertRaisesRegex(flow_store.FlowStoreError,
                                r'v1/00002_00000\.npy'):
      list(self._source().elements())

  def test_pseudo_labels_naming_missing_frames(self):
    coco = _coco({**OBJECTS, ('v7', 0): []})
    with self.assertRaisesRegex(ValueError,
                                r"pl\.json names 1 frame.*'v7/00000\.jpg'"):
      self._source(coco)

  def test_pair_frame_without_pseudo_labels(self):
    objects = {k: v for k, v in OBJECTS.items() if k != ('v0', 4)}
    with self.assertRaisesRegex(ValueError,
                                r'frame v0/00004\.jpg .*pl\.json'):
      self._source(_coco(objects))

  def test_pair_to_an_unannotated_frame_without_labels_is_left_out(self):
    # v0 frame 1 is not annotated; without pseudo-labels for it, pair
    # (3, 1) is left out (annotated frames without an entry stay errors).
    objects = {k: v for k, v in OBJECTS.items() if k != ('v0', 1)}
    source = self._source(_coco(objects))
    got = [(p.video_id, p.a, p.b) for p in source.pairs]
    self.assertEqual(got, [('v0', 0, 2), ('v0', 2, 4), ('v0', 4, 2),
                           ('v1', 0, 2), ('v1', 1, 2), ('v1', 2, 0)])
    elements = list(source.elements())
    self.assertEqual([int(e[input_pipeline.RAW_INDEX]) for e in elements],
                     list(range(6)))
    self.assertLen(source, 6)

  def test_category_outside_the_classes(self):
    coco = _coco()
    coco['annotations'][0]['category_id'] = 3
    with self.assertRaisesRegex(ValueError, r'v0/00000\.jpg.*category_id 3'):
      self._source(coco)

  def test_masks_of_another_size(self):
    coco = _coco()
    coco['annotations'][0]['segmentation'] = mask_ops.encode(
        np.ones((H + 2, W), np.uint8))
    source = self._source(coco)
    with self.assertRaisesRegex(ValueError, r'v0/00000\.jpg in .*pl\.json'):
      list(source.elements())


if __name__ == '__main__':
  tf.test.main()
