"""Named presets: one config dict per stage.

  smoke  tiny data, a few steps per stage: what the tests run end to end.
  quick  the procedural default on 2 CPU cores (the `make demo` run).
  paper  the paper's settings (sec 4.2), for GPUs and real data.
  cityscapes  paper, plus VOC 2012 pretraining and Cityscapes' f-CAM values.

Dataset-specific settings (frame distance delta, builder config) come from
DATASET_DEFAULTS and are merged into the 'data' stage's config.

paper and cityscapes start ResNet-50 from ImageNet weights, as the paper
does: `pipeline_preset` adds a local weights file to them, or, only when
asked to train from scratch, leaves them without and says what that
changes (IMAGENET_PRESETS).
"""

import copy
import os
from typing import Any, Dict, Mapping, Optional

from absl import logging

# delta: distance of paired frames, in frame indices (paper sec 4.2: 5 for
# YouTube-VIS, whose annotated frames are every 5th; 3 for Cityscapes, whose
# examples are the 3-frame videos (t-3, t, t+3): one index = 3 frames).
DATASET_DEFAULTS: Dict[str, Dict[str, Any]] = {
    'synthetic': {'delta': 2},
    'ytvis': {'delta': 5},
    'cityscapes': {'delta': 1},
    'video_folder': {'delta': 5},
}

_PRESETS: Dict[str, Dict[str, Dict[str, Any]]] = {
    'smoke': {
        'data': {'builder_config': 'tiny'},
        # DDFlow: a tiny model, 2 steps per stage, and the quick preset's
        # stages (photometric, census + occlusion; no distillation): the
        # distillation stage would cost every smoke pipeline of the tests
        # ~35 s (its own trace and the teacher flow) to exercise a path
        # tests/flow/train_lib_test covers (training, teacher cache,
        # resume). `experiments/train_flow.py --preset=smoke` keeps it.
        'flow_train': {'preset': 'smoke', 'eval_pairs': 2,
                       'jit_compile': False,
                       'overrides': {'train': {'stages': [
                           {'name': 'photometric', 'steps': 2},
                           {'name': 'census_occlusion', 'steps': 2}]}}},
        'flow': {'batch_size': 8},
        'contact_sheet': {'split': 'train', 'num_videos': 2,
                          'frames_per_video': 3},
        # CAM / IR labels: 4 tiny videos (24 frames of 64x80), 6 steps.
        'cam_train': {'cam': {
            'backbone': {'name': 'resnet_tiny'},
            'train': {'crop_size': 64, 'resize_long': [64, 96],
                      'batch_size': 8, 'epochs': 2, 'cache': True,
                      'log_every': 2},
            'extraction': {'scales': [1.0, 2.0]}}},
        'cam': {},
        'ir_labels': {'use_fcam': True, 'amplification': 2.0,
                      'percentile': 80.0, 'crf': True},
        # flowIRN (f-Bound on; f-CAM settings follow ir_labels): radius-5
        # pairs on 64 px crops (16x16 at stride 4), 3 steps.
        'irn_train': {'irn': {
            'train': {'crop_size': 64, 'batch_size': 8, 'epochs': 1,
                      'radius': 5, 'cache': True, 'log_every': 1},
            'flow_boundary': {'enabled': True}}},
        'pseudo_labels': {'irn': {'inference': {}}},
        # Mask R-CNN / MaskConsist: resnet_tiny on 64x96, 4 steps each
        # (wsvis_tf/maskconsist/experiments.py).
        'maskrcnn_train': {'experiment': 'maskrcnn_pseudolabels_smoke'},
        'maskconsist_train': {'experiment': 'maskconsist_smoke'},
        'predict': {},
        # UnOVOST with its own hyper-parameters (paper sec 4.4), the
        # paper's metrics, a report with 2 shown videos.
        'track': {},
        'evaluate': {},
        'report': {'num_videos': 2, 'frames_per_video': 2},
        # No export stage: serving/ has its own tests (~1.5 min a SavedModel).
    },
    'quick': {
        'data': {'builder_config': 'default'},
        # DDFlow, quick preset (wsvis_tf/flow/config.py): 3,000 steps, 12 min
        # measured on 2 CPU cores (4.2 steps/s; 22-25 min before the
        # shifted-product cost volume, wsvis_tf/flow/README.md), then ~0.5
        # min of extraction.
        'flow_train': {'preset': 'quick', 'eval_pairs': 32},
        'flow': {'batch_size': 8},
        'contact_sheet': {'split': 'train', 'num_videos': 4,
                          'frames_per_video': 5},
        # CAM on 2 CPU cores: 640 frames of 128x160, upsampled x2 (the
        # stride-16 maps of a 128 px frame are too coarse), 10 epochs of
        # each model's frames in batches of 16 at ~55 img/s; extraction
        # ~0.17 s a frame: ~2 min. Four cross-fitted models
        # (wsvis_tf/cam/config.py), not IRN's one: trained from scratch on
        # 32 videos, a classifier learns each video's background, and a
        # fifth of its class maps on its own training frames spill over
        # the frame (CAM mIoU on the training frames 0.26-0.28 with one
        # model, 0.31 with two, 0.45 on unseen videos). Four, not two: each
        # model sees 24 videos instead of 16, and with two folds one model
        # collapsed a class on two seeds of two (CAM mIoU 0.30 and 0.21;
        # four folds 0.34 and 0.35; wsvis_tf/irn/MEASURED.md, "Why the quick
        # preset's pseudo-labels are weak"). Training costs 3 models' worth,
        # ~6 min here instead of ~2.
        'cam_train': {'cam': {
            'backbone': {'name': 'resnet_small'},
            'cross_fit_folds': 4,
            'train': {'crop_size': 256, 'resize_long': [256, 384],
                      'batch_size': 16, 'epochs': 10, 'cache': True,
                      'log_every': 20, 'checkpoint_every': 100},
            'extraction': {'scales': [2.0, 1.0, 3.0, 4.0]}}},
        # Each frame's CAMs from all four models, the least any gives a class
        # at each location, not renormalised (not in IRN, which has one
        # model): the held-out model's spill over an unseen background and
        # the others' over the backgrounds they trained on seldom coincide.
        # Seeds 0, 1, 2 (DDFlow and CAM models of make demo's runs): CAM
        # mIoU 0.464 / 0.452 / 0.452, every class >= 0.29; pseudo-label
        # AP50 20.6 / 25.5 / 21.9 %, against 15.2 / 28.2 / 20.8
        # renormalised and - / 16.3 / 15.3 held out (wsvis_tf/irn/MEASURED.md,
        # "CAMs that every model agrees on").
        # Extraction costs four models' worth (4.4 min on idle cores,
        # 12-13 min on loaded ones).
        'cam': {'combine': 'min'},
        # Paper sec 4.2 (YouTube-VIS values): A = 2, T = P80; IRN's dense
        # CRF, ~80 s here (on these 128x160 frames it raised the IR labels'
        # fg precision in one run, lowered it in another; crf=False to
        # compare).
        'ir_labels': {'use_fcam': True, 'amplification': 2.0,
                      'percentile': 80.0, 'crf': True},
        # flowIRN on 2 CPU cores, on the CAM network's backbone, which sees
        # frames x2: IRN's rescale 0.5-1.5 doubled, 256 px crops (64x64 at
        # stride 4, radius-10 pairs), batch 16, 8 epochs (320 steps, ~7
        # min; IRN's 3 epochs are ~1000 steps on VOC: at 120 steps IRN's
        # pseudo-label AP50 was 4.9 %, at 320 7.7 %, exact flow);
        # inference on frames x2 (image_scale). f-Bound compares the flow
        # at the pair's ends (FlowBoundaryConfig; F' measured in
        # wsvis_tf/irn/MEASURED.md), at weight 0.3, not the paper's 1 (at 1
        # flowIRN's pseudo-labels were not above IRN's), and keeps eq 3's
        # push of motion edges but not its pull of every other pair
        # (pull: False; eq 3's pull also joins a static object to the
        # background, against IRN's negative pairs): with four-fold CAMs,
        # seed 0, flowIRN 17.4 % AP50 with it against 12.8 % with eq 3's
        # pull on DDFlow's flow, 19.3 against 13.2 % on exact flow, where
        # IRN + f-CAMs gave 18.2 % (that README, "f-Bound without its
        # pull").
        'irn_train': {'irn': {
            'train': {'crop_size': 256, 'rescale': [1.0, 3.0],
                      'batch_size': 16, 'epochs': 8, 'cache': True,
                      'log_every': 20, 'checkpoint_every': 100},
            'flow_boundary': {'enabled': True, 'loss_weight': 0.3,
                              'pull': False}}},
        'pseudo_labels': {'irn': {'inference': {'image_scale': 2.0}}},
        # The paper's second step on 2 CPU cores: resnet_small FPN on the
        # 128x160 frames, its backbone from the CAM classifier (no ImageNet
        # weights here), 1000 steps (wsvis_tf/maskconsist/experiments.py,
        # where each departure from the paper is given).
        'maskrcnn_train': {'experiment': 'maskrcnn_pseudolabels_synthetic'},
        'maskconsist_train': {'experiment': 'maskconsist_synthetic'},
        'predict': {},
        'track': {},
        'evaluate': {},
        # 2 videos, 2 frames each, GIFs of 20 frames at half size: the
        # report's images ~0.5 MB (textured frames compress poorly).
        'report': {'num_videos': 2, 'frames_per_video': 2,
                   'gif_scale': 0.5},
        'export': {},
    },
    'paper': {
        'data': {'builder_config': 'default'},
        # DDFlow's original network and 100k + 300k + 300k recipe.
        'flow_train': {'preset': 'paper', 'eval_pairs': 32},
        'flow': {'batch_size': 8},
        'contact_sheet': {'split': 'train', 'num_videos': 6,
                          'frames_per_video': 6},
        # IRN's real-size CAM settings (wsvis_tf/cam/config.py defaults), on
        # ImageNet weights (pipeline_preset adds them, IMAGENET_PRESETS).
        'cam_train': {'cam': {}},
        'cam': {},
        'ir_labels': {'use_fcam': True, 'amplification': 2.0,
                      'percentile': 80.0, 'crf': True},
        # IRN's recipe (wsvis_tf/irn/config.py defaults: crop 512, batch 32,
        # lr 0.1 poly, wd 1e-4) with flowIRN's f-Bound and 6 epochs (paper
        # sec 4.2; IRN alone trains 3), on a separate frozen ImageNet
        # ResNet-50 (pipeline_preset).
        'irn_train': {'irn': {'train': {'epochs': 6},
                              'flow_boundary': {'enabled': True}}},
        'pseudo_labels': {'irn': {'inference': {}}},
        # Paper sec 4.2: ResNet-50 FPN, 90k steps at lr 0.002 (the
        # experiment of the dataset: get_preset picks _ytvis or
        # _cityscapes).
        'maskrcnn_train': {'experiment': 'maskrcnn_pseudolabels_{data}'},
        'maskconsist_train': {'experiment': 'maskconsist_{data}'},
        'predict': {},
        'track': {},
        # Semantic IoU on Cityscapes only ('auto'), as the paper reports.
        'evaluate': {},
        'report': {'num_videos': 3, 'frames_per_video': 3},
        'export': {},
    },
}

# The paper presets' Mask R-CNN experiment per dataset ({data} above).
_EXPERIMENT_DATA = {'synthetic': 'ytvis', 'ytvis': 'ytvis',
                    'video_folder': 'ytvis', 'cityscapes': 'cityscapes'}



def apply_overrides(preset: Mapping[str, Mapping[str, Any]],
                    overrides: Mapping[str, Any]
                   ) -> Dict[str, Dict[str, Any]]:
  """The preset with {stage: settings} deep-merged into its stages.

  E.g. {'cam_train': {'cam': {'class_bias': True}}}. The stages check their
  settings when they are built (a misspelt key is an error there).

  Raises:
    ValueError: overrides is not a mapping of the preset's stage names to
      mappings.
  """
  if not isinstance(overrides, Mapping):
    raise ValueError('preset overrides must be a JSON object {stage: '
                     f'settings}}, got {type(overrides).__name__}')
  out = {k: dict(v) for k, v in preset.items()}
  for stage, settings in overrides.items():
    if stage not in out:
      raise ValueError(f'preset overrides: no stage {stage!r} in this '
                       f'preset; its stages are {", ".join(sorted(out))}')
    if not isinstance(settings, Mapping):
      raise ValueError(f'preset overrides: the settings of {stage!r} must '
                       f'be a JSON object, got {settings!r}')
    out[stage] = deep_merge(out[stage], settings)
  return out


def deep_merge(base: Mapping[str, Any], overrides: Mapping[str, Any]
              ) -> Dict[str, Any]:
  """A copy of base deep-merged with overrides (mappings merge, other values
  replace); neither argument is modified."""
  out = copy.deepcopy(dict(base))
  for k, v in overrides.items():
    if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
      out[k] = deep_merge(out[k], v)
    else:
      out[k] = copy.deepcopy(v)
  return out


# cityscapes: the paper preset, with the first stage (the CAM network)
# trained on PASCAL VOC 2012 first and fine-tuned on Cityscapes (paper sec
# 4.2), and Cityscapes' f-CAM values A = 5, T = P50. VOC is read with TFDS
# from its default data dir; set cam_train.cam.pretrain.data_dir to another
# prepared one.
_PRESETS['cityscapes'] = deep_merge(_PRESETS['paper'], {
    'cam_train': {'cam': {'pretrain': {'tfds_name': 'voc/2012',
                                       'split': 'train', 'epochs': 5}}},
    'ir_labels': {'amplification': 5.0, 'percentile': 50.0},
})

def apply_seed(preset: Dict[str, Dict[str, Any]], seed: int
              ) -> Dict[str, Dict[str, Any]]:
  """The preset with one run seed for every stage that draws random numbers.

  DDFlow's, the CAM classifier's and the IRN heads' train.seed, and the
  Mask R-CNN trainings' task.train_data.seed (weights, data order,
  augmentation) all become `seed`; each stage's config, and so
  its record and fingerprint, carries it. With TensorFlow's op determinism
  (core/training.seed_everything, which those stages call) the same seed
  gives the same outputs on the same machine.
  """
  out = copy.deepcopy(preset)
  seed = int(seed)
  if 'flow_train' in out:
    overrides = out['flow_train'].setdefault('overrides', {})
    overrides.setdefault('train', {})['seed'] = seed
  if 'cam_train' in out:
    out['cam_train'].setdefault('cam', {}).setdefault('train', {})[
        'seed'] = seed
  if 'irn_train' in out:
    out['irn_train'].setdefault('irn', {}).setdefault('train', {})[
        'seed'] = seed
  for stage in ('maskrcnn_train', 'maskconsist_train'):
    if stage in out:
      task = out[stage].setdefault('overrides', {}).setdefault('task', {})
      task.setdefault('train_data', {})['seed'] = seed
  return out


def preset_names():
  return sorted(_PRESETS)


def _experiment_delta(experiment: str) -> int:
  """The pair distance of a registered Mask R-CNN experiment."""
  # Imported here: tf-models is heavy, and only presets with a segmenter
  # need it.
  from official.core import exp_factory  # pylint: disable=g-import-not-at-top
  # pylint: disable-next=g-import-not-at-top,unused-import
  from wsvis_tf.maskconsist import experiments
  return exp_factory.get_exp_config(experiment).task.train_data.delta


def get_preset(name: str, dataset: str) -> Dict[str, Dict[str, Any]]:
  """A deep copy of the named preset, with the dataset's defaults merged.

  The paper and cityscapes presets come as they are stored, without
  ImageNet weights; pipeline_preset settles that.
  """
  if name not in _PRESETS:
    raise ValueError(f'unknown preset {name!r}; known: {preset_names()}')
  if dataset not in DATASET_DEFAULTS:
    raise ValueError(f'unknown dataset {dataset!r}; known: '
                     f'{sorted(DATASET_DEFAULTS)}')
  preset = copy.deepcopy(_PRESETS[name])
  preset['data'].update(DATASET_DEFAULTS[dataset])
  for stage in ('maskrcnn_train', 'maskconsist_train'):
    if stage in preset:
      preset[stage]['experiment'] = preset[stage]['experiment'].format(
          data=_EXPERIMENT_DATA[dataset])
      # The pairs are the flow stage's (t, t + delta) of the dataset: the
      # flows MaskConsist warps with exist for those, and on data annotated
      # every k-th frame t + delta has pseudo-labels when delta is the
      # dataset's (a smoke experiment's own delta would not). Set only
      # where the experiment's differs, so configs stay minimal.
      delta = preset['data']['delta']
      if _experiment_delta(preset[stage]['experiment']) != delta:
        preset[stage].setdefault('overrides', {}).setdefault(
            'task', {}).setdefault('train_data', {})['delta'] = delta
  if dataset != 'synthetic':
    preset['data'].pop('builder_config', None)
  return preset


# Presets that start ResNet-50 from ImageNet weights, as the paper (sec 4.2,
# on IRN) does: the CAM network loads them (stages 1-3 and batch norm then
# frozen, wsvis_tf/cam/config.py: IRN's resnet50_cam) and the IRN heads sit
# on a separate, fully frozen ImageNet ResNet-50 (IRN's resnet50_irn). The
# smoke and quick presets train small backbones from scratch on CPU (there
# are no ImageNet weights for them) and put the IRN heads on the CAM
# network's trained backbone (wsvis_tf/irn/config.py).
IMAGENET_PRESETS = ('paper', 'cityscapes')
# The file keras.applications.ResNet50(weights='imagenet',
# include_top=False) downloads into ~/.keras/models/ (backbones/
# imagenet_weights.py reads it; the file with the top works too).
IMAGENET_WEIGHTS_FILE = 'resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5'
IMAGENET_WEIGHTS_URL = ('https://storage.googleapis.com/tensorflow/'
                        'keras-applications/resnet/' + IMAGENET_WEIGHTS_FILE)


class MissingWeightsError(ValueError):
  """A preset of IMAGENET_PRESETS got neither weights nor train_from_scratch.

  Attributes:
    preset: The preset's name.
  """

  def __init__(self, preset: str):
    super().__init__(
        f'the {preset} preset starts ResNet-50 from ImageNet weights, as the '
        f'paper does: give imagenet_weights (the keras.applications file '
        f'{IMAGENET_WEIGHTS_FILE}, from {IMAGENET_WEIGHTS_URL}) or '
        'train_from_scratch')
    self.preset = preset


def pipeline_preset(name: str, dataset: str,
                    imagenet_weights: Optional[str] = None,
                    train_from_scratch: bool = False
                   ) -> Dict[str, Dict[str, Any]]:
  """get_preset, with the backbone's initialisation settled.

  For IMAGENET_PRESETS: with imagenet_weights (a local Keras HDF5 ResNet-50
  file, see backbones/imagenet_weights.py), cam_train's CAM network loads
  them (its frozen stages and batch norm then resolve to IRN's 3 and True)
  and irn_train's heads sit on a separate frozen ImageNet ResNet-50 from the
  same file (irn backbone.source 'imagenet'); both stage configs record the
  absolute path. With train_from_scratch instead, the preset is left as
  stored (ResNet-50 from random weights, IRN heads on the CAM network's
  trained backbone) and a warning says what departs from the paper.

  The other presets train small backbones from scratch anyway:
  train_from_scratch changes nothing and imagenet_weights is an error.

  Args:
    name: A preset name.
    dataset: A key of DATASET_DEFAULTS.
    imagenet_weights: Path of the weights file, or None. Its contents are
      checked when the stages are built (cam_train, irn_train).
    train_from_scratch: Run an IMAGENET_PRESETS preset without weights.

  Raises:
    MissingWeightsError: an IMAGENET_PRESETS preset with neither.
    ValueError: both given, weights for another preset, or an unknown
      preset or dataset.
  """
  preset = get_preset(name, dataset)
  if imagenet_weights and train_from_scratch:
    raise ValueError('give ImageNet weights or train from scratch, not both '
                     f'(imagenet_weights={imagenet_weights!r})')
  if name not in IMAGENET_PRESETS:
    if imagenet_weights:
      backbone = preset['cam_train'].get('cam', {}).get('backbone', {}).get(
          'name', 'resnet50')
      raise ValueError(
          f'the {name} preset trains a {backbone} backbone from scratch and '
          'puts the IRN heads on it; ImageNet weights (imagenet_weights='
          f'{imagenet_weights!r}) are for the ResNet-50 presets '
          f'{", ".join(IMAGENET_PRESETS)}')
    return preset
  if not imagenet_weights:
    if not train_from_scratch:
      raise MissingWeightsError(name)
    logging.warning(
        'The %s preset trains from scratch, departing from the paper (sec '
        '4.2) and IRN: the CAM network\'s ResNet-50 starts from random '
        'weights, with no frozen stages and ordinary batch norm, instead of '
        'ImageNet weights with stages 1-3 and batch norm frozen; and the '
        'IRN heads sit on that trained CAM backbone instead of a separate '
        'frozen ImageNet ResNet-50; the Mask R-CNN backbones start from '
        'random weights with ordinary batch norm. Expect weaker CAMs, '
        'pseudo-labels and segmenters.', name)
    for stage in ('maskrcnn_train', 'maskconsist_train'):
      if stage in preset:
        backbone = preset[stage].setdefault('overrides', {}).setdefault(
            'task', {}).setdefault('model', {}).setdefault(
                'backbone', {}).setdefault('wsvis_resnet', {})
        backbone.update({'init': 'random', 'frozen_bn': False,
                         'frozen_stages': 0})
    return preset
  path = os.path.abspath(imagenet_weights)
  cam = preset['cam_train'].setdefault('cam', {})
  cam.setdefault('backbone', {})['imagenet_weights'] = path
  irn = preset['irn_train'].setdefault('irn', {})
  irn['backbone'] = {'source': 'imagenet',
                     'name': cam['backbone'].get('name', 'resnet50'),
                     'imagenet_weights': path}
  for stage in ('maskrcnn_train', 'maskconsist_train'):
    if stage in preset:
      backbone = preset[stage].setdefault('overrides', {}).setdefault(
          'task', {}).setdefault('model', {}).setdefault(
              'backbone', {}).setdefault('wsvis_resnet', {})
      backbone.update({'init': 'imagenet', 'imagenet_weights': path})
  return preset
