"""Video sources: the datasets the pipeline reads, by name.

A source wraps a TFDS builder whose examples are whole videos with the keys of
`wsvis_tf.core.keys`. `get_source('synthetic', data_dir)` is the embedded
default (procedural, no download); the real-data builders register
themselves here with `register_source`.
"""

import dataclasses
from typing import Callable, Dict, List, Optional

from absl import logging
import tensorflow as tf
import tensorflow_datasets as tfds

from wsvis_tf.core import keys

_SOURCES: Dict[str, Callable[..., 'VideoSource']] = {}


def register_source(name: str):
  """Decorator: registers a factory (data_dir, config, tfds_dir) -> source.

  data_dir is what the user passed as --data_dir: for real datasets the
  directory holding the download (the TFDS manual dir); tfds_dir is where the
  prepared TFDS dataset is written (the pipeline uses <work_dir>/tfds). The
  synthetic source has no download and builds into data_dir.
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
    self.builder.download_and_prepare()

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
                      tfds_dir: Optional[str] = None) -> VideoSource:
  # Importing the module registers the TFDS builder.
  from datasets.synthetic import synthetic  # pylint: disable=g-import-not-at-top,unused-import
  builder = tfds.builder(f'wsvis_synthetic/{config or "default"}',
                         data_dir=data_dir or tfds_dir)
  return VideoSource('synthetic', builder)


def get_source(name: str, data_dir: Optional[str],
               config: Optional[str] = None,
               tfds_dir: Optional[str] = None) -> VideoSource:
  """Returns the named video source (builder not yet prepared)."""
  if name not in _SOURCES:
    raise ValueError(f'unknown dataset {name!r}; known: {source_names()}')
  return _SOURCES[name](data_dir, config, tfds_dir)
