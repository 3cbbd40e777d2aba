"""A stage's per-video work, in this process or as an Apache Beam pipeline.

Flow extraction, CAM extraction, IR labels and pseudo-label inference are
embarrassingly parallel over videos (issue 15). Each of them is written as a
`VideoTask`: `setup()` loads what a worker needs once (models), and
`process(state, video)` does one video's work, writes its per-frame files
atomically and returns a small JSON summary (counts, per-video metric
terms). `run_videos` runs a task over a split's videos either

  * in this process (Execution.runner None, the default): a plain loop, or
  * on a Beam runner (Execution.runner 'DirectRunner', 'DataflowRunner',
    'FlinkRunner', ...): one DoFn element per video; the DoFn calls setup()
    once per worker process (DoFn.setup) and reads its video from the TFDS
    dataset by index (a split slice, so a worker never reads the others);

both call the same task.process. After a video's files are written, its
summary goes to <stage dir>/video_records/<split>/<video id>.json
(atomically, last): a video with a summary is done and is skipped by a
rerun, whatever runner ran it, so a killed run resumes; a video without one
is redone (its per-frame files are atomic, so the complete ones may be
reused, and no half-written file is ever read). Stage-level outputs that
aggregate over videos (index JSON, the COCO pseudo-labels, metrics) are
assembled by the stage from the summaries, in the split's order, after
run_videos returns, the same way for every runner.

The runner is an execution option, not a config: it lives in the stage's
resources (EXECUTION), not its config, so it does not change a stage's
fingerprint; the artifacts are the same (tests/pipeline/beam_stages_test.py).
"""

import dataclasses
import json
import os
from typing import (Any, Callable, Dict, List, Mapping, Optional, Sequence,
                    Set, Tuple)

from absl import logging
import tensorflow_datasets as tfds

from wsvis_tf.core import atomic_io
from wsvis_tf.core import keys

# Key of the Execution in a stage's resources (StageContext.resources).
EXECUTION = 'execution'
# Per-video summaries under a stage's directory; not a declared output.
RECORDS_DIR = 'video_records'
# The --runner value (and Execution.runner None) of the in-process loop.
IN_PROCESS = 'in_process'
# The per-video stage kinds (the --beam_stages values): each stage that
# calls run_videos names its kind to execution_of.
FLOW = 'flow'
CAM = 'cam'
IR_LABELS = 'ir_labels'
PSEUDO_LABELS = 'pseudo_labels'
STAGE_KINDS = (FLOW, CAM, IR_LABELS, PSEUDO_LABELS)
# Key run_videos adds to each summary it returns (not saved): True if the
# video was processed by this call, False if an earlier run had done it
# (a resumed stage counts what it computed itself).
THIS_RUN = 'this_run'


@dataclasses.dataclass(frozen=True)
class Execution:
  """How per-video work runs.

  Attributes:
    runner: None for the in-process loop, else a Beam runner name
      ('DirectRunner', 'DataflowRunner', 'FlinkRunner', 'SparkRunner', ...).
    beam_options: Beam pipeline options as command-line flags
      ('--direct_num_workers=2', ...), passed to PipelineOptions.
  """
  runner: Optional[str] = None
  beam_options: Sequence[str] = ()
  # The stage kinds (STAGE_KINDS) that run on the runner; None: all of
  # them. The others run in-process.
  stages: Optional[Tuple[str, ...]] = None

  @property
  def uses_beam(self) -> bool:
    return self.runner is not None

  def for_stage(self, kind: str) -> 'Execution':
    """How a stage of `kind` runs: this Execution, or in-process if its
    kind is not among `stages`."""
    if kind not in STAGE_KINDS:
      raise ValueError(f'unknown per-video stage kind {kind!r}; expected one '
                       f'of {list(STAGE_KINDS)}')
    if self.stages is not None and kind not in self.stages:
      return Execution()
    return self

  def pipeline_options(self):
    """The Beam PipelineOptions (runner and options)."""
    from apache_beam.options import pipeline_options  # pylint: disable=g-import-not-at-top
    return pipeline_options.PipelineOptions(
        flags=[f'--runner={self.runner}', *self.beam_options])


def parse_execution(runner: Optional[str],
                    beam_options: Sequence[str] = (),
                    beam_stages: Sequence[str] = ()) -> Execution:
  """An Execution from the --runner, --beam_options and --beam_stages flags.

  Args:
    runner: '' / None / 'in_process' for the in-process loop, else a Beam
      runner name.
    beam_options: Entries 'key=value', 'key' (a boolean option) or already
      '--key=value'; e.g. ['direct_num_workers=2',
      'direct_running_mode=multi_processing'].
    beam_stages: The stage kinds (STAGE_KINDS) that run on the runner, the
      others in-process; empty: all of them.

  Raises:
    ValueError: Beam options or stages without a Beam runner, an empty
      entry, or an unknown stage kind.
  """
  runner = None if not runner or runner == IN_PROCESS else runner
  flags = []
  for entry in beam_options:
    entry = entry.strip()
    if not entry or entry in ('-', '--'):
      raise ValueError(f'empty entry in --beam_options {list(beam_options)}')
    flags.append(entry if entry.startswith('-') else f'--{entry}')
  if flags and runner is None:
    raise ValueError(f'--beam_options {flags} need a Beam runner: pass '
                     '--runner=DirectRunner (or another Beam runner)')
  stages = tuple(k.strip() for k in beam_stages)
  unknown = [k for k in stages if k not in STAGE_KINDS]
  if unknown:
    raise ValueError(f'--beam_stages: unknown stage {unknown[0]!r}; the '
                     f'per-video stages are {list(STAGE_KINDS)}')
  if stages and runner is None:
    raise ValueError(f'--beam_stages {list(stages)} need a Beam runner: pass '
                     '--runner=DirectRunner (or another Beam runner)')
  if runner is not None:
    if any(f.split('=', 1)[0] == '--runner' for f in flags):
      raise ValueError('pass the runner with --runner, not in --beam_options')
    import apache_beam  # pylint: disable=g-import-not-at-top,unused-import
  return Execution(runner, tuple(flags), stages or None)


def execution_of(resources: Mapping[str, Any], kind: str) -> Execution:
  """How a per-video stage of `kind` (STAGE_KINDS) runs: the Execution in
  its resources (in-process when absent) for that kind."""
  return (resources.get(EXECUTION) or Execution()).for_stage(kind)


class VideoTask:
  """One stage's per-video work; picklable (it is shipped to Beam workers).

  Subclasses hold plain data (paths, configs), never models: setup() builds
  those once per process.
  """

  def setup(self) -> Any:
    """Loads models etc.; the returned state is passed to process()."""
    return None

  def process(self, state: Any, video: Mapping[str, Any]) -> Dict[str, Any]:
    """Does one video's work (numpy example, keys.*); returns a summary.

    The summary must be JSON-serialisable; it is what the stage aggregates.
    """
    raise NotImplementedError


def _safe_id(video_id: str) -> str:
  if not video_id or video_id in ('.', '..') or '/' in video_id or (
      os.sep in video_id):
    raise ValueError(f'invalid video id {video_id!r}: it is a directory name '
                     'in the stage outputs')
  return video_id


def record_path(directory: str, split: str, video_id: str) -> str:
  """<directory>/video_records/<split>/<video id>.json."""
  return os.path.join(directory, RECORDS_DIR, split,
                      _safe_id(video_id) + '.json')


def read_record(path: str) -> Optional[Dict[str, Any]]:
  """A video's summary, or None if the video is not done."""
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f)['summary']


def _write_record(path: str, video_id: str, summary: Mapping[str, Any]):
  atomic_io.write_json(path, {'video_id': video_id, 'summary': summary})


def video_ids(source, split: str) -> List[str]:
  """The split's video ids in the dataset's order."""
  ds = source.videos(split).map(lambda v: v[keys.VIDEO_ID])
  return [keys.as_text(v) for v in tfds.as_numpy(ds)]


def read_video(source, split: str, index: int,
               expected_id: Optional[str] = None) -> Dict[str, Any]:
  """Video `index` of a split (numpy), read alone through a split slice.

  Raises:
    ValueError: the slice is empty, or its video is not expected_id (the
      dataset changed under the run).
  """
  ds = source.builder.as_dataset(split=f'{split}[{index}:{index + 1}]',
                                 shuffle_files=False)
  videos = list(tfds.as_numpy(ds))
  if len(videos) != 1:
    raise ValueError(f'{source.builder.info.full_name}: split {split} has no '
                     f'video at index {index}')
  video = videos[0]
  found = keys.as_text(video[keys.VIDEO_ID])
  if expected_id is not None and found != expected_id:
    raise ValueError(f'{source.builder.info.full_name}: video {index} of '
                     f'split {split} is {found!r}, expected {expected_id!r}'
                     ' (the dataset changed during the run)')
  return video


def _run_in_process(task: VideoTask, source, split: str, directory: str,
                    progress: Optional[Callable[[int, int], None]]
                   ) -> List[Dict[str, Any]]:
  state, loaded = None, False
  total = source.num_videos(split)
  out = []
  for video in tfds.as_numpy(source.videos(split)):
    video_id = keys.as_text(video[keys.VIDEO_ID])
    path = record_path(directory, split, video_id)
    summary = read_record(path)
    this_run = summary is None
    if this_run:
      if not loaded:
        state, loaded = task.setup(), True
      summary = task.process(state, video)
      _write_record(path, video_id, summary)
      # As read back from its record (JSON), like the Beam path's.
      summary = json.loads(json.dumps(summary))
    out.append({**summary, THIS_RUN: this_run})
    if progress:
      progress(len(out), total)
  return out


def _beam_do_fn(task: VideoTask, source, directory: str):
  """The DoFn: (split, index, video id) -> video id, once the video is done.
  """
  import apache_beam as beam  # pylint: disable=g-import-not-at-top

  class VideoDoFn(beam.DoFn):
    """Runs task.process on a video; its models load once per worker."""

    def __init__(self):
      super().__init__()
      self._task = task
      self._source = source
      self._state = None

    def setup(self):
      self._state = self._task.setup()

    def process(self, element):
      split, index, video_id = element
      path = record_path(directory, split, video_id)
      if read_record(path) is None:  # another attempt may have done it
        video = read_video(self._source, split, index, video_id)
        _write_record(path, video_id, self._task.process(self._state, video))
      yield video_id

  return VideoDoFn()


def _run_beam(task: VideoTask, source, directory: str, execution: Execution,
              ids: Mapping[str, List[str]]) -> Set[Tuple[str, str]]:
  """One Beam pipeline over the videos without a summary, of every split.

  Returns:
    The (split, video id) pairs it was run on.
  """
  import apache_beam as beam  # pylint: disable=g-import-not-at-top
  todo = [(split, i, v) for split, split_ids in ids.items()
          for i, v in enumerate(split_ids)
          if read_record(record_path(directory, split, v)) is None]
  logging.info('Beam (%s): %d of %d videos to do in %s', execution.runner,
               len(todo), sum(len(v) for v in ids.values()), directory)
  if not todo:
    return set()
  with beam.Pipeline(options=execution.pipeline_options()) as p:
    _ = (p
         | 'videos' >> beam.Create(todo)
         # Spreads the videos over the workers (Create is one bundle).
         | 'spread' >> beam.Reshuffle()
         | 'process' >> beam.ParDo(_beam_do_fn(task, source, directory)))
  return {(split, v) for split, _, v in todo}


def run_splits(task: VideoTask, source, splits: Sequence[str],
               directory: str, execution: Optional[Execution] = None,
               progress: Optional[Callable[[str, int, int], None]] = None
              ) -> Dict[str, List[Dict[str, Any]]]:
  """Runs task on every video of the splits (one Beam pipeline for all).

  Args:
    task: The per-video work.
    source: The VideoSource (data.sources).
    splits: Its splits.
    directory: The stage directory (summaries go under RECORDS_DIR).
    execution: In-process (default) or a Beam runner.
    progress: Called with (split, videos done, total) by the in-process
      loop.

  Returns:
    split -> one summary per video of the split, in the dataset's order,
    each with THIS_RUN added.

  Raises:
    RuntimeError: the Beam pipeline finished without a summary of some
      video.
  """
  execution = execution or Execution()
  if not execution.uses_beam:
    return {split: _run_in_process(
        task, source, split, directory,
        progress and (lambda i, n, s=split: progress(s, i, n)))
            for split in splits}
  ids = {split: video_ids(source, split) for split in splits}
  this_run = _run_beam(task, source, directory, execution, ids)
  out = {}
  for split, split_ids in ids.items():
    out[split] = []
    for video_id in split_ids:
      summary = read_record(record_path(directory, split, video_id))
      if summary is None:
        raise RuntimeError(f'the Beam pipeline ({execution.runner}) finished '
                           f'without writing video {video_id} of {split} in '
                           f'{directory}')
      out[split].append({**summary,
                         THIS_RUN: (split, video_id) in this_run})
  return out


def run_videos(task: VideoTask, source, split: str, directory: str,
               execution: Optional[Execution] = None,
               progress: Optional[Callable[[int, int], None]] = None
              ) -> List[Dict[str, Any]]:
  """run_splits on one split: its summaries in the dataset's order.

  progress is called with (videos done, total) by the in-process loop.
  """
  return run_splits(task, source, [split], directory, execution,
                    progress and (lambda _, i, n: progress(i, n)))[split]
