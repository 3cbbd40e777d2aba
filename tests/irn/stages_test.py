"""End-to-end test of the irn_train and pseudo_labels stages (smoke sizes).

Runs data -> cam_train -> cam -> ir_labels (f-CAMs from the exact flow of the
tiny procedural dataset) -> irn_train (f-Bound) -> pseudo_labels (f-CAMs),
then checks the COCO file, resuming, the empty set, the ablation graph and
heads on a separate ImageNet backbone. ~1 min on 2 CPU cores.
"""

import copy
import json
import os
import shutil
import tempfile

from absl.testing import absltest
import numpy as np

from wsvis_tf.backbones import resnet
from wsvis_tf.core import atomic_io
from wsvis_tf.evaluation import frame_ap
from wsvis_tf.pipeline import graph
from wsvis_tf.pipeline import presets
from wsvis_tf.pipeline import runner
from wsvis_tf.pipeline import stage as stage_lib
from wsvis_tf.pipeline.components import cam
from wsvis_tf.pipeline.components import data
from wsvis_tf.pipeline.components import irn


class StagesTest(absltest.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.work_dir = tempfile.mkdtemp()
    cls.source = graph.make_source('synthetic', None, 'smoke',
                                   os.path.join(cls.work_dir, 'tfds'))
    cls.preset = presets.get_preset('smoke', 'synthetic')
    cls.preset['ir_labels']['crf'] = False  # speed; CRF is tested upstream
    cls.shared = [data.make_stage(cls.source, cls.preset['data'])]
    cls.shared += cam.make_stages(cls.preset, cls.source)
    cls.stages = cls.shared + irn.make_stages(cls.preset, cls.source)
    cls.records = runner.run_stages(cls.stages, cls.work_dir,
                                    resources={'source': cls.source})

  @classmethod
  def tearDownClass(cls):
    shutil.rmtree(cls.work_dir, ignore_errors=True)
    super().tearDownClass()

  def test_flowirn_stages_read_exact_flow(self):
    train = self.records[irn.IRN_TRAIN]
    self.assertTrue(train.metrics['flow_boundary'])
    self.assertEqual(train.config['flow_source'], 'ground_truth')
    labels = self.records[irn.PSEUDO_LABELS]
    self.assertTrue(labels.metrics['use_fcam'])
    # f-CAM settings follow the ir_labels preset.
    inference = labels.config['irn']['inference']
    self.assertEqual(inference['amplification'],
                     self.preset['ir_labels']['amplification'])

  def test_pseudo_labels_are_coco_on_ground_truth_ids(self):
    record = self.records[irn.PSEUDO_LABELS]
    with open(irn.pseudo_labels_path(record)) as f:
      coco = json.load(f)
    with open(data.frames_gt_path(self.records['data'], 'train')) as f:
      gt = json.load(f)
    self.assertEqual([(i['id'], i['file_name']) for i in coco['images']],
                     [(i['id'], i['file_name']) for i in gt['images']])
    self.assertEqual(coco['categories'], gt['categories'])
    for ann in coco['annotations']:
      self.assertIn('counts', ann['segmentation'])
      self.assertGreaterEqual(ann['score'], 1e-5)
    self.assertEqual(record.metrics['annotations'], len(coco['annotations']))
    ap = frame_ap.evaluate_frames(gt, [
        {k: a[k] for k in ('image_id', 'category_id', 'segmentation',
                           'score')} for a in coco['annotations']])
    self.assertAlmostEqual(ap['AP50'], record.metrics['AP50'], places=3)

  def test_rerun_resumes_from_frame_cache(self):
    # As if the run had crashed before writing the JSON and the record: the
    # runner keeps the directory (its .running.json has the fingerprint).
    record = self.records[irn.PSEUDO_LABELS]
    os.remove(record.path(stage_lib.RECORD_FILE))
    os.remove(irn.pseudo_labels_path(record))
    atomic_io.write_json(record.path(stage_lib.RUNNING_FILE),
                         {'fingerprint': record.fingerprint})
    again = runner.run_stages(self.stages, self.work_dir,
                              resources={'source': self.source})
    metrics = again[irn.PSEUDO_LABELS].metrics
    self.assertEqual(metrics['computed'], 0)
    self.assertEqual(metrics['annotations'], record.metrics['annotations'])

  def test_empty_pseudo_label_set(self):
    stage = irn.make_pseudo_labels_stage(
        {'irn': {'inference': {'background_threshold': 1.5}}},
        name='pseudo_labels_none')
    with self.assertLogs(level='WARNING') as logs:
      records = runner.run_stages(self.stages + [stage], self.work_dir,
                                  resources={'source': self.source})
    self.assertTrue(any('empty pseudo-label set' in m for m in logs.output))
    with open(irn.pseudo_labels_path(records['pseudo_labels_none'])) as f:
      coco = json.load(f)
    self.assertEqual(coco['annotations'], [])
    self.assertLen(coco['images'], records['data'].metrics[
        'train_annotated_frames'])

  def test_ablation_graph(self):
    extra = irn.ablation_stages(self.preset, self.source, self.shared)
    names = [s.name for s in extra]
    self.assertEqual(names, [
        'ir_labels_cam', 'irn_train_irn', 'pseudo_labels_irn',
        'irn_train_irn_fbound', 'pseudo_labels_irn_fbound',
        'irn_train_irn_fcam', 'pseudo_labels_irn_fcam',
        'irn_train_flowirn', 'pseudo_labels_flowirn'])
    by_name = {s.name: s for s in extra}
    self.assertIn('ir_labels_cam', by_name['irn_train_irn'].inputs)
    self.assertIn('ir_labels', by_name['irn_train_flowirn'].inputs)
    self.assertFalse(by_name['pseudo_labels_irn_fbound'].config['irn'][
        'inference']['use_fcam'])
    self.assertTrue(by_name['irn_train_irn_fbound'].config['irn'][
        'flow_boundary']['enabled'])
    with self.assertRaisesRegex(ValueError, 'unknown variants'):
      irn.ablation_stages(self.preset, self.source, self.shared, ['x'])

  def test_fbound_defaults_are_part_of_the_config(self):
    # A changed f-Bound default must change the stage's fingerprint (its
    # config), or a rerun would reuse a model trained with the old one.
    make = lambda fb: irn.make_irn_train_stage(
        {'irn': {'flow_boundary': {'enabled': True, **fb}}},
        has_exact_flow=True).config['irn']['flow_boundary']
    implicit = make({})
    self.assertEqual(implicit['gradient_resolution'], 'input')
    self.assertEqual(implicit['flow_weight'], 2.0)
    self.assertEqual(implicit, make({'gradient_resolution': 'input'}))
    self.assertNotEqual(implicit, make({'gradient_resolution': 'stride4'}))
    self.assertIn(implicit['feature'], ('gradient', 'flow'))
    self.assertIn(implicit['pair_difference'], ('endpoints', 'path'))
    self.assertNotEqual(make({'feature': 'flow'}),
                        make({'feature': 'gradient'}))
    self.assertNotEqual(make({'pair_difference': 'path'}),
                        make({'pair_difference': 'endpoints'}))
    self.assertEqual(implicit['max_difference'], 4.0)
    self.assertEqual(implicit['loss_weight'], 1.0)
    self.assertNotEqual(implicit, make({'loss_weight': 0.3}))
    self.assertNotEqual(implicit, make({'max_difference': None}))
    with self.assertRaisesRegex(ValueError, 'max_difference must be'):
      make({'max_difference': -1.0})
    # IRN alone reads no flow and keeps its config as given; f-Bound
    # settings without f-Bound do not enter its fingerprint.
    plain = irn.make_irn_train_stage({'irn': {}}).config['irn']
    self.assertNotIn('flow_boundary', plain)
    off = lambda fb: irn.make_irn_train_stage(
        {'irn': {'flow_boundary': {'enabled': False, **fb}}},
        has_exact_flow=True).config['irn']
    self.assertEqual(off({'feature': 'gradient', 'flow_weight': 5.0}),
                     off({}))
    self.assertEqual(off({})['flow_boundary'], {'enabled': False})

  def test_heads_on_a_separate_imagenet_backbone(self):
    # Official IRN (and the paper and cityscapes presets with
    # --imagenet_weights): the heads sit on a frozen ImageNet backbone, not
    # on the CAM network's. A random resnet_tiny file stands in for it.
    weights = os.path.join(self.work_dir, 'imagenet_tiny.h5')
    reference = resnet.build_resnet('resnet_tiny')
    reference.save_weights(weights)
    config = copy.deepcopy(self.preset[irn.IRN_TRAIN])
    config['irn']['backbone'] = {'source': 'imagenet', 'name': 'resnet_tiny',
                                 'imagenet_weights': weights}
    train = irn.make_irn_train_stage(config, name='irn_train_imagenet',
                                     has_exact_flow=True)
    self.assertNotIn(cam.CAM_TRAIN, train.inputs)
    labels = irn.make_pseudo_labels_stage(
        irn.inherit_fcam(self.preset[irn.PSEUDO_LABELS],
                         self.preset['ir_labels']),
        name='pseudo_labels_imagenet', irn_stage=train.name,
        has_exact_flow=True)
    records = runner.run_stages(self.stages + [train, labels], self.work_dir,
                                resources={'source': self.source})
    self.assertGreater(records[train.name].metrics['steps'], 0)
    self.assertEqual(records[labels.name].metrics['frames'],
                     records[irn.PSEUDO_LABELS].metrics['frames'])
    backbone = irn.load_irn_model(records[train.name]).backbone
    cam_backbone = cam.load_backbone(records[cam.CAM_TRAIN])
    for layer in reference.layers:
      if not layer.weights:
        continue
      # Frozen through training: the file's weights, exactly.
      for got, want in zip(backbone.get_layer(layer.name).get_weights(),
                           layer.get_weights()):
        np.testing.assert_array_equal(got, want, err_msg=layer.name)
    self.assertFalse(np.array_equal(
        cam_backbone.get_layer('conv1_conv').get_weights()[0],
        reference.get_layer('conv1_conv').get_weights()[0]))

  def test_flow_source_errors(self):
    with self.assertRaisesRegex(ValueError, 'needs the flow stage'):
      irn.make_irn_train_stage({'irn': {'flow_boundary': {
          'enabled': True, 'flow_source': 'stage'}}})
    with self.assertRaisesRegex(ValueError, 'exact flow'):
      irn.make_pseudo_labels_stage({'irn': {'inference': {
          'use_fcam': True, 'flow_source': 'ground_truth'}}})
    with self.assertLogs(level='WARNING'):
      stage = irn.make_irn_train_stage({'irn': {'flow_boundary': {
          'enabled': True}}})
    self.assertFalse(stage.config['irn']['flow_boundary']['enabled'])
    with self.assertRaises(KeyError):
      irn.make_pseudo_labels_stage({'irn': {'train': {}}})


if __name__ == '__main__':
  absltest.main()
