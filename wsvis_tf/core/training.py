"""What the training loops (flow, cam, irn) share: strategy, seeds, progress."""

import tensorflow as tf
import tf_keras


def seed_everything(seed: int) -> None:
  """Makes what follows reproducible: the same seed, the same numbers.

  Seeds Python's, NumPy's and TensorFlow's global generators (so weight
  initialisers and seeded tf.data ops repeat) and turns on TensorFlow's op
  determinism, under which ops with a non-deterministic implementation
  either run a deterministic one or raise, and tf.data keeps its order.
  Op determinism is process-wide and stays on.
  """
  tf_keras.utils.set_random_seed(int(seed))
  tf.config.experimental.enable_op_determinism()


def default_strategy() -> tf.distribute.Strategy:
  """The enclosing strategy, else MirroredStrategy on >1 GPU, else default."""
  if tf.distribute.has_strategy():
    return tf.distribute.get_strategy()
  if len(tf.config.list_logical_devices('GPU')) > 1:
    return tf.distribute.MirroredStrategy()
  return tf.distribute.get_strategy()


def format_seconds(seconds: float) -> str:
  """'1h02m03s', or '2m03s' under an hour (elapsed times and ETAs)."""
  seconds = int(max(seconds, 0))
  h, rem = divmod(seconds, 3600)
  m, s = divmod(rem, 60)
  return f'{h}h{m:02d}m{s:02d}s' if h else f'{m}m{s:02d}s'
