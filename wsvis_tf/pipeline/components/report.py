"""Stage 'report': report.md, a page a person reads after a run.

Reads every earlier stage's record (its wall time) and, where the run has
them, the pseudo_labels, predict_maskrcnn / predict, track_maskrcnn /
track and evaluate stages. Writes into its directory

  report.md           the paper's tables the run can fill:
                      Table 4 analogue (the pseudo-labels' frame AP50 / AP
                      on the training frames and the frames left without
                      instances), Table 6 (Mask R-CNN vs MaskConsist:
                      held-out frame AP50, AP, TC), Table 3 (video mAP,
                      AP50, AP75, AR1, AR10 after tracking), the stage wall
                      times, and the images below;
  images/frames_<split>.png  a few frames (64-colour PNG): ground truth
                      beside the pseudo-labels (training frames) and each
                      segmenter's predictions with score >= display_score;
  images/tracks_<video>.gif  per shown held-out video, the ground-truth
                      tracks beside each segmenter's tracks, every track in
                      one colour throughout (its rank in the video).

Config: {'num_videos' (videos shown per split), 'frames_per_video',
'display_score' (predictions drawn from this score), 'gif_frame_ms',
'max_gif_frames' (the first listed frames of a video), 'gif_scale' (frames
resized by it in the GIFs, to keep them small)}.
"""

import collections
import itertools
import os
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import cv2
import numpy as np
import tensorflow_datasets as tfds

from wsvis_tf.core import atomic_io
from wsvis_tf.core import keys
from wsvis_tf.core import mask_ops
from wsvis_tf.evaluation import frame_ap
from wsvis_tf.evaluation import video_ap
from wsvis_tf.irn import pseudo_labels as pseudo_lib
from wsvis_tf.pipeline import stage as stage_lib
from wsvis_tf.pipeline.components import data as data_component
from wsvis_tf.pipeline.components import segmenter
from wsvis_tf.pipeline.components import video as video_component
from wsvis_tf.tracking import frame_predictions
from wsvis_tf.tracking import results as results_lib
from wsvis_tf.viz import image_files
from wsvis_tf.viz import overlays

NAME = 'report'
REPORT = 'report.md'
IMAGES_DIR = 'images'
FRAMES_PNG = 'frames_{split}.png'
TRACKS_GIF = 'tracks_{video}.gif'
PSEUDO_LABELS = 'pseudo_labels'
PSEUDO_LABELS_JSON = 'pseudo_labels.json'
DEFAULTS = {'num_videos': 2, 'frames_per_video': 3, 'display_score': 0.5,
            'gif_frame_ms': 200, 'max_gif_frames': 24, 'gif_scale': 1.0}
# Instances drawn per panel: the highest scoring ones.
MAX_DRAWN = 8
# The GIFs' palette: flat overlays on textured frames need few colours, and
# fewer colours make a smaller file (~15 % from 64 to 32).
GIF_COLORS = 32

# (masks [N, H, W] bool, labels [N], colour ids [N]) of one panel.
Panel = Tuple[np.ndarray, List[str], List[int]]


def _pct(value: Optional[float]) -> str:
  if value is None:
    return '-'
  return 'n/a' if value < 0 else f'{100 * value:.1f}'


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
  lines = ['| ' + ' | '.join(header) + ' |',
           '|' + '|'.join('---' for _ in header) + '|']
  lines += ['| ' + ' | '.join(str(c) for c in row) + ' |' for row in rows]
  return '\n'.join(lines)


# --- tables -----------------------------------------------------------------


def pseudo_label_table(record: stage_lib.StageRecord) -> str:
  """Paper Table 4 analogue: the pseudo-labels against the ground truth."""
  m = record.metrics
  frames = m.get('frames', 0)
  empty = m.get('frames_without_instances')
  empty_text = ('-' if empty is None else
                f'{empty} / {frames} ({100 * empty / max(frames, 1):.1f} %)')
  method = 'flowIRN' if record.config.get('use_fcam', m.get('use_fcam')) \
      else 'IRN'
  return _table(['pseudo-labels', 'AP50', 'AP', 'frames without instances'],
                [[method, _pct(m.get(frame_ap.AP50)), _pct(m.get(frame_ap.AP)),
                  empty_text]])


def _ordered_models(evaluation: Mapping[str, Any]
                   ) -> List[Mapping[str, Any]]:
  """metrics.json's models in the paper's order: Mask R-CNN, MaskConsist."""
  models = evaluation[video_component.MODELS_KEY]
  return [models[m.key] for m in video_component.MODELS if m.key in models]


def frame_table(evaluation: Mapping[str, Any]) -> str:
  """Paper Table 6 analogue: held-out frame AP50, AP, TC per segmenter."""
  rows = []
  for model in _ordered_models(evaluation):
    for split, entry in model[video_component.SPLITS_KEY].items():
      if split == 'train':
        continue
      f = entry.get(video_component.FRAME_KEY, {})
      rows.append([model['title'], split, _pct(f.get(frame_ap.AP50)),
                   _pct(f.get(frame_ap.AP)), _pct(f.get(video_component.TC))])
  return _table(['model', 'split', 'AP50', 'AP', 'TC'], rows)


def video_table(evaluation: Mapping[str, Any]) -> str:
  """Paper Table 3 analogue: video AP / AR of each segmenter + tracking."""
  rows = []
  for model in _ordered_models(evaluation):
    for split, entry in model[video_component.SPLITS_KEY].items():
      v = entry.get(video_component.VIDEO_KEY)
      if v is None:
        continue
      rows.append([f'{model["title"]} + tracking', split] +
                  [_pct(v[k]) for k in (video_ap.MAP, video_ap.AP50,
                                        video_ap.AP75, video_ap.AR1,
                                        video_ap.AR10)])
  return _table(['model', 'split', 'mAP', 'AP50', 'AP75', 'AR1', 'AR10'],
                rows)


def semantic_lines(evaluation: Mapping[str, Any]) -> List[str]:
  skipped = evaluation.get(video_component.SEMANTIC_KEY, {}).get(
      video_component.SKIPPED_KEY)
  if skipped:
    return [f'Semantic IoU: not computed ({skipped}).']
  rows = []
  for model in _ordered_models(evaluation):
    for split, entry in model[video_component.SPLITS_KEY].items():
      s = entry.get(video_component.SEMANTIC_KEY)
      if s:
        rows.append([model['title'], split, _pct(s['mIoU'])])
  return [_table(['model', 'split', 'semantic mIoU'], rows)] if rows else []


def wall_time_table(records: Sequence[stage_lib.StageRecord]) -> str:
  """Each stage's wall time and the pipeline process's peak RSS after it
  (StageRecord.peak_rss_mb; '-' in records without it)."""
  rows = [[r.name, f'{r.wall_time_s:.1f}', r.peak_text(), r.finished_at]
          for r in records]
  total = sum(r.wall_time_s for r in records)
  rows.append(['**total**', f'**{total:.1f}**', '', ''])
  return _table(['stage', 'wall s', 'peak RSS MiB', 'finished'], rows)


# --- images -----------------------------------------------------------------


def _panel(annotations: Sequence[Mapping[str, Any]], names: Mapping[int, str],
           min_score: Optional[float]) -> Panel:
  """The instances to draw: score >= min_score (None: ground truth)."""
  if min_score is not None:
    annotations = sorted([a for a in annotations if a['score'] >= min_score],
                         key=lambda a: -a['score'])[:MAX_DRAWN]
  masks = [mask_ops.decode(a['segmentation']) != 0 for a in annotations]
  labels = [names.get(a['category_id'], str(a['category_id'])) +
            (f' {a["score"]:.2f}' if min_score is not None else '')
            for a in annotations]
  return (np.stack(masks) if masks else None, labels,
          list(range(len(masks))))


def _draw(image: np.ndarray, panel: Panel, title: str) -> np.ndarray:
  masks, labels, colors = panel
  if masks is not None:
    image = overlays.draw_instances(image, masks, labels, colors)
  return overlays.caption(image, title)


def _gt_frames(path: str) -> Dict[str, List[Dict[str, Any]]]:
  """file_name -> annotations of the data stage's COCO ground truth."""
  coco = atomic_io.read_json(path)
  by_id = {im['id']: im['file_name'] for im in coco['images']}
  out = {name: [] for name in by_id.values()}
  for ann in coco['annotations']:
    out[by_id[ann['image_id']]].append(ann)
  return out


def _by_file_name(index: frame_predictions.PredictionIndex
                 ) -> Dict[str, List[Dict[str, Any]]]:
  return {f.file_name: f.annotations
          for frames in index.values() for f in frames.values()}


def frames_sheet(videos: Sequence[Mapping[str, Any]],
                 columns: Sequence[Tuple[str, Optional[Mapping[str, Any]]]],
                 names: Mapping[int, str], frames_per_video: int,
                 display_score: float
                ) -> Tuple[np.ndarray, List[Tuple[str, List[int]]]]:
  """Rows of frames: each column a source of instances drawn on the frame.

  Args:
    videos: Per-video numpy dicts (FRAMES, FRAME_NAMES, VIDEO_ID).
    columns: (title, {file_name: annotations}) per column; the first is the
      ground truth (drawn in full), the others scored predictions (drawn
      from display_score); a frame a column lacks is left plain.
    names: Category id -> name.
    frames_per_video: Frames shown per video, evenly spaced.
    display_score: The predictions' drawing threshold.

  Returns:
    A [H', W', 3] uint8 image, and its rows: (video, [frame indices]) per
    video, top to bottom.
  """
  rows, shown_rows = [], []
  for video in videos:
    name = keys.as_text(video[keys.VIDEO_ID])
    file_names = [pseudo_lib.coco_file_name(name, keys.as_text(f))
                  for f in video[keys.FRAME_NAMES]]
    shown = [t for t in range(len(file_names))
             if any(file_names[t] in c for _, c in columns if c is not None)]
    if not shown:
      continue
    picks = [shown[int(round(i))] for i in np.unique(np.linspace(
        0, len(shown) - 1, frames_per_video).round())]
    for t in picks:
      row = []
      for c, (title, column) in enumerate(columns):
        anns = (column or {}).get(file_names[t])
        panel = (_panel(anns, names, None if c == 0 else display_score)
                 if anns is not None else (None, [], []))
        row.append(_draw(np.asarray(video[keys.FRAMES][t]), panel,
                         f'{title} t{t}' if c == 0 else title))
      rows.append(row)
    shown_rows.append((name, picks))
  if not rows:
    raise ValueError('report: no frame to show')
  return overlays.grid(rows), shown_rows


def track_panels(entries: Sequence[Mapping[str, Any]], num_frames: int
                ) -> List[Panel]:
  """Per listed frame, the tracks' masks with colour = the track's rank.

  Args:
    entries: One video's YouTube-VIS results (or ground-truth annotations:
      no score), best first; entry k keeps colour k and label '#k' on every
      frame.
    num_frames: Frames the entries list.
  """
  panels = []
  for t in range(num_frames):
    masks, labels, colors = [], [], []
    for k, e in enumerate(entries[:MAX_DRAWN]):
      seg = e[results_lib.SEGMENTATIONS][t]
      if seg is None:
        continue
      masks.append(mask_ops.decode(seg) != 0)
      # The track id only: the frame sheets name the classes, and a class
      # name covers a third of a small frame.
      labels.append(f'#{k}')
      colors.append(k)
    panels.append((np.stack(masks) if masks else None, labels, colors))
  return panels


def _scaled(frame: np.ndarray, panel: Panel, scale: float
           ) -> Tuple[np.ndarray, Panel]:
  """The frame (area-averaged) and its masks (nearest) resized by scale."""
  if scale == 1.0:
    return frame, panel
  height = max(int(round(frame.shape[0] * scale)), 1)
  width = max(int(round(frame.shape[1] * scale)), 1)
  frame = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
  masks, labels, colors = panel
  if masks is not None:
    masks = np.stack([cv2.resize(m.astype(np.uint8), (width, height),
                                 interpolation=cv2.INTER_NEAREST) != 0
                      for m in masks])
  return frame, (masks, labels, colors)


def track_legend(entries: Sequence[Mapping[str, Any]],
                 names: Mapping[int, str]) -> str:
  """'#0 class (score), #1 ...' of the tracks track_panels draws."""
  return ', '.join(
      f'#{k} {names.get(e["category_id"], e["category_id"])}' +
      (f' ({e["score"]:.2f})' if 'score' in e else '')
      for k, e in enumerate(entries[:MAX_DRAWN])) or 'none'


def tracks_gif(frames: np.ndarray,
               columns: Sequence[Tuple[str, Sequence[Panel]]],
               frame_ms: int, scale: float = 1.0) -> bytes:
  """An animated GIF: per frame, the columns' panels side by side.

  Args:
    frames: [T, H, W, 3] uint8, the listed frames of the video.
    columns: (title, T panels) per column.
    frame_ms: Display time of a frame.
    scale: Frames and masks are resized by it before drawing (the labels
      keep their size): a GIF of textured frames is ~0.5 byte a pixel.
  """
  out = []
  for t, frame in enumerate(frames):
    tiles = [_draw(*_scaled(frame, panels[t], scale), f'{title} t{t}')
             for title, panels in columns]
    out.append(overlays.grid([tiles]))
  return image_files.gif_bytes(out, frame_ms, GIF_COLORS)


# --- the stage --------------------------------------------------------------


def _models(ctx: stage_lib.StageContext) -> List[video_component.Model]:
  return [m for m in video_component.MODELS if m.predict_stage in ctx.inputs]


def _images(ctx: stage_lib.StageContext, names: Mapping[int, str]
           ) -> Tuple[List[str], Dict[str, int]]:
  """Writes the PNGs and GIFs; returns report lines and image sizes."""
  source = ctx.resources['source']
  cfg = ctx.config
  data_record = ctx.input(data_component.NAME)
  os.makedirs(ctx.path(IMAGES_DIR), exist_ok=True)
  lines, sizes = [], {}
  models = _models(ctx)
  for split in source.splits:
    gt_path = data_component.frames_gt_path(data_record, split)
    if not os.path.exists(gt_path):
      continue
    columns = [('GT', _gt_frames(gt_path))]
    if split == 'train' and PSEUDO_LABELS in ctx.inputs:
      columns.append(('pseudo-labels', _by_file_name(frame_predictions.load(
          ctx.input(PSEUDO_LABELS).path(PSEUDO_LABELS_JSON)))))
    for model in models:
      path = ctx.input(model.predict_stage).path(
          segmenter.PREDICTIONS.format(split=split))
      if os.path.exists(path):
        columns.append((model.title,
                        _by_file_name(frame_predictions.load(path))))
    if len(columns) == 1:
      continue
    videos = list(itertools.islice(tfds.as_numpy(source.videos(split)),
                                   cfg['num_videos']))
    sheet, shown = frames_sheet(videos, columns, names,
                                cfg['frames_per_video'], cfg['display_score'])
    rel = os.path.join(IMAGES_DIR, FRAMES_PNG.format(split=split))
    atomic_io.write_bytes(ctx.path(rel), image_files.png_bytes(sheet))
    sizes[rel] = os.path.getsize(ctx.path(rel))
    what = ', '.join(t for t, _ in columns[1:])
    where = '; '.join(f'{v} frames {", ".join(map(str, ts))}'
                      for v, ts in shown)
    lines += [f'### {split}: ground truth, {what}', '',
              f'Rows, top to bottom: {where}. Predictions drawn from score '
              f'{cfg["display_score"]}.', '',
              f'![{split} frames]({rel})', '']
    if split == 'train':
      continue
    gifs = _gifs(ctx, split, videos, names, models)
    for video, rel, legend in gifs:
      sizes[rel] = os.path.getsize(ctx.path(rel))
      lines += [f'Tracks of {video} ({split}): ground truth, then each '
                'segmenter + UnOVOST; a colour is one track id.', '',
                f'![tracks {video}]({rel})', ''] + [
                    f'- {line}' for line in legend] + ['']
  return lines, sizes


def _gifs(ctx, split: str, videos, names: Mapping[int, str],
          models: Sequence[video_component.Model]
         ) -> List[Tuple[str, str, List[str]]]:
  """One GIF per shown held-out video: (video, path, legend lines)."""
  gt = video_component.ground_truth_videos(ctx.input(data_component.NAME),
                                           split)
  tracked = [m for m in models if m.track_stage in ctx.inputs and
             os.path.exists(ctx.input(m.track_stage).path(
                 video_component.TRACKS.format(split=split)))]
  if gt is None or not tracked:
    return []
  gt_by_name = {v['name']: v for v in gt['videos']}
  gt_tracks = collections.defaultdict(list)
  for ann in gt['annotations']:
    gt_tracks[ann['video_id']].append(ann)
  model_tracks = {}
  for m in tracked:
    by_video = collections.defaultdict(list)
    for e in atomic_io.read_json(ctx.input(m.track_stage).path(
        video_component.TRACKS.format(split=split))):
      by_video[e[results_lib.VIDEO_ID]].append(e)
    model_tracks[m.title] = by_video
  out = []
  for video in videos:
    name = keys.as_text(video[keys.VIDEO_ID])
    info = gt_by_name.get(name)
    if info is None:
      continue
    file_names = [pseudo_lib.coco_file_name(name, keys.as_text(f))
                  for f in video[keys.FRAME_NAMES]]
    position = {f: t for t, f in enumerate(file_names)}
    listed = [position[f] for f in info['file_names']]
    limit = min(len(listed), ctx.config['max_gif_frames'])
    entries = [('GT', gt_tracks[info['id']])] + [
        (title, by_video[info['id']])
        for title, by_video in model_tracks.items()]
    columns = [(title, track_panels(e, limit)) for title, e in entries]
    gif = tracks_gif(np.asarray(video[keys.FRAMES])[listed[:limit]], columns,
                     ctx.config['gif_frame_ms'], ctx.config['gif_scale'])
    rel = os.path.join(IMAGES_DIR, TRACKS_GIF.format(
        video=name.replace('/', '_')))
    atomic_io.write_bytes(ctx.path(rel), gif)
    out.append((name, rel, [f'{title}: {track_legend(e, names)}'
                            for title, e in entries]))
  return out


def _run(ctx: stage_lib.StageContext) -> Dict[str, Any]:
  source = ctx.resources['source']
  names = {c + 1: n for c, n in enumerate(source.class_names)}
  records = [ctx.input(n) for n in ctx.stage.inputs]
  lines = [f'# wsvis-tf report: {source.name}', '',
           f'Work directory `{ctx.work_dir}`; every number below is in %, '
           'from the stage records and files of this run.', '']
  if PSEUDO_LABELS in ctx.inputs:
    lines += ['## Pseudo-labels (paper Table 4 analogue)', '',
              'Frame AP of the pseudo-labels against the ground truth of the '
              'training frames.', '',
              pseudo_label_table(ctx.input(PSEUDO_LABELS)), '']
  metrics: Dict[str, Any] = {}
  if video_component.EVALUATE in ctx.inputs:
    evaluation = atomic_io.read_json(ctx.input(video_component.EVALUATE).path(
        video_component.METRICS_JSON))
    lines += ['## Mask R-CNN vs MaskConsist (paper Table 6 analogue)', '',
              'Frame AP50 / AP and temporal consistency (TC) on the held-out '
              'frames.', '', frame_table(evaluation), '',
              '## Video instance segmentation (paper Table 3 analogue)', '',
              'Each segmenter\'s frame predictions tracked with UnOVOST, '
              'scored with the YouTube-VIS metric.', '',
              video_table(evaluation), ''] + semantic_lines(evaluation) + ['']
  lines += ['## Stage wall times and peak memory', '',
            wall_time_table(records), '']
  image_lines, sizes = _images(ctx, names)
  if image_lines:
    lines += ['## Frames and tracks', ''] + image_lines
  atomic_io.write_text(ctx.path(REPORT), '\n'.join(lines))
  metrics['images'] = len(sizes)
  metrics['image_bytes'] = sum(sizes.values())
  return metrics


def make_stage(config: Mapping[str, Any],
               stage_names: Sequence[str]) -> stage_lib.Stage:
  """The report over every stage in stage_names (all earlier stages)."""
  return stage_lib.Stage(
      name=NAME, run=_run,
      config=video_component.config_with_defaults(config, DEFAULTS, 'report'),
      inputs=tuple(n for n in stage_names if n != NAME),
      outputs=(REPORT, IMAGES_DIR),
      description='report.md: the tables, wall times, overlays and track '
      'GIFs')
