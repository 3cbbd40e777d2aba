"""TFDS builder `wsvis_synthetic`: the embedded default dataset, no download.

One example per video, with the keys of `wsvis_tf.core.keys` (frames, frame
names and class labels for training; instance maps, tracks, exact flow and
occlusion for evaluation only). Videos come from `render.render_video`, each
from its own generator seeded by (config seed, split, index), so a build is
deterministic and a video does not depend on how many others are built.

Configs:
  default  4 classes, 128x160, 20 frames, 32 train + 8 validation videos.
           About 8 s to build on 2 CPU cores (rendering is ~0.1 s a video,
           TFDS encoding the rest); 28 MB on disk.
  tiny     4 classes, 64x80, 6 frames, 4 train + 2 validation videos, for
           tests: builds in ~3 s.

Build it, e.g.:
  python -c "from datasets.synthetic import synthetic; \
    synthetic.prepare('default', '/tmp/tfds')"
"""

import dataclasses
from typing import Iterator, List, Optional, Tuple

from etils import epath
import numpy as np
import tensorflow_datasets as tfds

from datasets.synthetic import render as render_lib
from wsvis_tf.core import keys

_SPLITS = (('train', 'num_train'), ('validation', 'num_validation'))


@dataclasses.dataclass(eq=False)
class WsvisSyntheticConfig(tfds.core.BuilderConfig):
  """A family of procedural videos and how many of them each split holds."""
  render: render_lib.RenderConfig = dataclasses.field(
      default_factory=render_lib.RenderConfig)
  num_train: int = 32
  num_validation: int = 8


DEFAULT_CONFIG = WsvisSyntheticConfig(
    name='default',
    description='The embedded default: 4 classes, 128x160, 20 frames, '
    '32 train + 8 validation videos, 1-4 instances each.',
    render=render_lib.RenderConfig(),
    num_train=32,
    num_validation=8,
)

TINY_CONFIG = WsvisSyntheticConfig(
    name='tiny',
    description='For tests: 64x80, 6 frames, 4 train + 2 validation videos.',
    render=render_lib.RenderConfig(
        height=64, width=80, num_frames=6, object_speed=(0.8, 2.0),
        camera_speed=(0.1, 0.4), min_visible_pixels=8, seed=1),
    num_train=4,
    num_validation=2,
)


class WsvisSynthetic(tfds.core.GeneratorBasedBuilder):
  """Procedural videos for weakly supervised video instance segmentation."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'Initial release.'}
  BUILDER_CONFIGS = [DEFAULT_CONFIG, TINY_CONFIG]
  DEFAULT_BUILDER_CONFIG_NAME = 'default'

  @tfds.core.utils.classproperty
  @classmethod
  def code_path(cls) -> epath.Path:
    # TFDS 4.9's own lookup imports `importlib_resources`, a package it does
    # not declare for Python >= 3.9; this file is what that lookup finds.
    return epath.Path(__file__)

  def _info(self) -> tfds.core.DatasetInfo:
    cfg = self.builder_config.render
    h, w, c = cfg.height, cfg.width, cfg.num_classes
    zlib = tfds.features.Encoding.ZLIB
    return self.dataset_info_from_configs(
        description='Procedural videos: textured objects whose class shows '
        'only on a small part, entering, leaving and passing behind an '
        'occluder, same-class pairs in contact with different motion, a '
        'drifting camera. Exact instance masks, tracks, flow, occlusion.',
        features=tfds.features.FeaturesDict({
            keys.VIDEO_ID: tfds.features.Text(),
            keys.FRAMES: tfds.features.Video(shape=(None, h, w, 3)),
            keys.FRAME_NAMES: tfds.features.Sequence(tfds.features.Text()),
            keys.FRAME_LABELS: tfds.features.Tensor(shape=(None, c),
                                                    dtype=np.bool_),
            keys.ANNOTATED: tfds.features.Tensor(shape=(None,),
                                                 dtype=np.bool_),
            keys.INSTANCE_MAP: tfds.features.Video(shape=(None, h, w, 1),
                                                   dtype=np.uint16),
            keys.TRACK_IDS: tfds.features.Tensor(shape=(None,),
                                                 dtype=np.int64),
            keys.TRACK_CLASSES: tfds.features.Sequence(
                tfds.features.ClassLabel(names=render_lib.class_names(cfg))),
            keys.GT_FLOW: tfds.features.Tensor(shape=(None, h, w, 2),
                                               dtype=np.float16,
                                               encoding=zlib),
            keys.GT_OCCLUSION: tfds.features.Tensor(shape=(None, h, w),
                                                    dtype=np.bool_,
                                                    encoding=zlib),
        }),
        supervised_keys=None,
        homepage=None,
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    del dl_manager  # Procedural: nothing to download.
    return {split: self._generate_examples(split)
            for split, _ in _SPLITS}

  def _generate_examples(self, split: str) -> Iterator[Tuple[str, dict]]:
    for video_id, example in generate_videos(self.builder_config, split):
      yield video_id, example


def _first_video_number(config: WsvisSyntheticConfig, split: str) -> int:
  """Dataset-wide number of a split's first video (for unique track ids)."""
  number = 0
  for name, attr in _SPLITS:
    if name == split:
      return number
    number += getattr(config, attr)
  raise ValueError(f'unknown split {split!r}')


def generate_videos(config: WsvisSyntheticConfig,
                    split: str) -> Iterator[Tuple[str, dict]]:
  """Yields (video id, example) of a split without TFDS, e.g. for tests.

  The example is render.render_video's dict plus VIDEO_ID; track ids are
  unique across the splits of the config.
  """
  count = dict((name, getattr(config, attr)) for name, attr in _SPLITS)[split]
  first = _first_video_number(config, split)
  for index in range(count):
    video_id = f'syn_{split}_{index:04d}'
    example = render_lib.render_video(
        config.render, render_lib.video_rng(config.render.seed, split, index),
        track_id_base=(first + index) * render_lib.TRACK_STRIDE)
    example[keys.VIDEO_ID] = video_id
    example[keys.GT_FLOW] = example[keys.GT_FLOW].astype(np.float16)
    yield video_id, example


def class_names(builder: tfds.core.DatasetBuilder) -> List[str]:
  """The class names of a wsvis_synthetic builder, in class-index order."""
  return list(builder.info.features[keys.TRACK_CLASSES].feature.names)


def prepare(config_name: str = 'default',
            data_dir: Optional[str] = None) -> WsvisSynthetic:
  """Builds (unless already built) and returns the dataset, offline."""
  builder = WsvisSynthetic(config=config_name, data_dir=data_dir)
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(try_download_gcs=False))
  return builder
