"""TFDS builder `wsvis_video_folder`: bring your own videos and class names.

A data dir holds video files (mp4, avi, ... through OpenCV) or folders of
frames, and a label file naming each video's classes (format in
label_file.py). One example per video with the keys of `wsvis_tf.core.keys`:
the kept frames, every one labelled with the video's classes and ANNOTATED
(all frames may anchor training pairs); no instance ground truth
(INSTANCE_MAP zeros, no tracks), so evaluation stages have nothing to score.

Frames kept: every `frame_stride`-th, or, with `fps`, about `fps` frames per
second of video (video files only; frame folders use frame_stride), at most
`max_frames` per video. FRAME_NAMES are '<index>.jpg' with the frame's index
in the original video ('000012.jpg'), or the frame file names of a folder.

Class names come from the label file, so make_builder reads it and derives
the config (class names and a fingerprint of the label file and the videos
in its name): editing the labels or replacing a video prepares a new
dataset instead of reusing a stale one.

Configs: default (short side <= 480), full (native size), small (long side
<= 320, for CPU runs).
"""

import dataclasses
import os
from typing import Any, Dict, Iterator, List, Optional, Tuple

from absl import logging
import cv2
import numpy as np
import tensorflow_datasets as tfds

from datasets.real_video import builder_config
from datasets.real_video import frame_io
from datasets.real_video import manual_dir
from datasets.video_folder import label_file
from wsvis_tf.core import keys

MANUAL_DOWNLOAD_INSTRUCTIONS = """\
Put your videos (mp4/avi/... files, or folders of jpg/png frames) in one
directory (pass it as --data_dir) with labels.csv:
  video,classes,split
  clips/dog_park.mp4,dog;person,train
  frames/cat_sofa,cat,validation
or labels.json ({"videos": {"clips/dog_park.mp4": ["dog", "person"]}}); an
optional classes.txt (one class a line) fixes the class order.
"""


@dataclasses.dataclass(eq=False)
class WsvisVideoFolderConfig(builder_config.RealVideoConfig):
  """Video-folder builder settings.

  Attributes:
    frame_stride: keep every n-th frame.
    fps: keep about this many frames per second (video files; overrides
      frame_stride for them).
    max_frames: keep at most this many frames per video (None: all).
    labels_file: the label file's name in the data dir (default: the one of
      labels.csv / labels.json).
    class_names: set by make_builder from the label file.
    labels_fingerprint: set by make_builder (labels + videos).
  """
  frame_stride: int = 1
  fps: Optional[float] = None
  max_frames: Optional[int] = None
  labels_file: Optional[str] = None
  class_names: Tuple[str, ...] = ()
  labels_fingerprint: str = ''

  INTERNAL_FIELDS = frozenset({'class_names', 'labels_fingerprint'})

  def validate(self) -> None:
    super().validate()
    if not isinstance(self.frame_stride, int) or self.frame_stride < 1:
      raise ValueError(f'frame_stride must be an int >= 1, got '
                       f'{self.frame_stride!r}')
    if self.fps is not None and (not isinstance(self.fps, (int, float))
                                 or self.fps <= 0):
      raise ValueError(f'fps must be None or a number > 0, got {self.fps!r}')
    if self.labels_file is not None and not isinstance(self.labels_file, str):
      raise ValueError(f'labels_file must be a file name, got '
                       f'{self.labels_file!r}')
    if self.max_frames is not None and (not isinstance(self.max_frames, int)
                                        or self.max_frames < 2):
      raise ValueError(f'max_frames must be None or an int >= 2, got '
                       f'{self.max_frames!r}')


DEFAULT_CONFIG = WsvisVideoFolderConfig(
    name='default', max_short_side=480,
    description='Short side at most 480 px.')
FULL_CONFIG = WsvisVideoFolderConfig(name='full', description='Native size.')
SMALL_CONFIG = WsvisVideoFolderConfig(
    name='small', max_long_side=320,
    description='Long side at most 320 px, for CPU runs.')


def _keep(index: int, source_fps: float, cfg: WsvisVideoFolderConfig
         ) -> bool:
  """Whether frame `index` of a video file is sampled."""
  if cfg.fps is None:
    return index % cfg.frame_stride == 0
  if cfg.fps >= source_fps:
    return True
  # Keep the first frame at or after each sample time k / fps: the frame
  # where floor(index * fps / source_fps) advances.
  ratio = cfg.fps / source_fps
  return index == 0 or int(index * ratio) != int((index - 1) * ratio)


def read_video_file(path: str, cfg: WsvisVideoFolderConfig,
                    bad: frame_io.BadFrames
                   ) -> Tuple[List[np.ndarray], List[str]]:
  """Decodes the sampled frames of a video file: (RGB frames, names)."""
  capture = cv2.VideoCapture(path)
  if not capture.isOpened():
    raise manual_dir.InputError(f'cannot open video {path}: OpenCV does not '
                                'read it (corrupt, or an unsupported codec)')
  source_fps = capture.get(cv2.CAP_PROP_FPS) or 0.0
  if cfg.fps is not None and source_fps <= 0:
    raise manual_dir.InputError(f'{path} reports no frame rate; use '
                                'frame_stride instead of fps')
  frames, names = [], []
  index = -1
  try:
    # grab() advances without decoding, so skipped frames cost little.
    while capture.grab():
      index += 1
      if not _keep(index, source_fps, cfg):
        continue
      ok, image = capture.retrieve()
      if not ok or image is None:
        bad.bad(f'{path} frame {index}', 'does not decode')
        continue
      frames.append(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
      names.append(f'{index:06d}.jpg')
      if cfg.max_frames and len(frames) >= cfg.max_frames:
        break
  finally:
    capture.release()
  if index < 0:
    raise manual_dir.InputError(f'{path}: OpenCV opened it but read no '
                                'frame (corrupt, or an unsupported codec)')
  return frames, names


def read_frame_folder(path: str, cfg: WsvisVideoFolderConfig,
                      bad: frame_io.BadFrames
                     ) -> Tuple[List[np.ndarray], List[str]]:
  """Decodes the sampled frames of a folder: (RGB frames, file names)."""
  files = frame_io.image_files(os.listdir(path))[::cfg.frame_stride]
  frames, names = [], []
  for name in files:
    full = os.path.join(path, name)
    with open(full, 'rb') as f:
      image = bad.decode(f.read(), full)
    if image is None:
      continue
    frames.append(image)
    names.append(name)
    if cfg.max_frames and len(frames) >= cfg.max_frames:
      break
  return frames, names


class WsvisVideoFolder(builder_config.RealVideoBuilder):
  """The user's own videos with video-level class labels."""

  BUILDER_CONFIGS = [DEFAULT_CONFIG, FULL_CONFIG, SMALL_CONFIG]
  MANUAL_DOWNLOAD_INSTRUCTIONS = MANUAL_DOWNLOAD_INSTRUCTIONS

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        description='A folder of videos with video-level class labels.',
        features=builder_config.video_features(
            self.builder_config.class_names),
        metadata=tfds.core.MetadataDict(),
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    cfg = self.builder_config
    root = manual_dir.ManualDir(dl_manager.manual_dir,
                                MANUAL_DOWNLOAD_INSTRUCTIONS).root
    labels = label_file.read(root, cfg.labels_file)
    if tuple(labels.class_names) != tuple(cfg.class_names) or (
        labels.fingerprint() != cfg.labels_fingerprint):
      raise manual_dir.InputError(
          f'{labels.path} changed since this builder was made (or it was '
          'not made by video_folder.make_builder, which reads the labels); '
          'make it again.')
    if cfg.fps is not None and any(os.path.isdir(e.path)
                                   for e in labels.entries):
      logging.warning('fps=%s applies to video files only; frame folders '
                      'use frame_stride=%d.', cfg.fps, cfg.frame_stride)
    splits: Dict[str, List[label_file.Entry]] = {}
    for entry in labels.entries:
      splits.setdefault(entry.split, []).append(entry)
    if 'train' not in splits:
      raise manual_dir.InputError(f'{labels.path}: no video is in the train '
                                  'split')
    self.info.metadata.update({'labels_file': labels.path,
                               'skipped_frames': {}})
    return {split: self._generate_examples(entries, split)
            for split, entries in splits.items()}

  def _generate_examples(self, entries: List[label_file.Entry],
                         split: str) -> Iterator[Tuple[str, Dict[str, Any]]]:
    bad = frame_io.BadFrames(self.builder_config.bad_frames, split)
    for entry in entries:
      yield entry.video_id, video_example(entry, self.builder_config, bad)
    bad.log_summary()
    self.info.metadata['skipped_frames'][split] = {
        'count': bad.count, 'frames': bad.skipped[:100]}


def video_example(entry: label_file.Entry, cfg: WsvisVideoFolderConfig,
                  bad: frame_io.BadFrames) -> Dict[str, Any]:
  """The keys.py example of one video of the folder."""
  before = bad.count
  if os.path.isdir(entry.path):
    frames, names = read_frame_folder(entry.path, cfg, bad)
  else:
    frames, names = read_video_file(entry.path, cfg, bad)
  builder_config.check_num_frames(len(frames), entry.path,
                                  bad.count - before)
  height, width = frames[0].shape[:2]
  for frame, name in zip(frames, names):
    if frame.shape[:2] != (height, width):
      raise manual_dir.InputError(
          f'{os.path.join(entry.path, name)} is {frame.shape[1]}x'
          f'{frame.shape[0]}, unlike the first frame ({width}x{height}): '
          'all frames of a video must have one size')
  size = cfg.frame_size(height, width)
  labels = np.zeros((len(frames), len(cfg.class_names)), bool)
  labels[:, entry.classes] = True
  return {
      keys.VIDEO_ID: entry.video_id,
      keys.FRAMES: np.stack([frame_io.resize_image(f, size) for f in frames]),
      keys.FRAME_NAMES: names,
      keys.FRAME_LABELS: labels,
      keys.ANNOTATED: np.ones(len(frames), bool),
      keys.INSTANCE_MAP: np.zeros((len(frames),) + size + (1,), np.uint16),
      **builder_config.empty_tracks(),
  }


def make_builder(data_dir: Optional[str], config: Optional[str] = None,
                 tfds_dir: Optional[str] = None,
                 **options) -> WsvisVideoFolder:
  """The builder for a video folder (labels read and checked now).

  Args:
    data_dir: the folder with the videos and the label file.
    config: a registered config name (default: 'default').
    tfds_dir: where TFDS writes the prepared dataset.
    **options: config field overrides, e.g. fps=5, frame_stride=2,
      max_frames=100, bad_frames='skip', labels_file='mine.csv'.
  """
  root = manual_dir.ManualDir(data_dir, MANUAL_DOWNLOAD_INSTRUCTIONS).root
  base = builder_config.resolve_config(WsvisVideoFolder, config, options)
  labels = label_file.read(root, base.labels_file)
  cfg = builder_config.resolve_config(
      WsvisVideoFolder, config, options,
      {'class_names': tuple(labels.class_names),
       'labels_fingerprint': labels.fingerprint()})
  return WsvisVideoFolder(config=cfg, data_dir=tfds_dir)


def prepare(data_dir: str, config: Optional[str] = None,
            tfds_dir: Optional[str] = None, **options) -> WsvisVideoFolder:
  """Builds (unless already built) and returns the dataset, offline."""
  builder = make_builder(data_dir, config, tfds_dir, **options)
  builder.download_and_prepare(
      download_config=builder_config.download_config(data_dir))
  return builder
