"""The second step's stages (wsvis_tf/pipeline/components/segmenter.py).

Their wiring and fingerprints; run_pipeline_test runs them end to end on the
smoke preset.
"""

from absl.testing import absltest

from wsvis_tf.data import sources
from wsvis_tf.pipeline import graph
from wsvis_tf.pipeline import presets
from wsvis_tf.pipeline import runner
from wsvis_tf.pipeline.components import export
from wsvis_tf.pipeline.components import segmenter


class SegmenterStagesTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    self.preset = presets.apply_seed(presets.get_preset('smoke', 'synthetic'),
                                     0)

  def test_stages_and_inputs(self):
    stages = {s.name: s for s in segmenter.make_stages(self.preset)}
    self.assertEqual(list(stages), ['maskrcnn_train', 'maskconsist_train',
                                    'predict_maskrcnn', 'predict'])
    # Only MaskConsist reads the flow (pairs are warped); the smoke
    # experiments start from random weights, so neither reads cam_train.
    self.assertEqual(stages['maskrcnn_train'].inputs,
                     ('data', 'pseudo_labels'))
    self.assertEqual(stages['maskconsist_train'].inputs,
                     ('data', 'pseudo_labels', 'flow'))
    self.assertEqual(stages['predict'].inputs,
                     ('data', 'maskconsist_train', 'flow'))
    self.assertEqual(stages['predict_maskrcnn'].config['train_stage'],
                     'maskrcnn_train')
    self.assertIn('train_labels.json', stages['predict'].outputs)

  def test_quick_preset_starts_from_the_cam_classifier(self):
    preset = presets.get_preset('quick', 'synthetic')
    stages = {s.name: s for s in segmenter.make_stages(preset)}
    self.assertIn('cam_train', stages['maskrcnn_train'].inputs)
    self.assertIn('cam_train', stages['maskconsist_train'].inputs)

  def test_self_training_rounds_chain(self):
    stages = segmenter.self_training_stages(self.preset, 2)
    self.assertEqual([s.name for s in stages],
                     ['maskconsist_train_r2', 'predict_r2',
                      'maskconsist_train_r3', 'predict_r3'])
    r2, p2, r3, p3 = stages
    self.assertIn('predict', r2.inputs)
    self.assertEqual(r2.config['labels_stage'], 'predict')
    self.assertEqual(r2.config['labels_file'], segmenter.TRAIN_LABELS)
    self.assertEqual(p2.inputs, ('data', 'maskconsist_train_r2', 'flow'))
    self.assertEqual(r3.config['labels_stage'], 'predict_r2')
    self.assertEqual(p3.config['train_stage'], 'maskconsist_train_r3')

  def test_self_training_runs_after_every_preset(self):
    # experiments/self_train.py's list: the preset's stages, then the
    # rounds; the runner refuses a stage that reads one not run before it.
    source = sources.get_source('synthetic', None, 'tiny',
                                self.create_tempdir().full_path)
    for name in ('smoke', 'quick'):
      preset = presets.apply_seed(presets.get_preset(name, 'synthetic'), 0)
      stages = graph.preset_stages(preset, source)
      stages += segmenter.self_training_stages(preset, 2)
      runner.check_graph(stages)
      self.assertEqual([s.name for s in stages][-2:],
                       ['maskconsist_train_r3', 'predict_r3'])

  def test_fingerprint_follows_the_resolved_experiment(self):
    base = segmenter.make_train_stage(self.preset['maskrcnn_train'], 'x')
    same = segmenter.make_train_stage(self.preset['maskrcnn_train'], 'x')
    self.assertEqual(base.config, same.config)
    changed = dict(self.preset['maskrcnn_train'])
    changed['overrides'] = {'trainer': {'train_steps': 5}}
    other = segmenter.make_train_stage(changed, 'x')
    self.assertNotEqual(base.config['experiment_sha256'],
                        other.config['experiment_sha256'])

  def test_export_follows_maskconsist_in_quick_not_smoke(self):
    source = sources.get_source('synthetic', None, 'tiny',
                                self.create_tempdir().full_path)
    quick = [s.name for s in graph.preset_stages(
        presets.get_preset('quick', 'synthetic'), source)]
    self.assertGreater(quick.index('export'), quick.index('maskconsist_train'))
    stage = next(s for s in graph.preset_stages(
        presets.get_preset('quick', 'synthetic'), source)
                 if s.name == 'export')
    self.assertEqual(stage.inputs, ('maskconsist_train',))
    self.assertNotIn('export', [s.name for s in graph.preset_stages(
        self.preset, source)])
    with self.assertRaisesRegex(KeyError, 'unknown export config keys'):
      export.make_stage({'versoin': 2})
    with self.assertRaisesRegex(ValueError, 'version must be >= 1'):
      export.make_stage({'version': 0})

  def test_bad_configs_fail_when_built(self):
    with self.assertRaisesRegex(KeyError, 'unknown predict config keys'):
      segmenter.make_predict_stage({'min_scor': 0.1}, 'p', 'maskrcnn_train')
    with self.assertRaisesRegex(ValueError, r"unknown Mask R-CNN experiment "
                                r"'no_such_experiment'.*maskconsist_smoke"):
      segmenter.make_train_stage({'experiment': 'no_such_experiment'}, 'x')
    with self.assertRaises(KeyError):  # is_strict: no such field
      segmenter.make_train_stage(
          {'experiment': 'maskrcnn_pseudolabels_smoke',
           'overrides': {'task': {'no_such_field': 1}}}, 'x')


if __name__ == '__main__':
  absltest.main()
