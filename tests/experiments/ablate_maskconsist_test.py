"""experiments/ablate_maskconsist.py: the variants' stage configs and names.

The binary end to end (smoke preset, 4 variants x 2 seeds) takes ~8 min on 2
cores, too long for the suite; these tests check what makes a variant that
variant: the experiment it resolves to, its labels and its stage names.
"""

import os

from absl import flags
from absl.testing import absltest

from experiments import ablate_maskconsist as ablate
from wsvis_tf.pipeline import graph
from wsvis_tf.pipeline import presets
from wsvis_tf.pipeline import runner
from wsvis_tf.pipeline.components import segmenter


def _resolved(config):
  """The experiment params a train stage with this config trains."""
  return segmenter.experiment_params(config)


class AblateMaskConsistTest(absltest.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    flags.FLAGS.mark_as_parsed()
    cls.preset = presets.apply_seed(
        presets.get_preset('quick', 'synthetic'), 0)
    cls.source = graph.make_source(
        'synthetic', None, 'quick',
        os.path.join(absltest.get_default_test_tmpdir(), 'tfds'))

  def test_variants_switch_what_they_name(self):
    expected = {
        'maskrcnn': (False, True, True, True),
        'maskconsist': (True, True, True, True),
        'no_intra': (True, False, True, True),
        'no_inter': (True, True, False, True),
        'no_iom_nms': (True, True, True, False),
        'supervised': (False, True, True, True),
        'random_init': (False, True, True, True),
        'larger_first': (True, True, True, True),
    }
    self.assertEqual(set(expected), set(ablate.VARIANTS))
    for variant, (mc, intra, inter, iom) in expected.items():
      params = _resolved(ablate.variant_train_config(self.preset, variant, 0))
      matching = params.task.matching
      self.assertEqual(
          (params.task.maskconsist, matching.intra_frame,
           matching.inter_frame, matching.iom_nms), (mc, intra, inter, iom),
          variant)
      self.assertEqual(matching.iom_priority, 'larger_first'
                       if variant == 'larger_first' else 'labels_first',
                       variant)

  def test_random_init_changes_only_the_backbone_start(self):
    params = _resolved(ablate.variant_train_config(self.preset,
                                                   'random_init', 0))
    self.assertEqual(params.task.model.backbone.wsvis_resnet.init, 'random')
    base = _resolved(ablate.variant_train_config(self.preset, 'maskrcnn', 0))
    self.assertEqual(base.task.model.backbone.wsvis_resnet.init,
                     'cam_checkpoint')
    base.task.model.backbone.wsvis_resnet.init = 'random'
    self.assertEqual(params.as_dict(), base.as_dict())

  def test_supervised_trains_on_the_ground_truth(self):
    config = ablate.variant_train_config(self.preset, 'supervised', 0)
    self.assertEqual(config['labels_stage'], 'data')
    self.assertEqual(config['labels_file'], 'ground_truth/train_frames.json')
    stage = segmenter.make_train_stage(config, 'x', labels_stage='data')
    self.assertEqual(stage.inputs.count('data'), 1)
    self.assertNotIn('pseudo_labels', stage.inputs)
    pseudo = ablate.variant_train_config(self.preset, 'maskrcnn', 0)
    self.assertNotIn('labels_stage', pseudo)

  def test_seed_and_steps_reach_the_experiment(self):
    params = _resolved(ablate.variant_train_config(self.preset, 'maskconsist',
                                                   7, steps=400))
    self.assertEqual(params.task.train_data.seed, 7)
    self.assertEqual(params.trainer.train_steps, 400)
    # The decays move with the budget: 75 % and 88 % of 400.
    self.assertEqual(
        params.trainer.optimizer_config.learning_rate.stepwise.boundaries,
        [300, 352])

  def test_preset_seed_reuses_the_pipeline_stages(self):
    # Same config as run_pipeline.py's stage: same fingerprint, reused.
    self.assertEqual(ablate.variant_train_config(self.preset, 'maskrcnn', 0),
                     {**self.preset['maskrcnn_train']})
    self.assertEqual(ablate._names('maskrcnn', 0, 0, None, ''),
                     ('maskrcnn_train', 'predict_maskrcnn'))
    self.assertEqual(ablate._names('maskconsist', 0, 0, None, ''),
                     ('maskconsist_train', 'predict'))
    self.assertEqual(ablate._names('maskconsist', 2, 0, None, ''),
                     ('maskconsist_train_maskconsist_seed2',
                      'predict_maskconsist_seed2'))
    self.assertEqual(ablate._names('no_intra', 0, 0, 300, 'x'),
                     ('maskconsist_train_no_intra_steps300_x',
                      'predict_no_intra_steps300_x'))
    self.assertEqual(ablate._names('supervised', 0, 0, None, ''),
                     ('maskrcnn_train_supervised',
                      'predict_maskrcnn_supervised'))

  def test_stages_stop_at_the_labels_then_add_the_variants(self):
    # The preset's tracking, export and report stages read its segmenter
    # stages, which the ablation names its own way: they must not be in the
    # list (the runner refused the whole list when they were).
    stages, names = ablate.ablation_stages(
        self.preset, self.source, ['maskrcnn', 'no_intra'], [0, 3], 0)
    runner.check_graph(stages)  # every input runs before its reader
    self.assertEqual(
        [s.name for s in stages],
        ['data', 'flow_train', 'flow', 'cam_train', 'cam', 'ir_labels',
         'irn_train', 'pseudo_labels',
         'maskrcnn_train', 'predict_maskrcnn',
         'maskconsist_train_no_intra', 'predict_no_intra',
         'maskrcnn_train_maskrcnn_seed3', 'predict_maskrcnn_maskrcnn_seed3',
         'maskconsist_train_no_intra_seed3', 'predict_no_intra_seed3'])
    self.assertEqual(names[('no_intra', 3)],
                     ('maskconsist_train_no_intra_seed3',
                      'predict_no_intra_seed3'))
    predict = next(s for s in stages if s.name == 'predict_no_intra_seed3')
    self.assertIn('maskconsist_train_no_intra_seed3', predict.inputs)

  def test_upstream_names_an_unknown_stage(self):
    stages = graph.preset_stages(self.preset, self.source)
    with self.assertRaisesRegex(ValueError, "no stage 'pseudo_label'"):
      graph.upstream(stages, ['pseudo_label'])
    # A stage and what it reads, transitively, in the preset's order.
    self.assertEqual(
        [s.name for s in graph.upstream(stages, ['ir_labels'])],
        ['data', 'flow_train', 'flow', 'cam_train', 'cam', 'ir_labels'])
    self.assertEqual([s.name for s in graph.upstream(stages, ['cam'])],
                     ['data', 'cam_train', 'cam'])


if __name__ == '__main__':
  absltest.main()
