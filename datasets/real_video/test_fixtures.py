"""Tiny datasets in the official layouts, written at test time.

Videos are boxes moving over noise (a few frames of 24 x 32 px by default),
written as YouTube-VIS (extracted or zipped, annotated frames only or all
frames), Cityscapes (gtFine instanceIds + leftImg8bit_sequence) or a folder
of mp4 files / frame folders with a label file. Nothing binary is committed:
tests call these into a temp dir.
"""

import csv
import json
import os
import shutil
import zipfile
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from wsvis_tf.core import keys
from wsvis_tf.data import gt_export


def moving_boxes(name: str, track_classes: Sequence[int], num_frames: int = 6,
                 height: int = 24, width: int = 32, seed: int = 0,
                 annotate_every: int = 1, first_track_id: int = 1
                ) -> Dict[str, np.ndarray]:
  """One video in the keys.py schema: a box per track, moving.

  Args:
    name: VIDEO_ID.
    track_classes: 0-based class of each track.
    num_frames, height, width: video size.
    seed: noise and motion.
    annotate_every: ANNOTATED on frames 0, k, 2k, ...
    first_track_id: TRACK_IDS are first_track_id, first_track_id + 1, ...
  """
  rng = np.random.default_rng(seed)
  # A smooth background: JPEG keeps it close, so tests can compare pixels.
  coarse = rng.integers(0, 80, (num_frames, 3, 4, 3)).astype(np.uint8)
  frames = np.stack([cv2.resize(c, (width, height),
                                interpolation=cv2.INTER_LINEAR)
                     for c in coarse])
  instance_map = np.zeros((num_frames, height, width, 1), np.uint16)
  for k, c in enumerate(track_classes):
    bh, bw = max(3, height // 3), max(3, width // 4)
    y0 = rng.integers(0, height - bh)
    x0 = rng.integers(0, width - bw)
    vy, vx = rng.integers(-1, 2), rng.choice([-2, -1, 1, 2])
    colour = np.array([120 + 40 * (c % 3), 60 * (c % 4), 200 - 50 * (k % 3)])
    for t in range(num_frames):
      y = int(np.clip(y0 + vy * t, 0, height - bh))
      x = int(np.clip(x0 + vx * t, 0, width - bw))
      frames[t, y:y + bh, x:x + bw] = colour
      instance_map[t, y:y + bh, x:x + bw, 0] = k + 1
  labels = np.zeros((num_frames, max(track_classes, default=0) + 1), bool)
  for k, c in enumerate(track_classes):
    labels[:, c] |= (instance_map[..., 0] == k + 1).any(axis=(1, 2))
  return {
      keys.VIDEO_ID: name,
      keys.FRAMES: frames,
      keys.FRAME_NAMES: [f'{t:05d}.jpg' for t in range(num_frames)],
      keys.FRAME_LABELS: labels,
      keys.ANNOTATED: np.arange(num_frames) % annotate_every == 0,
      keys.INSTANCE_MAP: instance_map,
      keys.TRACK_IDS: np.arange(first_track_id,
                                first_track_id + len(track_classes)),
      keys.TRACK_CLASSES: np.array(track_classes, np.int64),
  }


def write_jpeg(path: str, rgb: np.ndarray) -> None:
  os.makedirs(os.path.dirname(path), exist_ok=True)
  ok, data = cv2.imencode('.jpg', cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                          [cv2.IMWRITE_JPEG_QUALITY, 95])
  assert ok
  with open(path, 'wb') as f:
    f.write(data.tobytes())


def zip_dir(root: str, folder: str, archive: str) -> None:
  """Zips root/folder into root/archive (members 'folder/...'), removes it."""
  with zipfile.ZipFile(os.path.join(root, archive), 'w',
                       zipfile.ZIP_STORED) as zf:
    for dirpath, _, files in os.walk(os.path.join(root, folder)):
      for f in sorted(files):
        full = os.path.join(dirpath, f)
        zf.write(full, os.path.relpath(full, root))
  shutil.rmtree(os.path.join(root, folder))


def write_ytvis(root: str, videos: Sequence[Dict[str, np.ndarray]],
                class_names: Sequence[str], *, all_frames: bool = True,
                annotated_frames: bool = True, zipped: bool = False,
                json_name: str = 'train.json') -> Dict:
  """Writes a YouTube-VIS 2019 download into root; returns its JSON.

  Layout: root/<json_name>; root/train/JPEGImages/<video>/<frame>.jpg for
  the annotated frames (annotated_frames) and root/train_all_frames/
  JPEGImages/... for every frame (all_frames); zipped puts those folders in
  train.zip / train_all_frames.zip instead, as distributed.
  """
  os.makedirs(root, exist_ok=True)
  staging = os.path.join(root, '.staging')
  gt = gt_export.write_ytvis_layout(videos, class_names, staging,
                                    json_name=json_name)
  shutil.move(os.path.join(staging, json_name), os.path.join(root, json_name))
  if annotated_frames:
    os.makedirs(os.path.join(root, 'train'), exist_ok=True)
    shutil.move(os.path.join(staging, 'JPEGImages'),
                os.path.join(root, 'train', 'JPEGImages'))
  shutil.rmtree(staging)
  if all_frames:
    for video in videos:
      for t, name in enumerate(video[keys.FRAME_NAMES]):
        write_jpeg(os.path.join(root, 'train_all_frames', 'JPEGImages',
                                video[keys.VIDEO_ID], name),
                   video[keys.FRAMES][t])
  if zipped:
    if annotated_frames:
      zip_dir(root, 'train', 'train.zip')
    if all_frames:
      zip_dir(root, 'train_all_frames', 'train_all_frames.zip')
  return gt


# Cityscapes labelIds used by the fixtures.
CS_ROAD, CS_PERSON, CS_CAR, CS_CARAVAN, CS_BICYCLE = 7, 24, 26, 29, 33


def cityscapes_frame(seed: int, height: int = 24, width: int = 32
                    ) -> Tuple[np.ndarray, np.ndarray]:
  """(frame [H, W, 3] uint8, instanceIds [H, W] uint16) of one scene.

  Contents: road (labelId 7), two cars (26000, 26001), a person group
  without instance id (24: a crowd region), a bicycle (33000) and a caravan
  (29000, an instance class outside the 8 evaluated ones).
  """
  rng = np.random.default_rng(seed)
  frame = np.zeros((height, width, 3), np.uint8) + rng.integers(0, 60, 3,
                                                                np.uint8)
  ids = np.full((height, width), CS_ROAD, np.uint16)
  ids[2:8, 2:10] = CS_CAR * 1000
  ids[2:8, 12:20] = CS_CAR * 1000 + 1
  ids[12:16, 2:8] = CS_PERSON
  ids[12:20, 22:30] = CS_BICYCLE * 1000
  ids[18:22, 10:16] = CS_CARAVAN * 1000
  for value in np.unique(ids).tolist():
    frame[ids == value] = (value * 37 % 200 + 40, value * 11 % 250, 90)
  return frame, ids


def cs_name(city: str, seq: int, frame: int, suffix: str) -> str:
  return f'{city}_{seq:06d}_{frame:06d}_{suffix}'


def write_cityscapes(root: str,
                     annotated: Dict[str, Sequence[Tuple[str, int, int]]],
                     *, zipped: bool = False, offset: int = 3,
                     height: int = 24, width: int = 32) -> None:
  """Writes gtFine + leftImg8bit_sequence for the annotated frames.

  Args:
    root: the data dir.
    annotated: split ('train', 'val') -> [(city, sequence, frame number)].
      Sequence frames are written from frame - offset - 1 to frame + offset
      + 1 (one more than needed on each side, so tests see the builder pick
      the right ones); the top-left 8 x 8 block of frame + d has value
      100 + 10 * d.
    zipped: put the folders in gtFine_trainvaltest.zip and
      leftImg8bit_sequence_trainvaltest.zip, as distributed.
  """
  n = 0
  for split, items in annotated.items():
    for city, seq, number in items:
      frame, ids = cityscapes_frame(n, height, width)
      n += 1
      gt_dir = os.path.join(root, 'gtFine', split, city)
      os.makedirs(gt_dir, exist_ok=True)
      cv2.imwrite(os.path.join(
          gt_dir, cs_name(city, seq, number, 'gtFine_instanceIds.png')), ids)
      label_ids = np.where(ids >= 1000, ids // 1000, ids).astype(np.uint8)
      cv2.imwrite(os.path.join(
          gt_dir, cs_name(city, seq, number, 'gtFine_labelIds.png')),
                  label_ids)
      seq_dir = os.path.join(root, 'leftImg8bit_sequence', split, city)
      os.makedirs(seq_dir, exist_ok=True)
      for d in range(-offset - 1, offset + 2):
        image = frame.copy()
        image[:8, :8] = 100 + 10 * d
        cv2.imwrite(os.path.join(
            seq_dir, cs_name(city, seq, number + d, 'leftImg8bit.png')),
                    cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
  if zipped:
    zip_dir(root, 'gtFine', 'gtFine_trainvaltest.zip')
    zip_dir(root, 'leftImg8bit_sequence',
            'leftImg8bit_sequence_trainvaltest.zip')


def write_mp4(path: str, frames: np.ndarray, fps: float = 10.0) -> None:
  """Writes [T, H, W, 3] uint8 RGB frames as an mp4 (MPEG-4 part 2)."""
  os.makedirs(os.path.dirname(path), exist_ok=True)
  h, w = frames.shape[1:3]
  writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), fps,
                           (w, h))
  assert writer.isOpened(), f'OpenCV cannot write {path}'
  for frame in frames:
    writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
  writer.release()


def write_video_folder(root: str,
                       videos: Dict[str, Tuple[np.ndarray, Sequence[str]]],
                       *, as_frames: Sequence[str] = (),
                       label_format: str = 'csv',
                       class_list: Optional[Sequence[str]] = None,
                       splits: Optional[Dict[str, str]] = None) -> str:
  """Writes videos and a label file; returns the label file's path.

  Args:
    root: the data dir.
    videos: name -> (frames [T, H, W, 3] uint8, class names).
    as_frames: names written as frame folders (JPEGs) instead of mp4.
    label_format: 'csv' (labels.csv: video,classes[,split] with classes
      joined by ';') or 'json' (labels.json).
    class_list: written as classes.txt (csv) or "classes" (json).
    splits: name -> split, for the optional split column.
  """
  rows: List[Dict[str, object]] = []
  for name, (frames, classes) in videos.items():
    if name in as_frames:
      rel = os.path.join('videos', name)
      for t, frame in enumerate(frames):
        write_jpeg(os.path.join(root, rel, f'frame_{t}.jpg'), frame)
    else:
      rel = os.path.join('videos', name + '.mp4')
      write_mp4(os.path.join(root, rel), frames)
    row = {'video': rel, 'classes': list(classes)}
    if splits and name in splits:
      row['split'] = splits[name]
    rows.append(row)
  if label_format == 'csv':
    path = os.path.join(root, 'labels.csv')
    fields = ['video', 'classes'] + (['split'] if splits else [])
    with open(path, 'w', newline='') as f:
      writer = csv.DictWriter(f, fieldnames=fields)
      writer.writeheader()
      for row in rows:
        writer.writerow(dict(row, classes=';'.join(row['classes'])))
    if class_list is not None:
      with open(os.path.join(root, 'classes.txt'), 'w') as f:
        f.write('\n'.join(class_list) + '\n')
    return path
  path = os.path.join(root, 'labels.json')
  content = {'videos': rows}
  if class_list is not None:
    content['classes'] = list(class_list)
  with open(path, 'w') as f:
    json.dump(content, f, indent=1)
  return path
