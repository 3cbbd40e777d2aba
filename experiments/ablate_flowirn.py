r"""Paper Table 4: IRN, IRN+f-Bound, IRN+f-CAMs and flowIRN pseudo-labels.

  nice -n 10 python experiments/ablate_flowirn.py --dataset=synthetic \
      --work_dir=work/demo --preset=quick

runs the pipeline's shared stages (data, DDFlow flow, CAM, IR labels; skipped
when already done in --work_dir, e.g. by run_pipeline.py), then for each
variant an IRN training and a pseudo-label stage under its own name
(irn_train_<v>, pseudo_labels_<v>, plus the IR labels without f-CAMs,
ir_labels_cam), all with the preset's settings, data, budget and seed. The
table gives each variant's pseudo-label AP50 / AP on the training frames
against the ground truth (no second-step training, as Table 4), and the last
line is
  RESULT irn=... irn_fbound=... irn_fcam=... flowirn=...
(AP50 in %). On 2 CPU cores the quick preset takes ~1.5 h from scratch
(DDFlow ~30 min, CAM ~8, then ~12 per variant: 320 IRN steps and 640
frames of inference); --flow=ground_truth uses the procedural data's exact
flow instead of DDFlow (no flow stages). --irn_overrides and
--inference_overrides change the preset's IRN settings for every variant
(give such runs a --tag).
"""

import json
import os
import sys
import time

from absl import app
from absl import flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# pylint: disable=g-import-not-at-top
from wsvis_tf.cam import config as cam_config
from wsvis_tf.irn import config as irn_config
from wsvis_tf.pipeline import graph
from wsvis_tf.pipeline import presets
from wsvis_tf.pipeline import runner
from wsvis_tf.pipeline.components import cam
from wsvis_tf.pipeline.components import data
from wsvis_tf.pipeline.components import flow
from wsvis_tf.pipeline.components import irn

_DATASET = flags.DEFINE_string('dataset', 'synthetic', 'Video source.')
_DATA_DIR = flags.DEFINE_string('data_dir', None, 'As run_pipeline.py.')
_WORK_DIR = flags.DEFINE_string('work_dir', 'work/demo', 'Work directory.')
_PRESET = flags.DEFINE_enum('preset', 'quick', presets.preset_names(),
                            'Stage settings.')
_VARIANTS = flags.DEFINE_list('variants', list(irn.VARIANTS),
                              'Variants to run.')
_FLOW = flags.DEFINE_enum('flow', 'stage', ['stage', 'ground_truth'],
                          'Flow of f-CAMs and f-Bound: the DDFlow stage, or '
                          'the exact flow of procedural data.')
_SEED = flags.DEFINE_integer('seed', None, 'IRN seed for every variant '
                             '(default: the preset\'s).')
_IRN = flags.DEFINE_string('irn_overrides', None, 'JSON merged into the '
                           'preset\'s irn_train IrnConfig overrides, e.g. '
                           '\'{"flow_boundary": {"gradient_resolution": '
                           '"input"}}\'.')
_INFER = flags.DEFINE_string('inference_overrides', None, 'JSON merged '
                             'into the preset\'s pseudo_labels '
                             'InferenceConfig overrides, e.g. '
                             '\'{"image_scale": 3.0}\'.')
_TAG = flags.DEFINE_string('tag', '', 'Suffix of the variant stage names.')


def main(argv):
  del argv
  start = time.time()
  work_dir = os.path.abspath(_WORK_DIR.value)
  data_dir = os.path.abspath(_DATA_DIR.value) if _DATA_DIR.value else None
  source = graph.make_source(_DATASET.value, data_dir, _PRESET.value,
                             os.path.join(work_dir, 'tfds'))
  preset = presets.get_preset(_PRESET.value, source.name)
  irn_overrides = preset[irn.IRN_TRAIN].setdefault('irn', {})
  for section, values in json.loads(_IRN.value or '{}').items():
    irn_overrides.setdefault(section, {}).update(values)
  preset[irn.PSEUDO_LABELS].setdefault('irn', {}).setdefault(
      'inference', {}).update(json.loads(_INFER.value or '{}'))
  if _SEED.value is not None:
    irn_overrides.setdefault('train', {})['seed'] = _SEED.value
  shared = [data.make_stage(source, preset['data'])]
  flow_stage = None
  if _FLOW.value == 'stage':
    shared += flow.make_stages(preset)
    flow_stage = flow.NAME
  shared += cam.make_stages(preset, source, flow_stage)
  stages = shared + irn.ablation_stages(preset, source, shared,
                                        _VARIANTS.value, _TAG.value)
  records = runner.run_stages(stages, work_dir, resources={'source': source})
  irn_cfg = irn_config.irn_config_from_dict(preset[irn.IRN_TRAIN]['irn'])
  cam_cfg = cam_config.cam_config_from_dict(preset[cam.CAM_TRAIN]['cam'])
  print(f'\nflowIRN ablation (paper Table 4) on {source.name} '
        f'({_PRESET.value}), flow: {_FLOW.value}, work dir {work_dir}'
        + (f', IRN overrides {_IRN.value}' if _IRN.value else '')
        + (f', inference overrides {_INFER.value}' if _INFER.value else ''))
  print(f'seeds: IRN train.seed={irn_cfg.train.seed} (tf.random, shuffle), '
        f'CAM train.seed={cam_cfg.train.seed}; IRN {irn_cfg.train.epochs} '
        f'epochs, batch {irn_cfg.train.batch_size}, crop '
        f'{irn_cfg.train.crop_size} for every variant')
  print(f'{"variant":12s} {"f-CAMs":>6s} {"f-Bound":>7s} {"AP50 %":>7s} '
        f'{"AP %":>6s} {"dets":>6s} {"train s":>8s} {"infer s":>8s}')
  results = {}
  for v in _VARIANTS.value:
    train = records[f'{irn.IRN_TRAIN}_{v}{_TAG.value}']
    labels = records[f'{irn.PSEUDO_LABELS}_{v}{_TAG.value}']
    m = labels.metrics
    results[v] = 100 * m.get('AP50', float('nan'))
    fcam_on, fbound_on = irn.VARIANTS[v]
    print(f'{v:12s} {"yes" if fcam_on else "no":>6s} '
          f'{"yes" if fbound_on else "no":>7s} {results[v]:7.2f} '
          f'{100 * m.get("AP", float("nan")):6.2f} {m["annotations"]:6d} '
          f'{train.wall_time_s:8.1f} {labels.wall_time_s:8.1f}')
  print(f'wall time {time.time() - start:.0f} s (this run; stages already '
        'done were skipped); records: ' + json.dumps(
            {n: r.status for n, r in records.items()}))
  print('RESULT ' + ' '.join(f'{v}={results[v]:.2f}' for v in results))


if __name__ == '__main__':
  app.run(main)
