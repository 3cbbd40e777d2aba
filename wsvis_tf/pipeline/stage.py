"""Pipeline stages as components with declared inputs, outputs and records.

In the manner of TFX components: a `Stage` names the stages it reads, the
files or directories it writes (relative to its own directory
`<work_dir>/<stage name>/`) and a JSON-serialisable config. After a stage
succeeds, a record `stage.json` is written into its directory (atomically,
last) with the config, the fingerprints of its inputs, a digest of its
outputs, its metrics and its wall time.

A stage's fingerprint hashes its name, code version, config and the output
digests of the stages it reads. The runner skips a stage whose record has the
same fingerprint and whose outputs are still intact, so

  * a rerun after a crash resumes at the first stage without a record (and a
    stage may itself skip per-item work it finished before the crash: its
    directory is kept when the interrupted run had the same fingerprint);
  * a changed config reruns that stage, and downstream stages rerun only if
    its outputs actually changed.
"""

import dataclasses
import hashlib
import json
import os
import time
from typing import Any, Callable, Dict, Mapping, Optional, Sequence

from absl import logging

from wsvis_tf.core import atomic_io

RECORD_FILE = 'stage.json'
RUNNING_FILE = '.running.json'
RECORD_FORMAT = 1
# TensorBoard event files under an output directory are logs (they hold
# wall-clock times): they are not part of its digest.
TENSORBOARD_EVENTS_PREFIX = 'events.out.tfevents.'


def _canonical_json(obj: Any, what: str) -> str:
  try:
    return json.dumps(obj, sort_keys=True, separators=(',', ':'))
  except TypeError as e:
    raise ValueError(f'{what} must be JSON-serialisable: {e}') from e


def sha256_file(path: str, chunk: int = 1 << 20) -> str:
  h = hashlib.sha256()
  with open(path, 'rb') as f:
    while True:
      block = f.read(chunk)
      if not block:
        break
      h.update(block)
  return h.hexdigest()


def _files_under(path: str):
  if os.path.isfile(path):
    yield '', path
    return
  for root, dirs, files in os.walk(path):
    dirs.sort()
    for name in sorted(files):
      if name.startswith('.') and name.endswith('.tmp'):
        continue  # an atomic write in flight or abandoned
      if name.startswith(TENSORBOARD_EVENTS_PREFIX):
        continue  # logs with wall-clock times, not artifacts
      full = os.path.join(root, name)
      yield os.path.relpath(full, path), full


def describe_output(path: str) -> Dict[str, Any]:
  """{'files': n, 'bytes': n, 'sha256': digest} of a file or directory."""
  h = hashlib.sha256()
  files = size = 0
  for rel, full in _files_under(path):
    h.update(rel.encode('utf-8') + b'\0' + sha256_file(full).encode() + b'\0')
    files += 1
    size += os.path.getsize(full)
  return {'files': files, 'bytes': size, 'sha256': h.hexdigest()}


def _quick_signature(path: str) -> Dict[str, int]:
  files = size = 0
  for _, full in _files_under(path):
    files += 1
    size += os.path.getsize(full)
  return {'files': files, 'bytes': size}


@dataclasses.dataclass
class StageRecord:
  """What a finished stage wrote: the contents of its stage.json."""
  name: str
  directory: str
  fingerprint: str
  config: Dict[str, Any]
  inputs: Dict[str, str]
  outputs: Dict[str, Dict[str, Any]]
  metrics: Dict[str, Any]
  wall_time_s: float
  finished_at: str
  version: int = 1
  # Resident-set high-water marks in MiB when the stage finished
  # (runner.peak_rss_mb): {'process': the pipeline process, 'children': its
  # largest finished child, e.g. a Beam worker}. The process's mark only
  # grows, so the stage at which it grows is the one that set it. None in
  # records written before it was kept.
  peak_rss_mb: Optional[Dict[str, float]] = None
  # 'ran' or 'skipped' in this invocation; not saved.
  status: str = dataclasses.field(default='loaded', compare=False)

  @property
  def output_digest(self) -> str:
    return hashlib.sha256(_canonical_json(
        {k: v['sha256'] for k, v in self.outputs.items()},
        'outputs').encode()).hexdigest()

  def path(self, relative: str = '') -> str:
    return os.path.join(self.directory, relative)

  def peak_text(self) -> str:
    """The pipeline process's peak RSS after this stage, whole MiB, or '-'
    for a record written before it was kept."""
    if not self.peak_rss_mb:
      return '-'
    return f'{self.peak_rss_mb["process"]:.0f}'

  def to_json(self) -> Dict[str, Any]:
    d = dataclasses.asdict(self)
    d.pop('directory')
    d.pop('status')
    d['format'] = RECORD_FORMAT
    d['output_digest'] = self.output_digest
    return d

  def save(self) -> None:
    atomic_io.write_json(os.path.join(self.directory, RECORD_FILE),
                         self.to_json(), indent=2)

  @classmethod
  def load(cls, directory: str) -> Optional['StageRecord']:
    """The record in directory, or None if absent or unreadable."""
    path = os.path.join(directory, RECORD_FILE)
    if not os.path.exists(path):
      return None
    try:
      with open(path) as f:
        d = json.load(f)
      if d.get('format') != RECORD_FORMAT:
        return None
      fields = {f.name for f in dataclasses.fields(cls)} - {'directory',
                                                            'status'}
      return cls(directory=directory, **{k: d[k] for k in fields if k in d})
    except (ValueError, TypeError, KeyError) as e:
      logging.warning('Ignoring unreadable stage record %s: %s', path, e)
      return None

  def outputs_intact(self) -> bool:
    for rel, desc in self.outputs.items():
      full = self.path(rel)
      if not os.path.exists(full):
        return False
      sig = _quick_signature(full)
      if sig['files'] != desc['files'] or sig['bytes'] != desc['bytes']:
        return False
    return True


class StageContext:
  """What a stage's run function sees."""

  def __init__(self, stage: 'Stage', work_dir: str,
               inputs: Mapping[str, StageRecord],
               resources: Mapping[str, Any]):
    self.stage = stage
    self.work_dir = work_dir
    self.directory = os.path.join(work_dir, stage.name)
    self.config = stage.config
    self.inputs = dict(inputs)
    self.resources = dict(resources)
    self._last_progress = 0.0

  def path(self, relative: str) -> str:
    """Absolute path of a file in this stage's directory."""
    return os.path.join(self.directory, relative)

  def input(self, stage_name: str) -> StageRecord:
    if stage_name not in self.inputs:
      raise KeyError(f'stage {self.stage.name!r} did not declare input '
                     f'{stage_name!r} (declared: {sorted(self.inputs)})')
    return self.inputs[stage_name]

  def progress(self, done: int, total: int, what: str = 'items',
               every_s: float = 10.0) -> None:
    """Logs 'stage: done/total what' at most every every_s seconds."""
    now = time.time()
    if done >= total or now - self._last_progress >= every_s:
      self._last_progress = now
      logging.info('[%s] %d/%d %s', self.stage.name, done, total, what)


@dataclasses.dataclass(frozen=True)
class Stage:
  """A pipeline component.

  Attributes:
    name: Unique name; also the stage's directory under the work directory.
    run: Called with a StageContext; writes the declared outputs into
      ctx.directory (atomically, file by file) and returns a dict of metrics.
    config: JSON-serialisable settings; part of the fingerprint.
    inputs: Names of the stages whose outputs this one reads.
    outputs: Paths relative to the stage directory that run must create.
    version: Bump when the stage's code changes what it writes.
    description: One line for logs and --list.
  """
  name: str
  run: Callable[[StageContext], Optional[Mapping[str, Any]]]
  config: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  inputs: Sequence[str] = ()
  outputs: Sequence[str] = ()
  version: int = 1
  description: str = ''

  def fingerprint(self, inputs: Mapping[str, StageRecord]) -> str:
    payload = {
        'name': self.name,
        'version': self.version,
        'config': self.config,
        'inputs': {k: inputs[k].output_digest for k in sorted(self.inputs)},
    }
    return hashlib.sha256(_canonical_json(
        payload, f'config of stage {self.name!r}').encode()).hexdigest()
