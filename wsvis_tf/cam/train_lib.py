"""Training loop of the CAM classifier (IRN: step/train_cam.py).

A custom loop that works under any tf.distribute strategy (default,
MirroredStrategy over GPUs or CPU logical devices, MultiWorkerMirrored):
the global batch is split across replicas and each replica's loss is scaled
by 1 / global batch, so gradients are the same as on one device.

Optimisation as IRN: SGD (IRN's PolyOptimizer ends up without momentum),
learning rate lr * (1 - step / max_step) ** 0.9, L2 weight decay 1e-4 added
to every trainable variable's gradient (torch SGD weight_decay), and 10x the
learning rate for the classifier (its gradient is scaled by 10, which is the
same for plain SGD and for momentum SGD).

The loop checkpoints with tf.train.CheckpointManager every
`checkpoint_every` steps and at the end, resumes from the latest checkpoint
in its directory, writes TensorBoard scalars (loss, learning rate) and logs
progress with images/s and the estimated time left.
"""

import os
import time
from typing import Any, Callable, Dict, Optional

from absl import logging
import tensorflow as tf
import tf_keras

from wsvis_tf.cam import config as config_lib
from wsvis_tf.cam import losses
from wsvis_tf.cam import model as model_lib
from wsvis_tf.core import keys
from wsvis_tf.core import training

CHECKPOINT_DIR = 'checkpoints'
TENSORBOARD_DIR = 'tensorboard'


@tf_keras.utils.register_keras_serializable(package='wsvis_tf')
class PolyDecay(tf_keras.optimizers.schedules.LearningRateSchedule):
  """lr * (1 - min(step, max_step) / max_step) ** power (IRN PolyOptimizer)."""

  def __init__(self, initial_learning_rate: float, max_step: int,
               power: float = 0.9):
    self.initial_learning_rate = initial_learning_rate
    self.max_step = max(int(max_step), 1)
    self.power = power

  def __call__(self, step):
    frac = tf.minimum(tf.cast(step, tf.float32), float(self.max_step))
    frac /= float(self.max_step)
    return self.initial_learning_rate * (1.0 - frac) ** self.power

  def get_config(self):
    return {'initial_learning_rate': self.initial_learning_rate,
            'max_step': self.max_step, 'power': self.power}


def train_cam(model_fn: Callable[[], model_lib.CamNet],
              dataset_fn: Callable[[], tf.data.Dataset],
              train_cfg: config_lib.TrainConfig,
              num_steps: int,
              model_dir: str,
              strategy: Optional[tf.distribute.Strategy] = None,
              init_fn: Optional[Callable[[model_lib.CamNet], None]] = None,
              progress_fn: Optional[Callable[[int, int], None]] = None,
              max_to_keep: Optional[int] = None
             ) -> Dict[str, Any]:
  """Trains (or resumes training) a CAM network for num_steps steps.

  Args:
    model_fn: Builds the CamNet (called inside the strategy's scope).
    dataset_fn: Returns the endless dataset of global batches
      {IMAGE [B, S, S, 3] float32, LABELS [B, C]} (input_pipeline).
    train_cfg: Learning rate, weight decay, checkpoint and log intervals.
    num_steps: Total steps (max_step of the poly schedule).
    model_dir: Checkpoints go to model_dir/checkpoints, TensorBoard scalars
      to model_dir/tensorboard.
    strategy: A tf.distribute strategy; default: the current one.
    init_fn: Called on a freshly built model when no checkpoint exists yet
      (e.g. to load pretrained weights); not called when resuming.
    progress_fn: Called with (step, num_steps) after each logged step.
    max_to_keep: Checkpoints kept (default train_cfg.max_checkpoints);
      every one for checkpoint selection.

  Returns:
    {'steps', 'first_loss', 'final_loss' (mean of the last log interval;
     both None if no step was left to run), 'nonfinite_examples', 'wall_s',
     'checkpoint' (the final checkpoint's path prefix), 'checkpoints' (the
     kept ones, oldest first); None and [] on a multi-worker non-chief,
     which writes nothing into model_dir}.
  """
  strategy = strategy or tf.distribute.get_strategy()
  global_batch = train_cfg.batch_size
  if global_batch % strategy.num_replicas_in_sync:
    raise ValueError(f'batch size {global_batch} is not divisible by the '
                     f'{strategy.num_replicas_in_sync} replicas')
  with strategy.scope():
    model = model_fn()
    schedule = PolyDecay(train_cfg.learning_rate, num_steps,
                         train_cfg.poly_power)
    optimizer = tf_keras.optimizers.SGD(learning_rate=schedule,
                                        momentum=train_cfg.momentum)
    step = tf.Variable(0, dtype=tf.int64, trainable=False, name='step')
    checkpoint = model_lib.make_checkpoint(model, optimizer=optimizer,
                                           step=step)
  ckpts = training.WorkerCheckpoints(
      checkpoint, model_dir, CHECKPOINT_DIR,
      max_to_keep or train_cfg.max_checkpoints, strategy)
  latest = ckpts.restore(step)
  if latest:
    logging.info('Resumed CAM training from %s at step %d', latest,
                 int(step.numpy()))
  elif init_fn is not None:
    init_fn(model)

  classifier_refs = {v.ref() for v in model.classifier_variables()}
  variables = model.trainable_variables
  lr_mult = train_cfg.classifier_lr_mult
  # Gradients are summed over replicas, so each adds its share of the decay.
  weight_decay = train_cfg.weight_decay / strategy.num_replicas_in_sync

  def step_fn(batch):
    with tf.GradientTape() as tape:
      out = model(batch[keys.IMAGE], training=True)
      per_example = losses.multilabel_soft_margin_loss(
          out[model_lib.LOGITS], batch[keys.LABELS], reduction='none')
      loss = tf.reduce_sum(per_example) / global_batch
    grads = tape.gradient(loss, variables)
    updates = []
    for g, v in zip(grads, variables):
      if g is None:
        continue
      g = g + weight_decay * v  # IRN: torch SGD weight_decay
      if v.ref() in classifier_refs:
        g = g * lr_mult
      updates.append((g, v))
    optimizer.apply_gradients(updates)
    return loss, losses.count_nonfinite(out[model_lib.LOGITS])

  @tf.function
  def train_step(iterator):
    loss, bad = strategy.run(step_fn, args=(next(iterator),))
    step.assign_add(1)
    return (strategy.reduce(tf.distribute.ReduceOp.SUM, loss, axis=None),
            strategy.reduce(tf.distribute.ReduceOp.SUM, bad, axis=None))

  start_step = int(step.numpy())
  # Losses stay None when there is nothing left to train (a resumed run
  # that had already finished).
  result = {'steps': num_steps, 'first_loss': None, 'final_loss': None,
            'nonfinite_examples': 0, 'wall_s': 0.0}
  if start_step < num_steps:
    iterator = iter(strategy.experimental_distribute_dataset(dataset_fn()))
    writer = tf.summary.create_file_writer(
        os.path.join(ckpts.write_dir, TENSORBOARD_DIR))
    t0 = time.time()
    window, window_start = [], t0
    with writer.as_default():
      for current in range(start_step + 1, num_steps + 1):
        loss, bad = train_step(iterator)
        loss = float(loss)
        window.append(loss)
        result['nonfinite_examples'] += int(bad)
        if current == start_step + 1:
          result['first_loss'] = loss
        if current % train_cfg.log_every == 0 or current == num_steps:
          now = time.time()
          mean_loss = sum(window) / len(window)
          lr = float(schedule(current))
          tf.summary.scalar('loss', mean_loss, step=current)
          tf.summary.scalar('learning_rate', lr, step=current)
          rate = (current - start_step) / max(now - t0, 1e-6)
          logging.info(
              'CAM step %d/%d loss %.4f lr %.4g %.1f img/s elapsed %s '
              'ETA %s', current, num_steps, mean_loss, lr,
              len(window) * global_batch / max(now - window_start, 1e-6),
              training.format_seconds(now - t0),
              training.format_seconds((num_steps - current) / rate))
          result['final_loss'] = mean_loss
          window, window_start = [], now
          if progress_fn:
            progress_fn(current, num_steps)
        if current % train_cfg.checkpoint_every == 0 and current < num_steps:
          ckpts.save(current)
    writer.flush()
    result['wall_s'] = time.time() - t0
    if result['nonfinite_examples']:
      logging.warning('%d training examples had non-finite logits',
                      result['nonfinite_examples'])
  result['checkpoint'] = ckpts.finish(num_steps)
  result['checkpoints'] = (list(ckpts.manager.checkpoints)
                           if result['checkpoint'] else [])
  return result
