"""Configs of the CAM network, its training and CAM extraction.

Defaults are the real-size values of official IRN (run_sample.py, REFERENCES
sec 2): crop 512 after a random resize of the long side to [320, 640], batch
16, 5 epochs, learning rate 0.1 with a poly schedule, weight decay 1e-4,
10x learning rate for the classifier, scales (1.0, 0.5, 1.5, 2.0) plus flip,
CAM evaluation threshold 0.15. The pipeline presets (wsvis_tf/pipeline/
presets.py) override them for CPU runs; `cam_config_from_dict` turns a
preset's dict into a validated, locked CamConfig (misspelled keys fail).
"""

import dataclasses
from typing import Any, Mapping, Optional, Tuple

from official.modeling.hyperparams import base_config

from wsvis_tf.backbones import resnet

SELECTIONS = ('last', 'heldout_loss')


@dataclasses.dataclass
class BackboneConfig(base_config.Config):
  """Attributes:
    name: 'resnet50', 'resnet_small' or 'resnet_tiny' (backbones/resnet.py).
    imagenet_weights: Path of a local Keras HDF5 ResNet-50 weights file
      (backbones/imagenet_weights.py); None trains from scratch. Nothing is
      ever downloaded.
    frozen_stages: Stages 1..n are not trained. None: IRN's 3 (conv1 and
      everything up to its layer2, which IRN detaches) with ImageNet
      weights, 0 without (random frozen stages would be useless).
    frozen_bn: Batch norm with fixed statistics (IRN FixedBatchNorm). None:
      True with ImageNet weights, False without (training from scratch with
      frozen random statistics diverges).
  """
  name: str = 'resnet50'
  imagenet_weights: Optional[str] = None
  frozen_stages: Optional[int] = None
  frozen_bn: Optional[bool] = None


@dataclasses.dataclass
class TrainConfig(base_config.Config):
  """CAM classifier training (IRN: step/train_cam.py)."""
  crop_size: int = 512
  # Random resize of the long side to [min, max] pixels before cropping.
  resize_long: Tuple[int, int] = (320, 640)
  batch_size: int = 16
  epochs: float = 5.0
  # Steps per model; when set it replaces epochs. An epoch budget starves a
  # small dataset (a few dozen videos give each model a hundred or two
  # steps), a step budget does not.
  steps: Optional[int] = None
  # Photometric jitter strength (brightness, contrast, saturation; not
  # hue), 0 = none as IRN (input_pipeline.photometric_jitter).
  color_jitter: float = 0.0
  # Probability that a training example is a 2x2 mosaic of four frames at
  # half scale with the union of their labels (input_pipeline.
  # mosaic_or_single); 0 = none, as IRN.
  mosaic: float = 0.0
  learning_rate: float = 0.1
  # IRN PolyOptimizer: lr * (1 - step / max_step) ** 0.9.
  poly_power: float = 0.9
  weight_decay: float = 1e-4
  classifier_lr_mult: float = 10.0
  # IRN's PolyOptimizer passes weight_decay where torch's SGD expects
  # momentum, so its effective momentum is 1e-4, i.e. plain SGD.
  momentum: float = 0.0
  # Frames with ground-truth annotation only (YouTube-VIS: every 5th).
  annotated_only: bool = True
  # Keep decoded training frames in memory (small datasets only).
  cache: bool = False
  shuffle_buffer: int = 1024
  checkpoint_every: int = 500
  log_every: int = 50
  max_checkpoints: int = 2
  seed: int = 0


@dataclasses.dataclass
class ExtractionConfig(base_config.Config):
  """CAM extraction (IRN: step/make_cam.py) and evaluation (eval_cam.py)."""
  scales: Tuple[float, ...] = (1.0, 0.5, 1.5, 2.0)
  flip: bool = True
  eval_threshold: float = 0.15


@dataclasses.dataclass
class PretrainConfig(base_config.Config):
  """Optional first training on an image dataset (paper sec 4.2: VOC 2012).

  Attributes:
    tfds_name: '' for none, else a TFDS name such as 'voc/2012'.
    data_dir: TFDS data dir holding the prepared dataset; None means TFDS's
      default ($TFDS_DATA_DIR or ~/tensorflow_datasets).
    split: TFDS split expression, e.g. 'train+validation'.
    epochs: Epochs over it (then `train.epochs` on the videos).
    class_aliases: 'target=source' pairs: the fine-tuning classifier row of a
      target class starts from the pretrained row of source (same names map
      without an alias, e.g. car, bus, train, person, bicycle).
  """
  tfds_name: str = ''
  data_dir: Optional[str] = None
  split: str = 'train'
  epochs: float = 5.0
  class_aliases: Tuple[str, ...] = ('motorcycle=motorbike', 'rider=person',
                                    'truck=car')


@dataclasses.dataclass
class CamConfig(base_config.Config):
  """Attributes:
    cross_fit_folds: 1 is IRN: one model, which makes the CAMs of the very
      frames it trained on. k > 1 splits the training videos into k folds;
      model i trains on the other folds and makes the CAMs of fold i, so no
      CAM comes from a model that saw the frame's video. Not in IRN or the
      paper: a network trained from scratch on a few dozen videos learns to
      recognise each video's background, and its CAMs on those videos spill
      over it. Each model trains `train.epochs` over its share of the
      frames (or `train.steps`), so with epochs two models cost what one
      does and k models (k - 1) times that; the IRN heads reuse model 0's
      backbone.
    selection: Which checkpoint of each cross-fitted model makes the CAMs:
      'last', or 'heldout_loss', the one (every train.checkpoint_every
      steps) with the lowest classification loss on its held-out fold's
      frames -- their frame labels, the only supervision a user has, and
      frames the model never trained on (wsvis_tf/cam/selection.py).
      Needs cross_fit_folds > 1.
    pool_top_fraction: How a class map becomes the class's logit in
      training. 1.0 is IRN's global average pooling. f < 1 averages the
      top f of the map's locations (top-k pooling): not in IRN or the
      paper. Under average pooling a bias-free linear classifier can give
      a frame without the class a low score while the class map is high
      over its background, as long as negative responses elsewhere cancel
      it; the CAM, the map's positive part, then covers the background.
      With top-k pooling any high region of a frame without the class is
      penalised.
    class_bias: A learned bias per class in the logits (never in the CAMs).
      IRN's classifier has none, so a class's prior odds can only come
      from its class map: a class present in most training frames, or the
      only label of several videos, then gets a class map that is high
      wherever there is background, and its CAM covers the frame. The bias
      takes the prior instead. Not in IRN or the paper.
  """
  backbone: BackboneConfig = dataclasses.field(default_factory=BackboneConfig)
  train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
  extraction: ExtractionConfig = dataclasses.field(
      default_factory=ExtractionConfig)
  pretrain: PretrainConfig = dataclasses.field(default_factory=PretrainConfig)
  cross_fit_folds: int = 1
  selection: str = 'last'
  pool_top_fraction: float = 1.0
  class_bias: bool = False

  def validate(self) -> None:
    super().validate()
    resnet.get_spec(self.backbone.name)
    frozen = self.backbone.frozen_stages
    if frozen is not None and not 0 <= frozen <= 5:
      raise ValueError(f'backbone.frozen_stages must be in [0, 5], got '
                       f'{frozen}')
    t = self.train
    if t.crop_size < 16 or t.batch_size < 1 or t.epochs <= 0:
      raise ValueError(f'bad train config: crop {t.crop_size}, batch '
                       f'{t.batch_size}, epochs {t.epochs}')
    if not 0 < t.resize_long[0] <= t.resize_long[1]:
      raise ValueError(f'train.resize_long must be (min, max) with '
                       f'0 < min <= max, got {t.resize_long}')
    if not self.extraction.scales or min(self.extraction.scales) <= 0:
      raise ValueError('extraction.scales must be positive numbers')
    if self.cross_fit_folds < 1:
      raise ValueError(f'cross_fit_folds must be >= 1, got '
                       f'{self.cross_fit_folds}')
    if not 0.0 <= t.mosaic <= 1.0:
      raise ValueError(f'train.mosaic must be in [0, 1], got {t.mosaic}')
    if t.mosaic > 0 and t.crop_size % 2:
      raise ValueError(f'train.mosaic needs an even train.crop_size, got '
                       f'{t.crop_size}')
    if t.steps is not None and t.steps < 1:
      raise ValueError(f'train.steps must be >= 1 or null, got {t.steps}')
    if self.selection not in SELECTIONS:
      raise ValueError(f'selection must be one of {SELECTIONS}, got '
                       f'{self.selection!r}')
    if not 0.0 < self.pool_top_fraction <= 1.0:
      raise ValueError('pool_top_fraction must be in (0, 1], got '
                       f'{self.pool_top_fraction}')
    if self.selection != 'last' and self.cross_fit_folds < 2:
      raise ValueError(f'selection {self.selection!r} needs held-out frames: '
                       'cross_fit_folds >= 2')


def cam_config_from_dict(overrides: Optional[Mapping[str, Any]] = None
                        ) -> CamConfig:
  """The default CamConfig overridden by a (preset) dict; validated, locked.

  The backbone's None (automatic) settings are resolved here, so the
  result, and what cam_train records, holds concrete values.

  Raises:
    KeyError: overrides has a key CamConfig does not know.
    ValueError: the result is not a valid config.
  """
  cfg = CamConfig()
  if overrides:
    cfg.override(dict(overrides), is_strict=True)
  pretrained = bool(cfg.backbone.imagenet_weights)
  if cfg.backbone.frozen_stages is None:
    cfg.backbone.frozen_stages = 3 if pretrained else 0
  if cfg.backbone.frozen_bn is None:
    cfg.backbone.frozen_bn = pretrained
  cfg.validate()
  cfg.lock()
  return cfg
