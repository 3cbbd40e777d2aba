"""TFDS builder `wsvis_cityscapes_pairs`: Cityscapes frames t-3, t, t+3.

Paper sec 4.1: the 2,975 fine-annotated train frames and their neighbours
t-3 and t+3 train; the 500 val frames evaluate. Each annotated frame t of
gtFine becomes one 3-frame "video" (keys of `wsvis_tf.core.keys`):

  FRAMES        [3, H, W, 3]: leftImg8bit_sequence frames t-3, t, t+3 (the
                annotated frame is index 19 of its 30-frame snippet, so both
                neighbours are in the snippet);
  ANNOTATED     [False, True, False];
  FRAME_LABELS  the classes of the 8 instance classes with any pixel in t
                (instances and group regions alike, from gtFine), for all
                three frames: one scene, one set of tags;
  INSTANCE_MAP  frame t from gtFine instanceIds: an id >= 1000 is an
                instance of labelId id // 1000; ids < 1000 are regions
                without instance (e.g. a group of cars) and stay background.
                The neighbours have no ground truth (zeros);
  TRACK_IDS     (global frame number) * 1000 + k, unique over the splits;
  TRACK_CLASSES 0-based among CLASS_NAMES.

Neighbouring frames are one index apart here: the pipeline pairs (t, t+3)
with delta 1. Splits: train (gtFine train) and validation (gtFine val).
Configs: default (long side <= 1024, half resolution), full (2048 x 1024),
small (long side <= 512, for CPU runs). A corrupt sequence frame with
bad_frames='skip' drops the whole triple (and is counted).
"""

import dataclasses
from typing import Any, Dict, Iterator, List, Optional, Tuple

from absl import logging
import numpy as np
import tensorflow_datasets as tfds

from datasets.real_video import builder_config
from datasets.real_video import frame_io
from datasets.real_video import manual_dir
from wsvis_tf.core import keys

# The 8 instance classes evaluated on Cityscapes and their labelIds
# (cityscapesScripts labels.py); caravan (29) and trailer (30) also carry
# instance ids but are not evaluated, so they are left out.
CLASS_NAMES = ('person', 'rider', 'car', 'truck', 'bus', 'train',
               'motorcycle', 'bicycle')
LABEL_IDS = (24, 25, 26, 27, 28, 31, 32, 33)
_CLASS_OF_LABEL = {label: i for i, label in enumerate(LABEL_IDS)}

# Cityscapes split folder -> our split name.
SPLITS = (('train', 'train'), ('val', 'validation'))
GT_LOCATIONS = ('gtFine', 'gtFine_trainvaltest.zip!gtFine')
SEQUENCE_LOCATIONS = (
    'leftImg8bit_sequence',
    'leftImg8bit_sequence_trainvaltest.zip!leftImg8bit_sequence')
_GT_SUFFIX = '_gtFine_instanceIds.png'
_FRAME_SUFFIX = '_leftImg8bit.png'
# The annotated frame is index 19 of its 30-frame snippet.
_SNIPPET_BEFORE, _SNIPPET_AFTER = 19, 10

MANUAL_DOWNLOAD_INSTRUCTIONS = """\
Register at https://www.cityscapes-dataset.com/ and put into one directory
(pass it as --data_dir), zipped or extracted:
  gtFine_trainvaltest.zip                (or the extracted gtFine/)
  leftImg8bit_sequence_trainvaltest.zip  (or the extracted
                                          leftImg8bit_sequence/)
"""


@dataclasses.dataclass(eq=False)
class WsvisCityscapesPairsConfig(builder_config.RealVideoConfig):
  """Cityscapes builder settings.

  Attributes:
    offset: the neighbours are frames t - offset and t + offset (paper: 3).
  """
  offset: int = 3

  def validate(self) -> None:
    super().validate()
    if not isinstance(self.offset, int) or not (
        1 <= self.offset <= _SNIPPET_AFTER):
      raise ValueError(f'offset must be an int in [1, {_SNIPPET_AFTER}] (the '
                       f'snippet ends {_SNIPPET_AFTER} frames after the '
                       f'annotated one), got {self.offset!r}')


DEFAULT_CONFIG = WsvisCityscapesPairsConfig(
    name='default', max_long_side=1024,
    description='Half resolution (1024 x 512).')
FULL_CONFIG = WsvisCityscapesPairsConfig(
    name='full', description='Native resolution (2048 x 1024).')
SMALL_CONFIG = WsvisCityscapesPairsConfig(
    name='small', max_long_side=512,
    description='Long side at most 512 px, for CPU runs.')


@dataclasses.dataclass(frozen=True)
class Frame:
  """An annotated frame: <city>_<sequence>_<frame>_gtFine_instanceIds.png."""
  split_dir: str
  city: str
  sequence: str
  number: int
  number_width: int

  @property
  def name(self) -> str:
    return f'{self.city}_{self.sequence}_{self.number:0{self.number_width}d}'

  def neighbour(self, offset: int) -> str:
    """File name of the sequence frame at number + offset."""
    n = self.number + offset
    return (f'{self.city}_{self.sequence}_{n:0{self.number_width}d}'
            f'{_FRAME_SUFFIX}')


def parse_gt_name(split_dir: str, file_name: str) -> Frame:
  stem = file_name[:-len(_GT_SUFFIX)]
  parts = stem.rsplit('_', 2)
  if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
    raise manual_dir.InputError(
        f'unexpected gtFine file name {file_name!r} (expected '
        f'<city>_<sequence>_<frame>{_GT_SUFFIX})')
  return Frame(split_dir, parts[0], parts[1], int(parts[2]), len(parts[2]))


@dataclasses.dataclass
class Layout:
  gt: manual_dir.FileTree
  sequence: manual_dir.FileTree


def locate(manual: manual_dir.ManualDir) -> Layout:
  gt = manual.find_dir(GT_LOCATIONS)
  if gt is None:
    raise manual.missing('gtFine (instance ground truth)', GT_LOCATIONS)
  sequence = manual.find_dir(SEQUENCE_LOCATIONS)
  if sequence is None:
    raise manual.missing('leftImg8bit_sequence (the video frames)',
                         SEQUENCE_LOCATIONS)
  return Layout(gt, sequence)


def annotated_frames(layout: Layout, split_dir: str) -> List[Frame]:
  """The gtFine frames of a split folder, sorted by name."""
  frames = []
  for city in sorted(layout.gt.list_dirs(split_dir)):
    for name in sorted(layout.gt.list_files(f'{split_dir}/{city}')):
      if name.endswith(_GT_SUFFIX):
        frames.append(parse_gt_name(split_dir, name))
  return frames


def instance_ground_truth(ids: np.ndarray
                         ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
  """From a [H, W] instanceIds map: (instance map, track classes, labels).

  Returns:
    [H, W] uint16 map (k + 1 for the k-th instance id in sorted order),
    [N] int64 0-based classes of the instances, [C] bool frame labels (the
    classes with any pixel, instance or group region).
  """
  values = np.unique(ids)
  label_of = np.where(values >= 1000, values // 1000, values)
  labels = np.zeros(len(CLASS_NAMES), bool)
  for label in label_of:
    if int(label) in _CLASS_OF_LABEL:
      labels[_CLASS_OF_LABEL[int(label)]] = True
  instances = [int(v) for v, label in zip(values, label_of)
               if v >= 1000 and int(label) in _CLASS_OF_LABEL]
  instance_map = np.zeros(ids.shape, np.uint16)
  for k, value in enumerate(instances):
    instance_map[ids == value] = k + 1
  classes = np.array([_CLASS_OF_LABEL[v // 1000] for v in instances],
                     np.int64)
  return instance_map, classes, labels


class WsvisCityscapesPairs(builder_config.RealVideoBuilder):
  """Cityscapes annotated frames with their t-3 / t+3 neighbours."""

  BUILDER_CONFIGS = [DEFAULT_CONFIG, FULL_CONFIG, SMALL_CONFIG]
  MANUAL_DOWNLOAD_INSTRUCTIONS = MANUAL_DOWNLOAD_INSTRUCTIONS

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        description='Cityscapes fine-annotated frames t with neighbours '
        't-3 and t+3 from leftImg8bit_sequence; frame-level labels and '
        'instance ground truth (8 classes) for evaluation.',
        features=builder_config.video_features(CLASS_NAMES),
        metadata=tfds.core.MetadataDict(),
        homepage='https://www.cityscapes-dataset.com/',
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    manual = manual_dir.ManualDir(dl_manager.manual_dir,
                                  MANUAL_DOWNLOAD_INSTRUCTIONS)
    layout = locate(manual)
    splits, first = {}, 0
    for split_dir, split in SPLITS:
      if not layout.gt.is_dir(split_dir):
        if split == 'train':
          raise manual_dir.InputError(
              f'missing folder {layout.gt.describe(split_dir)}: the train '
              'split is required')
        logging.warning('Cityscapes: no %s; no %s split.',
                        layout.gt.describe(split_dir), split)
        continue
      frames = annotated_frames(layout, split_dir)
      if not frames:
        raise manual_dir.InputError(
            f'no *{_GT_SUFFIX} files under {layout.gt.describe(split_dir)}')
      splits[split] = (frames, first)
      first += len(frames)
    self.info.metadata.update({'gt_source': layout.gt.location,
                               'frames_source': layout.sequence.location,
                               'skipped_frames': {}})
    return {split: self._generate_examples(layout, frames, first, split)
            for split, (frames, first) in splits.items()}

  def _generate_examples(self, layout: Layout, frames: List[Frame],
                         first: int,
                         split: str) -> Iterator[Tuple[str, Dict[str, Any]]]:
    bad = frame_io.BadFrames(self.builder_config.bad_frames, split)
    for i, frame in enumerate(frames):
      example = frame_example(layout, frame, first + i, self.builder_config,
                              bad)
      if example is not None:
        yield frame.name, example
    bad.log_summary()
    self.info.metadata['skipped_frames'][split] = {
        'count': bad.count, 'frames': bad.skipped[:100]}


def frame_example(layout: Layout, frame: Frame, number: int,
                  cfg: WsvisCityscapesPairsConfig,
                  bad: frame_io.BadFrames) -> Optional[Dict[str, Any]]:
  """The 3-frame example of an annotated frame (None if a frame is bad)."""
  gt_path = (f'{frame.split_dir}/{frame.city}/{frame.name}{_GT_SUFFIX}')
  folder = f'{frame.split_dir}/{frame.city}'
  offsets = (-cfg.offset, 0, cfg.offset)
  names = [frame.neighbour(d) for d in offsets]
  images = []
  for name in names:
    path = f'{folder}/{name}'
    image = bad.decode(layout.sequence.read(path),
                       layout.sequence.describe(path))
    if image is None:
      # The triple is incomplete: skip it (the frame is counted by `bad`).
      logging.warning('Skipping annotated frame %s: %s is bad.', frame.name,
                      name)
      return None
    if images and image.shape != images[0].shape:
      raise manual_dir.InputError(
          f'{layout.sequence.describe(path)} is {image.shape[1]}x'
          f'{image.shape[0]}, unlike the other frames of {frame.name}')
    images.append(image)
  ids = frame_io.decode_label_png(layout.gt.read(gt_path),
                                  layout.gt.describe(gt_path))
  height, width = images[0].shape[:2]
  if ids.shape != (height, width):
    raise manual_dir.InputError(
        f'{layout.gt.describe(gt_path)} is {ids.shape[1]}x{ids.shape[0]} but '
        f'its frame is {width}x{height}')
  instance_map, classes, labels = instance_ground_truth(ids)
  size = cfg.frame_size(height, width)
  instance_map = frame_io.resize_labels(instance_map, size)
  empty = np.zeros_like(instance_map)
  return {
      keys.VIDEO_ID: frame.name,
      keys.FRAMES: np.stack([frame_io.resize_image(im, size)
                             for im in images]),
      keys.FRAME_NAMES: names,
      keys.FRAME_LABELS: np.stack([labels] * 3),
      keys.ANNOTATED: np.array([False, True, False]),
      keys.INSTANCE_MAP: np.stack([empty, instance_map, empty])[..., None],
      keys.TRACK_IDS: number * 1000 + np.arange(1, len(classes) + 1,
                                                dtype=np.int64),
      keys.TRACK_CLASSES: classes,
  }


def make_builder(data_dir: Optional[str], config: Optional[str] = None,
                 tfds_dir: Optional[str] = None,
                 **options) -> WsvisCityscapesPairs:
  """The builder for a download in data_dir (checked now, built later).

  Args:
    data_dir: the user's download (the TFDS manual dir).
    config: a registered config name (default: 'default').
    tfds_dir: where TFDS writes the prepared dataset.
    **options: config field overrides, e.g. bad_frames='skip', offset=2.
  """
  locate(manual_dir.ManualDir(data_dir, MANUAL_DOWNLOAD_INSTRUCTIONS))
  cfg = builder_config.resolve_config(WsvisCityscapesPairs, config, options)
  return WsvisCityscapesPairs(config=cfg, data_dir=tfds_dir)


def prepare(data_dir: str, config: Optional[str] = None,
            tfds_dir: Optional[str] = None,
            **options) -> WsvisCityscapesPairs:
  """Builds (unless already built) and returns the dataset, offline."""
  builder = make_builder(data_dir, config, tfds_dir, **options)
  builder.download_and_prepare(
      download_config=builder_config.download_config(data_dir))
  return builder
