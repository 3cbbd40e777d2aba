"""Configs of IRN / flowIRN training and instance inference.

Defaults are official IRN's (run_sample.py, REFERENCES sec 2): crop 512,
batch 32, 3 epochs, learning rate 0.1 with a poly schedule, weight decay
1e-4, 10x learning rate for the displacement branch, random rescale
0.5-1.5 and horizontal flip, radius-10 pairs; inference with beta 10, 2^8
walk steps, radius 5, background 0.25, 300 centroid iterations, cluster
threshold 2.5, fragments under 1% scored 0. flowIRN (paper sec 3.2, 4.2)
adds the f-Bound loss with lambda 2 (`flow_boundary.enabled`; what eq 3
compares is FlowBoundaryConfig's choice), trains 6 epochs, and uses f-CAMs
(A = 2, T = Percentile_80 for YouTube-VIS) at inference
(`inference.use_fcam`). The pipeline presets override these for
CPU runs; `irn_config_from_dict` turns a preset's dict into a validated,
locked IrnConfig (misspelled keys fail).

Backbone: official IRN uses a frozen ImageNet-pretrained ResNet-50. Nothing
is downloaded here, so by default (`backbone.source = 'cam_train'`, the
smoke and quick presets, and paper ones run with --train_from_scratch) the
IRN heads sit on the CAM network's trained backbone, restored from the
cam_train stage's checkpoint and frozen; with `backbone.source =
'imagenet'` and `backbone.imagenet_weights` a local Keras ResNet-50 weights
file (what the paper and cityscapes presets get from --imagenet_weights,
pipeline/presets.py pipeline_preset), the official setting is reproduced.
"""

import dataclasses
from typing import Any, Mapping, Optional, Tuple

from official.modeling.hyperparams import base_config

from wsvis_tf.backbones import resnet

BACKBONE_SOURCES = ('cam_train', 'imagenet')
FLOW_SOURCES = ('auto', 'stage', 'ground_truth')
MEAN_SHIFTS = ('inference_set', 'running')
WALK_NORMALIZATIONS = ('global', 'per_class')


@dataclasses.dataclass
class BackboneConfig(base_config.Config):
  """Attributes:
    source: 'cam_train' (the trained CAM backbone, frozen; the default, see
      module docstring) or 'imagenet' (official IRN; needs imagenet_weights).
    name: Backbone for source 'imagenet' (a resnet.SPECS name); with
      'cam_train' the CAM config's backbone is used and this is ignored.
    imagenet_weights: Local Keras HDF5 ResNet-50 weights file.
  """
  source: str = 'cam_train'
  name: str = 'resnet50'
  imagenet_weights: Optional[str] = None


@dataclasses.dataclass
class TrainConfig(base_config.Config):
  """IRN training (IRN: step/train_irn.py)."""
  crop_size: int = 512
  batch_size: int = 32
  epochs: float = 3.0
  learning_rate: float = 0.1
  poly_power: float = 0.9
  weight_decay: float = 1e-4
  # IRN: the displacement parameter group trains at 10x the learning rate.
  displacement_lr_mult: float = 10.0
  # IRN's PolyOptimizer gives torch SGD momentum = weight_decay (1e-4),
  # i.e. plain SGD.
  momentum: float = 0.0
  rescale: Tuple[float, float] = (0.5, 1.5)
  flip: bool = True
  radius: int = 10
  cache: bool = False
  shuffle_buffer: int = 1024
  checkpoint_every: int = 500
  log_every: int = 50
  max_checkpoints: int = 2
  seed: int = 0


@dataclasses.dataclass
class FlowBoundaryConfig(base_config.Config):
  """The f-Bound loss (paper eq 3).

  Attributes:
    enabled: Add it to IRN's losses (flowIRN, IRN+f-Bound).
    flow_weight: lambda of eq 3 (paper sec 4.2: 2).
    loss_weight: Its weight in the total (paper: 1, "trained with the above
      loss and the original losses in IRN"; the quick preset lowers it,
      see pipeline/presets.py).
    flow_source: 'stage' (the DDFlow flow stage), 'ground_truth' (the exact
      flow of procedural data) or 'auto' (the flow stage if the pipeline has
      one, else ground truth).
    gradient_resolution: With feature 'gradient', where F' is
      differentiated: 'input' (at the crop's resolution, in flow pixels per
      pixel as the paper defines F'; each stride-4 cell keeps its
      largest-norm F') or 'stride4' (the flow resized to the pairs' grid,
      vectors rescaled, and differentiated there: a motion edge of J
      pixels then gives |F'| = J / 8, which lambda = 2 almost never
      exceeds); see input_pipeline.flow_gradient_at_stride.
    feature: What eq 3 compares between the two ends of a pair: 'flow'
      (the default: the flow itself, in the crop's pixels, sampled where
      the stride-4 labels are) or 'gradient' (F', as the paper writes
      it; appendix A.1 prefers it on surfaces whose depth varies). F' is
      the paper's, but measured here it does not work (wsvis_tf/irn/
      README.md): it is non-zero only within a cell or two of a motion
      edge, so compared at a pair's ends it cannot see an edge between
      them (see pair_difference); those cells are a large share of a
      small object, whose pairs are then pushed apart; and on DDFlow's
      flow, smooth across motion edges, |F'| never reaches lambda = 2.
    pair_difference: How the difference d_ij of a pair is taken:
      'endpoints' (eq 3 as written: at the pair's two ends) or 'path'
      (the componentwise extent over the pair's path, the pixels eq 1
      takes the boundary maximum over, which F' needs); see
      losses.pair_flow_difference.
    max_difference: d_ij is clipped to it (default 2 lambda = 4), so that a
      pair is pushed apart at most as hard (d_ij - lambda <= lambda) as one
      is pulled together; None: unclipped, eq 3 as written, under which the
      push grows with the speed difference and one fast object dominates
      (measured in wsvis_tf/irn/MEASURED.md).
    pull: True is eq 3 (pairs with d_ij < lambda are pulled together);
      False keeps only its push of motion edges apart (see
      losses.flow_boundary_loss).

  The flow is the frame's forward (t, t+1) flow (paper sec 4.2: "between
  two consecutive frames") at the frame's resolution, rescaled, flipped and
  cropped with the frame, so lambda is in the crop's pixels. The f-Bound
  term is a mean over all pairs (losses.flow_boundary_loss), as IRN's own
  terms are means over theirs, so with loss_weight 1 it stays of the order
  of IRN's terms (0.45 against 0.4-0.5 for the affinity terms at the end of
  the quick preset's training).
  """
  enabled: bool = False
  flow_weight: float = 2.0
  loss_weight: float = 1.0
  flow_source: str = 'auto'
  gradient_resolution: str = 'input'
  feature: str = 'flow'
  pair_difference: str = 'endpoints'
  max_difference: Optional[float] = 4.0
  pull: bool = True


@dataclasses.dataclass
class InferenceConfig(base_config.Config):
  """Instance inference (IRN: make_ins_seg_labels.py) and f-CAMs (eq 2)."""
  centroid_iterations: int = 300
  cluster_threshold: float = 2.5
  walk_radius: int = 5
  beta: float = 10.0
  exp_times: int = 8
  background_threshold: float = 0.25
  min_fragment_fraction: float = 0.01
  # IRN make_cocoann: instances scoring below this are not exported.
  min_score: float = 1e-5
  # Frames are resized by this factor before the network (and the
  # detections back): set it to the scale the backbone was trained at when
  # frames are small (the quick preset's CAM network sees them x2).
  image_scale: float = 1.0
  # What MeanShift subtracts (IRN: Net.MeanShift): 'inference_set' is
  # IRN's, the final model's mean displacement over the frames being
  # segmented (inference.mean_displacement); 'running' keeps the running
  # average of the augmented training crops' batch means.
  mean_shift: str = 'inference_set'
  # After the random walk, IRN divides every class's walked maps by their
  # one maximum ('global'). 'per_class' divides each class's maps by that
  # class's maximum (inference.normalise_walk): the walk averages a CAM
  # over its region, so a class whose CAM is a small part (or a static
  # class beside f-CAM-amplified moving ones) otherwise falls under
  # background_threshold and its instances are lost. Not in IRN or the
  # paper.
  walk_normalization: str = 'global'
  use_fcam: bool = False
  amplification: float = 2.0
  percentile: float = 80.0
  flow_source: str = 'auto'


@dataclasses.dataclass
class IrnConfig(base_config.Config):
  backbone: BackboneConfig = dataclasses.field(default_factory=BackboneConfig)
  train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
  flow_boundary: FlowBoundaryConfig = dataclasses.field(
      default_factory=FlowBoundaryConfig)
  inference: InferenceConfig = dataclasses.field(
      default_factory=InferenceConfig)

  def validate(self) -> None:
    super().validate()
    if self.backbone.source not in BACKBONE_SOURCES:
      raise ValueError(f'backbone.source must be one of {BACKBONE_SOURCES}, '
                       f'got {self.backbone.source!r}')
    if self.backbone.source == 'imagenet':
      resnet.get_spec(self.backbone.name)
      if not self.backbone.imagenet_weights:
        raise ValueError('backbone.source "imagenet" needs '
                         'backbone.imagenet_weights (a local file; nothing '
                         'is downloaded)')
    t = self.train
    if t.crop_size < 16 or t.crop_size % 16:
      raise ValueError(f'train.crop_size must be a multiple of 16, got '
                       f'{t.crop_size}')
    if t.crop_size // 4 <= 2 * (t.radius - 1):
      raise ValueError(f'train.crop_size {t.crop_size} is too small for '
                       f'radius-{t.radius} pairs at stride 4')
    if t.batch_size < 1 or t.epochs <= 0:
      raise ValueError(f'bad train config: batch {t.batch_size}, epochs '
                       f'{t.epochs}')
    if not 0 < t.rescale[0] <= t.rescale[1]:
      raise ValueError(f'train.rescale must be (min, max) with 0 < min <= '
                       f'max, got {t.rescale}')
    if self.flow_boundary.gradient_resolution not in ('stride4', 'input'):
      raise ValueError(f'flow_boundary.gradient_resolution must be stride4 '
                       f'or input, got '
                       f'{self.flow_boundary.gradient_resolution!r}')
    if self.flow_boundary.feature not in ('gradient', 'flow'):
      raise ValueError(f'flow_boundary.feature must be gradient or flow, '
                       f'got {self.flow_boundary.feature!r}')
    if self.flow_boundary.pair_difference not in ('endpoints', 'path'):
      raise ValueError(f'flow_boundary.pair_difference must be endpoints or '
                       f'path, got {self.flow_boundary.pair_difference!r}')
    cap = self.flow_boundary.max_difference
    if cap is not None and not cap > 0:
      raise ValueError(f'flow_boundary.max_difference must be positive or '
                       f'null, got {cap!r}')
    for what in (self.flow_boundary.flow_source, self.inference.flow_source):
      if what not in FLOW_SOURCES:
        raise ValueError(f'flow_source must be one of {FLOW_SOURCES}, got '
                         f'{what!r}')
    i = self.inference
    if i.walk_normalization not in WALK_NORMALIZATIONS:
      raise ValueError('inference.walk_normalization must be one of '
                       f'{WALK_NORMALIZATIONS}, got '
                       f'{i.walk_normalization!r}')
    if i.mean_shift not in MEAN_SHIFTS:
      raise ValueError(f'inference.mean_shift must be one of {MEAN_SHIFTS}, '
                       f'got {i.mean_shift!r}')
    if (i.walk_radius < 2 or i.exp_times < 0 or i.centroid_iterations < 0 or
        i.image_scale <= 0):
      raise ValueError(f'bad inference config: {i.as_dict()}')


def irn_config_from_dict(overrides: Optional[Mapping[str, Any]] = None
                         ) -> IrnConfig:
  """The default IrnConfig overridden by a (preset) dict; validated, locked.

  Raises:
    KeyError: overrides has a key IrnConfig does not know.
    ValueError: the result is not a valid config.
  """
  cfg = IrnConfig()
  if overrides:
    cfg.override(dict(overrides), is_strict=True)
  cfg.validate()
  cfg.lock()
  return cfg
