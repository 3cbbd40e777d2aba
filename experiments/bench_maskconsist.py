r"""Benchmark: a MaskConsist train step against a plain Mask R-CNN one.

  .venv/bin/python experiments/bench_maskconsist.py            # ResNet-50 FPN
  .venv/bin/python experiments/bench_maskconsist.py --config=quick

Same model (one set of weights), same batch of frame pairs, same image size;
after a warm-up the two steps alternate, so machine load hits both alike.
The default is the paper's model at a moderate size: ResNet-50 FPN on
384 x 512 inputs, one frame pair (2 images) per step, random weights (no
ImageNet file is needed to time a step). --config=quick times the quick
preset's experiment (maskconsist_synthetic) instead.

The paper says MaskConsist adds no forward or backward pass: here the
backbone, FPN and RPN run once (MaskConsistModel.shared_forward) and the
current predictions come from the inference head on those features. What a
MaskConsist step adds is the detection head's inference path on both frames,
pasting the predicted masks onto the matching canvas, the matching itself
(numpy, in one tf.py_function) and re-encoding the merged labels. The table
times those parts apart, each as its own tf.function on the same batch:

  shared forward   backbone + FPN + RPN of both frames (training mode)
  predictions      detection + mask head inference, paste, binarise;
                   split into the box head on the test-mode proposals with
                   the detection generator (MaskConsistModel.detect_boxes),
                   the mask head on the detections (detect_masks) and the
                   paste
  matching         matching_op.consistent_labels_batch (the numpy body)
  re-encoding      merged labels -> boxes, classes, box masks, RPN targets
  rest             heads in training mode, losses, backward, optimizer
                   (the full step minus the parts above)

By default every step matches the full top-100 (--all_detections: the
detection score threshold is 0, so a random model still yields 100
predictions per frame): the worst case, not the average of a real run, where
predictions under the 0.05 score are fewer. The labels are the procedural
data's ground-truth masks and the flow is zero; neither changes the amount
of work (the warp, IoU and matching costs depend on the numbers of masks and
pixels, not on their values).

Last line: RESULT plain_s=<s> maskconsist_s=<s> ratio=<maskconsist/plain>
box_head_s=<s> mask_head_s=<s>
"""

import os
import statistics
import tempfile
import time
from typing import Any, Callable, Dict, List, Tuple

from absl import flags
from absl import logging
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from official.core import exp_factory
from official.core import train_utils
from official.modeling import hyperparams
from wsvis_tf.core import atomic_io
from wsvis_tf.core import entry_point
from wsvis_tf.core import keys as core_keys
from wsvis_tf.data import gt_export
from wsvis_tf.data import sources
from wsvis_tf.flow import extract as flow_extract
from wsvis_tf.flow import flow_store
from wsvis_tf.maskconsist import config as config_lib
from wsvis_tf.maskconsist import experiments  # pylint: disable=unused-import
from wsvis_tf.maskconsist import matching_op
from wsvis_tf.maskconsist import task as task_lib

CONFIGS = ('resnet50', 'quick')
_CONFIG = flags.DEFINE_enum(
    'config', 'resnet50', CONFIGS,
    'resnet50: ResNet-50 FPN (the paper\'s model) at --height x --width; '
    'quick: the quick preset\'s maskconsist_synthetic experiment.')
_HEIGHT = flags.DEFINE_integer('height', 384, 'Input height (resnet50).')
_WIDTH = flags.DEFINE_integer('width', 512, 'Input width (resnet50).')
_PAIRS = flags.DEFINE_integer('pairs', 1, 'Frame pairs per step.')
_STEPS = flags.DEFINE_integer('steps', 5, 'Timed steps of each kind.')
_WARMUP = flags.DEFINE_integer('warmup', 2, 'Untimed steps of each kind.')
_ALL_DETECTIONS = flags.DEFINE_bool(
    'all_detections', True, 'Score threshold 0: every step matches the full '
    'max_predictions per frame (the worst case).')
_DATA_DIR = flags.DEFINE_string(
    'data_dir', os.path.join(tempfile.gettempdir(), 'wsvis_bench_mc'),
    'Where the procedural data, labels and flows are prepared (reused).')
_SEED = flags.DEFINE_integer('seed', 0, 'Weights and data order.')
_PARAMS_OVERRIDE = flags.DEFINE_string(
    'params_override', None, 'tf-models override of the experiment, e.g. '
    'task.model.roi_generator.test_num_proposals=300 (the detection '
    'path\'s proposals a frame).')


def _params():
  """The benchmarked experiment with one frame pair per step."""
  if _CONFIG.value == 'quick':
    params = exp_factory.get_exp_config('maskconsist_synthetic')
  else:
    params = exp_factory.get_exp_config('maskconsist_ytvis')
    params.task.model.num_classes = 5
    params.task.model.input_size = [_HEIGHT.value, _WIDTH.value, 3]
    # Frozen BN / stages need ImageNet weights to mean anything; a timing
    # with random weights trains every stage (the slower case).
    params.task.model.backbone.wsvis_resnet.frozen_bn = False
    params.task.model.backbone.wsvis_resnet.frozen_stages = 0
  params.task.model.backbone.wsvis_resnet.init = config_lib.INIT_RANDOM
  if _PARAMS_OVERRIDE.value:
    params = hyperparams.override_params_dict(
        params, _PARAMS_OVERRIDE.value, is_strict=True)
  data = params.task.train_data
  data.global_batch_size = _PAIRS.value
  data.source.dataset = 'synthetic'
  data.source.builder_config = 'tiny'
  data.delta = 2
  data.cache = False
  data.shuffle_buffer_size = 8
  data.seed = _SEED.value
  if _ALL_DETECTIONS.value:
    params.task.model.detection_generator.pre_nms_score_threshold = 0.0
    params.task.matching.min_score = 0.0
  return params


def _prepare(data_dir: str):
  """The procedural 'tiny' data, its ground-truth labels, zero flows."""
  source = sources.get_source('synthetic', data_dir, 'tiny',
                              os.path.join(data_dir, 'tfds'))
  source.prepare()
  labels_path = os.path.join(data_dir, 'labels.json')
  flows = flow_store.FlowStore(os.path.join(data_dir, 'flows'))
  if not os.path.exists(labels_path):
    videos = [{k: v for k, v in video.items()
               if k not in (core_keys.GT_FLOW, core_keys.GT_OCCLUSION)}
              for video in tfds.as_numpy(source.videos('train'))]
    for video in videos:
      video_id = core_keys.as_text(video[core_keys.VIDEO_ID])
      t, h, w = video[core_keys.FRAMES].shape[:3]
      for a, b in flow_extract.required_pairs(t, 2):
        if not flows.exists(video_id, a, b):
          flows.write(video_id, a, b, np.zeros((h, w, 2), np.float32))
    atomic_io.write_json(labels_path, gt_export.videos_to_coco_json(
        videos, source.class_names))
  return source, labels_path, flows.root


def _timed(fn: Callable[[], Any]) -> Tuple[float, Any]:
  """(seconds until fn's outputs are computed, the outputs)."""
  start = time.perf_counter()
  out = fn()
  tf.nest.map_structure(lambda x: x.numpy() if hasattr(x, 'numpy') else x,
                        out)
  return time.perf_counter() - start, out


def main(argv):
  del argv
  params = _params()
  source, labels_path, flow_dir = _prepare(_DATA_DIR.value)
  data = params.task.train_data
  data.source.tfds_dir = source.builder.data_dir
  data.pseudo_labels = labels_path
  data.flow_dir = flow_dir
  tf_keras_seed = _SEED.value
  tf.random.set_seed(tf_keras_seed)

  mc_task = task_lib.MaskConsistTask(params.task, source=source)
  plain_params = params.task.replace(maskconsist=False)
  plain_task = task_lib.MaskConsistTask(plain_params, source=source)
  model = mc_task.build_model()
  optimizer = train_utils.create_optimizer(mc_task, params)
  batch = next(iter(mc_task.build_inputs(data)))
  images, labels = task_lib.flatten_pairs(*batch)
  logging.info('%s: %d pairs of %s images, %d parameters', _CONFIG.value,
               _PAIRS.value, images.shape[1:3].as_list(),
               model.count_params())

  plain_step = tf.function(
      lambda: plain_task.train_step(batch, model, optimizer))
  mc_step = tf.function(lambda: mc_task.train_step(batch, model, optimizer))
  shared_fn = tf.function(
      lambda: model.shared_forward(images, training=True))
  canvas_fn = tf.function(
      lambda s: mc_task.canvas_predictions(model, s, labels))
  merge_fn = tf.function(lambda p: mc_task.merged_labels(p, labels))
  # The prediction path's two model parts apart: the detection head on
  # the test-mode proposals with the detection generator's NMS, then the
  # mask head on the detections kept.
  image_shape = labels[task_lib.keys.IMAGE_INFO][:, 1, :]
  boxes_fn = tf.function(lambda s: model.detect_boxes(
      s, image_shape, labels[task_lib.keys.ANCHOR_BOXES]))
  masks_fn = tf.function(model.detect_masks)

  def matching_numpy(predictions):
    full = labels[task_lib.keys.FULL_MASKS].numpy()
    frames = full.shape[0]
    return matching_op.consistent_labels_batch(
        **{k: v.numpy() for k, v in predictions.items()},
        label_masks=full.reshape((frames // 2, 2) + full.shape[1:]),
        label_classes=labels[task_lib.keys.GT_CLASSES].numpy().reshape(
            frames // 2, 2, -1),
        flow_ab=labels[task_lib.keys.FLOW_AB].numpy(),
        flow_ba=labels[task_lib.keys.FLOW_BA].numpy(),
        config=mc_task.matching_config)

  times: Dict[str, List[float]] = {k: [] for k in (
      'plain', 'maskconsist', 'shared', 'predictions', 'boxes', 'masks',
      'merge', 'matching')}
  predictions_per_frame = []
  for i in range(_WARMUP.value + _STEPS.value):
    timed = i >= _WARMUP.value
    # Each part runs once, timed, on the outputs of the part before it
    # (tracing falls in the untimed --warmup steps, as for the two steps).
    t_plain, _ = _timed(plain_step)
    t_mc, _ = _timed(mc_step)
    t_shared, shared = _timed(shared_fn)
    t_pred, predictions = _timed(lambda: canvas_fn(shared))
    t_boxes, detections = _timed(lambda: boxes_fn(shared))
    t_masks, _ = _timed(lambda: masks_fn(detections))
    t_merge, _ = _timed(lambda: merge_fn(predictions))
    t_match, _ = _timed(lambda: matching_numpy(predictions))
    predictions_per_frame.append(
        float(np.mean(predictions['num_pred'].numpy())))
    logging.info('step %d%s: plain %.3f s, maskconsist %.3f s', i + 1,
                 '' if timed else ' (warm-up)', t_plain, t_mc)
    if timed:
      for key, value in (('plain', t_plain), ('maskconsist', t_mc),
                         ('shared', t_shared), ('predictions', t_pred),
                         ('boxes', t_boxes), ('masks', t_masks),
                         ('merge', t_merge), ('matching', t_match)):
        times[key].append(value)

  med = {k: statistics.median(v) for k, v in times.items()}
  reencode = max(med['merge'] - med['matching'], 0.0)
  rest = max(med['maskconsist'] - med['shared'] - med['predictions'] -
             med['merge'], 0.0)
  paste = max(med['predictions'] - med['boxes'] - med['masks'], 0.0)
  ratio = med['maskconsist'] / med['plain']
  proposals = params.task.model.roi_generator.test_num_proposals
  slots = params.task.model.detection_generator.max_num_detections
  h, w = images.shape[1:3]
  print(f'\nMaskConsist train step vs plain Mask R-CNN ({_CONFIG.value}: '
        f'{_PAIRS.value} pair(s) of {h}x{w}, {model.count_params():,} '
        f'parameters; median of {_STEPS.value} alternated steps; '
        f'{statistics.mean(predictions_per_frame):.0f} predictions matched '
        'per frame)')
  print(f'{"part":26s} {"seconds":>8s}')
  for name, value in (
      ('plain Mask R-CNN step', med['plain']),
      ('MaskConsist step', med['maskconsist']),
      ('  shared forward', med['shared']),
      ('  predictions + paste', med['predictions']),
      (f'    box head, {proposals} props', med['boxes']),
      (f'    mask head, <={slots} dets', med['masks']),
      ('    paste, binarise', paste),
      ('  matching (py_function)', med['matching']),
      ('  re-encoding', reencode),
      ('  heads, losses, backward', rest)):
    print(f'{name:26s} {value:8.3f}')
  print(f'{"ratio":26s} {ratio:8.3f}')
  # The mask head on the matched predictions cannot be skipped (matching
  # compares every prediction's mask): its share of a plain step is the
  # least overhead left if everything else MaskConsist adds were free.
  print(f'{"mask head / plain step":26s} {med["masks"] / med["plain"]:8.3f}')
  print(f'RESULT plain_s={med["plain"]:.4f} '
        f'maskconsist_s={med["maskconsist"]:.4f} ratio={ratio:.4f} '
        f'box_head_s={med["boxes"]:.4f} mask_head_s={med["masks"]:.4f}')


def run() -> None:
  entry_point.run(main, __name__)


if __name__ == '__main__':
  run()
