"""What the real-data builders share: config fields, features, options.

Every builder (ytvis, cityscapes_pairs, video_folder) declares the same
features as `wsvis_synthetic` (keys of `wsvis_tf.core.keys`), except that
frame sizes vary between videos (None) and frames are stored as JPEG, and
there is no GT_FLOW / GT_OCCLUSION.

Builder configs carry the frame-size caps and the bad-frame policy. A user
changes a field without writing code through options, e.g.
`run_pipeline.py --dataset_options=max_short_side=360,fps=5` (or
`--bad_frames=skip`): `with_options` derives a config whose name records the
overrides ('default+bad_frames.skip'), so each variant is prepared into its
own TFDS directory and a prepared dataset is never silently reused for a
different setting.
"""

import dataclasses
import hashlib
import inspect
import json
import re
from typing import (Any, Dict, Mapping, Optional, Sequence, Tuple, Type,
                    TypeVar)

from etils import epath
import numpy as np
import tensorflow_datasets as tfds

from datasets.real_video import frame_io
from datasets.real_video import manual_dir
from wsvis_tf.core import keys

# Fields a user may not override: TFDS bookkeeping, and fields a builder
# fills in itself (e.g. video_folder's class names, from the label file).
_BASE_FIELDS = frozenset(f.name for f in dataclasses.fields(
    tfds.core.BuilderConfig))
# Longest override value written into a config name as is; longer ones are
# hashed.
_MAX_NAME_VALUE = 24


@dataclasses.dataclass(eq=False)
class RealVideoConfig(tfds.core.BuilderConfig):
  """Fields shared by the real-data builder configs.

  Attributes:
    max_short_side: downscale so the short side is at most this (None: no
      cap). The paper runs inference at short side 480.
    max_long_side: downscale so the long side is at most this (None: no cap).
    height, width: resize every frame to exactly this size (both or
      neither; the aspect ratio is not kept and the caps are ignored). For
      stages that batch frames of different videos together (flow training
      needs one frame size).
    bad_frames: 'error' (stop at a frame that does not decode, naming it) or
      'skip' (drop it, log it, count it in the metadata).
  """
  max_short_side: Optional[int] = None
  max_long_side: Optional[int] = None
  height: Optional[int] = None
  width: Optional[int] = None
  bad_frames: str = 'error'

  # Fields set by the builder's factory, not by users.
  INTERNAL_FIELDS = frozenset()

  def validate(self) -> None:
    """Raises ValueError for an out-of-range field."""
    if self.bad_frames not in frame_io.BAD_FRAME_POLICIES:
      raise ValueError(f'bad_frames must be one of '
                       f'{frame_io.BAD_FRAME_POLICIES}, got '
                       f'{self.bad_frames!r}')
    for name in ('max_short_side', 'max_long_side', 'height', 'width'):
      value = getattr(self, name)
      if value is not None and (not isinstance(value, int) or value < 8):
        raise ValueError(f'{name} must be None or an int >= 8, got {value!r}')
    if (self.height is None) != (self.width is None):
      raise ValueError('give both height and width (a fixed frame size), or '
                       f'neither; got height={self.height}, '
                       f'width={self.width}')

  def frame_size(self, height: int, width: int) -> Tuple[int, int]:
    """(height, width) that a frame of this size is resized to."""
    if self.height is not None:
      return self.height, self.width
    return frame_io.scaled_size(height, width, self.max_short_side,
                                self.max_long_side)


Config = TypeVar('Config', bound=RealVideoConfig)


def option_names(config: RealVideoConfig) -> Sequence[str]:
  """The fields of a config that options may set."""
  return sorted(f.name for f in dataclasses.fields(config)
                if f.name not in _BASE_FIELDS
                and f.name not in type(config).INTERNAL_FIELDS)


def parse_option_value(text: str) -> Any:
  """'none' -> None, '480' -> 480, '2.5' -> 2.5, 'true' -> True, else text."""
  lowered = text.strip().lower()
  if lowered in ('none', 'null', ''):
    return None
  if lowered in ('true', 'false'):
    return lowered == 'true'
  for cast in (int, float):
    try:
      return cast(text)
    except ValueError:
      pass
  return text.strip()


def parse_options(items: Sequence[str]) -> Dict[str, Any]:
  """['fps=5', 'bad_frames=skip'] -> {'fps': 5, 'bad_frames': 'skip'}."""
  options = {}
  for item in items:
    if '=' not in item:
      raise ValueError(f'dataset option {item!r} is not key=value')
    key, value = item.split('=', 1)
    options[key.strip()] = parse_option_value(value)
  return options


def _name_part(key: str, value: Any) -> str:
  text = str(value)
  if len(text) > _MAX_NAME_VALUE or not re.fullmatch(r'[\w.\-]*', text):
    text = hashlib.sha256(
        json.dumps(value, sort_keys=True).encode()).hexdigest()[:10]
  return f'{key}.{text}'


def with_options(config: Config, options: Mapping[str, Any],
                 internal: Optional[Mapping[str, Any]] = None) -> Config:
  """A copy of a registered config with fields overridden.

  Args:
    config: the base config (its name starts the new name).
    options: user overrides; unknown or internal names are errors.
    internal: builder-set fields (e.g. class names), allowed to be internal.

  Returns:
    The base config itself when nothing changes; otherwise a new config named
    '<base>+<key>.<value>+...' (values that are long or not name-safe are
    hashed), which TFDS prepares into its own directory.
  """
  allowed = option_names(config)
  unknown = sorted(set(options) - set(allowed))
  if unknown:
    raise ValueError(f'unknown dataset option(s) {unknown} for '
                     f'{type(config).__name__}; known: {list(allowed)}')
  changes = dict(options)
  changes.update(internal or {})
  for key in list(changes):
    expected = getattr(config, key)
    value = changes[key]
    # An int option given where the default is a float (or None) is fine;
    # a str where an int belongs is not.
    if expected is not None and value is not None:
      if isinstance(expected, bool) != isinstance(value, bool) or (
          isinstance(expected, (int, float)) and
          not isinstance(value, (int, float))):
        raise ValueError(f'dataset option {key}={value!r}: expected a '
                         f'{type(expected).__name__}')
    if value == expected:
      del changes[key]
  if not changes:
    config.validate()
    return config
  parts = [_name_part(k, changes[k]) for k in sorted(changes)]
  described = ', '.join(f'{k}={changes[k]!r}' for k in sorted(changes)
                        if k in options)
  derived = dataclasses.replace(
      config, name='+'.join([config.name] + parts),
      description=f'{config.description} Options: {described or "-"}.',
      **changes)
  derived.validate()
  return derived


def resolve_config(builder_cls: Type[tfds.core.GeneratorBasedBuilder],
                   name: Optional[str], options: Mapping[str, Any],
                   internal: Optional[Mapping[str, Any]] = None
                  ) -> RealVideoConfig:
  """The registered config `name` (default if None) with options applied."""
  configs = {c.name: c for c in builder_cls.BUILDER_CONFIGS}
  name = name or builder_cls.DEFAULT_BUILDER_CONFIG_NAME
  if name not in configs:
    raise ValueError(f'{builder_cls.name} has no config {name!r}; known: '
                     f'{sorted(configs)}')
  return with_options(configs[name], options, internal)


def download_config(data_dir: str) -> tfds.download.DownloadConfig:
  """Points TFDS at the user's download (the manual dir), offline."""
  return tfds.download.DownloadConfig(manual_dir=data_dir,
                                      try_download_gcs=False)


def video_features(class_names: Sequence[str]) -> tfds.features.FeaturesDict:
  """The per-video features every real builder declares (see keys.py).

  Shapes: FRAMES [T, H, W, 3] uint8 (JPEG per frame), FRAME_NAMES [T],
  FRAME_LABELS [T, C] bool, ANNOTATED [T] bool, INSTANCE_MAP [T, H, W, 1]
  uint16 (PNG per frame), TRACK_IDS [N] int64, TRACK_CLASSES [N] ClassLabel;
  H and W vary between videos.
  """
  c = len(class_names)
  return tfds.features.FeaturesDict({
      keys.VIDEO_ID: tfds.features.Text(),
      keys.FRAMES: tfds.features.Video(shape=(None, None, None, 3),
                                       encoding_format='jpeg'),
      keys.FRAME_NAMES: tfds.features.Sequence(tfds.features.Text()),
      keys.FRAME_LABELS: tfds.features.Tensor(shape=(None, c),
                                              dtype=np.bool_),
      keys.ANNOTATED: tfds.features.Tensor(shape=(None,), dtype=np.bool_),
      keys.INSTANCE_MAP: tfds.features.Video(shape=(None, None, None, 1),
                                             dtype=np.uint16),
      keys.TRACK_IDS: tfds.features.Tensor(shape=(None,), dtype=np.int64),
      keys.TRACK_CLASSES: tfds.features.Sequence(
          tfds.features.ClassLabel(names=list(class_names))),
  })


def empty_tracks() -> Dict[str, np.ndarray]:
  """TRACK_IDS and TRACK_CLASSES of a video without instance ground truth."""
  return {keys.TRACK_IDS: np.zeros([0], np.int64),
          keys.TRACK_CLASSES: np.zeros([0], np.int64)}


def check_num_frames(num_frames: int, video: str, skipped: int = 0) -> None:
  """A video needs two frames to give a (t, t + delta) pair."""
  if num_frames >= 2:
    return
  why = f' after skipping {skipped} bad frame(s)' if skipped else ''
  raise manual_dir.InputError(
      f'video {video} has {num_frames} frame(s){why}; a video needs at least '
      '2 frames (training pairs frame t with t + delta). Remove it from the '
      'dataset.')


class RealVideoBuilder(tfds.core.GeneratorBasedBuilder):
  """The base of the real-data builders: version and where their code is.

  Abstract (no _split_generators / _generate_examples), so TFDS does not
  register it as a dataset.
  """

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'Initial release.'}
  DEFAULT_BUILDER_CONFIG_NAME = 'default'

  @tfds.core.utils.classproperty
  @classmethod
  def code_path(cls) -> epath.Path:
    # TFDS 4.9's own lookup imports `importlib_resources`, a package it does
    # not declare for Python >= 3.9; the subclass's module is what that
    # lookup finds.
    return epath.Path(inspect.getfile(cls))
