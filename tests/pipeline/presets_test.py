"""Presets: the stage configs they give, and how the backbone starts.

The smoke and quick presets' stage configs on the procedural default are
pinned in testdata/preset_stage_configs.json (written by the code before
the --imagenet_weights / --train_from_scratch change): a stage whose name,
version, inputs and config are unchanged keeps its fingerprint, so existing
work directories are not retrained. When a change to those presets is
meant, rewrite the file from graph.build_stages (name, version, inputs and
config of each stage, as the test compares them) in the same commit.

The paper and cityscapes presets: refused without ImageNet weights unless
asked to train from scratch; with a (test-made, randomly initialised)
ResNet-50 weights file, cam_train loads it and irn_train's heads sit on a
separate frozen ImageNet backbone. ~15 s on 2 CPU cores (building
ResNet-50 twice).
"""

import json
import os

from absl.testing import absltest

from wsvis_tf.backbones import resnet
from wsvis_tf.cam import config as cam_config
from wsvis_tf.irn import config as irn_config
from wsvis_tf.pipeline import graph
from wsvis_tf.pipeline import presets
from wsvis_tf.pipeline.components import cam
from wsvis_tf.pipeline.components import irn

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'testdata',
                      'preset_stage_configs.json')


def _describe(stages):
  """What a stage's fingerprint hashes, besides its inputs' outputs."""
  return [{'name': s.name, 'version': s.version, 'inputs': list(s.inputs),
           'config': s.config} for s in stages]


def _canonical(value) -> str:
  return json.dumps(value, sort_keys=True, indent=1)


class PresetsTest(absltest.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    root = absltest.get_default_test_tmpdir()
    # The procedural default; building stages does not prepare it.
    cls.source = graph.make_source('synthetic', None, 'quick',
                                   os.path.join(root, 'tfds'))
    cls.weights = os.path.join(root, 'resnet50_test_weights.h5')
    # A ResNet-50 with keras.applications' layer names, random weights: the
    # file format of the ImageNet one (backbones/imagenet_weights.py).
    resnet.build_resnet('resnet50').save_weights(cls.weights)

  def test_seed_reaches_every_training_stage(self):
    stages = graph.build_stages('quick', self.source, seed=7)
    flow_train = self.stage(stages, 'flow_train')
    self.assertEqual(flow_train.config['overrides']['train']['seed'], 7)
    self.assertEqual(self.stage(stages, cam.CAM_TRAIN).config['cam'][
        'train']['seed'], 7)
    self.assertEqual(self.stage(stages, irn.IRN_TRAIN).config['irn'][
        'train']['seed'], 7)
    # Another seed, other fingerprints for the training stages.
    other = graph.build_stages('quick', self.source, seed=8)
    self.assertNotEqual(
        _canonical(_describe([self.stage(stages, cam.CAM_TRAIN)])),
        _canonical(_describe([self.stage(other, cam.CAM_TRAIN)])))

  def stage(self, stages, name):
    return next(s for s in stages if s.name == name)

  def test_smoke_and_quick_stage_configs_are_unchanged(self):
    if os.environ.get('WSVIS_WRITE_GOLDEN'):
      golden = {name: _describe(graph.build_stages(name, graph.make_source(
          'synthetic', None, name, self.source.builder.data_dir)))
                for name in ('smoke', 'quick')}
      with open(GOLDEN, 'w') as f:
        f.write(_canonical(golden) + '\n')
    with open(GOLDEN) as f:
      golden = json.load(f)
    self.assertCountEqual(golden, ['smoke', 'quick'])
    for name, want in golden.items():
      for scratch in (False, True):  # the flag changes nothing for them
        stages = graph.build_stages(name, graph.make_source(
            'synthetic', None, name, self.source.builder.data_dir),
                                    train_from_scratch=scratch)
        got = _describe(stages)
        self.assertEqual([s['name'] for s in got],
                         [s['name'] for s in want])
        for g, w in zip(got, want):
          self.assertEqual(_canonical(g), _canonical(w),
                           f'{name} preset, stage {w["name"]}')

  def test_paper_presets_refuse_to_start_without_weights(self):
    for name in presets.IMAGENET_PRESETS:
      with self.assertRaises(presets.MissingWeightsError) as raised:
        graph.build_stages(name, self.source)
      self.assertEqual(raised.exception.preset, name)
      self.assertIn(presets.IMAGENET_WEIGHTS_FILE, str(raised.exception))
      self.assertIn('train_from_scratch', str(raised.exception))

  def test_paper_preset_with_weights(self):
    stages = graph.build_stages('paper', self.source,
                                imagenet_weights=self.weights)
    cam_train = self.stage(stages, cam.CAM_TRAIN)
    self.assertEqual(cam_train.config['cam']['backbone'],
                     {'imagenet_weights': self.weights})
    cfg = cam_config.cam_config_from_dict(cam_train.config['cam'])
    # IRN's CAM network: conv1..layer2 and batch norm frozen.
    self.assertEqual((cfg.backbone.name, cfg.backbone.frozen_stages,
                      cfg.backbone.frozen_bn), ('resnet50', 3, True))
    irn_train = self.stage(stages, irn.IRN_TRAIN)
    self.assertEqual(irn_train.config['irn']['backbone'],
                     {'source': 'imagenet', 'name': 'resnet50',
                      'imagenet_weights': self.weights})
    self.assertEqual(irn_config.irn_config_from_dict(
        irn_train.config['irn']).backbone.source, 'imagenet')
    # A separate backbone: the IRN heads no longer read the CAM network.
    self.assertNotIn(cam.CAM_TRAIN, irn_train.inputs)
    # The rest of the paper preset is untouched (IRN's recipe, f-Bound; the
    # run's seed, presets.apply_seed).
    self.assertEqual(irn_train.config['irn']['train'],
                     {'epochs': 6, 'seed': 0})
    self.assertTrue(irn_train.config['irn']['flow_boundary']['enabled'])

  def test_cityscapes_preset_with_weights_keeps_voc_pretraining(self):
    stages = graph.build_stages('cityscapes', self.source,
                                imagenet_weights=self.weights)
    cam_cfg = self.stage(stages, cam.CAM_TRAIN).config['cam']
    self.assertEqual(cam_cfg['backbone']['imagenet_weights'], self.weights)
    self.assertEqual(cam_cfg['pretrain']['tfds_name'], 'voc/2012')
    self.assertEqual(
        self.stage(stages, irn.IRN_TRAIN).config['irn']['backbone']['source'],
        'imagenet')

  def test_relative_weights_path_is_recorded_absolute(self):
    cwd = os.getcwd()
    os.chdir(os.path.dirname(self.weights))
    try:
      preset = presets.pipeline_preset(
          'paper', 'synthetic', os.path.basename(self.weights))
    finally:
      os.chdir(cwd)
    self.assertEqual(preset['irn_train']['irn']['backbone'][
        'imagenet_weights'], self.weights)

  def test_train_from_scratch_warns_and_keeps_the_stored_preset(self):
    with self.assertLogs(level='WARNING') as logs:
      stages = graph.build_stages('paper', self.source,
                                  train_from_scratch=True)
    warnings = [m for m in logs.output if 'departing from the paper' in m]
    self.assertLen(warnings, 1)
    self.assertIn('separate frozen ImageNet ResNet-50', warnings[0])
    cam_train = self.stage(stages, cam.CAM_TRAIN)
    self.assertEqual(cam_train.config['cam'], {'train': {'seed': 0}})
    cfg = cam_config.cam_config_from_dict(cam_train.config['cam'])
    self.assertEqual((cfg.backbone.frozen_stages, cfg.backbone.frozen_bn),
                     (0, False))
    irn_train = self.stage(stages, irn.IRN_TRAIN)
    self.assertNotIn('backbone', irn_train.config['irn'])
    self.assertIn(cam.CAM_TRAIN, irn_train.inputs)

  def test_bad_weights_are_refused_when_the_stages_are_built(self):
    tiny = os.path.join(self.create_tempdir().full_path, 'tiny.h5')
    resnet.build_resnet('resnet_tiny').save_weights(tiny)
    with self.assertRaisesRegex(ValueError, f"{tiny}.*does not fit backbone "
                                "'resnet50'"):
      graph.build_stages('paper', self.source, imagenet_weights=tiny)
    missing = os.path.join(os.path.dirname(tiny), 'nope.h5')
    with self.assertRaisesRegex(ValueError, f'{missing}.*does not exist'):
      graph.build_stages('paper', self.source, imagenet_weights=missing)

  def test_contradictory_or_misplaced_weights(self):
    with self.assertRaisesRegex(ValueError, 'not both'):
      presets.pipeline_preset('paper', 'synthetic', self.weights,
                              train_from_scratch=True)
    for name in ('quick', 'smoke'):
      with self.assertRaisesRegex(ValueError, f'the {name} preset trains a '
                                  'resnet_'):
        presets.pipeline_preset(name, 'synthetic', self.weights)


if __name__ == '__main__':
  absltest.main()
