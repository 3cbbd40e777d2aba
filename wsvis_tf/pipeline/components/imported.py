"""A stage whose outputs are copied from a finished stage of another run.

experiments/predict.py runs the predict and track stages on a new dataset
with the models of an earlier pipeline run: its DDFlow weights (flow_train
export/) and a trained segmenter (maskconsist_train or maskrcnn_train:
model.json, params.yaml and the final checkpoint). An import stage takes
the other run's stage directory, checks its record (stage.json), copies the
files the reading stages need into its own directory, and is then an input
like any other: its fingerprint holds the source directory and the
source's output digest, so a retrained model reruns what reads it.
"""

import os
import shutil
from typing import Any, Dict, List, Sequence

from wsvis_tf.pipeline import stage as stage_lib


def _copy(source: str, target: str) -> None:
  os.makedirs(os.path.dirname(target), exist_ok=True)
  shutil.copyfile(source, target)


def make_import_stage(name: str, source_dir: str,
                      files: Sequence[str]) -> stage_lib.Stage:
  """A stage `name` holding copies of `files` of a finished stage directory.

  Args:
    name: The stage's name (the name the reading stages expect, e.g.
      'flow_train').
    source_dir: The finished stage's directory in another work dir.
    files: Paths relative to source_dir to copy: files, or directories
      (copied whole).

  Returns:
    A Stage whose outputs are the top-level entries of `files`.

  Raises:
    ValueError: source_dir holds no readable stage record, or a file is
      missing (naming it).
  """
  source_dir = os.path.abspath(source_dir)
  record = stage_lib.StageRecord.load(source_dir)
  if record is None:
    raise ValueError(f'{source_dir} holds no finished stage record '
                     f'({stage_lib.RECORD_FILE}); run that stage first')
  for rel in files:
    if not os.path.exists(os.path.join(source_dir, rel)):
      raise ValueError(f'{os.path.join(source_dir, rel)} is missing: the '
                       f'{record.name} stage there is incomplete')
  outputs: List[str] = []
  for rel in files:
    top = rel.split('/', 1)[0]
    if top not in outputs:
      outputs.append(top)

  def run(ctx: stage_lib.StageContext) -> Dict[str, Any]:
    copied = 0
    for rel in files:
      src = os.path.join(source_dir, rel)
      if os.path.isdir(src):
        for root, _, names in os.walk(src):
          for n in names:
            full = os.path.join(root, n)
            _copy(full, ctx.path(os.path.relpath(full, source_dir)))
            copied += 1
      else:
        _copy(src, ctx.path(rel))
        copied += 1
    return {'imported_from': source_dir, 'files': copied}

  return stage_lib.Stage(
      name=name, run=run,
      config={'source': source_dir, 'source_stage': record.name,
              'source_outputs': record.output_digest, 'files': list(files)},
      outputs=tuple(outputs),
      description=f'{record.name} outputs imported from {source_dir}')
