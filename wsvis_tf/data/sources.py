"""Video sources: the datasets the pipeline reads, by name.

A source wraps a TFDS builder whose examples are whole videos with the keys of
`wsvis_tf.core.keys`. `get_source('synthetic', data_dir)` is the embedded
default (procedural, no download); the real datasets ('ytvis',
'cityscapes', 'video_folder') are registered below and imported only when
asked for.
"""

import dataclasses
import importlib
from typing import Any, Callable, Dict, List, Optional

from absl import logging
import tensorflow as tf
import tensorflow_datasets as tfds

from wsvis_tf.core import keys

_SOURCES: Dict[str, Callable[..., 'VideoSource']] = {}


def register_source(name: str):
  """Decorator: registers a factory (data_dir, config, tfds_dir, **options).

  data_dir is what the user passed as --data_dir: for real datasets the
  directory holding the download (the TFDS manual dir); tfds_dir is where the
  prepared TFDS dataset is written (the pipeline uses <work_dir>/tfds). The
  synthetic source has no download and builds into data_dir. options
  override builder config fields (real datasets).
  """

  def wrap(factory):
    if name in _SOURCES:
      raise ValueError(f'video source {name!r} is registered twice')
    _SOURCES[name] = factory
    return factory

  return wrap


def source_names() -> List[str]:
  return sorted(_SOURCES)


@dataclasses.dataclass
class VideoSource:
  """A prepared-on-demand TFDS builder of per-video examples."""
  name: str
  builder: tfds.core.DatasetBuilder
  # How TFDS prepares the builder; real datasets point its manual_dir at the
  # user's download. None: TFDS's defaults.
  download_config: Optional[tfds.download.DownloadConfig] = None

  @property
  def class_names(self) -> List[str]:
    feature = self.builder.info.features[keys.TRACK_CLASSES]
    names = getattr(getattr(feature, 'feature', feature), 'names', None)
    if names is None:
      names = list((self.builder.info.metadata or {}).get('class_names', []))
    if not names:
      raise ValueError(f'dataset {self.builder.info.full_name} declares no '
                       'class names')
    return list(names)

  @property
  def splits(self) -> List[str]:
    return sorted(self.builder.info.splits.keys())

  def prepare(self) -> None:
    """Builds the dataset into its data_dir unless it is already there."""
    logging.info('Preparing %s in %s', self.builder.info.full_name,
                 self.builder.data_dir)
    self.builder.download_and_prepare(download_config=self.download_config)

  def num_videos(self, split: str) -> int:
    return self.builder.info.splits[split].num_examples

  def videos(self, split: str) -> tf.data.Dataset:
    """Per-video examples of a split, in a fixed order."""
    if split not in self.builder.info.splits:
      raise ValueError(f'dataset {self.builder.info.full_name} has no split '
                       f'{split!r}; it has {self.splits}')
    return self.builder.as_dataset(split=split, shuffle_files=False)


@register_source('synthetic')
def _synthetic_source(data_dir: Optional[str], config: Optional[str] = None,
                      tfds_dir: Optional[str] = None,
                      **options) -> VideoSource:
  if options:
    raise ValueError(f'the synthetic dataset takes no dataset options, got '
                     f'{sorted(options)}; choose a config instead')
  # Importing the module registers the TFDS builder.
  from datasets.synthetic import synthetic  # pylint: disable=g-import-not-at-top,unused-import
  builder = tfds.builder(f'wsvis_synthetic/{config or "default"}',
                         data_dir=data_dir or tfds_dir)
  return VideoSource('synthetic', builder)


def _manual_source(name: str, module, data_dir: Optional[str],
                   config: Optional[str], tfds_dir: Optional[str],
                   options) -> VideoSource:
  """A real dataset: TFDS reads the user's download in data_dir."""
  # make_builder checks data_dir now, so a missing download fails before any
  # stage runs (InputError, a ValueError naming what is missing).
  builder = module.make_builder(data_dir, config, tfds_dir, **options)
  download_config = tfds.download.DownloadConfig(manual_dir=data_dir,
                                                 try_download_gcs=False)
  return VideoSource(name, builder, download_config=download_config)


# Real datasets: the module of each builder, imported only when asked for
# (the import registers the TFDS builder). Options override builder config
# fields, e.g. fps=5.
_REAL_DATASETS = {
    'ytvis': 'datasets.ytvis.ytvis',
    'cityscapes': 'datasets.cityscapes_pairs.cityscapes_pairs',
    'video_folder': 'datasets.video_folder.video_folder',
}


def _register_real(name: str, module_name: str) -> None:

  @register_source(name)
  def factory(data_dir: Optional[str], config: Optional[str] = None,
              tfds_dir: Optional[str] = None, **options) -> VideoSource:
    module = importlib.import_module(module_name)
    return _manual_source(name, module, data_dir, config, tfds_dir, options)

  del factory


for _name, _module_name in _REAL_DATASETS.items():
  _register_real(_name, _module_name)


def get_source(name: str, data_dir: Optional[str],
               config: Optional[str] = None,
               tfds_dir: Optional[str] = None,
               options: Optional[Dict[str, Any]] = None) -> VideoSource:
  """Returns the named video source (builder not yet prepared).

  Args:
    name: a registered source ('synthetic', 'ytvis', 'cityscapes',
      'video_folder').
    data_dir, tfds_dir: see register_source.
    config: a builder config name (None: the builder's default).
    options: builder config field overrides (real datasets), e.g.
      {'bad_frames': 'skip', 'fps': 5}.
  """
  if name not in _SOURCES:
    raise ValueError(f'unknown dataset {name!r}; known: {source_names()}')
  return _SOURCES[name](data_dir, config, tfds_dir, **(options or {}))
