"""Runs a chain of stages in a work directory, skipping up-to-date ones."""

import datetime
import json
import math
import os
import resource
import shutil
import sys
import time
from typing import Any, Dict, Mapping, Optional, Sequence

from absl import logging

from wsvis_tf.core import atomic_io
from wsvis_tf.pipeline import stage as stage_lib

PREVIOUS_DIR = '.previous'


class StageError(RuntimeError):
  """A stage failed or broke its contract (e.g. a declared output missing)."""


def check_graph(stages: Sequence[stage_lib.Stage]) -> None:
  """ValueError if a stage appears twice or reads one not run before it."""
  seen = set()
  for s in stages:
    if s.name in seen:
      raise ValueError(f'stage {s.name!r} appears twice')
    for dep in s.inputs:
      if dep not in seen:
        raise ValueError(f'stage {s.name!r} reads {dep!r}, which does not run '
                         'before it')
    seen.add(s.name)


def _json_safe_metrics(stage_name: str, metrics: Mapping[str, Any]
                      ) -> Dict[str, Any]:
  """Metrics with NaN/Inf replaced by None (strict JSON has no NaN)."""
  out = {}
  for k, v in metrics.items():
    if isinstance(v, float) and not math.isfinite(v):
      logging.warning('[%s] metric %s is %s; recorded as null', stage_name,
                      k, v)
      v = None
    elif hasattr(v, 'item') and getattr(v, 'shape', None) == ():
      v = v.item()  # numpy scalar
      if isinstance(v, float) and not math.isfinite(v):
        v = None
    out[str(k)] = v
  return out


def peak_rss_mb() -> Dict[str, float]:
  """{'process', 'children'}: resident-set high-water marks so far, in MiB.

  'process' is this process's; 'children' the largest of its finished
  child processes' (Beam's multi-processing workers, for example), 0 when
  none has finished. Both only grow over a process's life.
  """
  # ru_maxrss is in KiB on Linux, in bytes on macOS.
  unit = 1 if sys.platform == 'darwin' else 1024
  marks = {}
  for key, who in (('process', resource.RUSAGE_SELF),
                   ('children', resource.RUSAGE_CHILDREN)):
    marks[key] = round(resource.getrusage(who).ru_maxrss * unit / 2**20, 1)
  return marks


def _read_running(directory: str) -> Optional[str]:
  path = os.path.join(directory, stage_lib.RUNNING_FILE)
  try:
    with open(path) as f:
      return json.load(f).get('fingerprint')
  except (OSError, ValueError):
    return None


def _set_aside(work_dir: str, directory: str) -> None:
  """Moves a stale stage directory to <work_dir>/.previous/<name>.

  One previous version of each stage is kept, so that a changed config never
  destroys the only copy of an earlier result.
  """
  target = os.path.join(work_dir, PREVIOUS_DIR, os.path.basename(directory))
  if os.path.exists(target):
    shutil.rmtree(target)
  os.makedirs(os.path.dirname(target), exist_ok=True)
  os.replace(directory, target)
  logging.info('Moved the previous %s to %s', directory, target)


def run_stages(stages: Sequence[stage_lib.Stage],
               work_dir: str,
               resources: Optional[Mapping[str, Any]] = None,
               force: Sequence[str] = (),
               until: Optional[str] = None
              ) -> Dict[str, stage_lib.StageRecord]:
  """Runs stages in order; returns every stage's record.

  Args:
    stages: Stages in dependency order.
    work_dir: The work directory; stage s writes into <work_dir>/<s.name>/.
    resources: Shared objects handed to every stage (e.g. the video source).
    force: Names of stages to rerun even if up to date.
    until: Stop after this stage.
  """
  check_graph(stages)
  names = [s.name for s in stages]
  for name in list(force) + ([until] if until else []):
    if name not in names:
      raise ValueError(f'unknown stage {name!r}; stages: {names}')
  os.makedirs(work_dir, exist_ok=True)
  records: Dict[str, stage_lib.StageRecord] = {}
  for s in stages:
    inputs = {k: records[k] for k in s.inputs}
    fingerprint = s.fingerprint(inputs)
    directory = os.path.join(work_dir, s.name)
    record = stage_lib.StageRecord.load(directory)
    if (record is not None and record.fingerprint == fingerprint and
        s.name not in force):
      if record.outputs_intact():
        logging.info('[%s] up to date (%s), skipped', s.name,
                     fingerprint[:12])
        record.status = 'skipped'
        records[s.name] = record
        if s.name == until:
          break
        continue
      logging.warning('[%s] outputs changed on disk since the record; '
                      'rerunning', s.name)
    if os.path.isdir(directory):
      resumable = (record is None and
                   _read_running(directory) == fingerprint and
                   s.name not in force)
      if resumable:
        logging.info('[%s] resuming an interrupted run', s.name)
      else:
        _set_aside(work_dir, directory)
    os.makedirs(directory, exist_ok=True)
    atomic_io.write_json(os.path.join(directory, stage_lib.RUNNING_FILE),
                         {'fingerprint': fingerprint, 'config': s.config})
    logging.info('[%s] running%s', s.name,
                 f': {s.description}' if s.description else '')
    ctx = stage_lib.StageContext(s, work_dir, inputs, resources or {})
    start = time.time()
    metrics = _json_safe_metrics(s.name, s.run(ctx) or {})
    wall = time.time() - start
    missing = [o for o in s.outputs if not os.path.exists(ctx.path(o))]
    if missing:
      raise StageError(f'stage {s.name!r} finished without writing its '
                       f'declared outputs {missing} in {directory}')
    record = stage_lib.StageRecord(
        name=s.name,
        directory=directory,
        fingerprint=fingerprint,
        config=dict(s.config),
        inputs={k: v.output_digest for k, v in inputs.items()},
        outputs={o: stage_lib.describe_output(ctx.path(o)) for o in s.outputs},
        metrics=metrics,
        wall_time_s=round(wall, 3),
        finished_at=datetime.datetime.now(datetime.timezone.utc).isoformat(),
        version=s.version,
        peak_rss_mb=peak_rss_mb(),
        status='ran')
    record.save()
    os.remove(os.path.join(directory, stage_lib.RUNNING_FILE))
    logging.info('[%s] done in %.1f s (peak RSS %.0f MiB) %s', s.name, wall,
                 record.peak_rss_mb['process'],
                 json.dumps(metrics, sort_keys=True) if metrics else '')
    records[s.name] = record
    if s.name == until:
      break
  return records
