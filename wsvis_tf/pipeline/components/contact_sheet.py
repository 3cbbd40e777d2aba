"""Stage 'contact_sheet': a PNG of frames with ground truth and flow.

Rows per video: the frames with their ground-truth instances, the
ground-truth flow t -> t+1 (procedural data), and, when the graph has those
stages, the extracted DDFlow flow t -> t+1 and the pseudo-labels of the
'pseudo_labels' stage (class and score on each instance).
"""

import collections
import itertools
import json
import os
from typing import Any, Dict, List, Mapping, Optional, Tuple

import cv2
import numpy as np
import tensorflow_datasets as tfds

from wsvis_tf.core import keys
from wsvis_tf.core import mask_ops
from wsvis_tf.pipeline import stage as stage_lib
from wsvis_tf.viz import contact_sheet
from wsvis_tf.viz import overlays

NAME = 'contact_sheet'
OUTPUT = 'contact_sheet.png'
# The DDFlow extraction stage (components/flow.py), when the graph has one.
FLOW_STAGE = 'flow'
# The instance pseudo-label stage (components/irn.py) and its output.
PSEUDO_STAGE = 'pseudo_labels'
PSEUDO_JSON = 'pseudo_labels.json'
# Pseudo-labels drawn per frame: the highest scoring ones.
MAX_DRAWN = 8


def _run(ctx: stage_lib.StageContext) -> Dict[str, Any]:
  source = ctx.resources['source']
  split = ctx.config['split']
  videos = list(itertools.islice(tfds.as_numpy(source.videos(split)),
                                 ctx.config['num_videos']))
  if not videos:
    raise ValueError(f'contact_sheet: split {split!r} has no videos')
  flow_record = ctx.input(FLOW_STAGE) if FLOW_STAGE in ctx.inputs else None
  pseudo = (load_pseudo_labels(ctx.input(PSEUDO_STAGE).path(PSEUDO_JSON))
            if PSEUDO_STAGE in ctx.inputs else None)
  if flow_record is None and pseudo is None:
    sheet = contact_sheet.contact_sheet(videos, source.class_names,
                                        ctx.config['frames_per_video'])
  else:
    sheet = _sheet(videos, source.class_names,
                   ctx.config['frames_per_video'], flow_record, pseudo)
  overlays.write_png(ctx.path(OUTPUT), sheet)
  return {'videos': len(videos), 'height': int(sheet.shape[0]),
          'width': int(sheet.shape[1])}


PseudoIndex = Dict[Tuple[str, int], List[Tuple[np.ndarray, str]]]


def load_pseudo_labels(path: str) -> PseudoIndex:
  """{(video id, frame index): [(mask [H, W] uint8, 'class score'), ...]}.

  Reads the pseudo_labels stage's COCO instances JSON, whose images name
  frames '<video>/<frame file>' with a 'frame_index'; at most MAX_DRAWN
  instances per frame, best score first.
  """
  with open(path) as f:
    coco = json.load(f)
  try:
    names = {c['id']: c['name'] for c in coco['categories']}
    frames = {}
    for im in coco['images']:
      frames[im['id']] = (os.path.dirname(im['file_name']),
                          int(im['frame_index']))
    per_frame = collections.defaultdict(list)
    for ann in coco['annotations']:
      per_frame[frames[ann['image_id']]].append(ann)
  except KeyError as e:
    raise ValueError(f'{path}: pseudo-label file lacks field {e}') from e
  out = {}
  for key, anns in per_frame.items():
    anns = sorted(anns, key=lambda a: -a.get('score', 1.0))[:MAX_DRAWN]
    out[key] = [(mask_ops.decode(a['segmentation']),
                 f"{names.get(a['category_id'], a['category_id'])} "
                 f"{a.get('score', 1.0):.2f}") for a in anns]
  return out


def _pseudo_tiles(video, picks, pseudo: PseudoIndex,
                  size: Tuple[int, int]) -> List[np.ndarray]:
  """One tile per picked frame: the frame with its pseudo-labels drawn."""
  vid = video[keys.VIDEO_ID]
  vid = keys.as_text(vid)
  tiles = []
  for t in picks:
    frame = cv2.resize(np.asarray(video[keys.FRAMES][t]), (size[1], size[0]),
                       interpolation=cv2.INTER_LINEAR)
    items = pseudo.get((vid, t), [])
    if items:
      masks = np.stack([cv2.resize(m.astype(np.uint8), (size[1], size[0]),
                                   interpolation=cv2.INTER_NEAREST)
                        for m, _ in items])
      tile = overlays.draw_instances(frame, masks, [l for _, l in items])
    else:
      tile = frame
    tiles.append(overlays.caption(tile, f'pseudo-labels: {len(items)}'))
  return tiles


def _sheet(videos, class_names, frames_per_video: int,
           flow_record, pseudo: Optional[PseudoIndex]) -> np.ndarray:
  """Rows per video: overlays, ground-truth flow, DDFlow, pseudo-labels."""
  store = None
  if flow_record is not None:
    from wsvis_tf.pipeline.components import flow as flow_component  # pylint: disable=g-import-not-at-top
    store = flow_component.store_of(flow_record)

  def ddflow(video, t):
    vid = video[keys.VIDEO_ID]
    vid = keys.as_text(vid)
    return store.read(vid, t, t + 1)

  strip = 14  # overlays.caption's default height
  rows = []
  for video in videos:
    last = max(len(video[keys.FRAMES]) - 2, 0)
    picks = np.unique(np.linspace(0, last, frames_per_video).round()
                      .astype(int)).tolist()
    top, truth = contact_sheet.video_block(video, class_names, picks)
    rows.append(top)
    if video.get(keys.GT_FLOW) is not None:
      rows.append([overlays.caption(tile[strip:], f'true flow t->{t + 1}')
                   for tile, t in zip(truth, picks)])
    if store is not None:
      _, ours = contact_sheet.video_block(video, class_names, picks, ddflow)
      rows.append([overlays.caption(tile[strip:], f'DDFlow t->{t + 1}')
                   for tile, t in zip(ours, picks)])
    if pseudo is not None:
      size = (top[0].shape[0] - strip, top[0].shape[1])
      rows.append(_pseudo_tiles(video, picks, pseudo, size))
  return overlays.grid(rows)


def make_stage(config: Mapping[str, Any],
               flow_stage: Optional[str] = None,
               pseudo_stage: Optional[str] = None) -> stage_lib.Stage:
  """The stage; flow_stage (DDFlow's 'flow') and pseudo_stage add rows."""
  inputs = (('data',) + ((flow_stage,) if flow_stage else ()) +
            ((pseudo_stage,) if pseudo_stage else ()))
  return stage_lib.Stage(
      name=NAME, run=_run, config=dict(config), inputs=inputs,
      outputs=(OUTPUT,),
      description='frames with ground truth, flow and pseudo-labels')
