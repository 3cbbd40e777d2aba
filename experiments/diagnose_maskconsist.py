r"""What MaskConsist's label transfer adds on a run's training pairs.

  wsvis-diagnose-maskconsist --work_dir=work/demo [--predictions=predict]

reads a finished pipeline run (experiments/run_pipeline.py): the flowIRN
pseudo-labels (pseudo_labels), the flows (flow), the ground truth of the
training frames (data) and a trained model's predictions on them
(--predictions: `predict` for MaskConsist's, `predict_maskrcnn` for Mask
R-CNN's), and runs MaskConsist's matching (wsvis_tf/maskconsist/
matching.py) on every training pair (t, t + delta) with the settings the
maskconsist_train stage trained with (its params.yaml: delta, the top-k,
thresholds, IoM-NMS order). A trained model's predictions stand in for
those of the model during training. Every label the combination adds is
sorted by the ground truth (wsvis_tf/maskconsist/diagnostics.py): a new
instance (one the labels missed), a duplicate, or a false positive; the
flowIRN labels are scored the same way as the yardstick. The table ends
with the line
  RESULT pairs=... added_per_pair=... new_per_pair=... fp_per_pair=...
         added_precision=... label_precision=... label_coverage=...
Needs ground truth (the procedural data, or a dataset with masks); ~1 min
for the quick preset's 640 training frames on 2 CPU cores. Bad or missing
inputs end with one line on stderr naming the file, and exit status 2.
"""

import collections
import json
import os
import sys
from typing import Any, Dict, List, Tuple

from absl import flags
import numpy as np
from pycocotools import mask as coco_mask

from wsvis_tf.core import entry_point
from wsvis_tf.flow import flow_store
from wsvis_tf.maskconsist import diagnostics
from wsvis_tf.maskconsist import matching
from wsvis_tf.tracking import frame_predictions

PROGRAM = 'diagnose_maskconsist'
_WORK_DIR = flags.DEFINE_string('work_dir', None, 'A pipeline work dir.')
_PREDICTIONS = flags.DEFINE_string(
    'predictions', 'predict', 'Stage whose train_predictions.json stands in '
    'for the model during training.')
_TRAIN_STAGE = flags.DEFINE_string(
    'train_stage', 'maskconsist_train', 'Stage whose params.yaml gives delta '
    'and the matching settings.')
_IOU = flags.DEFINE_float('iou', 0.5, 'Mask IoU at which a label is its true '
                          'instance.')

FrameKey = Tuple[str, int]


def _frames(path: str, scores: bool = True
           ) -> Tuple[Dict[FrameKey, List[Dict[str, Any]]],
                      Dict[FrameKey, Tuple[int, int]]]:
  """(video, frame index) -> COCO annotations, and -> (height, width), for
  every image of a COCO frame file (frame_predictions.load checks it)."""
  try:
    index = frame_predictions.load(path, scores=scores)
  except FileNotFoundError:
    raise ValueError(f'{path}: missing; run the pipeline stage that writes '
                     'it first') from None
  frames = {(video, t): frame for video, by_t in index.items()
            for t, frame in by_t.items()}
  return ({key: f.annotations for key, f in frames.items()},
          {key: (f.height, f.width) for key, f in frames.items()})


def _instances(anns: List[Dict[str, Any]], size: Tuple[int, int],
               scores: bool) -> matching.Instances:
  if not anns:
    return matching.Instances.empty(*size, with_scores=scores)
  masks = np.stack([coco_mask.decode(a['segmentation']) for a in anns])
  return matching.Instances.from_masks(
      masks, [a['category_id'] for a in anns],
      [a['score'] for a in anns] if scores else None)


def _matching_config(work_dir: str) -> Tuple[matching.MatchingConfig, int]:
  """The train stage's matching settings and delta (its params.yaml)."""
  # pylint: disable=g-import-not-at-top
  from official.core import exp_factory
  from official.modeling import hyperparams
  from wsvis_tf.maskconsist import experiments  # pylint: disable=unused-import
  from wsvis_tf.maskconsist import task as task_lib
  # pylint: enable=g-import-not-at-top
  stage = os.path.join(work_dir, _TRAIN_STAGE.value)
  model_json = os.path.join(stage, 'model.json')
  params_yaml = os.path.join(stage, 'model', 'params.yaml')
  for path in (model_json, params_yaml):
    if not os.path.exists(path):
      raise ValueError(f'{path}: missing; run the {_TRAIN_STAGE.value} stage '
                       'first')
  with open(model_json) as f:
    experiment = json.load(f).get('experiment')
  if not experiment:
    raise ValueError(f'{model_json}: no "experiment" field')
  params = hyperparams.override_params_dict(
      exp_factory.get_exp_config(experiment), params_yaml, is_strict=False)
  return (task_lib.make_matching_config(params.task.matching),
          int(params.task.train_data.delta))


def diagnose(work_dir: str, predictions_stage: str,
             config: matching.MatchingConfig, delta: int,
             iou: float) -> Tuple[collections.Counter, collections.Counter]:
  """(summed diagnose_pair counts with 'pairs', summed label_quality)."""
  truth, size = _frames(os.path.join(work_dir, 'data', 'ground_truth',
                                     'train_frames.json'), scores=False)
  labels, _ = _frames(os.path.join(work_dir, 'pseudo_labels',
                                   'pseudo_labels.json'), scores=False)
  preds, _ = _frames(os.path.join(work_dir, predictions_stage,
                                  'train_predictions.json'))
  store = flow_store.FlowStore(os.path.join(work_dir, 'flow', 'flows'))
  counts, quality = collections.Counter(), collections.Counter()
  for key in sorted(labels):
    if key not in truth:
      raise ValueError(f'frame {key[0]}/{key[1]} has pseudo-labels but no '
                       'ground truth (data/ground_truth/train_frames.json)')
    quality.update(diagnostics.label_quality(
        _instances(labels[key], size[key], False),
        _instances(truth[key], size[key], False), iou))
  for (video, t) in sorted(labels):
    b = (video, t + delta)
    if b not in labels or not store.exists(video, t, t + delta):
      continue
    for key in ((video, t), b):
      if key not in preds:
        raise ValueError(f'{predictions_stage}/train_predictions.json: no '
                         f'frame {key[0]}/{key[1]}')
    hw = size[(video, t)]
    counts.update(diagnostics.diagnose_pair(
        _instances(preds[(video, t)], hw, True), _instances(preds[b], hw, True),
        _instances(labels[(video, t)], hw, False),
        _instances(labels[b], hw, False),
        _instances(truth[(video, t)], hw, False), _instances(truth[b], hw, False),
        store.read(video, t, t + delta, hw), store.read(video, t + delta, t, hw),
        config, iou))
    counts['pairs'] += 1
  if not counts['pairs']:
    raise ValueError(f'{work_dir}: no training pair (t, t + {delta}) with '
                     'pseudo-labels on both frames and a flow')
  return counts, quality


def main(argv):
  del argv
  if not _WORK_DIR.value:
    print(f'{PROGRAM}: error: --work_dir is required', file=sys.stderr)
    return 2
  try:
    config, delta = _matching_config(_WORK_DIR.value)
    counts, quality = diagnose(_WORK_DIR.value, _PREDICTIONS.value, config,
                               delta, _IOU.value)
  except (ValueError, flow_store.FlowStoreError) as e:
    print(f'{PROGRAM}: error: {e}', file=sys.stderr)
    return 2
  s = diagnostics.summary(counts, counts['pairs'])
  label_precision = quality['correct'] / max(quality['labels'], 1)
  coverage = quality['covered'] / max(quality['truth'], 1)
  print(f'{_WORK_DIR.value}: {counts["pairs"]} training pairs (t, t+{delta}), '
        f'predictions of {_PREDICTIONS.value}, matching of '
        f'{_TRAIN_STAGE.value}; a label is right at mask IoU > {_IOU.value}')
  print(f'{"":34s}{"per pair":>10s}')
  for name, value in (
      ('flowIRN labels', s['labels_before_per_pair']),
      ('labels after MaskConsist', s['labels_after_per_pair']),
      ('added', s['added_per_pair']),
      ('  new instances', s['new_instances_per_pair']),
      ('  duplicates', counts[diagnostics.DUPLICATE] / counts['pairs']),
      ('  false positives', s['false_positives_per_pair'])):
    print(f'{name:34s}{value:10.3f}')
  print(f'added labels right: {s["added_precision"]:.3f} (false positives\' '
        f'mean best IoU {s["false_positive_mean_iou"]:.2f}); flowIRN labels '
        f'right: {label_precision:.3f}, true instances they cover: '
        f'{coverage:.3f}')
  print(f'RESULT pairs={counts["pairs"]} '
        f'added_per_pair={s["added_per_pair"]:.4f} '
        f'new_per_pair={s["new_instances_per_pair"]:.4f} '
        f'fp_per_pair={s["false_positives_per_pair"]:.4f} '
        f'added_precision={s["added_precision"]:.4f} '
        f'label_precision={label_precision:.4f} label_coverage={coverage:.4f}')
  return 0


def run() -> None:
  """The `wsvis-diagnose-maskconsist` console script: flags, then main."""
  entry_point.run(main, __name__)


if __name__ == '__main__':
  run()
