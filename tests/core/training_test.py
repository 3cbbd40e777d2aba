"""Tests for wsvis_tf.core.training."""

import tensorflow as tf

from wsvis_tf.core import training


class TrainingTest(tf.test.TestCase):

  def test_format_seconds(self):
    self.assertEqual(training.format_seconds(3723.9), '1h02m03s')
    self.assertEqual(training.format_seconds(123), '2m03s')
    self.assertEqual(training.format_seconds(-5), '0m00s')

  def test_default_strategy_keeps_the_enclosing_one(self):
    outer = tf.distribute.OneDeviceStrategy('/cpu:0')
    with outer.scope():
      self.assertIs(training.default_strategy(), outer)
    # On this CPU-only machine: the default strategy, one replica.
    self.assertEqual(training.default_strategy().num_replicas_in_sync, 1)


if __name__ == '__main__':
  tf.test.main()
