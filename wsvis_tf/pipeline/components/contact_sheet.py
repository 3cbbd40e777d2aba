"""Stage 'contact_sheet': a PNG of frames with ground truth and flow.

With a DDFlow 'flow' stage in the graph, each video gets a third row: the
extracted DDFlow flow t -> t+1 beneath the ground-truth flow.
"""

import itertools
from typing import Any, Dict, Mapping, Optional

import numpy as np
import tensorflow_datasets as tfds

from wsvis_tf.core import keys
from wsvis_tf.pipeline import stage as stage_lib
from wsvis_tf.viz import contact_sheet
from wsvis_tf.viz import overlays

NAME = 'contact_sheet'
OUTPUT = 'contact_sheet.png'
# The DDFlow extraction stage (components/flow.py), when the graph has one.
FLOW_STAGE = 'flow'


def _run(ctx: stage_lib.StageContext) -> Dict[str, Any]:
  source = ctx.resources['source']
  split = ctx.config['split']
  videos = list(itertools.islice(tfds.as_numpy(source.videos(split)),
                                 ctx.config['num_videos']))
  if FLOW_STAGE in ctx.inputs:
    sheet = _sheet_with_ddflow(videos, source.class_names,
                               ctx.config['frames_per_video'],
                               ctx.input(FLOW_STAGE))
  else:
    sheet = contact_sheet.contact_sheet(videos, source.class_names,
                                        ctx.config['frames_per_video'])
  overlays.write_png(ctx.path(OUTPUT), sheet)
  return {'videos': len(videos), 'height': int(sheet.shape[0]),
          'width': int(sheet.shape[1])}


def _sheet_with_ddflow(videos, class_names, frames_per_video: int,
                       flow_record) -> np.ndarray:
  """Rows per video: overlays, ground-truth flow, DDFlow flow."""
  from wsvis_tf.pipeline.components import flow as flow_component  # pylint: disable=g-import-not-at-top
  store = flow_component.store_of(flow_record)

  def ddflow(video, t):
    vid = video[keys.VIDEO_ID]
    vid = vid.decode() if isinstance(vid, bytes) else str(vid)
    return store.read(vid, t, t + 1)

  strip = 14  # overlays.caption's default height
  rows = []
  for video in videos:
    last = max(len(video[keys.FRAMES]) - 2, 0)
    picks = np.unique(np.linspace(0, last, frames_per_video).round()
                      .astype(int)).tolist()
    top, truth = contact_sheet.video_block(video, class_names, picks)
    _, ours = contact_sheet.video_block(video, class_names, picks, ddflow)
    if video.get(keys.GT_FLOW) is not None:
      truth = [overlays.caption(tile[strip:], f'true flow t->{t + 1}')
               for tile, t in zip(truth, picks)]
      rows += [top, truth]
    else:
      rows.append(top)
    rows.append([overlays.caption(tile[strip:], f'DDFlow t->{t + 1}')
                 for tile, t in zip(ours, picks)])
  return overlays.grid(rows)


def make_stage(config: Mapping[str, Any],
               flow_stage: Optional[str] = None) -> stage_lib.Stage:
  """The stage; with flow_stage (the DDFlow 'flow' stage) a DDFlow row."""
  inputs = ('data',) + ((flow_stage,) if flow_stage else ())
  return stage_lib.Stage(
      name=NAME, run=_run, config=dict(config), inputs=inputs,
      outputs=(OUTPUT,),
      description='frames with ground-truth overlays and flow')
