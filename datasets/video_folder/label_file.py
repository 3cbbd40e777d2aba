"""The label file of a video folder: which classes each video shows.

CSV (labels.csv), one row per video, classes joined by ';':

  video,classes,split
  clips/dog_park.mp4,dog;person,train
  frames/cat_sofa,cat,validation

JSON (labels.json), either form:

  {"classes": ["dog", "cat", "person"],
   "videos": [{"video": "clips/dog_park.mp4", "classes": ["dog", "person"],
               "split": "train"}, ...]}
  {"videos": {"clips/dog_park.mp4": ["dog", "person"], ...}}

`video` is a path relative to the data dir: a video file (anything OpenCV
reads: mp4, avi, mov, mkv, ...) or a folder of frames (jpg/png/bmp, in
natural name order). `split` is optional: train (default) or validation.
The class list, and so the class indices, is `classes` (JSON) or
classes.txt beside labels.csv (one name a line), in that order; with a class
list a row naming another class is an error. Without one, the classes are
the sorted names the rows use.
"""

import csv
import dataclasses
import hashlib
import io
import json
import os
from typing import Any, Dict, List, Optional, Tuple

from datasets.real_video import frame_io
from datasets.real_video import manual_dir

LABEL_FILES = ('labels.csv', 'labels.json')
CLASSES_FILE = 'classes.txt'
SPLITS = {'train': 'train', '': 'train', 'validation': 'validation',
          'val': 'validation'}
CLASS_SEPARATOR = ';'


@dataclasses.dataclass
class Entry:
  """One video of the label file."""
  path: str  # Absolute path of the video file or frame folder.
  video_id: str  # Its path relative to the data dir, without extension.
  classes: List[int]  # 0-based indices into LabelFile.class_names.
  split: str  # 'train' or 'validation'.
  where: str  # 'labels.csv line 3', for messages.


@dataclasses.dataclass
class LabelFile:
  path: str
  class_names: List[str]
  entries: List[Entry]

  def fingerprint(self) -> str:
    """Changes when the labels, classes or any listed video changes."""
    h = hashlib.sha256()
    with open(self.path, 'rb') as f:
      h.update(f.read())
    h.update('\n'.join(self.class_names).encode())
    for entry in self.entries:
      h.update(entry.video_id.encode())
      for name, stat in _stats(entry.path):
        h.update(f'{name}:{stat.st_size}:{stat.st_mtime_ns}'.encode())
    return h.hexdigest()[:12]


def _stats(path: str):
  if os.path.isdir(path):
    for name in sorted(os.listdir(path)):
      yield name, os.stat(os.path.join(path, name))
  else:
    yield '', os.stat(path)


def find(root: str, name: Optional[str] = None) -> str:
  """The label file in root: `name`, or the one of labels.csv/.json."""
  if name:
    path = os.path.join(root, name)
    if not os.path.isfile(path):
      raise manual_dir.InputError(f'missing label file {path} (option '
                                  'labels_file)')
    return path
  found = [n for n in LABEL_FILES if os.path.isfile(os.path.join(root, n))]
  if not found:
    raise manual_dir.InputError(
        f'no label file in {root}: expected {" or ".join(LABEL_FILES)} '
        'mapping each video to its class names (format: '
        'datasets/real_video/README.md).')
  if len(found) > 1:
    raise manual_dir.InputError(
        f'{root} holds both {found[0]} and {found[1]}; keep one, or choose '
        'with --dataset_options=labels_file=NAME')
  return os.path.join(root, found[0])


def _rows_from_csv(path: str) -> List[Tuple[str, Dict[str, Any]]]:
  with open(path, newline='', encoding='utf-8-sig') as f:
    text = f.read()
  reader = csv.DictReader(io.StringIO(text))
  fields = [c.strip() for c in (reader.fieldnames or [])]
  missing = {'video', 'classes'} - set(fields)
  if missing:
    raise manual_dir.InputError(
        f'{path}: the header must name columns video and classes (and '
        f'optionally split); it has {fields}')
  rows = []
  for row in reader:
    row = {(k or '').strip(): (v or '').strip() for k, v in row.items()}
    if not any(row.values()):
      continue
    names = [c.strip() for c in row['classes'].split(CLASS_SEPARATOR)]
    rows.append((f'{path} line {reader.line_num}',
                 {'video': row['video'], 'classes': [c for c in names if c],
                  'split': row.get('split', '')}))
  return rows


def _rows_from_json(path: str) -> Tuple[List[Tuple[str, Dict[str, Any]]],
                                        Optional[List[str]]]:
  try:
    with open(path, encoding='utf-8') as f:
      raw = json.load(f)
  except ValueError as e:
    raise manual_dir.InputError(f'{path} is not valid JSON: {e}') from e
  if not isinstance(raw, dict) or 'videos' not in raw:
    raise manual_dir.InputError(f'{path}: expected an object with "videos"')
  videos = raw['videos']
  if isinstance(videos, dict):
    videos = [{'video': k, 'classes': v} for k, v in videos.items()]
  rows = []
  for i, v in enumerate(videos):
    where = f'{path} videos[{i}]'
    if not isinstance(v, dict) or not isinstance(v.get('video'), str) or (
        not isinstance(v.get('classes'), list)):
      raise manual_dir.InputError(
          f'{where}: expected {{"video": path, "classes": [names]}}, got '
          f'{str(v)[:120]}')
    rows.append((where, {'video': v['video'],
                         'classes': [str(c) for c in v['classes']],
                         'split': str(v.get('split', ''))}))
  classes = raw.get('classes')
  if classes is not None and not (isinstance(classes, list) and
                                  all(isinstance(c, str) for c in classes)):
    raise manual_dir.InputError(f'{path}: "classes" must be a list of names')
  return rows, classes


def _class_list(path: str) -> Optional[List[str]]:
  classes_path = os.path.join(os.path.dirname(path), CLASSES_FILE)
  if not os.path.isfile(classes_path):
    return None
  with open(classes_path, encoding='utf-8') as f:
    return [line.strip() for line in f if line.strip()]


def _video_id(root: str, rel: str) -> str:
  rel = os.path.normpath(rel)
  stem = rel if os.path.isdir(os.path.join(root, rel)) else (
      os.path.splitext(rel)[0])
  # Ids name folders of later outputs ('<video>/<frame>.jpg'): one level.
  return stem.replace(os.sep, '__')


def read(root: str, name: Optional[str] = None) -> LabelFile:
  """Reads and checks the label file of the video folder `root`."""
  path = find(root, name)
  if path.endswith('.json'):
    rows, classes = _rows_from_json(path)
    classes_source = f'"classes" of {path}'
  else:
    rows, classes = _rows_from_csv(path), _class_list(path)
    classes_source = os.path.join(os.path.dirname(path), CLASSES_FILE)
  if not rows:
    raise manual_dir.InputError(f'{path} lists no videos')
  if classes is None:
    classes = sorted({c for _, row in rows for c in row['classes']})
    if not classes:
      raise manual_dir.InputError(f'{path}: no video names a class')
  elif len(set(classes)) != len(classes):
    raise manual_dir.InputError(f'{classes_source} lists a class twice')
  index = {c: i for i, c in enumerate(classes)}
  entries, ids = [], {}
  for where, row in rows:
    rel = row['video']
    full = os.path.join(root, rel)
    if not rel or not os.path.exists(full):
      raise manual_dir.InputError(f'{where}: video {full} does not exist')
    if os.path.isdir(full) and not frame_io.image_files(os.listdir(full)):
      raise manual_dir.InputError(f'{where}: folder {full} holds no frames '
                                  f'({", ".join(frame_io.IMAGE_EXTENSIONS)})')
    unknown = [c for c in row['classes'] if c not in index]
    if unknown:
      raise manual_dir.InputError(
          f'{where}: unknown class(es) {unknown} for video {rel}; the '
          f'classes ({classes_source}) are {classes}')
    split = SPLITS.get(row['split'].lower())
    if split is None:
      raise manual_dir.InputError(f'{where}: split must be train or '
                                  f'validation, got {row["split"]!r}')
    video_id = _video_id(root, rel)
    if video_id in ids:
      raise manual_dir.InputError(f'{where}: video {rel} has the same id '
                                  f'{video_id!r} as {ids[video_id]}')
    ids[video_id] = where
    entries.append(Entry(full, video_id,
                         sorted({index[c] for c in row['classes']}), split,
                         where))
  return LabelFile(path, list(classes), entries)

