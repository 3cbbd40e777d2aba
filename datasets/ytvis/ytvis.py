"""TFDS builder `wsvis_ytvis`: YouTube-VIS 2019 train, in the paper's split.

One example per video with the keys of `wsvis_tf.core.keys`. Splits (paper
sec 4.1; see ytvis_json.split_train_val):
  train       the paper's `train_train`: every video not in train_val;
  validation  the paper's `train_val`: 10 videos per category, fixed seed.
(The pipeline's stages read 'train' and 'validation' for every dataset.)
A download too small for that draw (it would leave less than
min_train_fraction = 70 % of the videos for training) gets a validation
split scaled down to fit, with a warning (ytvis_json.train_val_split); one
with fewer than 3 videos is an error.

Frames: with the all-frames download (`train_all_frames`), a video holds
every frame of its folder and ANNOTATED marks the frames the JSON lists
(every 5th), so pairs (t, t + 5) join annotated frames and flow t -> t + 1
is between consecutive frames, as in the paper. With only the annotated
frames (`train/JPEGImages`), a video holds the listed frames, all annotated,
and one index step is 5 frames of the original video (metadata 'frames':
'annotated'). The pipeline's delta for ytvis (5) assumes all frames; with
annotated frames only, pairs (t, t + 5) are 25 original frames apart.

Labels: an annotated frame's FRAME_LABELS are the categories with a mask in
that frame; an unannotated frame gets the video's categories (what a user
tagging whole videos would give; training anchors are annotated frames only).

Ground truth (evaluation only): INSTANCE_MAP paints the annotations of a
frame in the JSON's order, so where masks overlap the later-listed one wins;
TRACK_IDS are the JSON annotation ids. The original JSON remains the exact
ground truth where masks overlap.

Configs: default (short side <= 480, the paper's inference size), full
(native size), small (long side <= 320, for CPU runs). Build, e.g.:
  python -c "from datasets.ytvis import ytvis; \
    ytvis.prepare('/data/ytvis2019', tfds_dir='/tmp/tfds')"
"""

import dataclasses
from typing import Any, Dict, Iterator, List, Optional, Tuple

from absl import logging
import numpy as np
import tensorflow_datasets as tfds

from datasets.real_video import builder_config
from datasets.real_video import frame_io
from datasets.real_video import manual_dir
from datasets.ytvis import ytvis_json
from wsvis_tf.core import keys
from wsvis_tf.core import mask_ops

YTVIS_2019_CLASSES = ytvis_json.YTVIS_2019_CLASSES
FRAME_MODES = ('auto', 'all', 'annotated')
# Fewest videos a download may have: 2 for training, 1 for validation.
MIN_VIDEOS = 3

# Where each part may be, in order of preference (see manual_dir).
JSON_LOCATIONS = (
    'train.json', 'instances.json', 'train/instances.json',
    'train/train.json', 'train.zip!train/instances.json',
    'train.zip!train.json', 'train.zip!instances.json')
ALL_FRAMES_LOCATIONS = (
    'train_all_frames/JPEGImages',
    'train_all_frames.zip!train_all_frames/JPEGImages',
    'train_all_frames.zip!JPEGImages')
FRAMES_LOCATIONS = (
    'train/JPEGImages', 'JPEGImages', 'train.zip!train/JPEGImages',
    'train.zip!JPEGImages')

MANUAL_DOWNLOAD_INSTRUCTIONS = """\
Download YouTube-VIS 2019 (https://youtube-vos.org/dataset/vis/, CodaLab) and
put into one directory (pass it as --data_dir), zipped or extracted:
  train.json                  the train annotations (or train/instances.json)
  train_all_frames.zip        all frames (or extracted train_all_frames/
                              JPEGImages/<video>/<frame>.jpg); preferred: the
                              paper's flow needs consecutive frames
  train.zip                   only the annotated frames (or extracted
                              train/JPEGImages/<video>/<frame>.jpg)
At least one of the frame sources is needed. A directory written by
gt_export.write_ytvis_layout (JPEGImages/ + instances.json) also works.
"""


@dataclasses.dataclass(eq=False)
class WsvisYtvisConfig(builder_config.RealVideoConfig):
  """YouTube-VIS builder settings.

  Attributes:
    frames: 'auto' (all frames when the all-frames download is there, else
      the annotated frames), 'all' or 'annotated'.
    val_videos_per_class: videos per category in validation (train_val).
    split_seed: seed of the train_val draw.
    min_train_fraction: when the val_videos_per_class draw would leave less
      than this fraction of the videos for training, validation is scaled
      down to fit (ytvis_json.train_val_split; at least one video); 0 keeps
      the draw whatever it leaves.
    class_names: category names in id order; set by make_builder from the
      JSON (YouTube-VIS 2019's 40 unless the JSON has others).
  """
  frames: str = 'auto'
  val_videos_per_class: int = 10
  split_seed: int = 0
  min_train_fraction: float = 0.7
  class_names: Tuple[str, ...] = YTVIS_2019_CLASSES

  INTERNAL_FIELDS = frozenset({'class_names'})

  def validate(self) -> None:
    super().validate()
    if self.frames not in FRAME_MODES:
      raise ValueError(f'frames must be one of {FRAME_MODES}, got '
                       f'{self.frames!r}')
    if not isinstance(self.val_videos_per_class, int) or (
        self.val_videos_per_class < 0):
      raise ValueError('val_videos_per_class must be an int >= 0, got '
                       f'{self.val_videos_per_class!r}')
    if not isinstance(self.min_train_fraction, (int, float)) or not (
        0 <= self.min_train_fraction <= 1):
      raise ValueError('min_train_fraction must be a number in [0, 1], got '
                       f'{self.min_train_fraction!r}')


DEFAULT_CONFIG = WsvisYtvisConfig(
    name='default', max_short_side=480,
    description='Short side at most 480 px (the paper\'s inference size).')
FULL_CONFIG = WsvisYtvisConfig(name='full', description='Native size.')
SMALL_CONFIG = WsvisYtvisConfig(
    name='small', max_long_side=320,
    description='Long side at most 320 px, for CPU runs.')


@dataclasses.dataclass
class Layout:
  """Where the parts of a YouTube-VIS download are."""
  json_tree: manual_dir.FileTree
  json_name: str
  frames: manual_dir.FileTree
  all_frames: bool

  @property
  def json_source(self) -> str:
    return self.json_tree.describe(self.json_name)


def locate(manual: manual_dir.ManualDir, frames: str = 'auto') -> Layout:
  """Finds the annotation JSON and the frames; InputError if missing."""
  found = manual.find_file(JSON_LOCATIONS)
  if found is None:
    raise manual.missing('the YouTube-VIS annotation JSON (train.json or '
                         'instances.json)', JSON_LOCATIONS)
  json_tree, json_name = found
  all_tree = (manual.find_dir(ALL_FRAMES_LOCATIONS)
              if frames in ('auto', 'all') else None)
  if all_tree is not None:
    return Layout(json_tree, json_name, all_tree, all_frames=True)
  if frames == 'all':
    raise manual.missing('the all-frames folder (frames=all)',
                         ALL_FRAMES_LOCATIONS)
  tree = manual.find_dir(FRAMES_LOCATIONS)
  if tree is None:
    raise manual.missing('the frames (JPEGImages/<video>/<frame>.jpg)',
                         ALL_FRAMES_LOCATIONS + FRAMES_LOCATIONS)
  return Layout(json_tree, json_name, tree, all_frames=False)


def read_annotations(layout: Layout) -> ytvis_json.Annotations:
  """Parses and checks the layout's annotation JSON."""
  return ytvis_json.parse(layout.json_tree.read(layout.json_name),
                          layout.json_source)


class WsvisYtvis(builder_config.RealVideoBuilder):
  """YouTube-VIS 2019 train videos with frame-level labels, paper split."""

  BUILDER_CONFIGS = [DEFAULT_CONFIG, FULL_CONFIG, SMALL_CONFIG]
  MANUAL_DOWNLOAD_INSTRUCTIONS = MANUAL_DOWNLOAD_INSTRUCTIONS

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        description='YouTube-VIS 2019 train videos: frames, frame-level '
        'class labels, instance ground truth for evaluation; train / '
        'validation = the paper\'s train_train / train_val.',
        features=builder_config.video_features(
            self.builder_config.class_names),
        metadata=tfds.core.MetadataDict(),
        homepage='https://youtube-vos.org/dataset/vis/',
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    cfg = self.builder_config
    manual = manual_dir.ManualDir(dl_manager.manual_dir,
                                  MANUAL_DOWNLOAD_INSTRUCTIONS)
    layout = locate(manual, cfg.frames)
    ann = read_annotations(layout)
    if tuple(ann.class_names) != tuple(cfg.class_names):
      raise manual_dir.InputError(
          f'{layout.json_source} has categories {ann.class_names[:5]}... but '
          f'config {cfg.name} expects {list(cfg.class_names[:5])}...; create '
          'the builder with ytvis.make_builder, which reads them.')
    if not layout.all_frames:
      logging.warning(
          'YouTube-VIS: no all-frames download (%s); videos hold only the '
          'annotated frames from %s, so one frame index step is several '
          'frames of the original video (5 in YouTube-VIS).',
          ' or '.join(ALL_FRAMES_LOCATIONS[:2]), layout.frames.location)
    draw = self._train_val_split(ann, manual.root, layout.json_source)
    val = draw.validation
    splits = {
        'train': [v for v in ann.videos if v.name not in val],
        'validation': [v for v in ann.videos if v.name in val],
    }
    if not splits['train']:
      raise manual_dir.InputError(
          f'{layout.json_source}: all {len(ann.videos)} videos went to the '
          f'validation split (val_videos_per_class='
          f'{cfg.val_videos_per_class}); the train split would be empty. Use '
          'more videos or a smaller val_videos_per_class.')
    self.info.metadata.update({
        'frames': 'all' if layout.all_frames else 'annotated',
        'annotations': layout.json_source,
        'frames_source': layout.frames.location,
        'validation_videos': sorted(val),
        'validation_per_class': {'asked': draw.per_class_asked,
                                 'used': draw.per_class_used,
                                 'scaled': draw.scaled},
        'skipped_frames': {},
    })
    logging.info('YouTube-VIS split: %d train, %d validation videos',
                 len(splits['train']), len(splits['validation']))
    return {split: self._generate_examples(layout, videos, split)
            for split, videos in splits.items() if videos}

  def _train_val_split(self, ann: ytvis_json.Annotations, root: str,
                       json_source: str) -> ytvis_json.Split:
    """The validation videos (paper split, scaled down if needed).

    Raises:
      InputError: fewer than MIN_VIDEOS videos.
    """
    cfg = self.builder_config
    n = len(ann.videos)
    if n < MIN_VIDEOS:
      raise manual_dir.InputError(
          f'the YouTube-VIS directory {root} has {n} video(s) '
          f'({json_source}); the train / validation split needs at least '
          f'{MIN_VIDEOS}')
    video_classes = {v.name: v.classes for v in ann.videos}
    draw = ytvis_json.train_val_split(video_classes, cfg.val_videos_per_class,
                                      cfg.split_seed, cfg.min_train_fraction)
    if draw.scaled:
      drawn = ytvis_json.class_counts(ann.videos, draw.validation)
      present = ytvis_json.class_counts(ann.videos)
      per_class = [drawn.get(c, 0) for c in present]
      logging.warning(
          'YouTube-VIS %s: %d videos are too few for %d validation videos '
          'per category while keeping %d%% of them for training; validation '
          'scaled down to %d videos: validation per category asked %d, used '
          '%d (%d-%d over the %d categories; the dataset option '
          'min_train_fraction=0 keeps the unscaled draw).', json_source, n,
          draw.per_class_asked, round(100 * cfg.min_train_fraction),
          len(draw.validation), draw.per_class_asked, draw.per_class_used,
          min(per_class, default=0), max(per_class, default=0),
          len(present))
    return draw

  def _generate_examples(self, layout: Layout,
                         videos: List[ytvis_json.Video],
                         split: str) -> Iterator[Tuple[str, Dict[str, Any]]]:
    bad = frame_io.BadFrames(self.builder_config.bad_frames, split)
    for video in videos:
      yield video.name, video_example(layout, video, self.builder_config, bad)
    bad.log_summary()
    self.info.metadata['skipped_frames'][split] = {
        'count': bad.count, 'frames': bad.skipped[:100]}


def _frame_list(layout: Layout, video: ytvis_json.Video) -> List[str]:
  """The frame files of a video: all of its folder, or the listed ones."""
  if not layout.all_frames:
    return list(video.frame_names)
  if not layout.frames.is_dir(video.name):
    raise manual_dir.InputError(
        f'missing folder {layout.frames.describe(video.name)} (video '
        f'{video.name} of {layout.json_source})')
  names = frame_io.image_files(layout.frames.list_files(video.name))
  present = set(names)
  for name in video.frame_names:
    if name not in present:
      raise manual_dir.InputError(
          f'missing file {layout.frames.describe(video.name + "/" + name)}, '
          f'listed in {layout.json_source}')
  return names


def _paint(video: ytvis_json.Video, listed: int, source: str
          ) -> Tuple[np.ndarray, np.ndarray]:
  """[H, W] uint16 instance map of a listed frame, and its [C'] classes.

  Track k is painted as k + 1 in JSON order (later-listed masks win where
  they overlap). Returns the map and the classes with a non-empty mask.
  """
  instance_map = np.zeros((video.height, video.width), np.uint16)
  present = set()
  for k, track in enumerate(video.tracks):
    seg = track.segmentations[listed]
    if not seg:
      continue
    try:
      mask = mask_ops.decode(mask_ops.to_coco_rle(seg, video.height,
                                                  video.width)) > 0
    except (ValueError, TypeError, KeyError) as e:
      raise manual_dir.InputError(
          f'{source}: annotation {track.annotation_id} (video {video.name}, '
          f'frame {video.frame_names[listed]}) has a bad segmentation: {e}'
      ) from e
    if mask.any():
      instance_map[mask] = k + 1
      present.add(track.class_index)
  return instance_map, np.array(sorted(present), np.int64)


def video_example(layout: Layout, video: ytvis_json.Video,
                  cfg: WsvisYtvisConfig,
                  bad: frame_io.BadFrames) -> Dict[str, Any]:
  """The keys.py example of one video (see the module docstring)."""
  num_classes = len(cfg.class_names)
  listed_index = {n: j for j, n in enumerate(video.frame_names)}
  video_labels = np.zeros(num_classes, bool)
  video_labels[list(video.classes)] = True
  size = cfg.frame_size(video.height, video.width)
  files = _frame_list(layout, video)
  frames, names, labels, annotated, instance_maps = [], [], [], [], []
  for name in files:
    path = f'{video.name}/{name}'
    image = bad.decode(layout.frames.read(path), layout.frames.describe(path))
    if image is None:
      continue
    if image.shape[:2] != (video.height, video.width):
      raise manual_dir.InputError(
          f'{layout.frames.describe(path)} is {image.shape[1]}x'
          f'{image.shape[0]} but {layout.json_source} says video '
          f'{video.name} is {video.width}x{video.height}')
    frames.append(frame_io.resize_image(image, size))
    names.append(name)
    j = listed_index.get(name)
    if j is None:
      labels.append(video_labels)
      annotated.append(False)
      instance_maps.append(np.zeros(size, np.uint16))
      continue
    instance_map, present = _paint(video, j, layout.json_source)
    frame_labels = np.zeros(num_classes, bool)
    frame_labels[present] = True
    labels.append(frame_labels)
    annotated.append(True)
    instance_maps.append(frame_io.resize_labels(instance_map, size))
  builder_config.check_num_frames(len(frames), video.name,
                                  len(files) - len(frames))
  return {
      keys.VIDEO_ID: video.name,
      keys.FRAMES: np.stack(frames),
      keys.FRAME_NAMES: names,
      keys.FRAME_LABELS: np.stack(labels),
      keys.ANNOTATED: np.array(annotated, bool),
      keys.INSTANCE_MAP: np.stack(instance_maps)[..., None],
      keys.TRACK_IDS: np.array([t.annotation_id for t in video.tracks],
                               np.int64),
      keys.TRACK_CLASSES: np.array([t.class_index for t in video.tracks],
                                   np.int64),
  }


def make_builder(data_dir: Optional[str], config: Optional[str] = None,
                 tfds_dir: Optional[str] = None, **options) -> WsvisYtvis:
  """The builder for a download in data_dir (checked now, built later).

  Args:
    data_dir: the user's download (the TFDS manual dir).
    config: a registered config name (default: 'default').
    tfds_dir: where TFDS writes the prepared dataset.
    **options: config field overrides, e.g. bad_frames='skip',
      val_videos_per_class=1.

  Raises:
    InputError (a ValueError) naming what is missing from data_dir.
  """
  manual = manual_dir.ManualDir(data_dir, MANUAL_DOWNLOAD_INSTRUCTIONS)
  cfg = builder_config.resolve_config(WsvisYtvis, config, options)
  layout = locate(manual, cfg.frames)
  class_names = tuple(ytvis_json.category_names(
      layout.json_tree.read(layout.json_name), layout.json_source))
  if class_names != YTVIS_2019_CLASSES:
    logging.info('%s has %d categories other than YouTube-VIS 2019\'s; using '
                 'them.', layout.json_source, len(class_names))
  cfg = builder_config.resolve_config(WsvisYtvis, config, options,
                                      {'class_names': class_names})
  return WsvisYtvis(config=cfg, data_dir=tfds_dir)


def prepare(data_dir: str, config: Optional[str] = None,
            tfds_dir: Optional[str] = None, **options) -> WsvisYtvis:
  """Builds (unless already built) and returns the dataset, offline."""
  builder = make_builder(data_dir, config, tfds_dir, **options)
  builder.download_and_prepare(
      download_config=builder_config.download_config(data_dir))
  return builder
