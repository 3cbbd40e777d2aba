"""Tests for the wsvis_ytvis builder on tiny YouTube-VIS layouts.

Run: PYTHONPATH=. .venv/bin/python datasets/ytvis/ytvis_test.py (~15 s).
"""

import hashlib
import json
import os

from absl.testing import absltest
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from datasets.real_video import frame_io
from datasets.real_video import manual_dir
from datasets.real_video import test_fixtures
from datasets.ytvis import ytvis
from datasets.ytvis import ytvis_json
from wsvis_tf.core import keys
from wsvis_tf.core import mask_ops
from wsvis_tf.data import pairs

CLASSES = ytvis.YTVIS_2019_CLASSES
PERSON, DOG, CAT = 0, 7, 13
# name -> track classes; 7 frames, annotated every 3rd (0, 3, 6).
VIDEOS = {'vid_a': [PERSON, DOG], 'vid_b': [CAT], 'vid_c': [DOG],
          'vid_d': [PERSON, CAT]}


def make_videos(num_frames=7, annotate_every=3):
  return [test_fixtures.moving_boxes(
      name, classes, num_frames=num_frames, seed=i,
      annotate_every=annotate_every, first_track_id=100 * (i + 1))
          for i, (name, classes) in enumerate(VIDEOS.items())]


class YtvisBuilderTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    self.root = self.create_tempdir('data').full_path
    self.tfds_dir = self.create_tempdir('tfds').full_path
    self.videos = make_videos()

  def build(self, **options):
    # One validation video per category, exactly (the paper's draw, not
    # scaled down: 3 of the 4 videos).
    options.setdefault('val_videos_per_class', 1)
    options.setdefault('min_train_fraction', 0)
    builder = ytvis.prepare(self.root, tfds_dir=self.tfds_dir, **options)
    examples = {split: {e[keys.VIDEO_ID].decode(): e for e in
                        tfds.as_numpy(builder.as_dataset(split=split))}
                for split in builder.info.splits}
    return builder, examples

  def check_video(self, got, want, gt, annotated_every=3):
    t = len(want[keys.FRAMES])
    annotated = np.arange(t) % annotated_every == 0
    np.testing.assert_array_equal(got[keys.ANNOTATED], annotated)
    self.assertEqual([n.decode() for n in got[keys.FRAME_NAMES]],
                     want[keys.FRAME_NAMES])
    self.assertEqual(got[keys.FRAMES].shape, want[keys.FRAMES].shape)
    # JPEG twice (fixture, then TFDS): close, not equal.
    diff = np.abs(got[keys.FRAMES].astype(int) - want[keys.FRAMES]).mean()
    self.assertLess(diff, 8)
    # Ground truth only on annotated frames, exactly.
    np.testing.assert_array_equal(
        got[keys.INSTANCE_MAP][annotated], want[keys.INSTANCE_MAP][annotated])
    self.assertFalse(got[keys.INSTANCE_MAP][~annotated].any())
    # TRACK_IDS are the JSON's annotation ids (gt_export numbers them 1, 2,
    # ... and keeps the fixture's ids as 'track_id').
    ids = {a['track_id']: a['id'] for a in gt['annotations']}
    np.testing.assert_array_equal(got[keys.TRACK_IDS],
                                  [ids[i] for i in want[keys.TRACK_IDS]])
    np.testing.assert_array_equal(got[keys.TRACK_CLASSES],
                                  want[keys.TRACK_CLASSES])
    # Labels: classes with a mask on annotated frames, the video's classes
    # on the others.
    video_classes = sorted(set(want[keys.TRACK_CLASSES].tolist()))
    for i in range(t):
      labels = np.flatnonzero(got[keys.FRAME_LABELS][i]).tolist()
      if annotated[i]:
        present = sorted({int(want[keys.TRACK_CLASSES][k - 1]) for k in
                          np.unique(want[keys.INSTANCE_MAP][i]) if k})
        self.assertEqual(labels, present)
      else:
        self.assertEqual(labels, video_classes)

  def test_extracted_all_frames(self):
    gt = test_fixtures.write_ytvis(self.root, self.videos, CLASSES)
    builder, examples = self.build()
    self.assertEqual(builder.info.metadata['frames'], 'all')
    self.assertEqual(builder.info.features[keys.TRACK_CLASSES].feature.names,
                     list(CLASSES))
    got = {**examples['train'], **examples['validation']}
    self.assertCountEqual(got, VIDEOS)
    for want in self.videos:
      self.check_video(got[want[keys.VIDEO_ID]], want, gt)
    # Each class is in exactly one validation video here.
    val = sorted(examples['validation'])
    self.assertEqual(val, builder.info.metadata['validation_videos'])
    counts = ytvis_json.class_counts(
        [ytvis_json.Video(0, n, 1, 1, [], [ytvis_json.Track(0, c, [])
                                           for c in VIDEOS[n]])
         for n in VIDEOS], set(val))
    self.assertEqual(set(counts), {PERSON, DOG, CAT})
    self.assertTrue(all(c >= 1 for c in counts.values()))

  def test_pairs_at_video_ends(self):
    test_fixtures.write_ytvis(self.root, self.videos, CLASSES)
    builder, _ = self.build()
    split = 'train'
    video = next(iter(builder.as_dataset(split=split).take(1)))
    got = [(int(p[keys.pair_key(keys.FRAME_INDEX, 'a')]),
            int(p[keys.pair_key(keys.FRAME_INDEX, 'b')]), int(p[keys.DELTA]))
           for p in pairs.video_to_pairs(video, delta=3)]
    # Anchors are the annotated frames 0, 3, 6; the last looks back.
    self.assertEqual(got, [(0, 3, 3), (3, 6, 3), (6, 3, -3)])
    np.testing.assert_array_equal(
        pairs.pair_indices(7, 3, video[keys.ANNOTATED].numpy()),
        [[0, 3], [3, 6], [6, 3]])

  def test_zipped_equals_extracted(self):
    test_fixtures.write_ytvis(self.root, self.videos, CLASSES)
    _, extracted = self.build()
    zipped_root = self.create_tempdir('zipped').full_path
    test_fixtures.write_ytvis(zipped_root, self.videos, CLASSES, zipped=True)
    self.assertTrue(os.path.isfile(os.path.join(zipped_root,
                                                'train_all_frames.zip')))
    self.assertFalse(os.path.exists(os.path.join(zipped_root, 'train')))
    builder = ytvis.prepare(zipped_root, val_videos_per_class=1,
                            min_train_fraction=0,
                            tfds_dir=self.create_tempdir('t2').full_path)
    self.assertIn('train_all_frames.zip!',
                  builder.info.metadata['frames_source'])
    for split, videos in extracted.items():
      for e in tfds.as_numpy(builder.as_dataset(split=split)):
        want = videos[e[keys.VIDEO_ID].decode()]
        for k in (keys.INSTANCE_MAP, keys.FRAME_LABELS, keys.ANNOTATED,
                  keys.TRACK_IDS, keys.FRAMES):
          np.testing.assert_array_equal(e[k], want[k], err_msg=k)

  def test_annotated_frames_only_zipped(self):
    test_fixtures.write_ytvis(self.root, self.videos, CLASSES,
                              all_frames=False, zipped=True)
    builder, examples = self.build()
    self.assertEqual(builder.info.metadata['frames'], 'annotated')
    for want in self.videos:
      split = ('validation' if want[keys.VIDEO_ID] in examples['validation']
               else 'train')
      got = examples[split][want[keys.VIDEO_ID]]
      self.assertEqual([n.decode() for n in got[keys.FRAME_NAMES]],
                       ['00000.jpg', '00003.jpg', '00006.jpg'])
      self.assertTrue(got[keys.ANNOTATED].all())
      np.testing.assert_array_equal(got[keys.INSTANCE_MAP],
                                    want[keys.INSTANCE_MAP][::3])

  def test_size_cap_resizes_frames_and_ground_truth(self):
    test_fixtures.write_ytvis(self.root, self.videos, CLASSES,
                              annotated_frames=False)
    _, examples = self.build(max_long_side=16)
    video = examples['train'][sorted(examples['train'])[0]]
    self.assertEqual(video[keys.FRAMES].shape[1:], (12, 16, 3))
    self.assertEqual(video[keys.INSTANCE_MAP].shape[1:], (12, 16, 1))
    # Nearest-neighbour: ids stay ids.
    self.assertLessEqual(set(np.unique(video[keys.INSTANCE_MAP]).tolist()),
                         set(range(len(video[keys.TRACK_IDS]) + 1)))

  def test_fixed_frame_size(self):
    test_fixtures.write_ytvis(self.root, self.videos, CLASSES,
                              annotated_frames=False)
    _, examples = self.build(height=16, width=40)
    for video in examples['validation'].values():
      self.assertEqual(video[keys.FRAMES].shape[1:], (16, 40, 3))
      self.assertEqual(video[keys.INSTANCE_MAP].shape[1:], (16, 40, 1))
    with self.assertRaisesRegex(ValueError, 'both height and width'):
      ytvis.make_builder(self.root, height=16)

  def test_json_at_root_as_gt_export_writes_it(self):
    # gt_export.write_ytvis_layout(out_dir) = JPEGImages/ + instances.json.
    from wsvis_tf.data import gt_export  # pylint: disable=g-import-not-at-top
    gt_export.write_ytvis_layout(self.videos, CLASSES, self.root)
    _, examples = self.build()
    self.assertLen({**examples['train'], **examples['validation']}, 4)

  def test_custom_categories_come_from_the_json(self):
    names = ['blob', 'square', 'kite', 'wheel']
    videos = [test_fixtures.moving_boxes(f'v{i}', [i % 4], seed=i)
              for i in range(6)]
    test_fixtures.write_ytvis(self.root, videos, names, all_frames=False)
    builder, _ = self.build()
    self.assertEqual(builder.info.features[keys.TRACK_CLASSES].feature.names,
                     names)
    self.assertIn('class_names.', builder.builder_config.name)


  def test_segmentation_formats(self):
    # YouTube-VIS 2019 ships uncompressed RLE (list counts); polygons are
    # allowed too. Rewrite the fixture's compressed RLEs in both forms.
    gt = test_fixtures.write_ytvis(self.root, self.videos, CLASSES,
                                   all_frames=False)
    for i, ann in enumerate(gt['annotations']):
      for j, seg in enumerate(ann['segmentations']):
        if seg is None:
          continue
        mask = mask_ops.decode(seg)
        if i % 2:
          ys, xs = np.nonzero(mask)
          x0, y0, x1, y1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
          ann['segmentations'][j] = [[float(v) for v in
                                      (x0, y0, x1, y0, x1, y1, x0, y1)]]
        else:
          flat = mask.flatten(order='F')
          changes = np.flatnonzero(np.diff(flat)) + 1
          runs = np.diff(np.concatenate([[0], changes, [flat.size]]))
          counts = ([0] if flat[0] else []) + runs.tolist()
          ann['segmentations'][j] = {'size': list(mask.shape),
                                     'counts': counts}
    with open(os.path.join(self.root, 'train.json'), 'w') as f:
      json.dump(gt, f)
    _, examples = self.build()
    got = {**examples['train'], **examples['validation']}
    for want in self.videos:
      instance_map = got[want[keys.VIDEO_ID]][keys.INSTANCE_MAP]
      # Boxes are axis-aligned, so polygons rasterise to the same pixels
      # up to the border convention: compare per track by IoU.
      for k in range(1, len(want[keys.TRACK_IDS]) + 1):
        a = instance_map == k
        b = want[keys.INSTANCE_MAP][::3] == k
        self.assertGreater((a & b).sum() / (a | b).sum(), 0.7)

  def test_category_names_read_cheaply(self):
    gt = test_fixtures.write_ytvis(self.root, self.videos, CLASSES,
                                   all_frames=False)
    data = json.dumps({'annotations': gt['annotations'],
                       'categories': gt['categories'][::-1],
                       'videos': gt['videos']}).encode()
    self.assertEqual(ytvis_json.category_names(data, 'x'), list(CLASSES))


class YtvisSplitTest(absltest.TestCase):

  def test_split_is_deterministic_and_order_free(self):
    rng = np.random.default_rng(0)
    videos = {f'v{i:03d}': set(rng.choice(40, rng.integers(1, 3)).tolist())
              for i in range(300)}
    val = ytvis_json.split_train_val(videos, 3, seed=0)
    shuffled = dict(reversed(list(videos.items())))
    self.assertEqual(val, ytvis_json.split_train_val(shuffled, 3, seed=0))
    self.assertNotEqual(val, ytvis_json.split_train_val(videos, 3, seed=1))
    for c in range(40):
      have = sum(1 for v in val if c in videos[v])
      available = sum(1 for cs in videos.values() if c in cs)
      self.assertGreaterEqual(have, min(3, available), c)

  def test_a_video_counts_for_each_of_its_categories(self):
    # Category 0 can only draw 'both', which then also fills category 1.
    videos = {'both': {0, 1}, 'b1': {1}, 'b2': {1}, 'c1': {2}}
    for seed in range(10):
      self.assertEqual(ytvis_json.split_train_val(videos, 1, seed=seed),
                       {'both', 'c1'})
    # With 2 per category, category 1 needs one more.
    val = ytvis_json.split_train_val(videos, 2, seed=0)
    self.assertLen(val & {'b1', 'b2'}, 1)


def ytvis_2019_sized():
  """2,238 videos of 40 categories, as YouTube-VIS 2019 train.

  1 to 3 categories a video, skewed towards low indices (as person is the
  most frequent); made with hashlib, so the same on any Python or numpy.
  """
  videos = {}
  for i in range(2238):
    h = hashlib.sha256(f'video {i}'.encode()).digest()
    k = 3 if h[0] % 20 == 0 else 2 if h[0] % 4 == 0 else 1
    classes = set()
    for j in range(k):
      u = int.from_bytes(h[4 + 4 * j:8 + 4 * j], 'big') / 2**32
      classes.add(int(40 * u**1.6))
    videos[h[16:21].hex()] = classes
  return videos


class YtvisSmallSplitTest(absltest.TestCase):
  """train_val_split: the paper's draw, scaled down for small downloads."""

  def test_paper_split_unchanged_at_ytvis_2019_size(self):
    videos = ytvis_2019_sized()
    self.assertLen(set().union(*videos.values()), 40)
    split = ytvis_json.train_val_split(videos, 10, seed=0)
    self.assertFalse(split.scaled)
    self.assertEqual((split.per_class_asked, split.per_class_used), (10, 10))
    self.assertEqual(split.validation,
                     ytvis_json.split_train_val(videos, 10, seed=0))
    # The draw of the code before train_val_split existed, pinned.
    self.assertLen(split.validation, 318)
    self.assertEqual(
        hashlib.sha256('\n'.join(sorted(split.validation)).encode()
                      ).hexdigest(),
        '0c844fbe93080505329dcacd47cc3de8781432f90e687731c06892c3df3eb4b6')

  def test_max_validation_videos(self):
    # At least 70 % training, at least one validation video from 3 videos.
    for n, want in [(0, 0), (2, 0), (3, 1), (4, 1), (6, 1), (7, 2),
                    (10, 3), (24, 7), (2238, 671)]:
      self.assertEqual(ytvis_json.max_validation_videos(n, 0.7), want, n)
    self.assertEqual(ytvis_json.max_validation_videos(24, 0.0), 24)
    self.assertEqual(ytvis_json.max_validation_videos(24, 1.0), 1)
    with self.assertRaisesRegex(ValueError, 'min_train_fraction'):
      ytvis_json.max_validation_videos(24, 1.5)

  def test_scaled_split_is_balanced_and_keeps_70_percent(self):
    # 24 single-category videos; category sizes 9, 7, 4, 3, 1.
    sizes = [9, 7, 4, 3, 1]
    videos = {f'c{c}_v{i}': {c} for c, n in enumerate(sizes)
              for i in range(n)}
    split = ytvis_json.train_val_split(videos, 10, seed=0)
    self.assertTrue(split.scaled)
    self.assertLen(split.validation, 7)  # 24 - ceil(0.7 * 24)
    drawn = [sum(1 for v in split.validation if c in videos[v])
             for c in range(5)]
    # Round robin over the categories that can spare a video (the one of
    # category 4 stays in training), largest first: 1 each, then 3 more.
    self.assertEqual(drawn, [2, 2, 2, 1, 0])
    self.assertEqual(split.per_class_used, 1)
    self.assertEqual(split.validation, ytvis_json.train_val_split(
        dict(reversed(list(videos.items()))), 10, seed=0).validation)
    self.assertNotEqual(split.validation, ytvis_json.train_val_split(
        videos, 10, seed=1).validation)

  def test_scaled_split_never_takes_a_category_s_last_training_video(self):
    # 'both' is the only video of category 1: drawing it for category 0
    # would leave category 1 without training video.
    videos = {'both': {0, 1}, 'a1': {0}, 'a2': {0}, 'a3': {0}, 'a4': {0},
              'a5': {0}, 'a6': {0}}
    for seed in range(5):
      split = ytvis_json.train_val_split(videos, 10, seed=seed)
      self.assertTrue(split.scaled)
      self.assertLen(split.validation, 2)  # 7 - ceil(4.9)
      self.assertNotIn('both', split.validation)

  def test_at_least_one_validation_video(self):
    # Every category in one video: no video can be spared, one is drawn.
    videos = {'a': {0}, 'b': {1}, 'c': {2}}
    split = ytvis_json.train_val_split(videos, 10, seed=0)
    self.assertTrue(split.scaled)
    self.assertLen(split.validation, 1)
    self.assertEqual(split.per_class_used, 0)

  def test_unscaled_when_the_draw_fits(self):
    videos = {f'c{c}_v{i}': {c} for c in range(3) for i in range(10)}
    split = ytvis_json.train_val_split(videos, 2, seed=0)
    self.assertFalse(split.scaled)
    self.assertLen(split.validation, 6)
    self.assertEqual(split.validation,
                     ytvis_json.split_train_val(videos, 2, seed=0))
    # min_train_fraction 0: the paper's draw, whatever it leaves.
    small = {'a': {0}, 'b': {1}, 'c': {2}, 'd': {0}}
    split = ytvis_json.train_val_split(small, 10, min_train_fraction=0)
    self.assertFalse(split.scaled)
    self.assertLen(split.validation, 4)


class YtvisSmallDownloadTest(absltest.TestCase):
  """The builder on downloads too small for the paper's split."""

  def setUp(self):
    super().setUp()
    self.root = self.create_tempdir('data').full_path
    self.tfds_dir = self.create_tempdir('tfds').full_path

  def write(self, n):
    videos = [test_fixtures.moving_boxes(f'v{i:02d}', [(PERSON, DOG, CAT)[
        i % 3]], num_frames=2, seed=i) for i in range(n)]
    test_fixtures.write_ytvis(self.root, videos, CLASSES, all_frames=False)

  def test_default_options_scale_the_split_down_with_one_warning(self):
    self.write(10)
    with self.assertLogs(level='WARNING') as logs:
      builder = ytvis.prepare(self.root, tfds_dir=self.tfds_dir)
    scaled = [m for m in logs.output if 'too few' in m]
    self.assertLen(scaled, 1)
    self.assertIn('10 videos are too few for 10 validation videos per '
                  'category', scaled[0])
    self.assertIn('validation per category asked 10, used 1', scaled[0])
    self.assertEqual(builder.info.metadata['validation_per_class'],
                     {'asked': 10, 'used': 1, 'scaled': True})
    splits = builder.info.splits
    self.assertEqual(splits['validation'].num_examples, 3)  # 10 - 7
    self.assertEqual(splits['train'].num_examples, 7)
    val = set(builder.info.metadata['validation_videos'])
    self.assertEqual(sorted(int(v[1:]) % 3 for v in val), [0, 1, 2])

  def test_fewer_than_three_videos_is_an_error(self):
    self.write(2)
    with self.assertRaisesRegex(
        manual_dir.InputError,
        f'^the YouTube-VIS directory {self.root} has 2 video\\(s\\) '
        r'\(.*train\.json\); the train / validation split needs at least 3$'):
      ytvis.prepare(self.root, tfds_dir=self.tfds_dir)

  def test_min_train_fraction_is_checked(self):
    self.write(3)
    with self.assertRaisesRegex(ValueError, 'min_train_fraction must be'):
      ytvis.make_builder(self.root, min_train_fraction=2)


class YtvisBadInputTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    self.root = self.create_tempdir('data').full_path
    self.tfds_dir = self.create_tempdir('tfds').full_path
    self.videos = make_videos()

  def prepare(self, **options):
    return ytvis.prepare(self.root, tfds_dir=self.tfds_dir,
                         val_videos_per_class=1, **options)

  def test_missing_data_dir(self):
    with self.assertRaisesRegex(manual_dir.InputError, 'does not exist'):
      ytvis.make_builder(os.path.join(self.root, 'nope'))

  def test_missing_annotation_json(self):
    test_fixtures.write_ytvis(self.root, self.videos, CLASSES)
    os.remove(os.path.join(self.root, 'train.json'))
    with self.assertRaisesRegex(manual_dir.InputError,
                                r'annotation JSON.*\n.*train\.json'):
      self.prepare()

  def test_frame_in_json_missing_on_disk(self):
    test_fixtures.write_ytvis(self.root, self.videos, CLASSES,
                              all_frames=False)
    path = os.path.join(self.root, 'train', 'JPEGImages', 'vid_b',
                        '00003.jpg')
    os.remove(path)
    with self.assertRaisesRegex(manual_dir.InputError,
                                f'missing file: {path}'):
      self.prepare()

  def test_listed_frame_missing_from_all_frames(self):
    test_fixtures.write_ytvis(self.root, self.videos, CLASSES,
                              annotated_frames=False)
    path = os.path.join(self.root, 'train_all_frames', 'JPEGImages',
                        'vid_c', '00006.jpg')
    os.remove(path)
    with self.assertRaisesRegex(manual_dir.InputError,
                                f'missing file {path}, listed in'):
      self.prepare()

  def test_corrupt_jpeg_error_or_skip(self):
    test_fixtures.write_ytvis(self.root, self.videos, CLASSES,
                              annotated_frames=False)
    path = os.path.join(self.root, 'train_all_frames', 'JPEGImages',
                        'vid_a', '00003.jpg')
    with open(path, 'r+b') as f:
      data = f.read()
      f.seek(0)
      f.truncate()
      f.write(data[:len(data) // 2])
    with self.assertRaisesRegex(frame_io.BadFrameError,
                                f'{path} does not decode'):
      self.prepare()
    with self.assertLogs(level='WARNING') as logs:
      builder = self.prepare(bad_frames='skip')
    self.assertTrue(any('skipped 1 bad frame(s)' in m and path in m
                        for m in logs.output), logs.output)
    skipped = builder.info.metadata['skipped_frames']
    self.assertEqual(sum(s['count'] for s in skipped.values()), 1)
    examples = {e[keys.VIDEO_ID].decode(): e for split in builder.info.splits
                for e in tfds.as_numpy(builder.as_dataset(split=split))}
    names = [n.decode() for n in examples['vid_a'][keys.FRAME_NAMES]]
    self.assertNotIn('00003.jpg', names)
    self.assertLen(names, 6)
    self.assertEqual(examples['vid_a'][keys.ANNOTATED].sum(), 2)

  def test_unknown_category_id(self):
    test_fixtures.write_ytvis(self.root, self.videos, CLASSES,
                              all_frames=False)
    path = os.path.join(self.root, 'train.json')
    with open(path) as f:
      gt = json.load(f)
    gt['annotations'][1]['category_id'] = 77
    with open(path, 'w') as f:
      json.dump(gt, f)
    with self.assertRaisesRegex(
        manual_dir.InputError,
        f'{path}: annotation 2 .*unknown category_id 77'):
      self.prepare()

  def test_video_with_one_frame(self):
    self.videos.append(test_fixtures.moving_boxes('vid_short', [DOG],
                                                  num_frames=1, seed=9))
    test_fixtures.write_ytvis(self.root, self.videos, CLASSES)
    with self.assertRaisesRegex(manual_dir.InputError,
                                'video vid_short has 1 frame'):
      self.prepare()

  def test_unknown_option(self):
    test_fixtures.write_ytvis(self.root, self.videos, CLASSES)
    with self.assertRaisesRegex(ValueError, 'unknown dataset option'):
      ytvis.make_builder(self.root, fps=3)


if __name__ == '__main__':
  tf.config.set_visible_devices([], 'GPU')
  absltest.main()
