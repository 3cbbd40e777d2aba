"""Training loop of IRN / flowIRN (IRN: step/train_irn.py, paper sec 3.2).

A custom loop that works under any tf.distribute strategy (the default one,
or MirroredStrategy when there is more than one device, see
`wsvis_tf.core.training.default_strategy`): each replica computes IRN's
losses on its share of the global batch (means over its pairs, as IRN) and scales them by 1 / replicas,
so the summed gradients are the replicas' average.

Per step, on a frozen backbone (IRN detaches it):

  boundary B = sigmoid(edge logits); affinities a_ij (eq 1) over the
  radius-10 half-disk pairs at stride 4; pair labels from the stride-4 IR
  labels; IRN's boundary and displacement losses; with f-Bound, eq 3 over
  the same pairs; total (IRN) + f-Bound.

Optimisation as IRN: SGD (IRN's PolyOptimizer ends up without momentum),
lr * (1 - step / max_step) ** 0.9, weight decay 1e-4 added to each trainable
variable's gradient (torch SGD weight_decay), 10x the learning rate for the
displacement branch (its gradient scaled by 10). A step whose gradients are
not finite is skipped (counted and logged). The MeanShift running mean
updates in every training forward pass.

Checkpoints (tf.train.CheckpointManager) every `checkpoint_every` steps and
at the end; a rerun resumes from the latest; TensorBoard scalars for every
loss term and the learning rate; progress logs with images/s and ETA.
"""

import os
import time
from typing import Any, Callable, Dict, Optional

from absl import logging
import tensorflow as tf
import tf_keras

from wsvis_tf.cam import train_lib as cam_train_lib
from wsvis_tf.core import keys
from wsvis_tf.core import training
from wsvis_tf.irn import config as config_lib
from wsvis_tf.irn import input_pipeline
from wsvis_tf.irn import losses
from wsvis_tf.irn import model as model_lib
from wsvis_tf.irn import path_index as path_index_lib

CHECKPOINT_DIR = 'checkpoints'
TENSORBOARD_DIR = 'tensorboard'


def compute_losses(model: model_lib.IrnModel, batch: Dict[str, tf.Tensor],
                   index: path_index_lib.PathIndex, num_classes: int,
                   fbound: config_lib.FlowBoundaryConfig,
                   training: bool = True) -> Dict[str, tf.Tensor]:
  """IRN's loss terms (and f-Bound) of one batch, plus LOSS_TOTAL."""
  out = model(batch[keys.IMAGE], training=training)
  boundary = tf.sigmoid(out[model_lib.EDGE_LOGITS][..., 0])
  affinity = losses.path_affinity(boundary, index)
  labels = losses.pair_labels(batch[input_pipeline.LABEL_S4], num_classes,
                              index)
  parts = dict(losses.boundary_loss(affinity, labels))
  parts.update(losses.displacement_loss(out[model_lib.DISPLACEMENT], labels,
                                        index))
  if fbound.enabled:
    parts[losses.LOSS_FLOW_BOUNDARY] = losses.flow_boundary_loss(
        affinity, batch[input_pipeline.FLOW_FEATURE], index,
        fbound.flow_weight, batch[input_pipeline.FLOW_VALID],
        fbound.pair_difference, fbound.max_difference, fbound.pull)
  parts[losses.LOSS_TOTAL] = losses.irn_total_loss(parts, fbound.loss_weight)
  return parts


def train_irn(model_fn: Callable[[], model_lib.IrnModel],
              dataset_fn: Callable[[], tf.data.Dataset],
              cfg: config_lib.IrnConfig,
              num_classes: int,
              num_steps: int,
              model_dir: str,
              strategy: Optional[tf.distribute.Strategy] = None,
              progress_fn: Optional[Callable[[int, int], None]] = None
             ) -> Dict[str, Any]:
  """Trains (or resumes training) IRN heads for num_steps steps.

  Args:
    model_fn: Builds the IrnModel with its frozen backbone (called inside
      the strategy's scope).
    dataset_fn: The endless dataset of global batches
      (input_pipeline.training_dataset).
    cfg: The IrnConfig (train and flow_boundary are used).
    num_classes: C of the IR labels.
    num_steps: Total steps (max_step of the poly schedule).
    model_dir: Checkpoints go to model_dir/checkpoints, TensorBoard scalars
      to model_dir/tensorboard.
    strategy: A tf.distribute strategy; default: training.default_strategy().
    progress_fn: Called with (step, num_steps) after each logged step.

  Returns:
    {'steps', 'first_loss', 'final_loss' (mean over the last log interval),
     'final_terms' (each loss term's mean over it), 'skipped_steps',
     'wall_s', 'checkpoint' (the final checkpoint's prefix; None on a
     multi-worker non-chief, which writes nothing into model_dir)}.
  """
  strategy = strategy or training.default_strategy()
  t = cfg.train
  replicas = strategy.num_replicas_in_sync
  if t.batch_size % replicas:
    raise ValueError(f'batch size {t.batch_size} is not divisible by the '
                     f'{replicas} replicas')
  index = path_index_lib.PathIndex(t.radius)
  with strategy.scope():
    model = model_fn()
    # Build the heads now: their variables must exist before they are
    # collected below (and before a checkpoint is restored into them).
    model(tf.zeros([1, t.crop_size, t.crop_size, 3]))
    schedule = cam_train_lib.PolyDecay(t.learning_rate, num_steps,
                                       t.poly_power)
    optimizer = tf_keras.optimizers.SGD(learning_rate=schedule,
                                        momentum=t.momentum)
    step = tf.Variable(0, dtype=tf.int64, trainable=False, name='step')
    checkpoint = model_lib.make_checkpoint(model, optimizer=optimizer,
                                           step=step)
  ckpts = training.WorkerCheckpoints(checkpoint, model_dir, CHECKPOINT_DIR,
                                     t.max_checkpoints, strategy)
  latest = ckpts.restore(step, partial=True)
  if latest:
    logging.info('Resumed IRN training from %s at step %d', latest,
                 int(step.numpy()))

  heads = model.heads
  variables = heads.edge_variables() + heads.displacement_variables()
  if not variables:
    raise ValueError('the IRN heads have no trainable variables')
  dp_refs = {v.ref() for v in heads.displacement_variables()}
  weight_decay = t.weight_decay / replicas  # gradients are summed

  def step_fn(batch):
    with tf.GradientTape() as tape:
      parts = compute_losses(model, batch, index, num_classes,
                             cfg.flow_boundary)
      loss = parts[losses.LOSS_TOTAL] / replicas
    grads = tape.gradient(loss, variables)
    finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g))
                            for g in grads if g is not None])
    updates = []
    for g, v in zip(grads, variables):
      if g is None:
        continue
      g = g + weight_decay * v  # IRN: torch SGD weight_decay
      if v.ref() in dp_refs:
        g = g * t.displacement_lr_mult
      updates.append((tf.where(finite, g, tf.zeros_like(g)), v))
    optimizer.apply_gradients(updates)
    parts = {k: v / replicas for k, v in parts.items()}
    return parts, 1 - tf.cast(finite, tf.int32)

  # No autograph: the step has no tensor-dependent Python control flow, and
  # autograph would re-read this file's source at trace time.
  @tf.function(autograph=False)
  def train_step(iterator):
    parts, skipped = strategy.run(step_fn, args=(next(iterator),))
    step.assign_add(1)
    reduce = lambda x: strategy.reduce(tf.distribute.ReduceOp.SUM, x,
                                       axis=None)
    return {k: reduce(v) for k, v in parts.items()}, reduce(skipped)

  start_step = int(step.numpy())
  result = {'steps': num_steps, 'first_loss': float('nan'),
            'final_loss': float('nan'), 'final_terms': {},
            'skipped_steps': 0}
  if start_step < num_steps:
    iterator = iter(strategy.experimental_distribute_dataset(dataset_fn()))
    writer = tf.summary.create_file_writer(
        os.path.join(ckpts.write_dir, TENSORBOARD_DIR))
    t0 = time.time()
    window, window_start = [], t0
    with writer.as_default():
      for current in range(start_step + 1, num_steps + 1):
        parts, skipped = train_step(iterator)
        parts = {k: float(v) for k, v in parts.items()}
        window.append(parts)
        result['skipped_steps'] += int(skipped)
        if current == start_step + 1:
          result['first_loss'] = parts[losses.LOSS_TOTAL]
        if current % t.log_every == 0 or current == num_steps:
          now = time.time()
          means = {k: sum(p[k] for p in window) / len(window)
                   for k in window[0]}
          lr = float(schedule(current))
          for k, v in means.items():
            tf.summary.scalar(f'loss/{k}', v, step=current)
          tf.summary.scalar('learning_rate', lr, step=current)
          rate = (current - start_step) / max(now - t0, 1e-6)
          logging.info(
              'IRN step %d/%d loss %.4f (%s) lr %.4g %.1f img/s elapsed %s '
              'ETA %s', current, num_steps, means[losses.LOSS_TOTAL],
              ' '.join(f'{k} {v:.3f}' for k, v in sorted(means.items())
                       if k != losses.LOSS_TOTAL), lr,
              len(window) * t.batch_size / max(now - window_start, 1e-6),
              training.format_seconds(now - t0),
              training.format_seconds((num_steps - current) / rate))
          result['final_loss'] = means[losses.LOSS_TOTAL]
          result['final_terms'] = {k: round(v, 5) for k, v in means.items()}
          window, window_start = [], now
          if progress_fn:
            progress_fn(current, num_steps)
        if current % t.checkpoint_every == 0 and current < num_steps:
          ckpts.save(current)
    writer.flush()
    result['wall_s'] = time.time() - t0
    if result['skipped_steps']:
      logging.warning('%d IRN steps had non-finite gradients and were '
                      'skipped', result['skipped_steps'])
  result['checkpoint'] = ckpts.finish(num_steps)
  return result
