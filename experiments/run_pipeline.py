r"""Runs the wsvis-tf pipeline: every stage that exists, in order.

  wsvis-pipeline --dataset=synthetic --work_dir=work/demo --preset=quick

(the console script; `python experiments/run_pipeline.py` is the same, and
`make demo` runs exactly that.) Stages write into <work_dir>/<stage>/ and a
record stage.json; a stage whose record matches its config and inputs is
skipped, so a rerun after a crash resumes, and a changed config reruns only
what depends on it. On 2 CPU cores the quick preset's stages so far take
about a minute (building the procedural dataset dominates).

Real data (datasets/real_video/README.md): --dataset=ytvis|cityscapes|
video_folder --data_dir=DOWNLOAD, e.g.

  wsvis-pipeline --dataset=ytvis \
      --data_dir=/data/ytvis2019 --work_dir=work/ytvis --preset=quick

with --dataset_config, --dataset_options=key=value,... and
--bad_frames=error|skip to choose how the dataset is prepared. The paper and
cityscapes presets start ResNet-50 from ImageNet weights:
--imagenet_weights=resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5
(the keras.applications file, local), or --train_from_scratch.

Flags: --until=STAGE stops after a stage; --force=a,b reruns stages;
--list_stages prints the stages and exits. --runner=DirectRunner (or any
Apache Beam runner) with --beam_options=key=value,... runs the per-video
stages (flow, cam, ir_labels, pseudo_labels) as Beam pipelines, e.g.
--beam_options=direct_num_workers=2,direct_running_mode=multi_processing;
--beam_stages=ir_labels,pseudo_labels runs only those on the runner
(README: Dataset-sized stages on Apache Beam).
"""

import os

from absl import flags
from absl import logging

from wsvis_tf.core import entry_point
from wsvis_tf.pipeline import cli
from wsvis_tf.pipeline.components import report
from wsvis_tf.pipeline.components import segmenter
from wsvis_tf.pipeline.components import video

cli.define_flags()
FLAGS = flags.FLAGS
_UNTIL = flags.DEFINE_string('until', None, 'Stop after this stage.')
_LIST = flags.DEFINE_bool('list_stages', False, 'List the stages and exit.')
_ROUNDS = flags.DEFINE_integer(
    'self_training_rounds', 0, 'Self-training rounds after MaskConsist (the '
    'paper\'s third step; experiments/self_train.py).')


def main(argv):
  del argv
  source, stages = cli.source_and_stages('run_pipeline')
  if _ROUNDS.value < 0:
    cli.usage_error('run_pipeline', '--self_training_rounds must be >= 0, '
                    f'got {_ROUNDS.value}')
  if _ROUNDS.value:
    _, preset = cli.source_and_preset('run_pipeline')
    if segmenter.MASKCONSIST_TRAIN not in preset:
      cli.usage_error('run_pipeline', f'preset {FLAGS.preset!r} has no '
                      f'{segmenter.MASKCONSIST_TRAIN} stage to self-train')
    stages += segmenter.self_training_stages(preset, _ROUNDS.value)
  work_dir = cli.work_dir()
  if _LIST.value:
    for s in stages:
      print(f'{s.name:18s} reads {",".join(s.inputs) or "-":24s} '
            f'{s.description}')
    return
  logging.info('Pipeline: dataset=%s preset=%s work_dir=%s data_dir=%s',
               FLAGS.dataset, FLAGS.preset, work_dir, FLAGS.data_dir)
  records = cli.run_stages('run_pipeline', stages, {'source': source},
                           force=FLAGS.force, until=_UNTIL.value)
  print(f'\nwsvis-tf pipeline on {FLAGS.dataset} ({FLAGS.preset}), '
        f'work dir {work_dir}')
  # peak MiB: the process's resident-set high-water mark when the stage
  # finished (in the run that wrote its record), so it grows at the stage
  # that set it.
  print(f'{"stage":18s} {"status":8s} {"wall s":>8s} {"peak MiB":>9s}  '
        'outputs')
  for name, rec in records.items():
    outs = ', '.join(rec.path(o) for o in rec.outputs)
    print(f'{name:18s} {rec.status:8s} {rec.wall_time_s:8.1f} '
          f'{rec.peak_text():>9s}  {outs}')
  if 'contact_sheet' in records:
    print(f'\nContact sheet: {records["contact_sheet"].path("contact_sheet.png")}')
  if 'pseudo_labels' in records:
    rec = records['pseudo_labels']
    ap50 = rec.metrics.get('AP50')
    print(f'Pseudo-labels: {rec.path("pseudo_labels.json")}' +
          (f' (AP50 {ap50:.4f} on the training frames)'
           if ap50 is not None else ''))
  for name in [n for n in records if n in ('predict_maskrcnn', 'predict')
               or n.startswith('predict_r')]:
    if name in records:
      m = records[name].metrics
      what = {'predict_maskrcnn': 'Mask R-CNN', 'predict': 'MaskConsist'}.get(
          name, f'MaskConsist, self-training round {name[len("predict_r"):]}')
      held_out = [k[:-len('_AP50')] for k in m
                  if k.endswith('_AP50') and not k.startswith('train')]
      parts = [f'{s} AP50 {m[s + "_AP50"]:.4f}' +
               (f' TC {m[s + "_TC"]:.4f}' if s + '_TC' in m else '')
               for s in held_out]
      print(f'{what}: {records[name].path("")}' +
            (f' ({", ".join(parts)})' if parts else ''))
  if video.EVALUATE in records:
    # The Table 3 analogue: each segmenter + tracking, held-out videos.
    m = records[video.EVALUATE].metrics
    for model in video.MODELS:
      parts = []
      for split in source.splits:
        key = f'{model.key}_{split}_video_'
        if split != 'train' and key + 'mAP' in m:
          parts.append(f'{split} video mAP {m[key + "mAP"]:.4f} AP50 '
                       f'{m[key + "AP50"]:.4f}')
      if parts:
        print(f'{model.title} + tracking: {", ".join(parts)}')
    print(f'Metrics: {records[video.EVALUATE].path(video.METRICS_JSON)}')
  if 'export' in records:
    saved = records['export'].metrics.get('saved_model')
    print(f'SavedModel for TF Serving: '
          f'{os.path.join(cli.work_dir(), saved) if saved else "?"} '
          f'(README.md "Serving")')
  if report.NAME in records:
    print(f'\nReport: {records[report.NAME].path(report.REPORT)}')


def run() -> None:
  """The `wsvis-pipeline` console script: flags, then main."""
  entry_point.run(main, __name__)


if __name__ == '__main__':
  run()
