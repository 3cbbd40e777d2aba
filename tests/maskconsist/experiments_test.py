"""The registered MaskConsist experiments build, validate, lock and check."""

import os

import tensorflow as tf

from official.core import exp_factory
from wsvis_tf.maskconsist import config as config_lib
from wsvis_tf.maskconsist import experiments  # pylint: disable=unused-import
from wsvis_tf.maskconsist import train_lib

DATASETS = ('smoke', 'synthetic', 'ytvis', 'cityscapes')
NAMES = [f'{kind}_{data}' for data in DATASETS
         for kind in ('maskrcnn_pseudolabels', 'maskconsist')]


class ExperimentsTest(tf.test.TestCase):

  def test_build_validate_lock(self):
    for name in NAMES:
      params = exp_factory.get_exp_config(name)
      self.assertIsInstance(params.task, config_lib.MaskConsistTaskConfig)
      self.assertEqual(params.task.maskconsist, name.startswith('maskcon'))
      params.validate()
      params.lock()
      with self.assertRaisesRegex(ValueError, 'locked'):
        params.override({'task': {'maskconsist': False}})
      # Round trip through a dict, as YAML files do.
      again = exp_factory.get_exp_config(name)
      again.override(params.as_dict(), is_strict=True)
      self.assertEqual(again.as_dict(), params.as_dict())
      # Input sizes fit the FPN (no padding beyond 2^max_level).
      model = params.task.model
      for side in model.input_size[:2]:
        self.assertEqual(side % 2 ** model.max_level, 0, name)
      self.assertEqual(model.backbone.type, config_lib.BACKBONE_TYPE)

  def test_paper_settings_on_real_data(self):
    for data, steps, delta, classes in (('ytvis', 90000, 5, 40),
                                        ('cityscapes', 75000, 1, 8)):
      for kind in ('maskrcnn_pseudolabels', 'maskconsist'):
        params = exp_factory.get_exp_config(f'{kind}_{data}')
        task, trainer = params.task, params.trainer
        self.assertEqual(task.model.num_classes, classes + 1)
        self.assertEqual(task.model.backbone.wsvis_resnet.variant,
                         'resnet50')
        self.assertEqual(task.model.backbone.wsvis_resnet.init,
                         config_lib.INIT_IMAGENET)
        self.assertEqual(task.train_data.delta, delta)
        self.assertEqual(trainer.train_steps, steps)
        opt = trainer.optimizer_config
        self.assertEqual(opt.optimizer.type, 'sgd')
        self.assertEqual(opt.optimizer.sgd.momentum, 0.9)
        self.assertEqual(opt.learning_rate.stepwise.values,
                         [0.002, 0.0002, 0.00002])
        self.assertEqual(opt.learning_rate.stepwise.boundaries,
                         [round(0.75 * steps), round(0.88 * steps)])
        m = task.matching
        self.assertEqual((m.intra_box_iou, m.iom_threshold,
                          m.max_predictions, m.min_score),
                         (0.5, 0.5, 100, 0.05))
        gen = task.model.detection_generator
        self.assertEqual((gen.pre_nms_score_threshold, gen.nms_iou_threshold,
                          gen.max_num_detections), (0.05, 0.5, 100))

  def test_real_data_refuses_to_start_without_imagenet_weights(self):
    for name in ('maskconsist_ytvis', 'maskrcnn_pseudolabels_cityscapes'):
      params = exp_factory.get_exp_config(name)
      with self.assertRaisesRegex(
          ValueError, r'task\.model\.backbone\.wsvis_resnet\.imagenet_weights'
          r' is empty.*resnet50_weights_tf_dim_ordering_tf_kernels_notop\.h5'):
        train_lib.train(params, self.create_tempdir().full_path)
      params = exp_factory.get_exp_config(name)
      params.override({'task': {'model': {'backbone': {'wsvis_resnet': {
          'imagenet_weights': '/nowhere/resnet50.h5'}}}}})
      with self.assertRaisesRegex(ValueError, r"'/nowhere/resnet50\.h5': no "
                                  'such file'):
        train_lib.check_config(params)
      # Training from scratch is an explicit choice.
      params.override({'task': {'model': {'backbone': {'wsvis_resnet': {
          'init': 'random'}}}}})
      train_lib.check_config(params)
    # The synthetic one wants the cam_train checkpoint.
    with self.assertRaisesRegex(ValueError, 'cam_checkpoint is empty'):
      train_lib.check_config(exp_factory.get_exp_config(
          'maskconsist_synthetic'))

  def test_resume_does_not_need_init_files(self):
    params = exp_factory.get_exp_config('maskconsist_ytvis')
    model_dir = self.create_tempdir().full_path
    with self.assertRaisesRegex(ValueError, 'imagenet_weights is empty'):
      train_lib.check_config(params, model_dir)
    ckpt = tf.train.Checkpoint(step=tf.Variable(1))
    ckpt.write(os.path.join(model_dir, 'ckpt-1'))
    with open(os.path.join(model_dir, 'checkpoint'), 'w') as f:
      f.write('model_checkpoint_path: "ckpt-1"\n')
    train_lib.check_config(params, model_dir)

  def test_misspelt_overrides_are_refused(self):
    params = exp_factory.get_exp_config('maskconsist_smoke')
    with self.assertRaises(KeyError):
      params.override({'task': {'matching': {'iom_treshold': 0.4}}},
                      is_strict=True)
    params.override({'task': {'matching': {'iom_threshold': 0.4}}},
                    is_strict=True)
    self.assertEqual(params.task.matching.iom_threshold, 0.4)


if __name__ == '__main__':
  tf.test.main()
