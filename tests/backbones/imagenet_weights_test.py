"""Tests of loading ImageNet weights from a local Keras HDF5 file."""

import os

import numpy as np
import tensorflow as tf
import tf_keras

from wsvis_tf.backbones import imagenet_weights
from wsvis_tf.backbones import resnet


class ImagenetWeightsTest(tf.test.TestCase):

  def _outputs(self, model):
    x = tf.constant(np.random.RandomState(0).uniform(0, 255, (1, 24, 40, 3)),
                    tf.float32)
    return model(x)['stage5']

  def test_loads_a_weights_file_by_name(self):
    source = resnet.build_resnet('resnet_tiny')
    path = os.path.join(self.get_temp_dir(), 'tiny.h5')
    source.save_weights(path)
    target = resnet.build_resnet('resnet_tiny')
    self.assertNotAllClose(self._outputs(source), self._outputs(target))
    n = imagenet_weights.load_imagenet_weights(target, path)
    self.assertEqual(n, len([l for l in target.layers if l.weights]))
    self.assertAllClose(self._outputs(source), self._outputs(target))

  def test_loads_a_full_model_file(self):
    source = resnet.build_resnet('resnet_tiny')
    path = os.path.join(self.get_temp_dir(), 'model.h5')
    source.save(path)
    target = resnet.build_resnet('resnet_tiny')
    imagenet_weights.load_imagenet_weights(target, path)
    self.assertAllClose(self._outputs(source), self._outputs(target))

  def test_keras_applications_resnet50_file(self):
    # The format of Keras's own ImageNet file (weights=None: no download).
    reference = tf_keras.applications.ResNet50(weights=None,
                                               include_top=False)
    path = os.path.join(self.get_temp_dir(), 'resnet50_notop.h5')
    reference.save_weights(path)
    model = resnet.build_resnet('resnet50')
    imagenet_weights.load_imagenet_weights(model, path)
    x = tf.random.uniform([1, 64, 64, 3]) * 255
    stage4 = tf_keras.Model(reference.input,
                            reference.get_layer('conv4_block6_out').output)
    expected = stage4(tf_keras.applications.resnet50.preprocess_input(x))
    self.assertAllClose(expected, model(x)['stage4'], atol=1e-4, rtol=1e-4)

  def test_missing_file(self):
    model = resnet.build_resnet('resnet_tiny')
    with self.assertRaisesRegex(FileNotFoundError, 'does not exist'):
      imagenet_weights.load_imagenet_weights(model, '/no/such/file.h5')

  def test_mismatched_file(self):
    path = os.path.join(self.get_temp_dir(), 'small.h5')
    resnet.build_resnet('resnet_small').save_weights(path)
    model = resnet.build_resnet('resnet_tiny')
    before = self._outputs(model)
    with self.assertRaisesRegex(ValueError, 'does not fit backbone'):
      imagenet_weights.load_imagenet_weights(model, path)
    self.assertAllClose(before, self._outputs(model))  # nothing half-loaded

  def test_not_an_hdf5_file(self):
    path = os.path.join(self.get_temp_dir(), 'junk.h5')
    with open(path, 'w') as f:
      f.write('not hdf5')
    with self.assertRaisesRegex(ValueError, 'not an HDF5'):
      imagenet_weights.load_imagenet_weights(
          resnet.build_resnet('resnet_tiny'), path)

  def test_check_accepts_what_load_accepts(self):
    path = os.path.join(self.get_temp_dir(), 'check_tiny.h5')
    resnet.build_resnet('resnet_tiny').save_weights(path)
    imagenet_weights.check_weights_file(path, 'resnet_tiny')  # no error
    full = os.path.join(self.get_temp_dir(), 'check_model.h5')
    resnet.build_resnet('resnet_tiny').save(full)
    imagenet_weights.check_weights_file(full, 'resnet_tiny')

  def test_check_refuses_what_load_refuses(self):
    path = os.path.join(self.get_temp_dir(), 'check_small.h5')
    resnet.build_resnet('resnet_small').save_weights(path)
    with self.assertRaisesRegex(ValueError, 'does not fit backbone '
                                "'resnet_tiny'"):
      imagenet_weights.check_weights_file(path, 'resnet_tiny')
    with self.assertRaisesRegex(ValueError, 'does not fit backbone'):
      imagenet_weights.load_imagenet_weights(
          resnet.build_resnet('resnet_tiny'), path)
    # Missing: a ValueError too (a usage error for the binaries).
    with self.assertRaisesRegex(ValueError, 'nope.h5.*does not exist'):
      imagenet_weights.check_weights_file(
          os.path.join(self.get_temp_dir(), 'nope.h5'), 'resnet_tiny')
    junk = os.path.join(self.get_temp_dir(), 'check_junk.h5')
    with open(junk, 'w') as f:
      f.write('not hdf5')
    with self.assertRaisesRegex(ValueError, 'not an HDF5'):
      imagenet_weights.check_weights_file(junk, 'resnet_tiny')

  def test_check_sees_a_rewritten_file(self):
    path = os.path.join(self.get_temp_dir(), 'check_rewritten.h5')
    resnet.build_resnet('resnet_tiny').save_weights(path)
    imagenet_weights.check_weights_file(path, 'resnet_tiny')
    resnet.build_resnet('resnet_small').save_weights(path)
    with self.assertRaisesRegex(ValueError, 'does not fit'):
      imagenet_weights.check_weights_file(path, 'resnet_tiny')


if __name__ == '__main__':
  tf.test.main()
