"""Frames per second of our SavedModel against tf-models' own export.

Both are exported from ONE checkpoint: ours with `export.export_saved_model`
(signature serving_image_tensor), tf-models' with
`official.vision.serving.export_saved_model_lib.export_inference_graph`
(input_type 'image_tensor', dynamic batch; its DetectionModule builds
tf-models' MaskRCNNModel with our registered `wsvis_resnet` backbone, which
it can: the backbone is in tf-models' factory registry). Both are loaded in
this process and fed the same uint8 batch, a few warm-up calls each, then
`rounds` rounds alternating ours and theirs, each call timed alone.

What each computes differs, and the table says so: tf-models' signature
returns boxes in canvas pixels and 28 x 28 box-relative mask probabilities
(its mask paste is numpy / OpenCV, outside the graph); ours maps boxes to
the image, drops detections below min_score and pastes binary masks at the
image's resolution in the graph; tf-models runs the mask head on all
max_num_detections slots of every image, padding included, ours on the
batch's detections only (MaskConsistModel.infer), which a random
initialisation, where every slot holds a detection, does not show. The
detections' scores are compared as a check that both restored the same
weights.

Ours suppresses with tf.image's greedy-NMS kernel (model config
`kernel_nms`, wsvis_tf/maskconsist/kernel_nms.py), tf-models' export with
its own TPU-friendly sorted NMS. So that the table shows what that choice
is worth, ours is also exported and timed with `kernel_nms` off
('ours, tf NMS': tf-models' NMS, everything else ours).
"""

import dataclasses
import os
import time
from typing import Dict, List, Optional

from absl import logging
import numpy as np
import tensorflow as tf
import tf_keras

from official.core import exp_factory
from official.vision.serving import export_saved_model_lib
from serving import export
from serving import model_source
from serving import signature_keys as sk
from serving import warmup
from wsvis_tf.maskconsist import task as task_lib

DEFAULT_EXPERIMENT = 'maskrcnn_pseudolabels_synthetic'
# tf-models' signature: its default key and input name.
TFMODELS_SIGNATURE = 'serving_default'
TFMODELS_INPUT = 'inputs'


@dataclasses.dataclass
class Timing:
  """Per-call seconds of one exported model."""
  name: str
  seconds: List[float]
  batch_size: int

  @property
  def fps(self) -> float:
    return self.batch_size * len(self.seconds) / sum(self.seconds)

  @property
  def median_ms(self) -> float:
    return 1000.0 * float(np.median(self.seconds))


def random_init_checkpoint(experiment: str, directory: str,
                           seed: int = 0) -> model_source.ModelSpec:
  """A randomly initialised model of a registered experiment, saved.

  The model is the task's (MaskConsistTask.build_model), with Keras'
  initialisers under `seed`; no backbone initialisation file is read.
  """
  params = exp_factory.get_exp_config(experiment)
  tf_keras.utils.set_random_seed(seed)
  model = task_lib.MaskConsistTask(params.task).build_model()
  checkpoint = tf.train.Checkpoint(model=model).save(
      os.path.join(directory, 'random_init', 'ckpt'))
  return model_source.resolve_model(experiment=experiment,
                                    checkpoint=checkpoint)


def frames(batch_size: int, height: int, width: int) -> np.ndarray:
  """[batch_size, height, width, 3] uint8 procedural frames."""
  return np.stack([warmup.warmup_image(height, width, seed=i)
                   for i in range(batch_size)])


def _timed(function, images) -> float:
  start = time.perf_counter()
  out = function(images)
  # Fetching every output: a call is only done when its results are.
  for value in out.values():
    value.numpy()
  return time.perf_counter() - start


def run(spec: model_source.ModelSpec, work_dir: str, batch_size: int = 1,
        rounds: int = 20, warmup_calls: int = 3) -> Dict[str, object]:
  """Exports both, times both (module docstring).

  Args:
    spec: The model.
    work_dir: Where both exports are written (ours/, tfmodels/).
    batch_size: Frames per call.
    rounds: Timed calls of each, alternating.
    warmup_calls: Untimed calls of each first.

  Returns:
    {'ours': Timing, 'tfmodels': Timing or None, 'tfmodels_error': str or
     None, 'max_score_diff': float or None, 'kept_detections': mean
     detections per image ours kept (and pasted) or None, 'input': [B, H,
     W], 'export_seconds': {'ours', 'tfmodels'}}.
  """
  input_size = list(spec.params.task.model.input_size[:2])
  images = tf.constant(frames(batch_size, *input_size))
  start = time.perf_counter()
  ours_dir = export.export_saved_model(spec, os.path.join(work_dir, 'ours'),
                                       overwrite=True)
  export_seconds = {'ours': time.perf_counter() - start}
  ours = tf.saved_model.load(ours_dir).signatures[sk.SERVING_IMAGE_TENSOR]
  tf_nms_spec = dataclasses.replace(spec, params=spec.params.replace())
  tf_nms_spec.params.task.model.kernel_nms = False
  ours_tf_nms = tf.saved_model.load(export.export_saved_model(
      tf_nms_spec, os.path.join(work_dir, 'ours_tf_nms'),
      overwrite=True)).signatures[sk.SERVING_IMAGE_TENSOR]
  result = {'input': [batch_size] + input_size, 'tfmodels': None,
            'tfmodels_error': None, 'max_score_diff': None,
            'kept_detections': None,
            'export_seconds': export_seconds}
  theirs = None
  start = time.perf_counter()
  try:
    # tf-models' export mutates params (nms_version for dynamic batches).
    params = spec.params.replace()
    tfm_dir = os.path.join(work_dir, 'tfmodels')
    export_saved_model_lib.export_inference_graph(
        input_type='image_tensor', batch_size=None, input_image_size=input_size,
        params=params, checkpoint_path=spec.checkpoint, export_dir=tfm_dir)
    theirs = tf.saved_model.load(tfm_dir).signatures[TFMODELS_SIGNATURE]
    export_seconds['tfmodels'] = time.perf_counter() - start
  except Exception as e:  # pylint: disable=broad-except
    # Reported, not hidden: the table then compares with nothing.
    logging.exception('tf-models export failed')
    result['tfmodels_error'] = f'{type(e).__name__}: {e}'

  def call_ours(x):
    return ours(**{sk.INPUT_IMAGES: x})

  def call_ours_tf_nms(x):
    return ours_tf_nms(**{sk.INPUT_IMAGES: x})

  def call_theirs(x):
    return theirs(**{TFMODELS_INPUT: x})

  for _ in range(warmup_calls):
    _timed(call_ours, images)
    _timed(call_ours_tf_nms, images)
    if theirs is not None:
      _timed(call_theirs, images)
  timings = {'ours': [], 'ours_tf_nms': [], 'tfmodels': []}
  for _ in range(rounds):
    timings['ours'].append(_timed(call_ours, images))
    timings['ours_tf_nms'].append(_timed(call_ours_tf_nms, images))
    if theirs is not None:
      timings['tfmodels'].append(_timed(call_theirs, images))
  result['ours'] = Timing('ours', timings['ours'], batch_size)
  result['ours_tf_nms'] = Timing('ours, tf NMS', timings['ours_tf_nms'],
                                 batch_size)
  if theirs is not None:
    result['tfmodels'] = Timing('tfmodels', timings['tfmodels'], batch_size)
    a = call_ours_tf_nms(images)
    b = call_theirs(images)
    # Same weights, same canvas, same NMS: the same scores, where ours
    # kept them.
    n = a[sk.NUM_DETECTIONS].numpy()
    result['max_score_diff'] = max(
        [float(np.max(np.abs(a[sk.DETECTION_SCORES][i, :n[i]].numpy() -
                             b['detection_scores'][i, :n[i]].numpy())))
         for i in range(batch_size) if n[i]] or [0.0])
  # Greedy NMS against tf-models' (kernel_nms.py): images whose kept
  # detections are the same.
  a, b = call_ours(images), call_ours_tf_nms(images)
  n = a[sk.NUM_DETECTIONS].numpy()
  result['kept_detections'] = float(np.mean(n))
  result['same_as_tf_nms'] = sum(
      int(n[i] == b[sk.NUM_DETECTIONS][i] and np.allclose(
          a[sk.DETECTION_SCORES][i, :n[i]], b[sk.DETECTION_SCORES][i, :n[i]],
          atol=1e-5)) for i in range(batch_size))
  return result


def table(result: Dict[str, object], source: str) -> str:
  """The human-readable report."""
  b, h, w = result['input']
  lines = [f'model: {source}',
           f'input: {b} x {h} x {w} x 3 uint8 per call, both signatures on '
           'image tensors',
           f'{"export":<13s} {"fps":>8s} {"median ms":>10s} {"calls":>6s}  '
           'computes']
  rows = [(result['ours'], 'boxes in image pixels, min_score filter, masks '
           'pasted at image size (in graph); greedy-NMS kernel'),
          (result['ours_tf_nms'], 'the same with tf-models\' sorted NMS '
           '(kernel_nms off)')]
  if result['tfmodels'] is not None:
    rows.append((result['tfmodels'], 'boxes in canvas pixels, 28 x 28 box '
                 'masks (no paste)'))
  for timing, what in rows:
    lines.append(f'{timing.name:<13s} {timing.fps:8.2f} '
                 f'{timing.median_ms:10.1f} {len(timing.seconds):6d}  {what}')
  if result['tfmodels_error']:
    lines.append(f'tf-models export failed: {result["tfmodels_error"]}')
  if result['max_score_diff'] is not None:
    lines.append('max |score ours, tf NMS - score tf-models| on kept '
                 f'detections: {result["max_score_diff"]:.2e}')
  lines.append(f'kept (and pasted) per image: {result["kept_detections"]:.1f}'
               f'; the same detections with either NMS on '
               f'{result["same_as_tf_nms"]} of {b} images')
  lines.append('export seconds: ' + ', '.join(
      f'{k} {v:.1f}' for k, v in result['export_seconds'].items()))
  return '\n'.join(lines)


def result_line(result: Dict[str, object]) -> str:
  ours = result['ours'].fps
  tf_nms = result['ours_tf_nms'].fps
  theirs: Optional[Timing] = result['tfmodels']
  if theirs is None:
    return (f'RESULT ours_fps={ours:.3f} tfmodels_fps=nan ratio=nan '
            f'ours_tf_nms_fps={tf_nms:.3f} ratio_tf_nms=nan')
  return (f'RESULT ours_fps={ours:.3f} tfmodels_fps={theirs.fps:.3f} '
          f'ratio={ours / theirs.fps:.3f} ours_tf_nms_fps={tf_nms:.3f} '
          f'ratio_tf_nms={tf_nms / theirs.fps:.3f}')
