r"""Paper Table 4: IRN, IRN+f-Bound, IRN+f-CAMs and flowIRN pseudo-labels.

  nice -n 10 python experiments/ablate_flowirn.py --dataset=synthetic \
      --work_dir=work/demo --preset=quick [--seeds=0,1,2]

runs the pipeline's shared stages (data, DDFlow flow, CAM, IR labels; skipped
when already done in --work_dir, e.g. by run_pipeline.py), then for each
variant and IRN seed an IRN training and a pseudo-label stage under its own
name (irn_train_<v>, pseudo_labels_<v>, with _seed<s> appended for seeds
other than the preset's; plus the IR labels without f-CAMs, ir_labels_cam),
all with the preset's settings, data and budget. The table gives each
variant's pseudo-label AP50 / AP on the training frames against the ground
truth (no second-step training, as Table 4): the mean over the seeds, their
standard deviation and each seed's AP50, the pseudo-labels (dets) and the
training frames left without any instance (empty), both means over the
seeds. The last line is
  RESULT irn=... irn_fbound=... irn_fcam=... flowirn=... seeds=N
(mean AP50 in %). On 2 CPU cores the quick preset takes ~1.5 h from scratch
with one seed (DDFlow ~25 min, CAM ~5, then ~10 per variant and seed: 320
IRN steps and 640 frames of inference); --flow=ground_truth uses the
procedural data's exact flow instead of DDFlow (no flow stages).
--cam_seed changes the CAM training seed (the shared stages rerun: give it
its own --work_dir); --irn_overrides and --inference_overrides change the
preset's IRN settings for every variant (give such runs a --tag).
The dataset and preset flags are run_pipeline.py's (wsvis_tf/pipeline/
cli.py: --dataset, --data_dir, --dataset_config, --dataset_options,
--bad_frames, --imagenet_weights, --train_from_scratch, --force), e.g.

  nice -n 10 python experiments/ablate_flowirn.py --dataset=ytvis \
      --data_dir=/data/ytvis2019 --work_dir=work/ytvis --preset=quick \
      --dataset_options=max_long_side=320
"""

import copy
import json
import statistics
import time

from absl import app
from absl import flags

from wsvis_tf.cam import config as cam_config
from wsvis_tf.core import entry_point
from wsvis_tf.irn import config as irn_config
from wsvis_tf.pipeline import cli
from wsvis_tf.pipeline.components import cam
from wsvis_tf.pipeline.components import data
from wsvis_tf.pipeline.components import flow
from wsvis_tf.pipeline.components import irn

PROGRAM = 'ablate_flowirn'
cli.define_flags()
FLAGS = flags.FLAGS
_VARIANTS = flags.DEFINE_list('variants', list(irn.VARIANTS),
                              'Variants to run.')
_FLOW = flags.DEFINE_enum('flow', 'stage', ['stage', 'ground_truth'],
                          'Flow of f-CAMs and f-Bound: the DDFlow stage, or '
                          'the exact flow of procedural data.')
_SEEDS = flags.DEFINE_list('seeds', [], 'IRN seeds, each run for every '
                           'variant (default: the preset\'s one).')
_CAM_SEED = flags.DEFINE_integer('cam_seed', None, 'CAM training seed '
                                 '(default: the preset\'s).')
_IRN = flags.DEFINE_string('irn_overrides', None, 'JSON merged into the '
                           'preset\'s irn_train IrnConfig overrides, e.g. '
                           '\'{"flow_boundary": {"pair_difference": '
                           '"endpoints"}}\'.')
_INFER = flags.DEFINE_string('inference_overrides', None, 'JSON merged '
                             'into the preset\'s pseudo_labels '
                             'InferenceConfig overrides, e.g. '
                             '\'{"image_scale": 3.0}\'.')
_TAG = flags.DEFINE_string('tag', '', 'Suffix of the variant stage names.')


def _stage_tag(tag: str, seed: int, preset_seed: int) -> str:
  """The preset's seed keeps the plain names, so later seeds add to it."""
  return tag if seed == preset_seed else f'{tag}_seed{seed}'


def _mean_std(values):
  mean = statistics.fmean(values)
  return mean, (statistics.stdev(values) if len(values) > 1 else 0.0)


def main(argv):
  del argv
  start = time.time()
  seeds = [int(s) for s in _SEEDS.value]
  if len(set(seeds)) != len(seeds):
    raise app.UsageError(f'--seeds has duplicates: {seeds}')
  work_dir = cli.work_dir()
  source, preset = cli.source_and_preset(PROGRAM)
  irn_overrides = preset[irn.IRN_TRAIN].setdefault('irn', {})
  for section, values in json.loads(_IRN.value or '{}').items():
    irn_overrides.setdefault(section, {}).update(values)
  preset[irn.PSEUDO_LABELS].setdefault('irn', {}).setdefault(
      'inference', {}).update(json.loads(_INFER.value or '{}'))
  if _CAM_SEED.value is not None:
    preset[cam.CAM_TRAIN].setdefault('cam', {}).setdefault(
        'train', {})['seed'] = _CAM_SEED.value
  preset_seed = irn_config.irn_config_from_dict(irn_overrides).train.seed
  seeds = seeds or [preset_seed]

  names = {}
  try:
    shared = [data.make_stage(source, preset['data'])]
    flow_stage = None
    if _FLOW.value == 'stage':
      shared += flow.make_stages(preset)
      flow_stage = flow.NAME
    shared += cam.make_stages(preset, source, flow_stage)
    stages = list(shared)
    for seed in seeds:
      seeded = copy.deepcopy(preset)
      seeded[irn.IRN_TRAIN]['irn'].setdefault('train', {})['seed'] = seed
      tag = _stage_tag(_TAG.value, seed, preset_seed)
      extra = irn.ablation_stages(seeded, source, shared, _VARIANTS.value,
                                  tag)
      known = {s.name for s in stages}
      stages += [s for s in extra if s.name not in known]
      for v in _VARIANTS.value:
        names[(v, seed)] = (f'{irn.IRN_TRAIN}_{v}{tag}',
                            f'{irn.PSEUDO_LABELS}_{v}{tag}')
  except ValueError as e:
    cli.usage_error(PROGRAM, e)
  records = cli.run_stages(PROGRAM, stages, {'source': source},
                           force=FLAGS.force)

  irn_cfg = irn_config.irn_config_from_dict(irn_overrides)
  cam_cfg = cam_config.cam_config_from_dict(preset[cam.CAM_TRAIN]['cam'])
  print(f'\nflowIRN ablation (paper Table 4) on {source.name} '
        f'({FLAGS.preset}), flow: {_FLOW.value}, work dir {work_dir}'
        + (f', IRN overrides {_IRN.value}' if _IRN.value else '')
        + (f', inference overrides {_INFER.value}' if _INFER.value else ''))
  fb = irn_cfg.flow_boundary
  print(f'seeds: IRN train.seed in {seeds} (tf.random, shuffle), CAM '
        f'train.seed={cam_cfg.train.seed}; IRN {irn_cfg.train.epochs} '
        f'epochs, batch {irn_cfg.train.batch_size}, crop '
        f'{irn_cfg.train.crop_size} for every variant; f-Bound lambda '
        f'{fb.flow_weight}, weight {fb.loss_weight}, compares the '
        + ('flow' if fb.feature == 'flow' else
           f'flow gradient (at {fb.gradient_resolution} resolution)')
        + f' at the pair\'s {fb.pair_difference}, '
        + ('unclipped' if fb.max_difference is None else
           f'clipped at {fb.max_difference}')
        + ('' if fb.pull else ', push only (no pull)'))
  print(f'{"variant":12s} {"f-CAMs":>6s} {"f-Bound":>7s} {"AP50 %":>7s} '
        f'{"+-":>5s} {"AP %":>6s} {"dets":>6s} {"empty":>6s} {"train s":>8s} '
        f'{"infer s":>8s}  AP50 % per seed')
  means = {}
  for v in _VARIANTS.value:
    ap50, ap, dets, empty, train_s, infer_s = [], [], [], [], 0.0, 0.0
    for seed in seeds:
      train_name, labels_name = names[(v, seed)]
      m = records[labels_name].metrics
      ap50.append(100 * m.get('AP50', float('nan')))
      ap.append(100 * m.get('AP', float('nan')))
      dets.append(m['annotations'])
      empty.append(m['frames_without_instances'])
      train_s += records[train_name].wall_time_s
      infer_s += records[labels_name].wall_time_s
    means[v], std = _mean_std(ap50)
    fcam_on, fbound_on = irn.VARIANTS[v]
    print(f'{v:12s} {"yes" if fcam_on else "no":>6s} '
          f'{"yes" if fbound_on else "no":>7s} {means[v]:7.2f} {std:5.2f} '
          f'{statistics.fmean(ap):6.2f} {statistics.fmean(dets):6.0f} '
          f'{statistics.fmean(empty):6.1f} {train_s:8.1f} {infer_s:8.1f}  '
          + ' '.join(f'{x:.2f}' for x in ap50))
  print(f'wall time {time.time() - start:.0f} s (this run; stages already '
        'done were skipped); stages: ' + json.dumps(
            {n: r.status for n, r in records.items()}))
  print('RESULT ' + ' '.join(f'{v}={means[v]:.2f}' for v in means)
        + f' seeds={len(seeds)}')


def run() -> None:
  """The `wsvis-ablate-flowirn` console script: flags, then main."""
  entry_point.run(main, __name__)


if __name__ == '__main__':
  run()
