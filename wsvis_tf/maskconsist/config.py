"""Config dataclasses of the MaskConsist task (tf-models hyperparams).

`MaskConsistTaskConfig` is tf-models' `MaskRCNNTask` config with:

  task.model.backbone        type 'wsvis_resnet' (backbone.py): our ResNet
                             variant, last stage at stride 32 for the FPN,
                             initialised from a local ImageNet file, the
                             cam_train stage's checkpoint, or at random.
  task.train_data            `PairDataConfig`: frame pairs (t, t + delta) of
                             a video source, the pseudo_labels stage's COCO
                             JSON, the flow stage's FlowStore; global batch
                             size counts pairs (2 images each).
  task.maskconsist           False: plain Mask R-CNN on the pseudo-labels
                             (the paper's baseline), same pairs as frames.
  task.matching              the MaskConsist matching settings (paper sec
                             3.3; wsvis_tf.maskconsist.matching).

The experiments registered with tf-models' exp_factory are in
experiments.py.
"""

import dataclasses
from typing import List

from official.modeling import hyperparams
from official.vision.configs import backbones as backbones_cfg
from official.vision.configs import maskrcnn as maskrcnn_cfg

BACKBONE_TYPE = 'wsvis_resnet'
# Backbone initialisation (WsvisResNet.init).
INIT_IMAGENET = 'imagenet'
INIT_CAM = 'cam_checkpoint'
INIT_RANDOM = 'random'
INITS = (INIT_IMAGENET, INIT_CAM, INIT_RANDOM)
# Where the fields live, for error messages.
IMAGENET_FIELD = 'task.model.backbone.wsvis_resnet.imagenet_weights'
CAM_FIELD = 'task.model.backbone.wsvis_resnet.cam_checkpoint'
INIT_FIELD = 'task.model.backbone.wsvis_resnet.init'
# The file keras.applications caches for ResNet-50 (no top): what
# IMAGENET_FIELD should name (wsvis_tf/backbones/imagenet_weights.py).
IMAGENET_FILE = 'resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5'


@dataclasses.dataclass
class WsvisResNet(hyperparams.Config):
  """wsvis_tf.backbones.resnet as a tf-models FPN backbone.

  Attributes:
    variant: 'resnet50' (paper), 'resnet_small', 'resnet_tiny'.
    init: INIT_IMAGENET (paper sec 4.2: a local Keras HDF5 file, nothing is
      downloaded), INIT_CAM (the cam_train stage's CAM classifier backbone)
      or INIT_RANDOM (from scratch: an explicit choice).
    imagenet_weights: The HDF5 file for INIT_IMAGENET.
    cam_checkpoint: A cam_train checkpoint prefix or directory for INIT_CAM.
    frozen_bn: Batch norm in inference mode with its stored statistics
      (IRN, Detectron's FrozenBN with pretrained weights); False for
      training from scratch.
    frozen_stages: Stages 1..n not trained (resnet.freeze_stages).
  """
  variant: str = 'resnet50'
  init: str = INIT_IMAGENET
  imagenet_weights: str = ''
  cam_checkpoint: str = ''
  frozen_bn: bool = True
  frozen_stages: int = 0


@dataclasses.dataclass
class Backbone(backbones_cfg.Backbone):
  """tf-models' backbone one-of, plus 'wsvis_resnet'."""
  wsvis_resnet: WsvisResNet = dataclasses.field(default_factory=WsvisResNet)


@dataclasses.dataclass
class MaskRCNN(maskrcnn_cfg.MaskRCNN):
  """tf-models' Mask R-CNN model config on the wsvis_resnet backbone."""
  backbone: Backbone = dataclasses.field(
      default_factory=lambda: Backbone(type=BACKBONE_TYPE))
  # The ROI and detection generators' NMS as tf.image's greedy-NMS kernel
  # (Detectron2's NMS, the paper's) instead of tf-models' TPU-friendly
  # sorted NMS, which approximates it: faster on CPUs and GPUs
  # (kernel_nms.py). False restores tf-models' NMS (for TPUs).
  kernel_nms: bool = True


@dataclasses.dataclass
class VideoSourceConfig(hyperparams.Config):
  """A wsvis_tf.data.sources video source (sources.get_source arguments).

  Attributes:
    dataset: 'synthetic', 'ytvis', 'cityscapes', 'video_folder'.
    data_dir: The download (real data) or the synthetic data dir.
    tfds_dir: Where the prepared TFDS data is (the pipeline's
      <work_dir>/tfds).
    builder_config: A builder config name ('' = the builder's default).
    options: Builder config overrides as 'key=value' strings.
    split: The split whose annotated frames are trained on.
  """
  dataset: str = 'synthetic'
  data_dir: str = ''
  tfds_dir: str = ''
  builder_config: str = ''
  options: List[str] = dataclasses.field(default_factory=list)
  split: str = 'train'


@dataclasses.dataclass
class PairDataConfig(maskrcnn_cfg.DataConfig):
  """Frame pairs with pseudo-labels and flow (input_pipeline.py).

  Inherited fields keep tf-models' meaning: parser (max_num_instances,
  mask_crop_size, aug_rand_hflip, aug_scale_min/max, rpn_*), dtype,
  shuffle_buffer_size, cache (the decoded pairs, before augmentation),
  seed (augmentation and shuffling), global_batch_size: here in PAIRS.

  Attributes:
    source: The videos.
    pseudo_labels: The pseudo_labels stage's COCO JSON (RLE masks,
      file_name '<video>/<frame file>', categories 1-based).
    flow_dir: The flow stage's FlowStore root; read only with maskconsist.
    delta: Frame distance of a pair (paper sec 4.2; in frame indices of the
      source, see wsvis_tf/pipeline/presets.py DATASET_DEFAULTS).
    matching_stride: The matching canvas is the network input canvas at
      1 / matching_stride (pseudo-label masks, flows, pasted predictions).
  """
  source: VideoSourceConfig = dataclasses.field(
      default_factory=VideoSourceConfig)
  pseudo_labels: str = ''
  flow_dir: str = ''
  delta: int = 5
  matching_stride: int = 1
  dtype: str = 'float32'
  seed: int = 0


@dataclasses.dataclass
class Matching(hyperparams.Config):
  """MaskConsist (paper sec 3.3, Table 5); matching.MatchingConfig fields.

  Attributes:
    intra_frame: Intra-F: add unions of predictions overlapping a flowIRN
      label of their class (box IoU > intra_box_iou).
    inter_frame: Inter-F: Hungarian matching of flow-warped predictions and
      Alg. 1 transfer (box IoU > transfer_box_iou with a same-class label).
    iom_nms: Suppress masks contained in others when combining
      (intersection over the smaller mask > iom_threshold).
    iom_priority: 'labels_first' (flowIRN labels always kept, transfers
      fill in missing instances) or 'larger_first' (a larger transfer also
      replaces a label it contains); matching.py says why the default.
    max_predictions: Top predictions per frame (paper: 100).
    min_score: Predictions below this score are ignored.
    mask_threshold: Pasted mask probabilities are binarised here.
  """
  intra_frame: bool = True
  inter_frame: bool = True
  iom_nms: bool = True
  intra_box_iou: float = 0.5
  transfer_box_iou: float = 0.5
  iom_threshold: float = 0.5
  iom_priority: str = 'labels_first'
  max_predictions: int = 100
  min_score: float = 0.05
  mask_threshold: float = 0.5


@dataclasses.dataclass
class MaskConsistTaskConfig(maskrcnn_cfg.MaskRCNNTask):
  """The MaskConsist / Mask R-CNN-on-pseudo-labels task (task.py)."""
  model: MaskRCNN = dataclasses.field(default_factory=MaskRCNN)
  train_data: PairDataConfig = dataclasses.field(
      default_factory=lambda: PairDataConfig(is_training=True))
  maskconsist: bool = True
  # Steps trained on the pseudo-labels alone before MaskConsist starts
  # transferring predictions (0: from the first step, as the paper says
  # nothing of a warm-up). One replica only (train_lib.train refuses more).
  maskconsist_start_step: int = 0
  matching: Matching = dataclasses.field(default_factory=Matching)
  # No tf-models validation here: evaluation is the pipeline's (COCO JSON).
  use_coco_metrics: bool = False
