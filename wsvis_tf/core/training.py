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

  One more source is not covered by op determinism: the CPU AddN kernel
  (autodiff sums the gradients of a tensor used three or more times with
  it) moves an input whose buffer it can reuse to the front of its sum, so
  the rounding depends on buffer lifetimes at run time. The training steps
  avoid such sums (irn.path_index's fixed-order gradients; tests check the
  traced steps with add_n_with_three_or_more_inputs), and Grappler's
  arithmetic optimizer, which folds chains of binary adds into AddN, is
  turned off here.

  All of it is process-wide and stays on.
  """
  tf_keras.utils.set_random_seed(int(seed))
  tf.config.experimental.enable_op_determinism()
  tf.config.optimizer.set_experimental_options(
      {'arithmetic_optimization': False})


def add_n_with_three_or_more_inputs(graph) -> list:
  """Names of the AddN ops of a tf.Graph (and its functions) that sum three
  or more tensors: their rounding depends on run-time buffer reuse
  (seed_everything), so a reproducible training step has none."""
  graph_def = graph.as_graph_def()
  nodes = list(graph_def.node)
  for function in graph_def.library.function:
    nodes.extend(function.node_def)
  found = []
  for node in nodes:
    if node.op == 'AddN':
      if len([i for i in node.input if not i.startswith('^')]) >= 3:
        found.append(node.name)
  return found


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
