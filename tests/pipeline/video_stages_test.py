"""The track, evaluate and report stages (components/video.py, report.py).

On the procedural `tiny` dataset (6 videos of 6 frames, 64x80) with
stand-ins for the stages they read: the data stage itself, a flow stage
holding the exact flow, and predict stages whose predictions are the
ground-truth masks with the track ids removed (MaskConsist's stand-in) or
with every class wrong (Mask R-CNN's). Seconds on 2 CPU cores.
"""

import json
import os
import random
import tempfile

from absl.testing import absltest
import numpy as np
from PIL import Image
import tensorflow_datasets as tfds

from datasets.synthetic import synthetic
from wsvis_tf.core import atomic_io
from wsvis_tf.core import keys
from wsvis_tf.core import mask_ops
from wsvis_tf.data import sources
from wsvis_tf.evaluation import formats
from wsvis_tf.evaluation import video_ap
from wsvis_tf.flow import flow_store
from wsvis_tf.pipeline import runner
from wsvis_tf.pipeline import stage as stage_lib
from wsvis_tf.pipeline.components import data as data_component
from wsvis_tf.pipeline.components import report
from wsvis_tf.pipeline.components import video

SPLITS = ['train', 'validation']
# What the predict stand-ins record as their frame metrics.
FRAME_METRICS = {'validation_AP': 0.9, 'validation_AP50': 0.95,
                 'validation_AP75': 0.92, 'validation_TC': 0.8}


def flow_stage():
  """A flow stage with the exact flow: t -> t+1, and -(that) for t+1 -> t.
  """
  def run(ctx):
    store = flow_store.FlowStore(ctx.path('flows'))
    for split in SPLITS:
      for ex in tfds.as_numpy(ctx.resources['source'].videos(split)):
        name = keys.as_text(ex[keys.VIDEO_ID])
        for t, flow in enumerate(ex[keys.GT_FLOW]):
          store.write(name, t, t + 1, flow)
          # The procedural motion is rigid per object: the backward flow
          # is the forward one negated, away from motion boundaries.
          store.write(name, t + 1, t, -flow)
  return stage_lib.Stage(name='flow', run=run, inputs=('data',),
                         outputs=('flows',))


def ground_truth_predictions(gt_path, wrong_class=None, seed=0,
                             extra_frame=None):
  """The data stage's COCO ground truth as scored predictions, ids removed.

  Args:
    gt_path: ground_truth/<split>_frames.json.
    wrong_class: None, or the number of classes: every class is shifted by
      one (c -> c % n + 1), so no prediction has its object's class.
    seed: Shuffles the annotations (the track order cannot leak).
    extra_frame: A file_name of a frame to add (a frame the dataset lacks).
  """
  coco = atomic_io.read_json(gt_path)
  anns = []
  for ann in coco['annotations']:
    ann = {k: v for k, v in ann.items() if k not in ('id', 'track_id')}
    if wrong_class:
      ann['category_id'] = ann['category_id'] % wrong_class + 1
    ann['score'] = 0.9
    anns.append(ann)
  random.Random(seed).shuffle(anns)
  for i, ann in enumerate(anns):
    ann['id'] = i + 1
  images = [{k: im[k] for k in ('id', 'file_name', 'height', 'width',
                                'frame_index')} for im in coco['images']]
  if extra_frame:
    images.append(dict(images[-1], id=len(images) + 1, file_name=extra_frame,
                       frame_index=99))
  return {'images': images, 'annotations': anns,
          'categories': coco['categories']}


def predict_stage(name, wrong_class=None, extra_frame=None,
                  drop_frame=None):
  def run(ctx):
    data = ctx.input('data')
    for split in SPLITS:
      coco = ground_truth_predictions(
          data_component.frames_gt_path(data, split), wrong_class,
          extra_frame=extra_frame if split == 'validation' else None)
      if drop_frame and split == 'validation':
        dropped = [im['id'] for im in coco['images']
                   if im['file_name'] == drop_frame]
        coco['images'] = [im for im in coco['images']
                          if im['id'] not in dropped]
        coco['annotations'] = [a for a in coco['annotations']
                               if a['image_id'] not in dropped]
      atomic_io.write_json(ctx.path(f'{split}_predictions.json'), coco)
    return dict(FRAME_METRICS)
  return stage_lib.Stage(
      name=name, run=run, inputs=('data',), config={'splits': SPLITS},
      outputs=tuple(f'{s}_predictions.json' for s in SPLITS))


def pseudo_labels_stage():
  def run(ctx):
    coco = ground_truth_predictions(data_component.frames_gt_path(
        ctx.input('data'), 'train'))
    atomic_io.write_json(ctx.path('pseudo_labels.json'), coco)
    return {'AP50': 0.5, 'AP': 0.25, 'frames': len(coco['images']),
            'frames_without_instances': 3, 'use_fcam': True}
  return stage_lib.Stage(name='pseudo_labels', run=run, inputs=('data',),
                         outputs=('pseudo_labels.json',))


class VideoStagesTest(absltest.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.root = tempfile.mkdtemp(dir=absltest.get_default_test_tmpdir())
    tfds_dir = os.path.join(cls.root, 'tfds')
    synthetic.prepare('tiny', tfds_dir)
    cls.source = sources.get_source('synthetic', tfds_dir, 'tiny')
    cls.num_classes = len(cls.source.class_names)
    first = [data_component.make_stage(cls.source, {'delta': 2}),
             flow_stage(), pseudo_labels_stage(),
             predict_stage('predict_maskrcnn', wrong_class=cls.num_classes),
             predict_stage('predict')]
    after = video.make_stages({'report': {}}, first)
    stages = first + after
    stages.append(report.make_stage({'num_videos': 2, 'frames_per_video': 2},
                                    [s.name for s in stages]))
    cls.work = os.path.join(cls.root, 'work')
    cls.records = runner.run_stages(stages, cls.work,
                                    resources={'source': cls.source})

  def gt(self, split):
    return atomic_io.read_json(data_component.videos_gt_path(
        self.records['data'], split))

  def tracks(self, stage, split):
    return atomic_io.read_json(self.records[stage].path(
        video.TRACKS.format(split=split)))

  def test_stage_wiring(self):
    self.assertEqual(self.records['track'].config['predict_stage'], 'predict')
    self.assertEqual(self.records['track'].config['splits'], SPLITS)
    self.assertEqual(
        list(self.records['evaluate'].inputs),
        ['data', 'predict_maskrcnn', 'track_maskrcnn', 'predict', 'track'])
    self.assertIn('pseudo_labels', self.records['report'].inputs)
    # No predict stage: nothing to track.
    self.assertEqual(video.make_stages({}, []), [])
    with self.assertRaisesRegex(KeyError, 'unknown track config keys'):
      video.make_track_stage({'min_scor': 1}, 't', self.stage('predict'))
    with self.assertRaisesRegex(KeyError, 'unknown tracker config keys'):
      video.make_track_stage({'tracker': {'iou': 1}}, 't',
                             self.stage('predict'))
    with self.assertRaisesRegex(ValueError, 'match_iou must be in'):
      video.make_track_stage({'tracker': {'match_iou': 2.0}}, 't',
                             self.stage('predict'))

    with self.assertRaisesRegex(KeyError, 'unknown evaluate config keys'):
      video.make_evaluate_stage({'semantic': True}, ['data'])
    with self.assertRaisesRegex(ValueError, "semantic_iou must be 'auto'"):
      video.make_evaluate_stage({'semantic_iou': 'yes'}, ['data'])
    with self.assertRaisesRegex(KeyError, 'unknown report config keys'):
      report.make_stage({'videos': 2}, ['data'])

  def stage(self, name):
    return stage_lib.Stage(name=name, run=None, config={'splits': SPLITS})

  def test_tracks_are_youtube_vis_results_of_the_ground_truth_videos(self):
    for split in SPLITS:
      gt = self.gt(split)
      entries = self.tracks('track', split)
      self.assertNotEmpty(entries)
      lengths = {v['id']: v['length'] for v in gt['videos']}
      for e in entries:
        self.assertEqual(set(e), {'video_id', 'category_id', 'score',
                                  'segmentations'})
        self.assertIn(e['video_id'], lengths)
        self.assertLen(e['segmentations'], lengths[e['video_id']])
        for seg in e['segmentations']:
          if seg is not None:
            self.assertIsInstance(seg['counts'], str)  # compressed RLE
      # The project's evaluator accepts them.
      formats.load_ytvis_results(entries,
                                 formats.load_ytvis_ground_truth(gt))
      with open(self.records['track'].path(f'{split}_tracks.json')) as f:
        self.assertEqual(json.load(f), entries)

  def test_ground_truth_masks_without_ids_track_to_video_ap50_near_1(self):
    # 6 videos, 18 tracks: one lost or merged track caps AP50 at 17/18.
    for split in SPLITS:
      metrics = video_ap.evaluate_videos(self.gt(split),
                                         self.tracks('track', split))
      self.assertGreaterEqual(metrics[video_ap.AP50], 0.95, split)
    m = self.records['track'].metrics
    self.assertEqual(m['validation_videos'], 2)
    self.assertEqual(m['validation_tracked_frames'], 12)

  def test_evaluate_metrics(self):
    with open(self.records['evaluate'].path(video.METRICS_JSON)) as f:
      metrics = json.load(f)
    models = metrics['models']
    self.assertCountEqual(models, ['maskrcnn', 'maskconsist'])
    consist = models['maskconsist']['splits']['validation']
    self.assertGreaterEqual(consist['video']['AP50'], 0.95)
    # Every class wrong: no track matches.
    self.assertEqual(models['maskrcnn']['splits']['validation']['video'][
        'AP50'], 0.0)
    # The predict stages' frame metrics, gathered.
    self.assertEqual(consist['frame'], {'AP': 0.9, 'AP50': 0.95,
                                        'AP75': 0.92, 'TC': 0.8})
    self.assertIn('train', models['maskconsist']['splits'])
    self.assertNotIn('frame', models['maskconsist']['splits']['train'])
    self.assertIn("dataset 'synthetic'", metrics['semantic']['skipped'])
    headline = self.records['evaluate'].metrics
    self.assertEqual(headline['maskconsist_validation_video_AP50'],
                     consist['video']['AP50'])
    self.assertEqual(headline['maskrcnn_validation_frame_TC'], 0.8)
    self.assertIn('maskconsist_train_video_mAP', headline)

  def test_semantic_iou(self):
    data = self.records['data']
    gt = data_component.frames_gt_path(data, 'validation')
    path = os.path.join(self.create_tempdir().full_path, 'p.json')
    atomic_io.write_json(path, ground_truth_predictions(gt))
    self.assertEqual(video._semantic_iou(gt, path, 0.5)['mIoU'], 1.0)
    atomic_io.write_json(path, ground_truth_predictions(
        gt, wrong_class=self.num_classes))
    self.assertEqual(video._semantic_iou(gt, path, 0.5)['mIoU'], 0.0)
    # Above every score: nothing predicted.
    atomic_io.write_json(path, ground_truth_predictions(gt))
    self.assertEqual(video._semantic_iou(gt, path, 0.95)['mIoU'], 0.0)

  def test_report(self):
    record = self.records['report']
    with open(record.path(report.REPORT)) as f:
      text = f.read()
    for heading in ('Table 4 analogue', 'Table 6 analogue',
                    'Table 3 analogue', 'Stage wall times'):
      self.assertIn(heading, text)
    self.assertIn('| flowIRN | 50.0 | 25.0 | 3 / 24 (12.5 %) |', text)
    # Mask R-CNN first, as in the paper's tables.
    self.assertIn('| Mask R-CNN | validation | 95.0 | 90.0 | 80.0 |\n'
                  '| MaskConsist | validation | 95.0 | 90.0 | 80.0 |', text)
    self.assertRegex(text, r'\| MaskConsist \+ tracking \| validation \| '
                     r'\d+\.\d \| 100\.0 \|')
    self.assertIn('| Mask R-CNN + tracking | validation | 0.0 | 0.0 |', text)
    self.assertIn('Semantic IoU: not computed', text)
    # 2 videos, their first and last frames.
    self.assertRegex(text, r'Rows, top to bottom: \w+ frames 0, 5; \w+ '
                     r'frames 0, 5\.')
    self.assertRegex(text, r'- MaskConsist: #0 \w+ \(0\.90\), #1 ')
    for name in ('data', 'flow', 'predict', 'track', 'evaluate'):
      self.assertIn(f'| {name} | ', text)
    images = [line[line.index('](') + 2:-1] for line in text.splitlines()
              if line.startswith('![')]
    self.assertLen(images, 4)  # train and validation frames, 2 GIFs
    total = 0
    for rel in images:
      path = record.path(rel)
      total += os.path.getsize(path)
      with Image.open(path) as image:
        if rel.endswith('.png'):
          self.assertEqual(image.format, 'PNG')
        else:
          self.assertEqual(image.format, 'GIF')
          self.assertEqual(image.n_frames, 6)  # every listed frame
    self.assertLess(total, 300_000)
    self.assertEqual(record.metrics['images'], 4)
    self.assertEqual(record.metrics['image_bytes'], total)
    # The frame sheets: 2 videos x 2 frames, with ground truth,
    # pseudo-labels and both segmenters on the training frames.
    with Image.open(record.path('images/frames_train.png')) as train, \
        Image.open(record.path('images/frames_validation.png')) as val:
      self.assertGreater(train.width, val.width)
      self.assertGreater(train.height, 4 * 64)

  def test_track_panels_keep_a_colour_per_track(self):
    mask = np.zeros((4, 5), bool)
    mask[1:3, 1:3] = True
    rle = mask_ops.encode(mask)
    entries = [{'category_id': 1, 'segmentations': [rle, None, rle]},
               {'category_id': 2, 'segmentations': [None, rle, rle]}]
    panels = report.track_panels(entries, 3)
    self.assertEqual([p[2] for p in panels], [[0], [1], [0, 1]])
    self.assertEqual(panels[2][1], ['#0', '#1'])
    np.testing.assert_array_equal(panels[0][0], [mask])
    np.testing.assert_array_equal(panels[2][0], [mask, mask])
    entries[1]['score'] = 0.25
    self.assertEqual(report.track_legend(entries, {1: 'a', 2: 'b'}),
                     '#0 a, #1 b (0.25)')
    self.assertEqual(report.track_legend([], {}), 'none')

  def test_predictions_naming_frames_the_dataset_lacks(self):
    work = self.create_tempdir().full_path
    stages = [data_component.make_stage(self.source, {'delta': 2}),
              flow_stage(),
              predict_stage('predict', extra_frame='vid_none/00099.jpg')]
    stages += video.make_stages({}, stages)[:1]
    path = os.path.join(work, 'predict', 'validation_predictions.json')
    with self.assertRaisesRegex(
        ValueError, rf"{path}: frame 'vid_none/00099.jpg' is not in the "
        "dataset: no video 'vid_none'"):
      runner.run_stages(stages, work, resources={'source': self.source})
    # A known video, a frame index it does not have.
    gt = self.gt('validation')
    name = gt['videos'][0]['name']
    stages[2] = predict_stage('predict', extra_frame=f'{name}/00099.jpg')
    work = self.create_tempdir().full_path
    path = os.path.join(work, 'predict', 'validation_predictions.json')
    with self.assertRaisesRegex(
        ValueError, rf"{path}: frame '{name}/00099.jpg' \(frame_index 99\) "
        rf"is not in the dataset: video '{name}' has 6 frames"):
      runner.run_stages(stages, work, resources={'source': self.source})

  def test_predictions_lacking_a_frame_the_ground_truth_lists(self):
    # The tracker would have nothing to list there: a clear error, not a
    # track silently absent from that frame.
    gt = self.gt('validation')
    frame = gt['videos'][0]['file_names'][3]
    work = self.create_tempdir().full_path
    stages = [data_component.make_stage(self.source, {'delta': 2}),
              flow_stage(), predict_stage('predict', drop_frame=frame)]
    stages += video.make_stages({}, stages)[:1]
    path = os.path.join(work, 'predict', 'validation_predictions.json')
    with self.assertRaisesRegex(
        ValueError, rf"{path}: the ground truth lists frame '{frame}' of "
        rf"video '{gt['videos'][0]['name']}', which the predictions lack"):
      runner.run_stages(stages, work, resources={'source': self.source})


if __name__ == '__main__':
  absltest.main()
