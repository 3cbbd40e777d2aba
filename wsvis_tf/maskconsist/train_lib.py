"""Training a MaskConsist / Mask R-CNN experiment with tf-models' driver.

`train(params, model_dir, strategy)` checks the config, builds the task
(MaskConsistTask, registered with tf-models' task factory) under the
strategy and runs `official.core.train_lib.run_experiment` in 'train' mode:
Orbit's controller with tf-models' trainer, checkpoints in model_dir every
trainer.checkpoint_interval steps (a killed run resumes from the latest one:
the task's backbone initialisation only runs when there is none),
TensorBoard summaries under model_dir/train, and `ProgressAction` logging
steps/s and the ETA after every loop of trainer.steps_per_loop steps.

Strategies are chosen by name as tf-models binaries do
(wsvis_tf.core.training.make_strategy): 'default' (no distribution),
'mirrored' (all local GPUs, else every logical CPU device),
'multi_worker_mirrored' (TF_CONFIG names the cluster), 'one_device'.
"""

import os
import time
from typing import Any, Dict, Mapping, Optional, Union

from absl import logging
import numpy as np
import tensorflow as tf

from official.core import config_definitions
from official.core import train_lib as tfm_train_lib
from official.core import train_utils
from official.modeling import performance
from wsvis_tf.core import training
from wsvis_tf.maskconsist import backbone as backbone_lib
from wsvis_tf.maskconsist import config as config_lib
from wsvis_tf.maskconsist import task as task_lib

# By name, as tf-models binaries choose them (module docstring).
STRATEGIES = training.STRATEGIES
make_strategy = training.make_strategy


class ProgressAction:
  """An Orbit train action: logs step, loss, steps/s and the ETA."""

  def __init__(self, global_step: tf.Variable, total_steps: int):
    self._step = global_step
    self._total = total_steps
    self._last_step = None
    self._last_time = None
    self._start = time.time()
    self.last_logs: Dict[str, float] = {}
    self.steps_per_second: Optional[float] = None

  def __call__(self, output: Mapping[str, Any]) -> None:
    step = int(self._step.numpy())
    now = time.time()
    self.last_logs = {k: float(np.asarray(v)) for k, v in output.items()
                      if np.asarray(v).size == 1}
    if self._last_step is not None and step > self._last_step:
      self.steps_per_second = (step - self._last_step) / max(
          now - self._last_time, 1e-9)
    self._last_step, self._last_time = step, now
    rate = self.steps_per_second
    eta = ((self._total - step) / rate) if rate else float('nan')
    loss = self.last_logs.get('training_loss', float('nan'))
    logging.info(
        'step %d/%d  loss %.4f  %s steps/s  ETA %s  (elapsed %s)', step,
        self._total, loss, f'{rate:.3f}' if rate else '?',
        training.format_seconds(eta) if rate else '?',
        training.format_seconds(now - self._start))


def check_config(params: config_definitions.ExperimentConfig,
                 model_dir: Optional[str] = None) -> None:
  """Raises ValueError on a config that cannot train (before any work).

  The backbone's initialisation files are checked unless model_dir holds a
  checkpoint to resume (which does not initialise the backbone again).
  """
  task = params.task
  if not isinstance(task, config_lib.MaskConsistTaskConfig):
    raise ValueError(f'params.task is a {type(task).__name__}, not a '
                     'MaskConsistTaskConfig')
  resuming = bool(model_dir) and tf.train.latest_checkpoint(model_dir)
  if (task.model.backbone.type == config_lib.BACKBONE_TYPE and
      not resuming):
    backbone_lib.check_initialization(task.model.backbone.get())
  if params.trainer.train_steps < 1:
    raise ValueError('trainer.train_steps must be >= 1')


def train(params: config_definitions.ExperimentConfig, model_dir: str,
          strategy: Union[str, tf.distribute.Strategy] = 'default',
          source=None, return_model: bool = False):
  """Trains params.task in model_dir; returns the final metrics.

  Args:
    params: A validated experiment config (experiments.py registers them);
      it is locked here.
    model_dir: Checkpoints, params.yaml, TensorBoard summaries. An existing
      checkpoint there is resumed.
    strategy: A name of STRATEGIES or a strategy.
    source: Optional VideoSource overriding task.train_data.source.
    return_model: Also return the trained model.

  Returns:
    metrics {'steps', 'steps_per_second', 'wall_s', 'checkpoint' (the
    latest in model_dir; None on a multi-worker non-chief), and the last
    loop's train metrics (training_loss, the losses, nonfinite_steps,
    maskconsist/<stat>, learning_rate)}; (metrics, model) with
    return_model.
  """
  check_config(params, model_dir)
  params.validate()
  params.lock()
  if isinstance(strategy, str):
    strategy = make_strategy(strategy)
  if (params.task.maskconsist_start_step > 0 and
      strategy.num_replicas_in_sync > 1):
    # Reading the optimizer's step counter in the replica function fails on
    # the first step under MirroredStrategy (tf.function lifts the slot
    # variables' creation into a cond whose other branch misses the read).
    raise ValueError('task.maskconsist_start_step > 0 is not supported with '
                     f'{strategy.num_replicas_in_sync} replicas; train on '
                     'one device or set it to 0')
  os.makedirs(model_dir, exist_ok=True)
  if strategy.extended.should_checkpoint:
    train_utils.serialize_config(params, model_dir)
  # Model initialisation and the heads' sampling are seeded too, with op
  # determinism (tf-models does neither); the data has its own stateless
  # seeds.
  training.seed_everything(params.task.train_data.seed)
  if params.runtime.mixed_precision_dtype:
    performance.set_mixed_precision_policy(
        params.runtime.mixed_precision_dtype)
  with strategy.scope():
    task = task_lib.MaskConsistTask(params.task, logging_dir=model_dir,
                                    source=source)
    trainer = train_utils.create_trainer(params, task, train=True,
                                         evaluate=False)
  start = time.time()
  progress = ProgressAction(trainer.global_step, params.trainer.train_steps)
  logging.info('Training %s (maskconsist=%s) for %d steps in %s on %d '
               'replica(s)', type(task).__name__, params.task.maskconsist,
               params.trainer.train_steps, model_dir,
               strategy.num_replicas_in_sync)
  tfm_train_lib.run_experiment(
      distribution_strategy=strategy, task=task, mode='train', params=params,
      model_dir=model_dir, train_actions=[progress], trainer=trainer)
  metrics: Dict[str, Any] = dict(progress.last_logs)
  metrics.update({
      'steps': int(trainer.global_step.numpy()),
      'steps_per_second': progress.steps_per_second,
      'wall_s': round(time.time() - start, 1),
      'checkpoint': (tf.train.latest_checkpoint(model_dir)
                     if strategy.extended.should_checkpoint else None)})
  return (metrics, trainer.model) if return_model else metrics
