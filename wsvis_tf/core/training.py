"""What the training loops (flow, cam, irn) share: strategy and progress."""

import tensorflow as tf


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
