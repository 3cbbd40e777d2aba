"""DDFlow's training loop: staged losses, checkpoints, resume, summaries.

`train(config, data, model_dir)` runs the config's stages in order
(photometric -> census_occlusion -> distillation, REFERENCES.md sec 3) on one
global step counter. It is strategy-aware (the current tf.distribute strategy,
or MirroredStrategy when several GPUs are visible), keeps the last checkpoints
in <model_dir>/checkpoints with tf.train.CheckpointManager and resumes from
the latest one, saves the weights at the end of every stage under
<model_dir>/stages/<i>_<name>/ (the next distillation stage's teacher), and
writes TensorBoard scalars and flow images to <model_dir>/summaries.
"""

import json
import os
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from absl import logging
import numpy as np
import tensorflow as tf
import tf_keras

from wsvis_tf.core import atomic_io
from wsvis_tf.core import flow_ops
from wsvis_tf.core import training
from wsvis_tf.flow import config as config_lib
from wsvis_tf.flow import losses as losses_lib
from wsvis_tf.flow import model as model_lib
from wsvis_tf.flow import train_data

CHECKPOINT_DIR = 'checkpoints'
STAGES_DIR = 'stages'
SUMMARY_DIR = 'summaries'
WEIGHTS_PREFIX = 'weights'
CONFIG_FILE = 'flow_config.json'

# Scalars of a training step.
LOSS_TOTAL = 'loss/total'
LOSS_PHOTOMETRIC = 'loss/photometric'
LOSS_CENSUS = 'loss/census'
LOSS_DISTILLATION = 'loss/distillation'
LOSS_REGULARIZATION = 'loss/regularization'
LOSS_PYRAMID = 'loss/pyramid'
LOSS_SMOOTHNESS = 'loss/smoothness'
OCCLUSION_FRACTION = 'occlusion_fraction'


class StepDecay(tf_keras.optimizers.schedules.LearningRateSchedule):
  """lr * decay_rate ** floor(step / decay_steps), after a linear warm-up."""

  def __init__(self, learning_rate: float, decay_steps: int,
               decay_rate: float, warmup_steps: int = 0):
    self.learning_rate = learning_rate
    self.decay_steps = decay_steps
    self.decay_rate = decay_rate
    self.warmup_steps = warmup_steps

  def __call__(self, step):
    step = tf.cast(step, tf.float32)
    lr = self.learning_rate * tf.pow(
        self.decay_rate, tf.floor(step / float(max(self.decay_steps, 1))))
    if self.warmup_steps > 0:
      lr *= tf.minimum(1.0, (step + 1.0) / float(self.warmup_steps))
    return lr

  def get_config(self):
    return {'learning_rate': self.learning_rate,
            'decay_steps': self.decay_steps, 'decay_rate': self.decay_rate,
            'warmup_steps': self.warmup_steps}


def _image_loss(im1: tf.Tensor, im2: tf.Tensor, fw: tf.Tensor,
                bw: tf.Tensor, stage: str, cfg: config_lib.LossConfig,
                alpha2: float) -> Tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
  """Photometric or census(+occlusion) loss of one scale, both directions.

  Returns (loss, occ_fw, occ_bw).
  """
  occ_fw, occ_bw = losses_lib.forward_backward_occlusion(
      fw, bw, cfg.occlusion_alpha1, alpha2)
  im2_warped = flow_ops.warp(im2, fw)
  im1_warped = flow_ops.warp(im1, bw)
  q, eps = cfg.robust_q, cfg.robust_epsilon
  if stage == config_lib.PHOTOMETRIC:
    ones = tf.ones_like(occ_fw)
    loss = (losses_lib.photometric_loss(im1, im2_warped, ones, q, eps) +
            losses_lib.photometric_loss(im2, im1_warped, ones, q, eps))
  else:
    m = cfg.census_max_distance
    loss = (losses_lib.census_loss(im1, im2_warped, 1.0 - occ_fw, m, q, eps) +
            losses_lib.census_loss(im2, im1_warped, 1.0 - occ_bw, m, q, eps))
  return loss, occ_fw, occ_bw


def _area_downsample(images: tf.Tensor, scale: int) -> tf.Tensor:
  """Means of scale x scale blocks (frame padded symmetrically to a multiple
  of scale): [B, ceil(H / s), ceil(W / s), C]. (ResizeArea has no XLA
  kernel.)"""
  h, w = tf.shape(images)[1], tf.shape(images)[2]
  padded = tf.pad(images, [[0, 0], [0, (-h) % scale], [0, (-w) % scale],
                           [0, 0]], mode='SYMMETRIC')
  return tf.nn.avg_pool2d(padded, scale, scale, 'VALID')


def _pyramid_loss(outputs: Dict[str, tf.Tensor], im1: tf.Tensor,
                  im2: tf.Tensor, stage: str, cfg: config_lib.LossConfig,
                  output_level: int) -> tf.Tensor:
  """Weighted losses of the coarser flows (config pyramid_weights).

  Weight i applies to the flow i levels above the output level's refined
  flow (i = 0: the refined flow itself), compared with the frames area-
  downsampled to that level (not in DDFlow, which has the full-resolution
  loss only; UnFlow-style, it speeds up early training).
  """
  # Static sizes where known (XLA needs constant resize sizes).
  h = im1.shape[1] if im1.shape[1] is not None else tf.shape(im1)[1]
  w = im1.shape[2] if im1.shape[2] is not None else tf.shape(im1)[2]
  total = tf.constant(0.0)
  for i, weight in enumerate(cfg.pyramid_weights):
    if not weight:
      continue
    level = output_level + i
    key = model_lib.level_key(model_lib.FORWARD, 0 if i == 0 else level)
    if key not in outputs:
      raise ValueError(f'pyramid_weights has {len(cfg.pyramid_weights)} '
                       'entries, more than the model has levels')
    bkey = model_lib.level_key(model_lib.BACKWARD, 0 if i == 0 else level)
    scale = 2 ** level
    size = (-(-h // scale), -(-w // scale))
    # Level flows cover the padded frame: crop to the frame's extent.
    fw = outputs[key][:, :size[0], :size[1]]
    bw = outputs[bkey][:, :size[0], :size[1]]
    small1 = _area_downsample(im1, scale)
    small2 = _area_downsample(im2, scale)
    loss, _, _ = _image_loss(small1, small2, fw, bw, stage, cfg,
                             cfg.occlusion_alpha2 / scale ** 2)
    total += weight * loss
  return total


def compute_losses(outputs: Dict[str, tf.Tensor], batch: Dict[str, tf.Tensor],
                   stage: str, cfg: config_lib.LossConfig,
                   output_level: int = 2) -> Dict[str, tf.Tensor]:
  """The stage's loss terms for one batch (without regularisation).

  Args:
    outputs: The model's output dict (FLOW_FW, FLOW_BW at full resolution,
      and the level flows if cfg.pyramid_weights is set).
    batch: IMAGE1, IMAGE2 [B, H, W, 3] float32 and, for distillation, the
      teacher's cropped flows and occlusion (train_data.TEACHER_*).
    stage: One of config.STAGES.
    cfg: Loss constants.
    output_level: The model's output level (for pyramid_weights).

  Returns:
    Scalars: LOSS_TOTAL and the terms that make it up, OCCLUSION_FRACTION.
  """
  im1, im2 = batch[train_data.IMAGE1], batch[train_data.IMAGE2]
  fw, bw = outputs[model_lib.FLOW_FW], outputs[model_lib.FLOW_BW]
  q, eps = cfg.robust_q, cfg.robust_epsilon
  loss, occ_fw, occ_bw = _image_loss(im1, im2, fw, bw, stage, cfg,
                                     cfg.occlusion_alpha2)
  out = {OCCLUSION_FRACTION: 0.5 * (tf.reduce_mean(occ_fw) +
                                    tf.reduce_mean(occ_bw))}
  name = LOSS_PHOTOMETRIC if stage == config_lib.PHOTOMETRIC else LOSS_CENSUS
  out[name] = losses_lib.guard_finite(loss)
  total = out[name]
  if any(cfg.pyramid_weights):
    out[LOSS_PYRAMID] = losses_lib.guard_finite(
        _pyramid_loss(outputs, im1, im2, stage, cfg, output_level))
    total += out[LOSS_PYRAMID]
  if cfg.smoothness_weight:
    # Not in DDFlow (LossConfig.smoothness_weight; off in the paper preset).
    out[LOSS_SMOOTHNESS] = losses_lib.guard_finite(0.5 * (
        losses_lib.edge_aware_smoothness_loss(im1, fw,
                                              cfg.smoothness_edge_constant) +
        losses_lib.edge_aware_smoothness_loss(im2, bw,
                                              cfg.smoothness_edge_constant)))
    total += cfg.smoothness_weight * out[LOSS_SMOOTHNESS]
  if stage == config_lib.DISTILLATION:
    term = 0.5 * (
        losses_lib.distillation_loss(batch[train_data.TEACHER_FW], fw, occ_fw,
                                     batch[train_data.TEACHER_OCC_FW], q, eps) +
        losses_lib.distillation_loss(batch[train_data.TEACHER_BW], bw, occ_bw,
                                     batch[train_data.TEACHER_OCC_BW], q, eps))
    out[LOSS_DISTILLATION] = losses_lib.guard_finite(term)
    total = total + cfg.distillation_weight * out[LOSS_DISTILLATION]
  out[LOSS_TOTAL] = total
  return out


def stage_boundaries(cfg: config_lib.TrainConfig) -> List[Tuple[int, int]]:
  """[(first step, end step)] of each training stage."""
  out, start = [], 0
  for s in cfg.stages:
    out.append((start, start + s.steps))
    start += s.steps
  return out


def stage_weights_path(model_dir: str, index: int, name: str) -> str:
  return os.path.join(model_dir, STAGES_DIR, f'{index}_{name}', WEIGHTS_PREFIX)


def save_weights(model: tf_keras.Model, directory: str,
                 config: config_lib.FlowConfig) -> str:
  """Writes model weights + flow_config.json into directory, atomically."""
  with atomic_io.atomic_dir(directory) as tmp:
    tf.train.Checkpoint(model=model).write(os.path.join(tmp, WEIGHTS_PREFIX))
    atomic_io.write_json(os.path.join(tmp, CONFIG_FILE), config.as_dict(),
                         indent=2)
  return os.path.join(directory, WEIGHTS_PREFIX)


def restore_weights(model: tf_keras.Model, path: str) -> None:
  """Loads model weights from a weights prefix, a training checkpoint, or a
  directory holding either (latest checkpoint); raises a clear error."""
  prefix = path
  if os.path.isdir(path):
    prefix = (tf.train.latest_checkpoint(path) or
              tf.train.latest_checkpoint(os.path.join(path, CHECKPOINT_DIR)) or
              os.path.join(path, WEIGHTS_PREFIX))
  if not tf.io.gfile.exists(prefix + '.index'):
    raise FileNotFoundError(f'no DDFlow weights at {path!r} (looked for '
                            f'{prefix}.index)')
  status = tf.train.Checkpoint(model=model).read(prefix)
  status.expect_partial()
  status.assert_existing_objects_matched()
  logging.info('Restored DDFlow weights from %s', prefix)


def make_predict_fn(model: model_lib.DDFlow, cfg: config_lib.LossConfig
                   ) -> Callable[[np.ndarray, np.ndarray], Tuple]:
  """(im1, im2) -> numpy (flow_fw, flow_bw, occ_fw, occ_bw)."""

  @tf.function(reduce_retracing=True)
  def predict(im1, im2):
    out = model((im1, im2), training=False)
    occ = losses_lib.forward_backward_occlusion(
        out[model_lib.FLOW_FW], out[model_lib.FLOW_BW],
        cfg.occlusion_alpha1, cfg.occlusion_alpha2)
    return out[model_lib.FLOW_FW], out[model_lib.FLOW_BW], occ[0], occ[1]

  def fn(im1, im2):
    return tuple(t.numpy() for t in predict(tf.constant(im1, tf.float32),
                                            tf.constant(im2, tf.float32)))
  return fn


class _Progress:
  """Logs step, loss, steps/s and ETA every `every` steps."""

  def __init__(self, total: int, every: int):
    self.total, self.every = total, max(every, 1)
    self.t0, self.s0 = time.time(), None

  def __call__(self, step: int, stage: str, scalars: Dict[str, float]):
    if self.s0 is None:
      self.t0, self.s0 = time.time(), step
      return
    if step % self.every and step != self.total:
      return
    rate = (step - self.s0) / max(time.time() - self.t0, 1e-6)
    eta = (self.total - step) / max(rate, 1e-9)
    logging.info('[flow_train] step %d/%d (%s) loss %.4f occ %.3f | %.2f '
                 'steps/s, ETA %dm%02ds', step, self.total, stage,
                 scalars.get(LOSS_TOTAL, float('nan')),
                 scalars.get(OCCLUSION_FRACTION, float('nan')), rate,
                 int(eta) // 60, int(eta) % 60)


def evaluate_epe(predict_fn, eval_pairs: Sequence[Tuple[np.ndarray, ...]],
                 batch_size: int = 8) -> float:
  """Mean per-pair EPE of the forward flow over (im1, im2, gt_flow) uint8/
  float arrays ([H, W, 3], [H, W, 3], [H, W, 2])."""
  errors = []
  for i in range(0, len(eval_pairs), batch_size):
    chunk = eval_pairs[i:i + batch_size]
    im1 = np.stack([c[0] for c in chunk]).astype(np.float32) / 255.0
    im2 = np.stack([c[1] for c in chunk]).astype(np.float32) / 255.0
    fw = predict_fn(im1, im2)[0]
    errors += [flow_ops.endpoint_error(f, c[2]) for f, c in zip(fw, chunk)]
  return float(np.mean(errors))


def _write_images(predict_fn, eval_pairs, step: int) -> None:
  im1, im2, gt = eval_pairs[0]
  fw = predict_fn(im1[None].astype(np.float32) / 255.0,
                  im2[None].astype(np.float32) / 255.0)[0][0]
  scale = float(max(np.abs(gt).max(), 1e-3) * 1.5)
  tiles = [im1, flow_ops.flow_to_rgb(fw, scale), flow_ops.flow_to_rgb(gt,
                                                                      scale)]
  tf.summary.image('flow/frame_ddflow_groundtruth',
                   np.concatenate(tiles, axis=1)[None], step=step)


def make_step_fn(model, optimizer, stage: str, cfg: config_lib.FlowConfig,
                  strategy: tf.distribute.Strategy, jit_compile: bool):
  """A tf.function running one distributed training step of `stage`.

  The per-replica step (loss, gradient, update) is XLA-compiled when
  jit_compile is set and there is one replica: on 2 CPU cores the quick
  preset's step is 1.25-1.28x faster so (experiments/bench_flow_step.py).
  """
  replicas = strategy.num_replicas_in_sync

  def replica_step(batch):
    with tf.GradientTape() as tape:
      outputs = model((batch[train_data.IMAGE1], batch[train_data.IMAGE2]),
                      training=True)
      scalars = compute_losses(outputs, batch, stage, cfg.losses,
                               cfg.model.output_level)
      reg = cfg.losses.weight_decay * model.kernel_l2()
      scalars[LOSS_REGULARIZATION] = reg
      total = scalars[LOSS_TOTAL] + reg
      scalars[LOSS_TOTAL] = total
      scaled = total / replicas
    grads = tape.gradient(scaled, model.trainable_variables)
    finite = tf.math.is_finite(total)
    for g in grads:
      finite = tf.logical_and(finite, tf.reduce_all(tf.math.is_finite(g)))

    # Skip (and count) an update whose loss or gradient is NaN/Inf.
    if replicas == 1:

      def apply():
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return tf.constant(0.0)

      scalars['skipped_steps'] = tf.cond(finite, apply,
                                         lambda: tf.constant(1.0))
    else:
      # apply_gradients all-reduces across replicas, which cannot sit inside
      # a tf.cond: a bad step applies zero gradients instead.
      grads = [tf.where(finite, g, tf.zeros_like(g)) for g in grads]
      optimizer.apply_gradients(zip(grads, model.trainable_variables))
      scalars['skipped_steps'] = 1.0 - tf.cast(finite, tf.float32)
    return scalars

  if jit_compile and replicas == 1:
    replica_step = tf.function(replica_step, jit_compile=True)

  @tf.function
  def step_fn(iterator):
    scalars = strategy.run(replica_step, args=(next(iterator),))
    return {k: strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None)
            for k, v in scalars.items()}

  return step_fn


def train(config: config_lib.FlowConfig, data: train_data.PairData,
          model_dir: str, eval_pairs: Sequence[Tuple[np.ndarray, ...]] = (),
          init_checkpoint: Optional[str] = None,
          strategy: Optional[tf.distribute.Strategy] = None,
          jit_compile: bool = True
         ) -> Tuple[Dict[str, Any], model_lib.DDFlow]:
  """Trains DDFlow; resumes from <model_dir>/checkpoints if present.

  Args:
    config: The flow config (its train.stages give the schedule).
    data: Training frame pairs.
    model_dir: Checkpoints, stage weights and summaries go here.
    eval_pairs: (frame1, frame2, ground-truth flow) for EPE logs (optional).
    init_checkpoint: Weights to start from when there is no checkpoint to
      resume (a weights prefix or directory; nothing is downloaded).
    strategy: tf.distribute strategy (default: default_strategy()).
    jit_compile: XLA-compile the loss and gradient (faster on CPU).

  Returns:
    (metrics, model): final step, last losses, last EPE, wall time, steps/s;
    the trained model (its weights are also in the last stage's directory).
  """
  tcfg = config.train
  strategy = strategy or training.default_strategy()
  replicas = strategy.num_replicas_in_sync
  if tcfg.batch_size % replicas:
    raise ValueError(f'batch_size {tcfg.batch_size} is not divisible by the '
                     f'{replicas} replicas')
  # The initial weights follow train.seed (the data order already does); a
  # resumed run restores its weights from the checkpoint instead. Op
  # determinism keeps thread scheduling from changing the last digits.
  training.seed_everything(tcfg.seed)
  with strategy.scope():
    model = model_lib.build_model(config.model, data.image_size)
    schedule = StepDecay(tcfg.learning_rate, tcfg.decay_steps,
                         tcfg.decay_rate, tcfg.warmup_steps)
    optimizer = tf_keras.optimizers.Adam(schedule, beta_1=tcfg.adam_beta1)
    optimizer.build(model.trainable_variables)
    step_var = tf.Variable(0, dtype=tf.int64, trainable=False, name='step')
  ckpt = tf.train.Checkpoint(model=model, optimizer=optimizer, step=step_var)
  # A multi-worker non-chief writes into a scratch directory (write_dir)
  # and resumes, as the chief does, from the chief's checkpoints.
  ckpts = training.WorkerCheckpoints(ckpt, model_dir, CHECKPOINT_DIR,
                                     tcfg.max_checkpoints, strategy)
  write_dir = ckpts.write_dir
  latest = ckpts.restore(step_var)
  if latest:
    logging.info('[flow_train] resumed from %s at step %d', latest,
                 int(step_var.numpy()))
  elif init_checkpoint:
    restore_weights(model, init_checkpoint)
  writer = tf.summary.create_file_writer(os.path.join(write_dir, SUMMARY_DIR))
  predict_fn = make_predict_fn(model, config.losses)
  total = tcfg.total_steps
  progress = _Progress(total, tcfg.log_every)
  start_time, start_step = time.time(), int(step_var.numpy())
  scalars: Dict[str, float] = {}
  epe = None
  for index, ((first, end), stage_cfg) in enumerate(
      zip(stage_boundaries(tcfg), tcfg.stages)):
    stage = stage_cfg.name
    weights_path = stage_weights_path(write_dir, index, stage)
    if int(step_var.numpy()) >= end:
      continue
    teacher, patch = None, None
    if stage == config_lib.DISTILLATION:
      teacher = _teacher(config, data, model_dir, write_dir, index)
      h, w = data.image_size
      patch = (int(round(h * tcfg.patch_fraction[0])),
               int(round(w * tcfg.patch_fraction[1])))
    logging.info('[flow_train] stage %d %s: steps %d..%d', index, stage,
                 first, end)
    dataset = train_data.make_dataset(
        data, tcfg.batch_size, tcfg.seed + int(step_var.numpy()), tcfg.flip,
        tcfg.temporal_swap, teacher, patch)
    iterator = iter(strategy.experimental_distribute_dataset(dataset))
    step_fn = make_step_fn(model, optimizer, stage, config, strategy,
                            jit_compile)
    while int(step_var.numpy()) < end:
      out = step_fn(iterator)
      step = int(step_var.assign_add(1).numpy())
      if step % tcfg.log_every == 0 or step % tcfg.summary_every == 0 or (
          step == end):
        scalars = {k: float(v.numpy()) for k, v in out.items()}
        progress(step, stage, scalars)
      if step % tcfg.summary_every == 0 or step == end:
        with writer.as_default():
          for k, v in scalars.items():
            tf.summary.scalar(k, v, step=step)
          tf.summary.scalar('learning_rate', schedule(step), step=step)
          if eval_pairs:
            _write_images(predict_fn, eval_pairs, step)
      if eval_pairs and (step % tcfg.eval_every == 0 or step == total):
        epe = evaluate_epe(predict_fn, eval_pairs)
        logging.info('[flow_train] step %d validation EPE %.4f', step, epe)
        with writer.as_default():
          tf.summary.scalar('eval/epe', epe, step=step)
      if step % tcfg.checkpoint_every == 0 or step == end:
        ckpts.save(step)
    save_weights(model, os.path.dirname(weights_path), config)
    if teacher is not None and os.path.exists(_teacher_cache(write_dir,
                                                             index)):
      os.remove(_teacher_cache(write_dir, index))  # only needed to resume
  writer.flush()
  ckpts.finish(int(step_var.numpy()))
  wall = time.time() - start_time
  steps_run = int(step_var.numpy()) - start_step
  metrics = {'steps': int(step_var.numpy()), 'wall_time_s': round(wall, 1),
             'steps_per_s': round(steps_run / max(wall, 1e-6), 3)}
  metrics.update({k: round(v, 5) for k, v in scalars.items()})
  if epe is not None:
    metrics['validation_epe'] = round(epe, 4)
  return metrics, model


def _teacher_cache(model_dir: str, index: int) -> str:
  return os.path.join(model_dir, STAGES_DIR,
                      f'{index}_{config_lib.DISTILLATION}_teacher.npz')


def _teacher(config: config_lib.FlowConfig, data: train_data.PairData,
             model_dir: str, write_dir: str, index: int
            ) -> Dict[str, np.ndarray]:
  """Loads or computes the teacher predictions of distillation stage index.

  The teacher is the previous stage's final weights (this worker's own in
  write_dir, else the chief's in model_dir: a non-chief resuming without
  its scratch directory); its predictions are cached in
  <write_dir>/stages/<index>_distillation_teacher.npz.
  """
  prev = config.train.stages[index - 1].name
  cache = _teacher_cache(write_dir, index)
  if os.path.exists(cache):
    with np.load(cache) as z:
      return {k: z[k] for k in z.files}
  logging.info('[flow_train] computing teacher flow for %d pairs',
               len(data.pairs))
  teacher_model = model_lib.build_model(config.model, data.image_size)
  weights = stage_weights_path(write_dir, index - 1, prev)
  if not tf.io.gfile.exists(os.path.dirname(weights)):
    weights = stage_weights_path(model_dir, index - 1, prev)
  restore_weights(teacher_model, weights)
  arrays = train_data.compute_teacher(
      make_predict_fn(teacher_model, config.losses), data)
  atomic_io.write_npz(cache, compressed=False, **arrays)
  return arrays


def load_exported(directory: str,
                  config: Optional[config_lib.FlowConfig] = None
                 ) -> Tuple[model_lib.DDFlow, config_lib.FlowConfig]:
  """A DDFlow with the weights save_weights wrote into directory.

  The model config comes from directory/flow_config.json unless given (a
  bare weights prefix or training checkpoint then needs `config`).
  """
  config_path = os.path.join(directory, CONFIG_FILE)
  if config is None:
    if not os.path.exists(config_path):
      raise FileNotFoundError(f'{config_path} not found: pass the flow '
                              'config of these weights')
    with open(config_path) as f:
      config = config_lib.from_dict(json.load(f))
  model = model_lib.build_model(config.model)
  restore_weights(model, directory)
  return model, config
