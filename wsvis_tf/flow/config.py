"""Configs of the DDFlow stage (paper sec 4.2): model, losses, schedule.

Dataclasses on tf-models' `hyperparams.Config`, so a preset can be overridden
from a dict or YAML and locked. Three named presets:

  smoke  a tiny model and a handful of steps: what tests and the pipeline's
         smoke run use (seconds).
  quick  the procedural default (wsvis_synthetic/default, 128x160) on 2 CPU
         cores: a narrow 4-level DDFlow with centred features
         (ModelConfig.center_features, not in DDFlow), 400 photometric +
         2,600 census/occlusion steps (no distillation stage), batch 4,
         lr 4e-4 halved every 1,000 steps. Measured: 12.1 min wall, 4.2
         steps/s, on 2 CPU cores (22-25 min, ~2.1-2.3 steps/s, before
         the shifted-product cost volume, README "Where the training
         time goes"); bench EPE 0.142, 0.144, 0.153 px (seeds 0-2) vs
         DIS 0.173 px.
         Run: nice -n 10 python experiments/train_flow.py --preset=quick
         --model_dir=work/flow_quick --data_dir=work/tfds
  paper  the original DDFlow network and recipe (REFERENCES.md sec 3):
         100k photometric, 300k census + occlusion, 300k distillation steps,
         Adam 1e-4 halved every 80k steps, batch 4 (GPUs).

Training is a sequence of stages, each one of STAGES:
  'photometric'       robust photometric loss, no occlusion handling;
  'census_occlusion'  census loss masked by the forward-backward occlusion;
  'distillation'      census + occlusion on patch crops, plus the
                      distillation loss from the previous stage's predictions
                      on full frames (DDFlow: data distillation).
"""

import dataclasses
from typing import Callable, Dict, List, Optional, Tuple

from official.modeling import hyperparams

PHOTOMETRIC = 'photometric'
CENSUS_OCCLUSION = 'census_occlusion'
DISTILLATION = 'distillation'
STAGES = (PHOTOMETRIC, CENSUS_OCCLUSION, DISTILLATION)


@dataclasses.dataclass
class ModelConfig(hyperparams.Config):
  """The PWC-style DDFlow network (DDFlow: network.py).

  Attributes:
    feature_channels: Channels of the shared pyramid, one per level from 1
      (stride 2) to num_levels; each level is [3x3 stride-2 conv, 3x3 conv].
    estimator_channels: The five 3x3 convs of every level's flow estimator.
    context_channels: The dilated context network's convs (then a 2-channel
      conv); context_dilations their dilation rates.
    search_radius: Cost-volume radius: 4 gives DDFlow's 9x9 = 81 channels.
    output_level: The finest estimator level (2 = stride 4 in DDFlow); its
      context-refined flow is upsampled to full resolution.
    leaky_relu_alpha: Negative slope of every activation.
    center_features: Subtract each feature channel's mean over the frame
      pair before the L2-normalised cost volume (model.center_feature_pair;
      not in DDFlow, off in the paper preset).
  """
  feature_channels: Tuple[int, ...] = (16, 32, 64, 96, 128, 192)
  estimator_channels: Tuple[int, ...] = (128, 128, 96, 64, 32)
  context_channels: Tuple[int, ...] = (128, 128, 128, 96, 64, 32)
  context_dilations: Tuple[int, ...] = (1, 2, 4, 8, 16, 1)
  search_radius: int = 4
  output_level: int = 2
  leaky_relu_alpha: float = 0.2
  center_features: bool = False


@dataclasses.dataclass
class LossConfig(hyperparams.Config):
  """Loss constants (DDFlow: ddflow_model.py, utils.occlusion)."""
  robust_q: float = 0.4
  robust_epsilon: float = 0.01
  census_max_distance: int = 3
  # Forward-backward check: occluded if |f + f'|^2 > a1 (|f|^2 + |f'|^2) + a2.
  occlusion_alpha1: float = 0.01
  occlusion_alpha2: float = 0.5
  distillation_weight: float = 1.0
  # Optional losses on coarser flows (not in DDFlow, whose loss is on the
  # full-resolution flow only): weight i for the flow i levels above the
  # output level's refined flow, against area-downsampled frames.
  pyramid_weights: Tuple[float, ...] = ()
  # Optional edge-aware first-order smoothness of both full-resolution flows
  # (not in DDFlow, whose code has no smoothness term; 0 = off, as in the
  # paper preset): weight * mean exp(-edge_constant |grad I|) |grad f|,
  # losses.edge_aware_smoothness_loss.
  smoothness_weight: float = 0.0
  smoothness_edge_constant: float = 10.0
  # L2 on conv kernels, scale * sum(w^2) / 2 (slim.l2_regularizer).
  weight_decay: float = 1e-4


@dataclasses.dataclass
class StageConfig(hyperparams.Config):
  name: str = CENSUS_OCCLUSION
  steps: int = 0


@dataclasses.dataclass
class TrainConfig(hyperparams.Config):
  """The training schedule.

  Attributes:
    stages: Run in order; the step counter runs on across stages.
    frame_distances: Pairs (t, t + d) trained on, for each d (1 and the
      pipeline's delta, the distances extraction computes).
    patch_fraction: Distillation: the student sees a random patch of this
      fraction of the frame's height and width (DDFlow: 224x640 of 320x896).
    flip: Random left-right / up-down flips of both frames.
    temporal_swap: Randomly swap the two frames of a pair.
  """
  stages: List[StageConfig] = dataclasses.field(default_factory=lambda: [
      StageConfig(name=PHOTOMETRIC, steps=100_000),
      StageConfig(name=CENSUS_OCCLUSION, steps=300_000),
      StageConfig(name=DISTILLATION, steps=300_000)])
  batch_size: int = 4
  learning_rate: float = 1e-4
  # Adam; the rate is multiplied by decay_rate every decay_steps.
  decay_steps: int = 80_000
  decay_rate: float = 0.5
  # A linear warm-up of the learning rate over the first steps of training.
  warmup_steps: int = 0
  adam_beta1: float = 0.9
  frame_distances: Tuple[int, ...] = (1,)
  patch_fraction: Tuple[float, float] = (0.7, 0.7)
  flip: bool = True
  temporal_swap: bool = True
  checkpoint_every: int = 5000
  max_checkpoints: int = 3
  summary_every: int = 200
  # Ground-truth EPE on a few validation pairs (synthetic data only).
  eval_every: int = 5000
  eval_pairs: int = 16
  log_every: int = 50
  seed: int = 0

  @property
  def total_steps(self) -> int:
    return sum(s.steps for s in self.stages)


@dataclasses.dataclass
class FlowConfig(hyperparams.Config):
  model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
  losses: LossConfig = dataclasses.field(default_factory=LossConfig)
  train: TrainConfig = dataclasses.field(default_factory=TrainConfig)


def validate(config: FlowConfig) -> None:
  """Raises ValueError on an inconsistent config."""
  m = config.model
  if not 1 <= m.output_level < len(m.feature_channels):
    raise ValueError(f'output_level must be in [1, {len(m.feature_channels)}'
                     f'), got {m.output_level}')
  if len(m.estimator_channels) < 1 or len(m.context_channels) < 1:
    raise ValueError('estimator_channels and context_channels must be '
                     'non-empty')
  if len(m.context_channels) != len(m.context_dilations):
    raise ValueError('context_channels and context_dilations differ in '
                     'length')
  names = [s.name for s in config.train.stages]
  for name in names:
    if name not in STAGES:
      raise ValueError(f'unknown training stage {name!r}; known: {STAGES}')
  if DISTILLATION in names and names.index(DISTILLATION) == 0:
    raise ValueError('distillation needs a teacher: a stage before it')
  if any(d < 1 for d in config.train.frame_distances):
    raise ValueError('frame_distances must be >= 1')


def paper() -> FlowConfig:
  """The original network and recipe (REFERENCES.md sec 3)."""
  return FlowConfig()


def quick() -> FlowConfig:
  """A narrow DDFlow for 128x160 procedural videos on 2 CPU cores."""
  c = FlowConfig()
  c.override({
      'model': {
          # 4 levels (strides 2..16): 128x160 frames and motions of a few
          # pixels need no stride-32/64 levels, and each level costs time.
          'feature_channels': (16, 32, 48, 64),
          'estimator_channels': (64, 64, 48, 32, 16),
          'context_channels': (48, 48, 48, 32, 32, 16),
          # Not in DDFlow. Without it the cost volume of these muted, noisy
          # frames correlates at ~0.9 for every displacement, and even 5,000
          # steps learned no object motion (README, Measured).
          'center_features': True,
      },
      'train': {
          # No distillation stage: after 1,500 steps it made the flow worse
          # (README, Measured); its steps go to census + occlusion.
          'stages': [{'name': PHOTOMETRIC, 'steps': 400},
                     {'name': CENSUS_OCCLUSION, 'steps': 2600}],
          'batch_size': 4,
          'learning_rate': 4e-4,
          'decay_steps': 1000,
          'warmup_steps': 50,
          'frame_distances': (1, 2),
          'patch_fraction': (0.75, 0.75),
          'checkpoint_every': 250,
          'summary_every': 50,
          'eval_every': 250,
          'log_every': 25,
      },
  }, is_strict=True)
  return c


def smoke() -> FlowConfig:
  """A tiny model and a few steps per stage (tests, pipeline smoke run)."""
  c = FlowConfig()
  c.override({
      'model': {
          'feature_channels': (8, 8, 12, 12),
          'estimator_channels': (16, 16, 8),
          'context_channels': (16, 8),
          'context_dilations': (1, 2),
      },
      'train': {
          'stages': [{'name': PHOTOMETRIC, 'steps': 2},
                     {'name': CENSUS_OCCLUSION, 'steps': 2},
                     {'name': DISTILLATION, 'steps': 2}],
          'batch_size': 2,
          'learning_rate': 1e-3,
          'decay_steps': 1000,
          'frame_distances': (1, 2),
          'checkpoint_every': 3,
          'summary_every': 2,
          'eval_every': 3,
          'eval_pairs': 2,
          'log_every': 1,
      },
  }, is_strict=True)
  return c


PRESETS: Dict[str, Callable[[], FlowConfig]] = {
    'smoke': smoke, 'quick': quick, 'paper': paper}


def get_config(name: str, overrides: Optional[dict] = None) -> FlowConfig:
  """The named preset with optional overrides, validated and locked."""
  if name not in PRESETS:
    raise ValueError(f'unknown flow preset {name!r}; known: {sorted(PRESETS)}')
  config = PRESETS[name]()
  if overrides:
    config.override(overrides, is_strict=True)
  validate(config)
  config.lock()
  return config


def from_dict(d: dict) -> FlowConfig:
  """Rebuilds a config saved with as_dict() (e.g. next to exported weights)."""
  config = FlowConfig()
  config.override(d, is_strict=True)
  validate(config)
  return config
