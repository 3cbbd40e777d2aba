"""Stage 'contact_sheet': a PNG of frames with ground truth and flow."""

import itertools
from typing import Any, Dict, Mapping

import tensorflow_datasets as tfds

from wsvis_tf.pipeline import stage as stage_lib
from wsvis_tf.viz import contact_sheet
from wsvis_tf.viz import overlays

NAME = 'contact_sheet'
OUTPUT = 'contact_sheet.png'


def _run(ctx: stage_lib.StageContext) -> Dict[str, Any]:
  source = ctx.resources['source']
  split = ctx.config['split']
  videos = list(itertools.islice(tfds.as_numpy(source.videos(split)),
                                 ctx.config['num_videos']))
  sheet = contact_sheet.contact_sheet(videos, source.class_names,
                                      ctx.config['frames_per_video'])
  overlays.write_png(ctx.path(OUTPUT), sheet)
  return {'videos': len(videos), 'height': int(sheet.shape[0]),
          'width': int(sheet.shape[1])}


def make_stage(config: Mapping[str, Any]) -> stage_lib.Stage:
  return stage_lib.Stage(
      name=NAME, run=_run, config=dict(config), inputs=('data',),
      outputs=(OUTPUT,),
      description='frames with ground-truth overlays and flow')
