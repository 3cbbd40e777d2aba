"""The cam_train, cam and ir_labels stages on the tiny procedural dataset.

Runs the three stages through the runner (smoke settings, ~15 s on 2 CPU
cores) and checks their outputs, formats, records and reruns, and the stage
factories' handling of flow.
"""

import json
import os
import tempfile

from absl.testing import absltest
import numpy as np
import tensorflow as tf

from datasets.synthetic import synthetic
from wsvis_tf.cam import extraction
from wsvis_tf.cam import model as model_lib
from wsvis_tf.data import sources
from wsvis_tf.irn import dense_crf
from wsvis_tf.irn import ir_labels
from wsvis_tf.pipeline import presets
from wsvis_tf.pipeline import runner
from wsvis_tf.pipeline import stage as stage_lib
from wsvis_tf.pipeline.components import cam
from wsvis_tf.pipeline.components import cam_training


def _data_stage():
  """A stand-in for the data stage: the runner only needs its record."""
  def run(ctx):
    ctx.resources['source'].prepare()
    with open(ctx.path('done'), 'w') as f:
      f.write('ok')
  return stage_lib.Stage(name='data', run=run, outputs=('done',))


class CamStagesTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.root = tempfile.mkdtemp(dir=absltest.get_default_test_tmpdir())
    synthetic.prepare('tiny', os.path.join(cls.root, 'tfds'))
    cls.source = sources.get_source('synthetic', os.path.join(cls.root,
                                                              'tfds'), 'tiny')
    preset = presets.get_preset('smoke', 'synthetic')
    preset['ir_labels']['crf'] = dense_crf.crf_available()
    cls.stages = [_data_stage()] + cam.make_stages(preset, cls.source)
    cls.baseline = cam.make_ir_labels_stage(
        {'use_fcam': False, 'crf': False}, name='ir_labels_irn')
    cross_fit = dict(preset[cam.CAM_TRAIN])
    cross_fit['cam'] = {**cross_fit['cam'], 'cross_fit_folds': 2}
    cls.cross_fit = [
        cam.make_cam_train_stage(cross_fit, name='cam_train_cf'),
        cam.make_cam_stage({}, name='cam_cf', train_stage='cam_train_cf'),
        cam.make_cam_stage({'combine': 'min'}, name='cam_cf_min',
                           train_stage='cam_train_cf')]
    cls.work = os.path.join(cls.root, 'work')
    cls.records = runner.run_stages(
        cls.stages + [cls.baseline] + cls.cross_fit, cls.work,
        resources={'source': cls.source})

  def test_cam_train(self):
    record = self.records[cam.CAM_TRAIN]
    self.assertEqual(record.metrics['steps'], 6)
    self.assertLess(record.metrics['final_loss'],
                    record.metrics['first_loss'])
    info = cam.cam_model_info(record)
    self.assertEqual(info['class_names'], self.source.class_names)
    self.assertTrue(tf.io.gfile.exists(info['checkpoint'] + '.index'))
    model = cam.load_cam_model(record)
    self.assertEqual(model.num_classes, 4)
    backbone = cam.load_backbone(record)
    out = backbone(tf.zeros([1, 64, 80, 3]))
    self.assertEqual(out['stage5'].shape.as_list()[1:3], [4, 5])
    self.assertEmpty(backbone.trainable_variables)

  def test_cross_fitting(self):
    record = self.records['cam_train_cf']
    info = cam.cam_model_info(record)
    self.assertLen(info['fold_checkpoints'], 2)
    folds = info['video_folds']
    self.assertCountEqual(folds.values(), [0, 1, 0, 1])  # 4 videos
    self.assertEqual(record.metrics['models'], 2)
    # Each model trains on the other 2 videos' 12 frames: 12 // 8 steps x 2
    # epochs, so 4 steps in all (6 for the single model on 24 frames).
    self.assertEqual(record.metrics['steps'], 4)
    a, b = cam.load_cam_model(record, 0), cam.load_cam_model(record, 1)
    self.assertNotAllClose(a.classifier.get_weights()[0],
                           b.classifier.get_weights()[0])
    index = cam.frame_index(self.records['cam_cf'])
    self.assertLen(index['frames'], 24)

  def test_combine_min(self):
    # Every frame's CAMs are the agreement of both fold models' own CAMs;
    # the held-out combination's differ.
    train = self.records['cam_train_cf']
    info = cam.cam_model_info(train)
    ext = info['config']['extraction']
    extractors = [extraction.CamExtractor(cam.load_cam_model(train, f),
                                          ext['scales'], ext['flip'])
                  for f in range(2)]
    got_record = self.records['cam_cf_min']
    self.assertEqual(got_record.config['combine'], 'min')
    index = cam.frame_index(got_record)
    self.assertLen(index['frames'], 24)
    videos = {v['video_id'].decode(): v for v in
              self.source.videos('train').as_numpy_iterator()}
    differs = False
    for frame in index['frames'][::5]:
      video = videos[frame['video_id']]
      t = frame['frame_index']
      want = extraction.agreement_cams(
          [e(video['frames'][t], video['frame_labels'][t], allow_empty=True)
           for e in extractors])
      got = extraction.load_cams(cam.cam_file(got_record, frame['video_id'],
                                              frame['frame_name']))
      held_out = extraction.load_cams(cam.cam_file(
          self.records['cam_cf'], frame['video_id'], frame['frame_name']))
      self.assertAllEqual(got['keys'], want['keys'])
      self.assertAllClose(got['high_res'], want['high_res'], atol=2e-3)
      differs |= not np.allclose(got['high_res'], held_out['high_res'],
                                 atol=2e-2)
    self.assertTrue(differs)

  def test_unknown_combine(self):
    with self.assertRaisesRegex(ValueError, "combine must be one of"):
      cam.make_cam_stage({'combine': 'mean'})

  def test_cam_outputs(self):
    record = self.records[cam.CAM]
    index = cam.frame_index(record)
    self.assertLen(index['frames'], 24)  # 4 videos x 6 annotated frames
    self.assertEqual(record.metrics['frames'], 24)
    self.assertIn('cam_miou', record.metrics)
    for frame in index['frames'][:6]:
      path = cam.cam_file(record, frame['video_id'], frame['frame_name'])
      self.assertTrue(path.endswith(
          os.path.join(frame['video_id'],
                       frame['frame_name'].split('.')[0] + '.npz')))
      with np.load(path) as npz:
        self.assertCountEqual(npz.files, ['keys', 'cam', 'high_res'])
        k = len(frame['keys'])
        self.assertEqual(npz['high_res'].shape, (k, 64, 80))
        self.assertEqual(npz['cam'].shape, (k, 16, 20))
        self.assertEqual(npz['cam'].dtype, np.float16)
        self.assertAllEqual(npz['keys'], frame['keys'])

  def test_ir_labels(self):
    for name, fcam in (('ir_labels', True), ('ir_labels_irn', False)):
      record = self.records[name]
      index = cam.frame_index(record)
      self.assertEqual(index['fcam'] is not None, fcam, name)
      self.assertEqual(record.metrics['use_fcam'], fcam)
      values = set()
      for frame in index['frames']:
        label = ir_labels.load_ir_label(cam.ir_label_file(
            record, frame['video_id'], frame['frame_name']))
        self.assertEqual(label.shape, (64, 80))
        values |= set(np.unique(label).tolist())
      self.assertTrue(values <= {0, 1, 2, 3, 4, 255}, values)
      self.assertIn(0, values)
    fcam_cfg = self.records['ir_labels'].config
    self.assertEqual(fcam_cfg['flow_source'], 'ground_truth')
    self.assertEqual((fcam_cfg['amplification'], fcam_cfg['percentile']),
                     (2.0, 80.0))
    self.assertNotIn('flow_source', self.records['ir_labels_irn'].config)

  def test_rerun_skips_everything(self):
    again = runner.run_stages(
        self.stages + [self.baseline] + self.cross_fit, self.work,
        resources={'source': self.source})
    self.assertTrue(all(r.status == 'skipped' for r in again.values()))

  def test_ir_label_stage_inputs(self):
    irn = cam.make_ir_labels_stage({'use_fcam': False}, name='irn')
    self.assertEqual(tuple(irn.inputs), ('data', 'cam'))
    flowirn = cam.make_ir_labels_stage({}, flow_stage='flow')
    self.assertEqual(tuple(flowirn.inputs), ('data', 'cam', 'flow'))
    self.assertEqual(flowirn.config['flow_source'], 'stage')
    exact = cam.make_ir_labels_stage({}, has_exact_flow=True)
    self.assertEqual(tuple(exact.inputs), ('data', 'cam'))
    no_flow = cam.make_ir_labels_stage({})
    self.assertFalse(no_flow.config['use_fcam'])
    with self.assertRaisesRegex(ValueError, 'need the flow stage'):
      cam.make_ir_labels_stage({'flow_source': 'stage'})
    with self.assertRaisesRegex(ValueError, 'exact flow'):
      cam.make_ir_labels_stage({'flow_source': 'ground_truth'})
    with self.assertRaisesRegex(KeyError, 'unknown ir_labels config'):
      cam.make_ir_labels_stage({'threshold': 0.3})
    with self.assertRaises(KeyError):
      cam.make_cam_train_stage({'cam': {'train': {'epoch': 1}}})

  def test_init_from_pretrained_maps_classes_by_name(self):
    source = model_lib.CamNet(3, 'resnet_tiny', 0, False)
    path = model_lib.make_checkpoint(source).save(
        os.path.join(self.root, 'pre', 'ckpt'))
    target = model_lib.CamNet(3, 'resnet_tiny', 0, False)
    cam_training._init_from_pretrained(  # pylint: disable=protected-access
        target, path, ['car', 'motorbike', 'dog'],
        ['motorcycle', 'truck', 'rider'],
        ['motorcycle=motorbike', 'truck=car'])
    src = source.classifier.get_weights()[0]
    dst = target.classifier.get_weights()[0]
    self.assertAllClose(dst[..., 0], src[..., 1])  # motorcycle <- motorbike
    self.assertAllClose(dst[..., 1], src[..., 0])  # truck <- car
    self.assertNotAllClose(dst[..., 2], src[..., 2])  # rider: fresh
    for a, b in zip(source.backbone.get_weights(),
                    target.backbone.get_weights()):
      self.assertAllClose(a, b)

  def test_index_json_is_plain_json(self):
    with open(self.records[cam.CAM].path(cam.INDEX_JSON)) as f:
      self.assertEqual(json.load(f)['split'], 'train')


if __name__ == '__main__':
  tf.test.main()
