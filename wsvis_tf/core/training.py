"""What the training loops (flow, cam, irn) share: strategy, seeds, progress."""

import os

import tensorflow as tf
import tf_keras

from wsvis_tf.core import atomic_io

CHECKPOINT_STATE_FILE = 'checkpoint'


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


def canonical_checkpoint_state(directory: str) -> None:
  """Rewrites a checkpoint directory's state file without wall-clock times.

  tf.train.CheckpointManager records when each checkpoint was written, so
  two runs with the same seed and the same weights would still differ in
  that file, and so in the stage's output digest. Kept: the latest
  checkpoint and the list, by file name, with each checkpoint's time
  replaced by its rank (1, 2, ...), which keeps their order for a
  CheckpointManager that reopens the directory (a resumed training, which
  would otherwise treat them as preserved and stop listing them).
  """
  state = tf.train.get_checkpoint_state(directory)
  if state is None:
    return
  name = lambda p: os.path.basename(p)
  paths = list(state.all_model_checkpoint_paths)
  lines = [f'model_checkpoint_path: "{name(state.model_checkpoint_path)}"']
  lines += [f'all_model_checkpoint_paths: "{name(p)}"' for p in paths]
  lines += [f'all_model_checkpoint_timestamps: {i + 1}.0'
            for i in range(len(paths))]
  lines += ['last_preserved_timestamp: 0.0']
  atomic_io.write_text(os.path.join(directory, CHECKPOINT_STATE_FILE),
                       '\n'.join(lines) + '\n')
