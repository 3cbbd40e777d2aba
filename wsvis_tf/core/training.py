"""What the training loops (flow, cam, irn) share: strategy, seeds, progress."""

import os
import shutil
from typing import Optional

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

  Nor is a stateful random op (tf.random.shuffle, uniform, ...) inside a
  while loop that runs iterations in parallel (tf.map_fn's default of 10):
  its iterations draw from one kernel's stream in the order the threads
  reach it, so which iteration gets which numbers varies from run to run.
  Such loops run with parallel_iterations=1
  (stateful_random_in_parallel_loops finds them in a traced step).

  All of it is process-wide and stays on.
  """
  tf_keras.utils.set_random_seed(int(seed))
  tf.config.experimental.enable_op_determinism()
  tf.config.optimizer.set_experimental_options(
      {'arithmetic_optimization': False})


def _nodes_with_functions(graph_def) -> list:
  """The nodes of a GraphDef and of every function in its library."""
  nodes = list(graph_def.node)
  for function in graph_def.library.function:
    nodes.extend(function.node_def)
  return nodes


def add_n_with_three_or_more_inputs(graph) -> list:
  """Names of the AddN ops of a tf.Graph (and its functions) that sum three
  or more tensors: their rounding depends on run-time buffer reuse
  (seed_everything), so a reproducible training step has none."""
  found = []
  for node in _nodes_with_functions(graph.as_graph_def()):
    if node.op == 'AddN':
      if len([i for i in node.input if not i.startswith('^')]) >= 3:
        found.append(node.name)
  return found


# Op types that draw from a kernel's own random stream (the stateless_*
# ops, keyed on an explicit seed, are not among them).
STATEFUL_RANDOM_OPS = frozenset({
    'Multinomial', 'ParameterizedTruncatedNormal', 'RandomCrop',
    'RandomGamma', 'RandomPoisson', 'RandomPoissonV2', 'RandomShuffle',
    'RandomStandardNormal', 'RandomUniform', 'RandomUniformInt',
    'StatefulRandomBinomial', 'StatefulStandardNormal',
    'StatefulStandardNormalV2', 'StatefulTruncatedNormal',
    'StatefulUniform', 'StatefulUniformFullInt', 'StatefulUniformInt',
    'TruncatedNormal'})
_WHILE_OPS = ('While', 'StatelessWhile')


def stateful_random_in_parallel_loops(graph) -> list:
  """Stateful random ops a tf.Graph runs inside a while loop whose
  parallel_iterations is above 1, as 'loop/op' names (seed_everything): the
  iterations race for the kernel's stream, so a reproducible step has none.

  Loops are looked for in the graph and in every function of its library;
  a loop's body is searched together with every function it calls (nested
  loops, conds, function calls).
  """
  graph_def = graph.as_graph_def()
  functions = {f.signature.name: f for f in graph_def.library.function}

  def called(node):
    for attr in node.attr.values():
      if attr.HasField('func'):
        yield attr.func.name
      for func in attr.list.func:
        yield func.name

  def random_ops(name, seen):
    if name in seen or name not in functions:
      return []
    seen.add(name)
    found = []
    for node in functions[name].node_def:
      if node.op in STATEFUL_RANDOM_OPS:
        found.append(node.name)
      for inner in called(node):
        found.extend(random_ops(inner, seen))
    return found

  found = []
  for node in _nodes_with_functions(graph_def):
    if (node.op in _WHILE_OPS and
        node.attr['parallel_iterations'].i > 1):
      for op in random_ops(node.attr['body'].func.name, set()):
        found.append(f'{node.name}/{op}')
  return sorted(set(found))


def default_strategy() -> tf.distribute.Strategy:
  """The enclosing strategy, else MirroredStrategy on >1 GPU, else default."""
  if tf.distribute.has_strategy():
    return tf.distribute.get_strategy()
  if len(tf.config.list_logical_devices('GPU')) > 1:
    return tf.distribute.MirroredStrategy()
  return tf.distribute.get_strategy()


STRATEGIES = ('default', 'mirrored', 'multi_worker_mirrored', 'one_device')


def make_strategy(name: str = 'default') -> tf.distribute.Strategy:
  """A tf.distribute strategy by name, as tf-models binaries choose one.

  'default': the enclosing strategy (none: one device); 'mirrored': every
  local GPU, else every logical CPU device; 'multi_worker_mirrored': the
  cluster TF_CONFIG names (every worker runs the same program, and only the
  chief writes into the model directory: worker_model_dir); 'one_device':
  the first GPU, else the CPU.
  """
  if name == 'default':
    return tf.distribute.get_strategy()
  if name == 'mirrored':
    gpus = tf.config.list_logical_devices('GPU')
    devices = [d.name for d in gpus] or [
        d.name for d in tf.config.list_logical_devices('CPU')]
    return tf.distribute.MirroredStrategy(devices)
  # Physical devices below: listing logical ones would start the runtime,
  # and collective ops must be configured before it starts.
  if name == 'multi_worker_mirrored':
    return tf.distribute.MultiWorkerMirroredStrategy()
  if name == 'one_device':
    gpus = tf.config.list_physical_devices('GPU')
    return tf.distribute.OneDeviceStrategy('/gpu:0' if gpus else '/cpu:0')
  raise ValueError(f'unknown strategy {name!r}; expected one of {STRATEGIES}')


def _worker(strategy: tf.distribute.Strategy):
  """(task_type, task_id) of this process in a multi-worker cluster, or
  (None, None) for a single-process strategy."""
  resolver = getattr(strategy, 'cluster_resolver', None)
  if resolver is None or not resolver.task_type:
    return None, None
  return resolver.task_type, resolver.task_id


def is_chief(strategy: Optional[tf.distribute.Strategy] = None) -> bool:
  """Whether this process writes the outputs: always, unless it is a
  multi-worker cluster's non-chief (the chief is task 'chief', or worker 0
  when the cluster has no chief)."""
  strategy = strategy or tf.distribute.get_strategy()
  task_type, task_id = _worker(strategy)
  if task_type is None or task_type == 'chief':
    return True
  if task_type != 'worker':
    return False
  cluster = strategy.cluster_resolver.cluster_spec().as_dict()
  return 'chief' not in cluster and task_id == 0


def worker_model_dir(model_dir: str,
                     strategy: Optional[tf.distribute.Strategy] = None) -> str:
  """Where this process writes checkpoints and summaries.

  model_dir on the chief (and without multi-worker training). Every worker
  of a multi-worker cluster must save its checkpoints too (saving mirrored
  variables is collective), so a non-chief writes them into a scratch
  directory beside model_dir, .<name>.<task_type>_<task_id>, which
  remove_worker_model_dir deletes once training ends; what it resumes from
  is the chief's (latest_checkpoint(model_dir/...)).
  """
  strategy = strategy or tf.distribute.get_strategy()
  if is_chief(strategy):
    return model_dir
  task_type, task_id = _worker(strategy)
  model_dir = os.path.normpath(model_dir)
  return os.path.join(os.path.dirname(model_dir),
                      f'.{os.path.basename(model_dir)}.{task_type}_{task_id}')


def remove_worker_model_dir(model_dir: str,
                            strategy: Optional[tf.distribute.Strategy] = None
                            ) -> None:
  """Deletes a non-chief's scratch directory (never the chief's)."""
  write_dir = worker_model_dir(model_dir, strategy)
  if os.path.normpath(write_dir) != os.path.normpath(model_dir):
    shutil.rmtree(write_dir, ignore_errors=True)


class WorkerCheckpoints:
  """A training loop's checkpoints under any strategy, multi-worker too.

  Saves into <worker_model_dir>/<subdir> (the chief's model_dir, or a
  non-chief's scratch directory) and resumes every worker from the chief's
  latest checkpoint, so that all of them restart at the same step. Every
  worker makes the same save calls (saving is collective), decided from
  the restored step and the loop's own saves, never from what a worker
  finds in its own directory.
  """

  def __init__(self, checkpoint: tf.train.Checkpoint, model_dir: str,
               subdir: str, max_to_keep: Optional[int],
               strategy: Optional[tf.distribute.Strategy] = None):
    self._strategy = strategy or tf.distribute.get_strategy()
    self._model_dir = model_dir
    self._checkpoint = checkpoint
    self.write_dir = worker_model_dir(model_dir, self._strategy)
    self.manager = tf.train.CheckpointManager(
        checkpoint, os.path.join(self.write_dir, subdir),
        max_to_keep=max_to_keep)
    self.latest = tf.train.latest_checkpoint(os.path.join(model_dir, subdir))
    self.last_saved: Optional[int] = None

  def restore(self, step: tf.Variable, partial: bool = False
              ) -> Optional[str]:
    """Restores the chief's latest checkpoint, if any; returns its path.

    partial: tolerate objects the checkpoint has and the model lacks
    (expect_partial); otherwise every object must be matched.
    """
    if not self.latest:
      return None
    status = self._checkpoint.restore(self.latest)
    if partial:
      status.expect_partial()
    else:
      status.assert_existing_objects_matched()
    self.last_saved = int(step.numpy())
    return self.latest

  def save(self, number: int) -> None:
    self.manager.save(checkpoint_number=number)
    self.last_saved = number

  def finish(self, number: int) -> Optional[str]:
    """Saves checkpoint `number` unless it is the last one saved or
    restored; returns its path on the chief, None on a non-chief (whose
    scratch directory is then deleted)."""
    if self.last_saved != number:
      self.save(number)
    if not is_chief(self._strategy):
      remove_worker_model_dir(self._model_dir, self._strategy)
      return None
    canonical_checkpoint_state(self.manager.directory)
    return self.manager.latest_checkpoint


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
