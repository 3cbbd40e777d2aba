r"""Frames per second of the per-frame stages, in-process against Beam.

  nice -n 10 python experiments/bench_stages.py --preset=smoke \
      --work_dir=work/bench_smoke

runs (or reuses, when up to date) the preset's stages up to pseudo_labels
in --work_dir, then copies its upstream stages (data, the trained models)
twice under <work_dir>/bench_stages/ and reruns the per-video stages flow,
cam, ir_labels and pseudo_labels on the same frames once in this process
and once as Beam pipelines (default: DirectRunner, 2 worker processes,
multi_processing; --runner and --beam_options choose another), one run
each. Frames per second = the frames a stage covers / its wall time (the
stage record's, so it includes model loading and, on Beam, starting the
workers): flow covers every frame of every split (each frame's flow to its
neighbours and its paired frames), cam, ir_labels and pseudo_labels the
training frames. The table also says whether the two runs wrote identical
artifacts. Last line:

  RESULT flow_fps=... flow_beam_fps=... cam_fps=... cam_beam_fps=...
  pseudo_fps=... pseudo_beam_fps=...

On 2 shared CPU cores Beam's start-up (two worker processes importing
TensorFlow and loading the model) costs ~12-20 s a pipeline, so on the
smoke data the in-process loop is faster; the README's Beam section has the
measured table.
"""

import os
import shutil
from typing import Dict, List

from absl import flags
from absl import logging
import tensorflow_datasets as tfds

from wsvis_tf.core import entry_point
from wsvis_tf.core import keys
from wsvis_tf.pipeline import cli
from wsvis_tf.pipeline import per_video
from wsvis_tf.pipeline import runner
from wsvis_tf.pipeline import stage as stage_lib

cli.define_flags()
FLAGS = flags.FLAGS
_WORKERS = flags.DEFINE_integer(
    'beam_workers', 2, 'DirectRunner worker processes when --runner is '
    'in_process (the default Beam side).')

PER_VIDEO_STAGES = ('flow', 'cam', 'ir_labels', 'pseudo_labels')
LAST = 'pseudo_labels'


def _frames_of_all_splits(source) -> int:
  total = 0
  for split in source.splits:
    ds = source.videos(split).map(lambda v: v[keys.ANNOTATED])
    total += sum(len(a) for a in tfds.as_numpy(ds))
  return total


def _copy_upstream(work_dir: str, target: str, names: List[str]) -> None:
  if os.path.exists(target):
    shutil.rmtree(target)
  os.makedirs(target)
  for name in names:
    if name not in PER_VIDEO_STAGES:
      shutil.copytree(os.path.join(work_dir, name),
                      os.path.join(target, name))


def _same_outputs(a: stage_lib.StageRecord,
                  b: stage_lib.StageRecord) -> bool:
  return a.fingerprint == b.fingerprint and a.outputs == b.outputs


def main(argv):
  del argv
  source, stages = cli.source_and_stages('bench_stages')
  names = [s.name for s in stages]
  missing = [n for n in PER_VIDEO_STAGES if n not in names]
  if missing:
    cli.usage_error('bench_stages', f'preset {FLAGS.preset!r} has no stages '
                    f'{missing}')
  stages = stages[:names.index(LAST) + 1]
  names = names[:names.index(LAST) + 1]
  beam = cli.execution('bench_stages')
  if beam.stages is not None:
    cli.usage_error('bench_stages', '--beam_stages does not apply: the '
                    'benchmark runs every per-video stage both ways')
  if not beam.uses_beam:
    beam = per_video.Execution('DirectRunner', (
        f'--direct_num_workers={_WORKERS.value}',
        '--direct_running_mode=multi_processing'))
  work_dir = cli.work_dir()
  logging.info('Upstream stages in %s', work_dir)
  runner_resources = {'source': source,
                      per_video.EXECUTION: per_video.Execution()}
  cli.run_stages('bench_stages', stages, runner_resources)
  bench_dir = os.path.join(work_dir, 'bench_stages')
  records: Dict[str, Dict[str, stage_lib.StageRecord]] = {}
  for label, execution in (('in_process', per_video.Execution()),
                           ('beam', beam)):
    target = os.path.join(bench_dir, label)
    _copy_upstream(work_dir, target, names)
    logging.info('Per-video stages %s in %s', label, target)
    records[label] = runner.run_stages(
        stages, target, resources={'source': source,
                                   per_video.EXECUTION: execution})
  frames = {'flow': _frames_of_all_splits(source)}
  for name in ('cam', 'ir_labels', 'pseudo_labels'):
    frames[name] = records['in_process'][name].metrics['frames']
  fps = {}
  print(f'\nPer-video stages on {FLAGS.dataset} ({FLAGS.preset}); Beam: '
        f'{beam.runner} {" ".join(beam.beam_options)}')
  print(f'{"stage":14s} {"frames":>7s} {"in-process s":>13s} '
        f'{"fps":>8s} {"Beam s":>8s} {"fps":>8s}  identical')
  for name in PER_VIDEO_STAGES:
    local, dist = records['in_process'][name], records['beam'][name]
    fps[name] = (frames[name] / local.wall_time_s,
                 frames[name] / dist.wall_time_s)
    print(f'{name:14s} {frames[name]:7d} {local.wall_time_s:13.1f} '
          f'{fps[name][0]:8.2f} {dist.wall_time_s:8.1f} {fps[name][1]:8.2f}'
          f'  {"yes" if _same_outputs(local, dist) else "NO"}')
  print(f'RESULT flow_fps={fps["flow"][0]:.2f} '
        f'flow_beam_fps={fps["flow"][1]:.2f} '
        f'cam_fps={fps["cam"][0]:.2f} cam_beam_fps={fps["cam"][1]:.2f} '
        f'pseudo_fps={fps["pseudo_labels"][0]:.2f} '
        f'pseudo_beam_fps={fps["pseudo_labels"][1]:.2f}')


def run() -> None:
  """The `wsvis-bench-stages` console script: flags, then main."""
  entry_point.run(main, __name__)


if __name__ == '__main__':
  run()
