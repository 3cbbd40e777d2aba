"""Multi-scale, flipped CAM extraction (IRN: step/make_cam.py).

For a frame of size H x W and its image-level labels:

  1. at each scale s in (1.0, 0.5, 1.5, 2.0) the frame is resized to
     round(sH) x round(sW) and run through the CAM network together with its
     horizontal flip (IRN: CAM.forward);
  2. each stride-16 map is upsampled bilinearly to H x W, and the flipped
     copy's upsampled map is flipped back and added (IRN adds x[0] +
     x[1].flip(-1));
  3. the maps are summed over the scales; `high_res` is that H x W sum and
     `cam` its stride-4 grid: cam[k, i, j] = high_res[k, 4i, 4j], of size
     (ceil(H/4), ceil(W/4)) (IRN: get_strided_size);
  4. only the frame's label classes are kept, and each class map is divided
     by its maximum (+1e-5), so its peak is ~1.

Geometry (differs from IRN on purpose): with this backbone's padding, cell i
of a stride-16 map is centred on input pixel 16 i (stride-4 cells on 4 i).
IRN upsamples with torch's align_corners=False, which puts cell i at pixel
16 i + 7.5: a 7.5 pixel shift down and right, halved horizontally by the
flip sum but not vertically. That is small at IRN's 500 px images but a
quarter of an object at 128 px frames, so here each map is resampled with
its cells at the pixels they are centred on (tf ScaleAndTranslate), and the
flipped branch is flipped after upsampling, where a flip is exact.

A result is a dict of numpy arrays, also the per-frame npz format of the
'cam' stage:

  keys      [K] int32      0-based class indices of the frame's labels,
                           ascending
  cam       [K, ceil(H/4), ceil(W/4)] float (float16 on disk)
  high_res  [K, H, W] float (float16 on disk)

A frame without labels is an error unless the caller passes allow_empty, in
which case K = 0 (arrays [0, h, w]): the frame is all background.

`agreement_cams` combines several models' CAMs of one frame (the 'cam'
stage's `combine: 'min'` over the cross-fitted models): the per-location
minimum of their normalised maps, not normalised again, so a location keeps
a class only as far as every model sees it there (a class the models place
in different parts of the frame keeps a low peak instead of being blown up
to 1 by a second normalisation).
"""

import io
import os
from typing import Dict, Sequence, Tuple

import numpy as np
import tensorflow as tf

from wsvis_tf.backbones import resnet
from wsvis_tf.cam import model as model_lib
from wsvis_tf.core import atomic_io

NPZ_KEYS = 'keys'
NPZ_CAM = 'cam'
NPZ_HIGH_RES = 'high_res'
CAM_STRIDE = 4
_NORM_EPS = 1e-5  # IRN: / (max + 1e-5)


def strided_size(size: Tuple[int, int], stride: int) -> Tuple[int, int]:
  """(ceil(H / stride), ceil(W / stride)) (IRN: get_strided_size)."""
  return (-(-size[0] // stride), -(-size[1] // stride))


def label_keys(labels: np.ndarray, num_classes: int) -> np.ndarray:
  """[K] int32 class indices of a [C] multi-hot label vector.

  Raises:
    ValueError: labels is not a vector of num_classes entries (a label map
      other than the model's).
  """
  labels = np.asarray(labels)
  if labels.ndim != 1 or labels.shape[0] != num_classes:
    raise ValueError(f'labels must be a multi-hot vector of the model\'s '
                     f'{num_classes} classes, got shape {labels.shape}: the '
                     'frame labels use another label map')
  return np.flatnonzero(labels > 0.5).astype(np.int32)


def upsample_cams(cams: tf.Tensor, full_size: tf.Tensor,
                  input_size: tf.Tensor,
                  stride: int = resnet.OUTPUT_STRIDE) -> tf.Tensor:
  """Bilinear upsampling of stride-s maps with cell i centred on pixel s i.

  Args:
    cams: [N, h, w, C] maps of an input of size input_size (a frame resized
      from full_size by a = input_size / full_size per axis).
    full_size: [2] int32 (H, W), the output size.
    input_size: [2] int32 (h', w'), the size the network saw.
    stride: s, the maps' stride in the network input.

  Returns:
    [N, H, W, C] float32. Output pixel y samples map coordinate
    ((y + 0.5) a - 0.5) / s, i.e. the map cell centred on the input pixel
    that y was resized to.
  """
  a = tf.cast(input_size, tf.float32) / tf.cast(full_size, tf.float32)
  # ScaleAndTranslate samples input coordinate (y + 0.5 - t) / k - 0.5;
  # equating it with ((y + 0.5) a - 0.5) / s gives k and t.
  k = stride / a
  t = -(stride - 1) / (2.0 * a)
  return tf.raw_ops.ScaleAndTranslate(
      images=tf.cast(cams, tf.float32), size=full_size, scale=k,
      translation=t, kernel_type='triangle', antialias=False)


class CamExtractor:
  """Computes IRN's `cam` / `high_res` maps of single frames with a CamNet."""

  def __init__(self, model: model_lib.CamNet,
               scales: Sequence[float] = (1.0, 0.5, 1.5, 2.0),
               flip: bool = True):
    if not scales or min(scales) <= 0:
      raise ValueError(f'scales must be positive, got {scales}')
    self.model = model
    self.scales = tuple(float(s) for s in scales)
    self.flip = flip

    @tf.function(input_signature=[
        tf.TensorSpec([None, None, 3], tf.float32),
        tf.TensorSpec([2], tf.int32)])
    def scale_cam(image, full_size):
      """[h', w', 3] resized frame -> [H, W, C] CAM sum over the flip."""
      batch = image[tf.newaxis]
      if self.flip:
        batch = tf.concat([batch, tf.reverse(batch, axis=[2])], axis=0)
      cams = self.model(batch, training=False)[model_lib.CAMS]
      up = upsample_cams(cams, full_size, tf.shape(image)[:2])
      out = up[0]
      if self.flip:
        out += tf.reverse(up[1], axis=[1])
      return out

    self._scale_cam = scale_cam

  @property
  def num_classes(self) -> int:
    return self.model.num_classes

  def __call__(self, image: np.ndarray, labels: np.ndarray,
               allow_empty: bool = False) -> Dict[str, np.ndarray]:
    """CAMs of one frame.

    Args:
      image: [H, W, 3] uint8 (or float in [0, 255]) RGB frame.
      labels: [C] multi-hot frame labels over the model's classes.
      allow_empty: Return K = 0 maps for a frame without labels instead of
        raising.

    Returns:
      {NPZ_KEYS [K] int32, NPZ_CAM [K, ceil(H/4), ceil(W/4)] float32,
       NPZ_HIGH_RES [K, H, W] float32}; see the module docstring.

    Raises:
      ValueError: a frame without labels (unless allow_empty), labels of
        another label map, or an image that is not [H, W, 3].
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3:
      raise ValueError(f'image must be [H, W, 3], got {image.shape}')
    valid = label_keys(labels, self.num_classes)
    h, w = image.shape[:2]
    small = strided_size((h, w), CAM_STRIDE)
    if valid.size == 0:
      if not allow_empty:
        raise ValueError('the frame has no class labels: CAMs are only '
                         'defined for labelled classes (pass allow_empty=True '
                         'to get an explicit empty result)')
      return {NPZ_KEYS: valid,
              NPZ_CAM: np.zeros((0,) + small, np.float32),
              NPZ_HIGH_RES: np.zeros((0, h, w), np.float32)}
    frame = tf.constant(image, tf.float32)
    high_sum = tf.zeros((h, w, self.num_classes))
    for s in self.scales:
      size = (max(int(round(h * s)), 1), max(int(round(w * s)), 1))
      if size == (h, w):
        scaled = frame
      else:
        # IRN: skimage rescale, order 3 with anti-aliasing.
        scaled = tf.clip_by_value(tf.image.resize(
            frame, size, method='bicubic', antialias=True), 0.0, 255.0)
      high_sum += self._scale_cam(scaled, tf.constant([h, w], tf.int32))
    high = tf.gather(tf.transpose(high_sum, [2, 0, 1]), valid).numpy()
    cam = high[:, ::CAM_STRIDE, ::CAM_STRIDE].copy()
    cam /= cam.max(axis=(1, 2), keepdims=True) + _NORM_EPS
    high /= high.max(axis=(1, 2), keepdims=True) + _NORM_EPS
    return {NPZ_KEYS: valid, NPZ_CAM: cam, NPZ_HIGH_RES: high}


def agreement_cams(results: Sequence[Dict[str, np.ndarray]]
                  ) -> Dict[str, np.ndarray]:
  """The per-location minimum of several models' CAMs of one frame.

  Args:
    results: CamExtractor outputs for the same frame and labels (same keys
      and shapes), each class map with its peak at ~1.

  Returns:
    One result of the same format: for `cam` and `high_res`, the minimum
    over the results (each class map's peak is at most ~1, and below it
    where the models' peaks do not coincide).

  Raises:
    ValueError: no results, or results of different classes or shapes.
  """
  if not results:
    raise ValueError('agreement_cams needs at least one CAM result')
  first = np.asarray(results[0][NPZ_KEYS])
  for i, r in enumerate(results[1:], 1):
    if not np.array_equal(np.asarray(r[NPZ_KEYS]), first):
      raise ValueError(f'CAM result {i} has classes '
                       f'{np.asarray(r[NPZ_KEYS]).tolist()}, result 0 has '
                       f'{first.tolist()}')
    for key in (NPZ_CAM, NPZ_HIGH_RES):
      if np.shape(r[key]) != np.shape(results[0][key]):
        raise ValueError(f'CAM result {i} has {key} of shape '
                         f'{np.shape(r[key])}, result 0 '
                         f'{np.shape(results[0][key])}')
  out = {NPZ_KEYS: first}
  for key in (NPZ_CAM, NPZ_HIGH_RES):
    out[key] = np.min(np.stack([np.asarray(r[key], np.float32)
                                for r in results]), axis=0)
  return out


def frame_stem(frame_name: str) -> str:
  """'00005.jpg' -> '00005': the npz / png name of a frame."""
  return os.path.splitext(os.path.basename(frame_name))[0]


def cam_path(root: str, video_id: str, frame_name: str) -> str:
  """<root>/<video_id>/<frame stem>.npz."""
  return os.path.join(root, video_id, frame_stem(frame_name) + '.npz')


def save_cams(path: str, cams: Dict[str, np.ndarray]) -> None:
  """Writes a CamExtractor result atomically (maps as float16)."""
  atomic_io.write_npz(
      path, **{NPZ_KEYS: np.asarray(cams[NPZ_KEYS], np.int32),
               NPZ_CAM: np.asarray(cams[NPZ_CAM], np.float16),
               NPZ_HIGH_RES: np.asarray(cams[NPZ_HIGH_RES], np.float16)})


def load_cams(path: str) -> Dict[str, np.ndarray]:
  """Reads a per-frame npz; maps as float32."""
  with open(path, 'rb') as f:
    data = np.load(io.BytesIO(f.read()))
    return {NPZ_KEYS: data[NPZ_KEYS].astype(np.int32),
            NPZ_CAM: data[NPZ_CAM].astype(np.float32),
            NPZ_HIGH_RES: data[NPZ_HIGH_RES].astype(np.float32)}


def dense_cams(cams: Dict[str, np.ndarray], num_classes: int,
               key: str = NPZ_HIGH_RES) -> np.ndarray:
  """[C, h, w] maps with zeros for the classes absent from the frame."""
  maps = cams[key]
  out = np.zeros((num_classes,) + maps.shape[1:], maps.dtype)
  out[cams[NPZ_KEYS]] = maps
  return out

