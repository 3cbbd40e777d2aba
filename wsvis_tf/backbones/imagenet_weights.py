"""Loads ImageNet weights into a backbone from a file the user already has.

Nothing is downloaded. The accepted format is a Keras HDF5 weights file with
keras.applications.ResNet50's layer names, e.g. the file Keras itself caches
as `~/.keras/models/resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5`
(with or without the top; the classifier layer is ignored), or any file
written by `tf_keras.Model.save_weights('x.h5')` / `Model.save('x.h5')` of a
ResNet with those names (our `resnet.build_resnet` models included). Both the
legacy layout (`layer_names` attribute, one group per layer) and a full-model
file (the same under `model_weights`) are read.

Weights are matched by layer name; every backbone layer that has weights must
be found in the file with the same shapes, otherwise a ValueError lists what
is missing or mismatched (a ResNet-50 file into 'resnet_tiny', say). Layers
of the file that the backbone lacks are ignored. `check_weights_file` runs
the same checks on the names and shapes alone, reading no weight values, so
that a binary can refuse a wrong file before hours of earlier stages.
"""

import functools
import os
from typing import Dict, List, Optional, Sequence, Tuple

from absl import logging
import h5py
import numpy as np
import tf_keras

from wsvis_tf.backbones import resnet


def _decode(names) -> List[str]:
  return [n.decode('utf-8') if isinstance(n, bytes) else str(n)
          for n in names]


def _missing_file_message(path: str) -> str:
  return (f'ImageNet weights file {path!r} does not exist. Give the path of a '
          'Keras HDF5 ResNet-50 weights file (e.g. '
          'resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5); nothing is '
          'downloaded.')


def _read(path: str, values: bool):
  """{layer name: [arrays, or their shapes if not values]} of a Keras h5."""
  if not os.path.exists(path):
    raise FileNotFoundError(_missing_file_message(path))
  try:
    f = h5py.File(path, 'r')
  except OSError as e:
    raise ValueError(f'{path!r} is not an HDF5 weights file: {e}') from e
  with f:
    group = f['model_weights'] if 'model_weights' in f else f
    if 'layer_names' not in group.attrs:
      raise ValueError(
          f'{path!r} is HDF5 but not a Keras 2 weights file (no layer_names '
          'attribute); Keras 3 ".weights.h5" files are not supported: save '
          'the model with tf_keras or use the keras.applications file.')
    out = {}
    for name in _decode(group.attrs['layer_names']):
      layer_group = group[name]
      weight_names = _decode(layer_group.attrs.get('weight_names', []))
      if weight_names:
        out[name] = [np.asarray(layer_group[w]) if values
                     else tuple(layer_group[w].shape) for w in weight_names]
  return out


def read_keras_h5(path: str) -> Dict[str, List[np.ndarray]]:
  """{layer name: [arrays in the layer's weight order]} of a Keras h5 file."""
  return _read(path, values=True)


def _fit_error(path: str, backbone: tf_keras.Model,
               stored_shapes: Dict[str, Sequence[Tuple[int, ...]]]
              ) -> Optional[ValueError]:
  """None if every weighted backbone layer is in the file, same shapes."""
  missing, mismatched = [], []
  for layer in backbone.layers:
    if not layer.weights:
      continue
    if layer.name not in stored_shapes:
      missing.append(layer.name)
      continue
    want = [tuple(w.shape) for w in layer.weights]
    got = [tuple(s) for s in stored_shapes[layer.name]]
    if want != got:
      mismatched.append(f'{layer.name}: backbone {want}, file {got}')
  if not missing and not mismatched:
    return None
  details = []
  if missing:
    details.append(f'{len(missing)} layers missing from the file (e.g. '
                   f'{missing[:4]})')
  if mismatched:
    details.append(f'{len(mismatched)} with other shapes (e.g. '
                   f'{mismatched[:3]})')
  return ValueError(f'ImageNet weights file {path!r} does not fit backbone '
                    f'{backbone.name!r}: ' + '; '.join(details) + '. It '
                    'must hold keras.applications.ResNet50 layer names for '
                    'the same architecture.')


def load_imagenet_weights(backbone: tf_keras.Model, path: str) -> int:
  """Copies the file's weights into backbone by layer name.

  Args:
    backbone: A model from resnet.build_resnet (built: it has an Input).
    path: The HDF5 weights file (see module docstring).

  Returns:
    The number of layers loaded.

  Raises:
    FileNotFoundError: path does not exist.
    ValueError: the file is not a Keras weights file, or lacks a backbone
      layer, or holds it with other shapes.
  """
  stored = read_keras_h5(path)
  error = _fit_error(path, backbone, {
      name: [a.shape for a in arrays] for name, arrays in stored.items()})
  if error is not None:
    raise error
  assignments = [(layer, stored[layer.name]) for layer in backbone.layers
                 if layer.weights]
  for layer, arrays in assignments:
    layer.set_weights(arrays)
  logging.info('Loaded ImageNet weights of %d layers from %s',
               len(assignments), path)
  return len(assignments)


@functools.lru_cache(maxsize=8)
def _check(path: str, backbone_name: str, size: int, mtime: float) -> None:
  del size, mtime  # Cache keys only: a rewritten file is checked again.
  error = _fit_error(path, resnet.build_resnet(backbone_name),
                     _read(path, values=False))
  if error is not None:
    raise error


def check_weights_file(path: str, backbone_name: str = 'resnet50') -> None:
  """Checks that load_imagenet_weights would accept the file, reading no values.

  Builds the backbone (a few seconds for ResNet-50) and compares its layer
  names and weight shapes with the file's. Results are cached per file
  path, size and modification time.

  Args:
    path: The HDF5 weights file.
    backbone_name: A resnet.SPECS name.

  Raises:
    ValueError: the file does not exist, is not a Keras HDF5 weights file,
      or does not fit the backbone (the message names the file).
  """
  if not os.path.isfile(path):
    raise ValueError(_missing_file_message(path))
  stat = os.stat(path)
  _check(os.path.abspath(path), backbone_name, stat.st_size, stat.st_mtime)
