"""model_source.resolve_model: stage dirs, model dirs, experiments, errors.

No model is built: the checkpoints are one-variable stand-ins (resolving
only finds them; export_test.py restores a real one). Seconds.
"""

import os

import tensorflow as tf

from official.core import exp_factory
from official.core import train_utils
from serving import model_source
from wsvis_tf.core import atomic_io

EXPERIMENT = 'maskrcnn_pseudolabels_smoke'
NAMES = ['red_triangle', 'green_disc', 'blue_square', 'yellow_diamond']


def _checkpoint(directory: str) -> str:
  return tf.train.Checkpoint(v=tf.Variable(1.0)).save(
      os.path.join(directory, 'ckpt'))


class ResolveModelTest(tf.test.TestCase):

  def test_experiment_and_checkpoint(self):
    ckpt = _checkpoint(self.create_tempdir().full_path)
    spec = model_source.resolve_model(
        experiment=EXPERIMENT, checkpoint=ckpt,
        params_override='task.model.detection_generator.max_num_detections'
        '=7')
    self.assertEqual(spec.checkpoint, ckpt)
    self.assertEqual(spec.experiment, EXPERIMENT)
    self.assertEqual(
        spec.params.task.model.detection_generator.max_num_detections, 7)
    # From the synthetic 'tiny' TFDS builder's info: nothing prepared.
    self.assertEqual(spec.class_names, NAMES)

  def test_checkpoint_directory_gives_its_latest(self):
    directory = self.create_tempdir().full_path
    _checkpoint(directory)
    latest = _checkpoint(directory)
    spec = model_source.resolve_model(experiment=EXPERIMENT,
                                      checkpoint=directory)
    self.assertEqual(spec.checkpoint, latest)

  def test_model_dir_with_params_yaml(self):
    model_dir = self.create_tempdir().full_path
    params = exp_factory.get_exp_config(EXPERIMENT)
    params.task.model.detection_generator.max_num_detections = 11
    train_utils.serialize_config(params, model_dir)
    latest = _checkpoint(model_dir)
    spec = model_source.resolve_model(model_dir=model_dir,
                                      class_names=list('abcd'))
    self.assertEqual(spec.checkpoint, latest)
    self.assertEqual(spec.class_names, list('abcd'))
    self.assertEqual(
        spec.params.task.model.detection_generator.max_num_detections, 11)
    self.assertEqual(spec.params.task.model.input_size, [64, 96, 3])
    self.assertEqual(spec.params.task.model.backbone.wsvis_resnet.variant,
                     'resnet_tiny')

  def test_stage_dir_with_model_json(self):
    stage = self.create_tempdir().full_path
    model_dir = os.path.join(stage, model_source.STAGE_MODEL_DIR)
    ckpt = _checkpoint(model_dir)
    info = {'experiment': EXPERIMENT,
            'checkpoint': os.path.relpath(ckpt, stage),
            'class_names': ['w', 'x', 'y', 'z']}
    atomic_io.write_json(os.path.join(stage, model_source.MODEL_JSON), info)
    # No params.yaml: the experiment, with model.json's overrides.
    info['params_override'] = (
        'task.model.detection_generator.max_num_detections=5')
    atomic_io.write_json(os.path.join(stage, model_source.MODEL_JSON), info)
    spec = model_source.resolve_model(model_dir=stage)
    self.assertEqual(spec.checkpoint, ckpt)
    self.assertEqual(spec.class_names, ['w', 'x', 'y', 'z'])
    self.assertEqual(
        spec.params.task.model.detection_generator.max_num_detections, 5)
    # With model/params.yaml, that is the config (what training ran).
    params = exp_factory.get_exp_config(EXPERIMENT)
    params.task.model.detection_generator.max_num_detections = 13
    train_utils.serialize_config(params, model_dir)
    spec = model_source.resolve_model(model_dir=stage)
    self.assertEqual(
        spec.params.task.model.detection_generator.max_num_detections, 13)

  def test_errors_name_what_is_wrong(self):
    tmp = self.create_tempdir().full_path
    ckpt = _checkpoint(tmp)
    cases = [
        (dict(), 'exactly one of model_dir'),
        (dict(model_dir=tmp, experiment=EXPERIMENT), 'exactly one of'),
        (dict(experiment=EXPERIMENT), 'needs a checkpoint'),
        (dict(experiment='no_such_experiment', checkpoint=ckpt),
         "unknown experiment 'no_such_experiment'"),
        (dict(experiment=EXPERIMENT, checkpoint=tmp + '/missing'),
         'is not a checkpoint'),
        (dict(experiment=EXPERIMENT,
              checkpoint=self.create_tempdir().full_path),
         'no checkpoint in directory'),
        (dict(experiment=EXPERIMENT, checkpoint=ckpt,
              class_names=['a', 'b']),
         r'2 class names .*num_classes = 5 needs 4'),
        (dict(experiment=EXPERIMENT, checkpoint=ckpt,
              params_override='task.model.no_such_field=1'),
         'params_override: cannot apply'),
        (dict(model_dir=tmp), 'neither model.json .* nor params.yaml'),
        (dict(model_dir=os.path.join(tmp, 'nope')), 'is not a directory'),
    ]
    for kwargs, pattern in cases:
      with self.assertRaisesRegex(ValueError, pattern, msg=str(kwargs)):
        model_source.resolve_model(**kwargs)
    stage = self.create_tempdir().full_path
    atomic_io.write_json(os.path.join(stage, model_source.MODEL_JSON),
                         {'checkpoint': 'model/ckpt-1'})
    with self.assertRaisesRegex(ValueError, "no 'class_names' field"):
      model_source.resolve_model(model_dir=stage)
    atomic_io.write_json(os.path.join(stage, model_source.MODEL_JSON),
                         {'checkpoint': 'model/ckpt-1',
                          'class_names': NAMES})
    with self.assertRaisesRegex(ValueError, 'names no experiment'):
      model_source.resolve_model(model_dir=stage)
    atomic_io.write_json(os.path.join(stage, model_source.MODEL_JSON),
                         {'checkpoint': 'model/ckpt-1', 'class_names': NAMES,
                          'experiment': EXPERIMENT})
    with self.assertRaisesRegex(ValueError, 'model.json checkpoint: .* is '
                                'not a checkpoint'):
      model_source.resolve_model(model_dir=stage)


if __name__ == '__main__':
  tf.test.main()
