r"""Paper Tables 5 and 6: Mask R-CNN against MaskConsist on the same labels.

  nice -n 10 python experiments/ablate_maskconsist.py --dataset=synthetic \
      --work_dir=work/demo --preset=quick --seeds=0,1

runs the pipeline's stages up to the flowIRN pseudo-labels (skipped when
already done in --work_dir, e.g. by run_pipeline.py; the labels are those of
--seed), then, for each variant and Mask R-CNN seed, a training stage and a
predict stage under its own name, all on the same labels with the preset's
experiment and budget (--steps changes the budget of every variant, its
learning-rate decays moved with it):

  maskrcnn     Mask R-CNN on the flowIRN labels (Table 6 "w/o MC")
  maskconsist  Mask R-CNN + MaskConsist (Table 6 "w/ MC")
  no_intra     MaskConsist without intra-frame expansion (Table 5)
  no_inter     MaskConsist without inter-frame matching (Table 5): the
               flowIRN labels with the intra-frame unions and IoM-NMS only
  no_iom_nms   MaskConsist combining labels and transfers without IoM-NMS
  supervised   Mask R-CNN on the ground-truth masks of the same training
               frames: the fully supervised bound (procedural data, or any
               dataset whose training frames carry masks)
  random_init  Mask R-CNN from random weights (not a paper row: against the
               preset's start, the CAM classifier's backbone in quick)
  larger_first MaskConsist whose IoM-NMS visits masks from the largest
               down, so a larger transfer replaces a flowIRN label it
               contains (the order the paper's text suggests; not a paper
               row: the preset keeps the labels first, maskconsist/README.md)

The preset's seed reuses run_pipeline.py's stages (maskrcnn_train,
predict_maskrcnn, maskconsist_train, predict) for the first two variants;
other seeds and variants get stages named
<train or predict stage>_<variant>[_seed<s>][_<tag>].

The table gives per variant the mean over the seeds, their standard
deviation and each seed's value of: AP50 and AP on the held-out frames
(validation for the procedural data, train_val for YouTube-VIS), TC on the
held-out videos (paper Table 6), AP50 of the predictions on the training
frames against the flowIRN labels' own AP50 there (the two-step gain), and
the training wall time. The last line is
  RESULT maskrcnn=... maskconsist=... supervised=... flowirn=...
         tc_maskrcnn=... tc_maskconsist=... [no_intra=... ...] seeds=N
(held-out AP50 in %, TC in %; flowirn: the labels' AP50 on the training
frames). The dataset and preset flags are run_pipeline.py's.
"""

import copy
import os
import statistics
import time
from typing import Any, Dict, List, Mapping

from absl import app
from absl import flags

from wsvis_tf.core import entry_point
from wsvis_tf.maskconsist import experiments
from wsvis_tf.pipeline import cli
from wsvis_tf.pipeline import graph
from wsvis_tf.pipeline import presets
from wsvis_tf.pipeline.components import data as data_component
from wsvis_tf.pipeline.components import irn
from wsvis_tf.pipeline.components import segmenter

PROGRAM = 'ablate_maskconsist'
cli.define_flags()
FLAGS = flags.FLAGS

# variant -> (train stage of the preset it starts from, task overrides,
# trained on the ground truth).
VARIANTS: Dict[str, Any] = {
    'maskrcnn': (segmenter.MASKRCNN_TRAIN, None, False),
    'maskconsist': (segmenter.MASKCONSIST_TRAIN, None, False),
    'no_intra': (segmenter.MASKCONSIST_TRAIN,
                 {'matching': {'intra_frame': False}}, False),
    'no_inter': (segmenter.MASKCONSIST_TRAIN,
                 {'matching': {'inter_frame': False}}, False),
    'no_iom_nms': (segmenter.MASKCONSIST_TRAIN,
                   {'matching': {'iom_nms': False}}, False),
    'supervised': (segmenter.MASKRCNN_TRAIN, None, True),
    # Not a paper row: the baseline from random weights, against the
    # preset's backbone start (the CAM classifier's on the procedural data).
    'random_init': (segmenter.MASKRCNN_TRAIN, {'model': {'backbone': {
        'wsvis_resnet': {'init': 'random'}}}}, False),
    'larger_first': (segmenter.MASKCONSIST_TRAIN,
                     {'matching': {'iom_priority': 'larger_first'}}, False),
}
# Not paper rows: run on request only.
ON_REQUEST = ('random_init', 'larger_first')
_VARIANTS = flags.DEFINE_list(
    'variants', [v for v in VARIANTS if v not in ON_REQUEST],
    f'Variants to run ({", ".join(ON_REQUEST)}: on request).')
_SEEDS = flags.DEFINE_list('seeds', [], 'Mask R-CNN seeds (weights, data '
                           'order, augmentation), each run for every '
                           'variant (default: --seed).')
_STEPS = flags.DEFINE_integer('steps', None, 'Training steps of every '
                              'variant (default: the preset\'s experiment).')
_TAG = flags.DEFINE_string('tag', '', 'Suffix of the variant stage names.')


def variant_train_config(preset: Mapping[str, Any], variant: str, seed: int,
                         steps=None) -> Dict[str, Any]:
  """The train stage config of a variant and seed (module docstring)."""
  base_stage, task_overrides, supervised = VARIANTS[variant]
  config = copy.deepcopy(dict(preset[base_stage]))
  extra: Dict[str, Any] = {'task': {'train_data': {'seed': seed}}}
  if task_overrides:
    extra['task'] = presets.deep_merge(extra['task'], task_overrides)
  if steps:
    extra = presets.deep_merge(extra, experiments.schedule_overrides(steps))
  config['overrides'] = presets.deep_merge(config.get('overrides') or {},
                                           extra)
  if supervised:
    config['labels_stage'] = data_component.NAME
    config['labels_file'] = os.path.join(data_component.GT_DIR,
                                         'train_frames.json')
  return config


def _names(variant: str, seed: int, preset_seed: int, steps, tag: str):
  """(train stage, predict stage) names of a variant and seed."""
  if (variant in ('maskrcnn', 'maskconsist') and seed == preset_seed and
      not steps and not tag):
    if variant == 'maskrcnn':
      return segmenter.MASKRCNN_TRAIN, segmenter.PREDICT_MASKRCNN
    return segmenter.MASKCONSIST_TRAIN, segmenter.PREDICT
  base = segmenter.MASKRCNN_TRAIN if VARIANTS[variant][0] == (
      segmenter.MASKRCNN_TRAIN) else segmenter.MASKCONSIST_TRAIN
  suffix = f'_{variant}' + (f'_seed{seed}' if seed != preset_seed else '')
  suffix += f'_steps{steps}' if steps else ''
  suffix += f'_{tag}' if tag else ''
  predict = (segmenter.PREDICT_MASKRCNN if base == segmenter.MASKRCNN_TRAIN
             else segmenter.PREDICT)
  return base + suffix, predict + suffix


def ablation_stages(preset: Mapping[str, Any], source, variants: List[str],
                    seeds: List[int], preset_seed: int, steps=None,
                    tag: str = ''):
  """(stages, {(variant, seed): (train stage, predict stage)}).

  A train and a predict stage per variant and seed, after the preset's
  stages they read, transitively (the pseudo-labels and what makes them):
  none of the preset's segmenter, tracking, export or report stages, which
  read segmenter stages the ablation names its own way.
  """
  extra, names = [], {}
  for seed in seeds:
    for v in variants:
      train_name, predict_name = _names(v, seed, preset_seed, steps, tag)
      train = segmenter.make_train_stage(
          variant_train_config(preset, v, seed, steps), train_name,
          labels_stage=(data_component.NAME if VARIANTS[v][2]
                        else irn.PSEUDO_LABELS))
      extra += [train, segmenter.make_predict_stage(
          preset.get(segmenter.PREDICT, {}), predict_name, train_name)]
      names[(v, seed)] = (train_name, predict_name)
  own = {s.name for s in extra}
  read = sorted({d for s in extra for d in s.inputs if d not in own})
  stages = graph.upstream(graph.preset_stages(preset, source), read)
  return stages + extra, names


def _mean_std(values: List[float]):
  if not values:
    return float('nan'), float('nan')
  mean = statistics.fmean(values)
  return mean, (statistics.stdev(values) if len(values) > 1 else 0.0)


def _held_out_split(metrics: Mapping[str, Any]) -> str:
  splits = sorted({k[:-len('_AP50')] for k in metrics
                   if k.endswith('_AP50') and not k.startswith('train')})
  return splits[0] if splits else ''


def main(argv):
  del argv
  start = time.time()
  for v in _VARIANTS.value:
    if v not in VARIANTS:
      raise app.UsageError(f'unknown variant {v!r}; known: {list(VARIANTS)}')
  seeds = [int(s) for s in _SEEDS.value] or [FLAGS.seed]
  if len(set(seeds)) != len(seeds):
    raise app.UsageError(f'--seeds has duplicates: {seeds}')
  if _STEPS.value is not None and _STEPS.value < 1:
    raise app.UsageError(f'--steps must be >= 1, got {_STEPS.value}')
  source, preset = cli.source_and_preset(PROGRAM)
  for stage in (segmenter.MASKRCNN_TRAIN, segmenter.MASKCONSIST_TRAIN):
    if stage not in preset:
      cli.usage_error(PROGRAM, f'preset {FLAGS.preset!r} has no {stage} '
                      'stage')
  try:
    stages, names = ablation_stages(preset, source, _VARIANTS.value, seeds,
                                    FLAGS.seed, _STEPS.value, _TAG.value)
  except (ValueError, KeyError) as e:
    cli.usage_error(PROGRAM, e)
  records = cli.run_stages(PROGRAM, stages, {'source': source},
                           force=FLAGS.force)

  labels_ap50 = 100 * records[irn.PSEUDO_LABELS].metrics.get(
      'AP50', float('nan'))
  first = records[names[(_VARIANTS.value[0], seeds[0])][1]].metrics
  held_out = _held_out_split(first)
  budget = (f'{_STEPS.value} steps' if _STEPS.value
            else 'the preset\'s steps')
  print(f'\nMaskConsist ablation (paper Tables 5, 6) on {source.name} '
        f'({FLAGS.preset}), labels: {irn.PSEUDO_LABELS} (seed {FLAGS.seed}, '
        f'AP50 {labels_ap50:.2f} % on the training frames), Mask R-CNN '
        f'seeds {seeds}, {budget}, work dir {cli.work_dir()}')
  print(f'{"variant":12s} {held_out + " AP50 %":>16s} {"+-":>5s} '
        f'{"AP %":>6s} {"TC %":>6s} {"train AP50 %":>12s} {"train s":>8s}'
        '  AP50 % per seed')
  means = {}
  for v in _VARIANTS.value:
    ap50, ap, tc, train_ap50, train_s = [], [], [], [], []
    for seed in seeds:
      train_name, predict_name = names[(v, seed)]
      m = records[predict_name].metrics
      ap50.append(100 * m.get(f'{held_out}_AP50', float('nan')))
      ap.append(100 * m.get(f'{held_out}_AP', float('nan')))
      if f'{held_out}_TC' in m:
        tc.append(100 * m[f'{held_out}_TC'])
      train_ap50.append(100 * m.get('train_AP50', float('nan')))
      train_s.append(records[train_name].wall_time_s)
    means[v], std = _mean_std(ap50)
    means[f'tc_{v}'] = _mean_std(tc)[0]
    print(f'{v:12s} {means[v]:16.2f} {std:5.2f} {_mean_std(ap)[0]:6.2f} '
          f'{means[f"tc_{v}"]:6.2f} {_mean_std(train_ap50)[0]:12.2f} '
          f'{_mean_std(train_s)[0]:8.1f}  '
          + ' '.join(f'{x:.2f}' for x in ap50))
  print(f'{"flowIRN labels":12s} {"":>16s} {"":>5s} {"":>6s} {"":>6s} '
        f'{labels_ap50:12.2f}')
  print(f'wall time {time.time() - start:.0f} s (this run; stages already '
        'done were skipped)')
  fields = [f'{v}={means[v]:.2f}' for v in _VARIANTS.value]
  fields.append(f'flowirn={labels_ap50:.2f}')
  fields += [f'tc_{v}={means["tc_" + v]:.2f}' for v in _VARIANTS.value
             if v in ('maskrcnn', 'maskconsist')]
  print('RESULT ' + ' '.join(fields) + f' seeds={len(seeds)}')


def run() -> None:
  """The `wsvis-ablate-maskconsist` console script: flags, then main."""
  entry_point.run(main, __name__)


if __name__ == '__main__':
  run()
