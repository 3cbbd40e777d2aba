"""Stage 'data': prepares the video source and exports its ground truth.

Writes, for every split of the dataset, the evaluation ground truth in the
standard formats (so that any external tool can check our numbers):
  ground_truth/<split>_frames.json   COCO instances JSON, annotated frames
  ground_truth/<split>_videos.json   YouTube-VIS 2019 JSON
and dataset.json (name, class names, splits, counts, frame size).
"""

import os
from typing import Any, Dict, Mapping

from absl import logging
import tensorflow_datasets as tfds

from wsvis_tf.core import atomic_io
from wsvis_tf.core import keys
from wsvis_tf.data import gt_export
from wsvis_tf.pipeline import stage as stage_lib

NAME = 'data'
SUMMARY = 'dataset.json'
GT_DIR = 'ground_truth'


def frames_gt_path(record: stage_lib.StageRecord, split: str) -> str:
  return record.path(os.path.join(GT_DIR, f'{split}_frames.json'))


def videos_gt_path(record: stage_lib.StageRecord, split: str) -> str:
  return record.path(os.path.join(GT_DIR, f'{split}_videos.json'))


def _relative_to(path: str, root: str) -> str:
  rel = os.path.relpath(os.path.abspath(path), os.path.abspath(root))
  return path if rel.startswith('..') else rel


def _run(ctx: stage_lib.StageContext) -> Dict[str, Any]:
  source = ctx.resources['source']
  source.prepare()
  class_names = source.class_names
  summary = {'dataset': source.name,
             'tfds_name': source.builder.info.full_name,
             # Relative to the work dir when inside it, so that the same
             # data gives the same record in any work dir.
             'data_dir': _relative_to(source.builder.data_dir, ctx.work_dir),
             'class_names': class_names, 'splits': {}}
  metrics = {}
  for split in source.splits:
    examples = []
    frames = annotated = 0
    size = None
    for i, video in enumerate(tfds.as_numpy(source.videos(split))):
      # Ground truth only: drop pixels and flow to keep memory small.
      examples.append({k: v for k, v in video.items()
                       if k not in (keys.FRAMES, keys.GT_FLOW,
                                    keys.GT_OCCLUSION)})
      size = video[keys.FRAMES].shape[1:3]
      frames += len(video[keys.FRAMES])
      annotated += int(video[keys.ANNOTATED].sum())
      ctx.progress(i + 1, source.num_videos(split), f'{split} videos')
    coco = gt_export.videos_to_coco_json(examples, class_names)
    ytvis = gt_export.videos_to_ytvis_json(examples, class_names)
    atomic_io.write_json(ctx.path(os.path.join(GT_DIR,
                                               f'{split}_frames.json')), coco)
    atomic_io.write_json(ctx.path(os.path.join(GT_DIR,
                                               f'{split}_videos.json')), ytvis)
    summary['splits'][split] = {
        'videos': len(examples), 'frames': frames,
        'annotated_frames': annotated,
        'instances': len(ytvis['annotations']),
        'frame_size': [int(v) for v in size] if size is not None else None}
    metrics[f'{split}_videos'] = len(examples)
    metrics[f'{split}_annotated_frames'] = annotated
    logging.info('[data] %s: %d videos, %d annotated frames, %d tracks',
                 split, len(examples), annotated, len(ytvis['annotations']))
  atomic_io.write_json(ctx.path(SUMMARY), summary, indent=2)
  return metrics


def make_stage(source, config: Mapping[str, Any]) -> stage_lib.Stage:
  """The data stage for a VideoSource (see wsvis_tf.data.sources)."""
  config = dict(config)
  config.update({'dataset': source.name,
                 'tfds_name': source.builder.info.full_name,
                 'tfds_version': str(source.builder.info.version)})
  return stage_lib.Stage(
      name=NAME, run=_run, config=config, outputs=(SUMMARY, GT_DIR),
      description=f'prepare {source.builder.info.full_name} and export '
      'its ground truth')
