"""YouTube-VIS annotation JSON: checked parsing and the paper's split.

The JSON (REFERENCES.md section 5): `videos` [{id, width, height,
file_names: ['<video>/<frame>.jpg', ...]}], `categories` [{id, name}],
`annotations` [{id, video_id, category_id, segmentations: [RLE, polygons or
null per listed frame], ...}]. In the 2019 train JSON the listed frames are
the annotated ones (every 5th frame of the video).

The split (paper sec 4.1): `train_val` holds 10 videos per category drawn at
random with a fixed seed, a video counting for every category it contains
(so categories that co-occur need fewer draws; 390 videos in the paper);
`train_train` is the rest. The draw ranks a category's candidate videos by a
hash of (seed, category, video name), so the split depends only on the
JSON's content, not on its order, the Python or the numpy version.

Small datasets (`train_val_split`): when the paper's draw would leave less
than a fraction (70 %) of the videos for training, the validation split is
drawn again, scaled down to fit (see `scaled_split_train_val`); on
YouTube-VIS 2019 (2,238 videos, 390 drawn) the paper's draw is kept as is.
"""

import dataclasses
import hashlib
import json
import math
import re
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Set

from datasets.real_video import manual_dir

# YouTube-VIS 2019 categories, ids 1..40 in this order.
YTVIS_2019_CLASSES = (
    'person', 'giant_panda', 'lizard', 'parrot', 'skateboard', 'sedan', 'ape',
    'dog', 'snake', 'monkey', 'hand', 'rabbit', 'duck', 'cat', 'cow', 'fish',
    'train', 'horse', 'turtle', 'bear', 'motorbike', 'giraffe', 'leopard',
    'fox', 'deer', 'owl', 'surfboard', 'airplane', 'truck', 'zebra', 'tiger',
    'elephant', 'snowboard', 'boat', 'shark', 'mouse', 'frog', 'eagle',
    'earless_seal', 'tennis_racket')


@dataclasses.dataclass
class Track:
  """One annotation: an instance through the listed frames of its video."""
  annotation_id: int
  class_index: int  # 0-based, position of the category in sorted ids.
  segmentations: List[Any]  # One per listed frame: RLE, polygons or None.


@dataclasses.dataclass
class Video:
  """One entry of `videos`, with its tracks in the JSON's order."""
  json_id: int
  name: str  # The frames' folder, e.g. '0043f083b5'.
  height: int
  width: int
  frame_names: List[str]  # Listed frames, e.g. ['00000.jpg', '00005.jpg'].
  tracks: List[Track] = dataclasses.field(default_factory=list)

  @property
  def classes(self) -> Set[int]:
    return {t.class_index for t in self.tracks}


@dataclasses.dataclass
class Annotations:
  source: str  # Where the JSON was read from, for messages.
  class_names: List[str]
  videos: List[Video]


def _require(condition: bool, source: str, message: str) -> None:
  if not condition:
    raise manual_dir.InputError(f'{source}: {message}')


def parse(data: bytes, source: str) -> Annotations:
  """Parses and checks a YouTube-VIS JSON; errors name `source`.

  Checks: the top-level lists exist; category and video ids are unique;
  every video lists frames of one folder; every annotation names a known
  video and a known category and has one segmentation per listed frame.
  """
  try:
    raw = json.loads(data)
  except (ValueError, UnicodeDecodeError) as e:
    raise manual_dir.InputError(f'{source} is not valid JSON: {e}') from e
  _require(isinstance(raw, dict), source, 'expected a JSON object')
  for key in ('videos', 'categories'):
    _require(isinstance(raw.get(key), list), source,
             f'no "{key}" list: not a YouTube-VIS annotation file')
  annotations = raw.get('annotations')
  _require(isinstance(annotations, list), source,
           'no "annotations" list: this looks like a test/valid JSON without '
           'ground truth; the builder needs the train annotations')

  categories = sorted(raw['categories'], key=lambda c: c['id'])
  ids = [c['id'] for c in categories]
  _require(len(set(ids)) == len(ids), source,
           f'duplicate category ids in {ids}')
  class_of = {c['id']: i for i, c in enumerate(categories)}
  class_names = [str(c['name']) for c in categories]

  videos: Dict[int, Video] = {}
  names: Set[str] = set()
  for v in raw['videos']:
    _require(isinstance(v, dict) and 'id' in v and v.get('file_names'),
             source, f'video entry without id or file_names: {str(v)[:200]}')
    _require(v['id'] not in videos, source, f'duplicate video id {v["id"]}')
    folders = {f.rsplit('/', 1)[0] for f in v['file_names']}
    _require(len(folders) == 1 and all('/' in f for f in v['file_names']),
             source, f'video {v["id"]}: file_names must all be '
             f'"<video>/<frame>", got folders {sorted(folders)[:5]}')
    name = folders.pop()
    _require(name not in names, source, f'two videos use folder {name!r}')
    names.add(name)
    frame_names = [f.rsplit('/', 1)[1] for f in v['file_names']]
    _require(len(set(frame_names)) == len(frame_names), source,
             f'video {name}: a frame is listed twice')
    videos[v['id']] = Video(json_id=v['id'], name=name,
                            height=int(v['height']), width=int(v['width']),
                            frame_names=frame_names)

  for a in annotations:
    where = f'annotation {a.get("id")}'
    _require(a.get('video_id') in videos, source,
             f'{where} names unknown video_id {a.get("video_id")}')
    video = videos[a['video_id']]
    _require(a.get('category_id') in class_of, source,
             f'{where} (video {video.name}) has unknown category_id '
             f'{a.get("category_id")}; the categories are ids {ids}')
    segs = a.get('segmentations')
    _require(isinstance(segs, list) and
             len(segs) == len(video.frame_names), source,
             f'{where} (video {video.name}) has '
             f'{len(segs) if isinstance(segs, list) else "no"} '
             f'segmentations for {len(video.frame_names)} listed frames')
    video.tracks.append(Track(int(a['id']), class_of[a['category_id']],
                              segs))
  return Annotations(source, class_names, list(videos.values()))


def category_names(data: bytes, source: str) -> List[str]:
  """The category names of a YouTube-VIS JSON, in id order, parsed cheaply.

  Decodes only the "categories" value (the train JSON is hundreds of MB of
  masks; a full parse costs seconds and GBs). Falls back to parse() when the
  key cannot be found that way.
  """
  match = re.search(rb'"categories"\s*:\s*\[', data)
  if match is not None:
    start = match.end() - 1
    # The list is a few KB: try a bounded slice before the whole rest.
    for end in (start + (1 << 20), len(data)):
      try:
        value, _ = json.JSONDecoder().raw_decode(
            data[start:end].decode('utf-8', errors='replace'))
        return [str(c['name']) for c in sorted(value, key=lambda c: c['id'])]
      except (ValueError, KeyError, TypeError):
        continue
  return parse(data, source).class_names


def _rank(seed: int, class_index: int, video: str) -> str:
  return hashlib.sha256(f'{seed}/{class_index}/{video}'.encode()).hexdigest()


def split_train_val(video_classes: Mapping[str, Iterable[int]],
                    per_class: int, seed: int = 0) -> Set[str]:
  """Names of the train_val videos (paper sec 4.1); the rest is train_train.

  Categories are visited in index order; each gets videos drawn (by hash
  rank) from those containing it that are not drawn yet, until `per_class`
  drawn videos contain it, or all of them do.

  Args:
    video_classes: video name -> 0-based classes of its annotations.
    per_class: videos per category in train_val (10 in the paper).
    seed: changes the draw.
  """
  if per_class < 0:
    raise ValueError(f'per_class must be >= 0, got {per_class}')
  classes = {v: set(c) for v, c in video_classes.items()}
  chosen: Set[str] = set()
  for c in sorted(set().union(*classes.values()) if classes else ()):
    have = sum(1 for v in chosen if c in classes[v])
    need = per_class - have
    if need <= 0:
      continue
    candidates = sorted((v for v, cs in classes.items()
                         if c in cs and v not in chosen),
                        key=lambda v, c=c: _rank(seed, c, v))
    chosen.update(candidates[:need])
  return chosen


def max_validation_videos(num_videos: int, min_train_fraction: float) -> int:
  """The most validation videos that keep min_train_fraction for training.

  At least one when there are 3 videos or more (3 videos: 1 validation, 2
  training, below 70 %); min_train_fraction 0 allows every video.
  """
  if not 0 <= min_train_fraction <= 1:
    raise ValueError(f'min_train_fraction must be in [0, 1], got '
                     f'{min_train_fraction}')
  # round(): 0.7 * 10 is 7.000000000000001 in floating point, 7 videos.
  min_train = math.ceil(round(min_train_fraction * num_videos, 9))
  return max(num_videos - min_train, 1 if num_videos >= 3 else 0)


def _budgeted_draw(classes: Mapping[str, Set[int]], per_class: int, seed: int,
                   budget: int, keep_training: bool) -> Set[str]:
  """Round-robin draw of at most `budget` videos; see scaled_split_train_val.
  """
  counts: Dict[int, int] = {}
  for cs in classes.values():
    for c in cs:
      counts[c] = counts.get(c, 0) + 1
  order = sorted(counts, key=lambda c: (-counts[c], c))
  left = dict(counts)  # Training videos of each category, so far.
  have = {c: 0 for c in counts}  # Validation videos of each category.
  chosen: Set[str] = set()
  for round_ in range(1, per_class + 1):
    for c in order:
      if have[c] >= round_:
        continue
      candidates = [v for v, cs in classes.items()
                    if c in cs and v not in chosen and
                    (not keep_training or all(left[k] >= 2 for k in cs))]
      if not candidates:
        continue
      if len(chosen) >= budget:
        return chosen
      video = min(candidates, key=lambda v, c=c: _rank(seed, c, v))
      chosen.add(video)
      for k in classes[video]:
        left[k] -= 1
        have[k] += 1
  return chosen


def scaled_split_train_val(video_classes: Mapping[str, Iterable[int]],
                           per_class: int, max_videos: int,
                           seed: int = 0) -> Set[str]:
  """A validation draw of at most max_videos videos, balanced by category.

  Rounds r = 1 .. per_class: in each, every category with fewer than r
  validation videos gets one more, the categories with the most videos
  first (they can best spare one; ties by index), each drawn by the same
  hash rank as split_train_val; a video counts for each of its categories.
  The draw stops when max_videos are drawn, so every category gets its
  first validation video before any gets a second. A video is drawn only if
  each of its categories keeps a training video; if that leaves nothing to
  draw (every category in a single video), the rule is dropped, so that
  there is a validation video.

  Args:
    video_classes: video name -> 0-based classes of its annotations.
    per_class: validation videos per category wanted (the rounds).
    max_videos: the most validation videos (max_validation_videos).
    seed: changes the draw.
  """
  classes = {v: set(c) for v, c in video_classes.items()}
  chosen = _budgeted_draw(classes, per_class, seed, max_videos,
                          keep_training=True)
  if not chosen and max_videos > 0:
    chosen = _budgeted_draw(classes, per_class, seed, max_videos,
                            keep_training=False)
  return chosen


@dataclasses.dataclass
class Split:
  """The validation draw of train_val_split.

  Attributes:
    validation: names of the validation (train_val) videos; the others are
      the training (train_train) videos.
    per_class_asked: validation videos per category asked for.
    per_class_used: validation videos that every category holding at least
      two videos got (per_class_asked when not scaled; a category whose
      videos are all in training on the paper's draw is not counted).
    scaled: the paper's draw left too few training videos, and validation
      was drawn by scaled_split_train_val instead.
  """
  validation: Set[str]
  per_class_asked: int
  per_class_used: int
  scaled: bool


def train_val_split(video_classes: Mapping[str, Iterable[int]],
                    per_class: int, seed: int = 0,
                    min_train_fraction: float = 0.7) -> Split:
  """The paper's split, scaled down when the videos are too few for it.

  split_train_val (paper sec 4.1) when its draw keeps min_train_fraction of
  the videos for training (always on YouTube-VIS 2019: 390 of 2,238
  videos); otherwise scaled_split_train_val within that budget.

  Args:
    video_classes: video name -> 0-based classes of its annotations.
    per_class: validation videos per category asked (10 in the paper).
    seed: changes the draw.
    min_train_fraction: in [0, 1]; 0 keeps the paper's draw always.
  """
  classes = {v: set(c) for v, c in video_classes.items()}
  val = split_train_val(classes, per_class, seed)
  budget = max_validation_videos(len(classes), min_train_fraction)
  if len(val) <= budget:
    return Split(val, per_class, per_class, scaled=False)
  val = scaled_split_train_val(classes, per_class, budget, seed)
  counts: Dict[int, int] = {}
  for cs in classes.values():
    for c in cs:
      counts[c] = counts.get(c, 0) + 1
  drawn = {c: sum(1 for v in val if c in classes[v]) for c in counts}
  spare = [drawn[c] for c in counts if counts[c] >= 2]
  return Split(val, per_class, min(spare, default=0), scaled=True)


def class_counts(videos: Sequence[Video], names: Optional[Set[str]] = None
                ) -> Dict[int, int]:
  """class index -> number of videos (among `names`, if given) with it."""
  counts: Dict[int, int] = {}
  for v in videos:
    if names is None or v.name in names:
      for c in v.classes:
        counts[c] = counts.get(c, 0) + 1
  return counts
