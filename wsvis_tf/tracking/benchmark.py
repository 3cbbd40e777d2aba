"""How well the tracker links perfect masks: ground truth in, video AP out.

Takes per-video examples with ground truth (the keys of wsvis_tf.core.keys:
INSTANCE_MAP, TRACK_IDS, TRACK_CLASSES, GT_FLOW, FRAMES; e.g. the
procedural dataset), and for each video:

  * makes the tracker's input from the ground truth with the track ids
    removed: every instance visible on a frame is an independent proposal
    (its visible mask, score 1, its class), shuffled within the frame by a
    seeded generator so the ids cannot leak through the order;
  * tracks it with the exact flow (GT_FLOW, the forward flow t -> t+1) or
    with no flow (zero motion);
  * optionally on every k-th frame only (frame_stride k), as YouTube-VIS
    lists every 5th frame and the paper tracks those (its flow pairs are
    (t, t+5) there): the frames 0, k, 2k, ... are tracked, the flow between
    two of them is the k exact per-frame flows chained
    (warping.compose_forward), and the ground truth lists those frames;
  * scores the tracks with the project's YouTube-VIS evaluator against the
    ground truth `gt_export.videos_to_ytvis_json` writes.

With perfect masks, whatever the tracker loses is linking: identity
switches, a track broken at an occlusion and not merged back, two objects
merged into one. Prints nothing; `table` and `result_line` format results.
"""

import dataclasses
import time
from typing import Dict, Iterable, List, Mapping, Sequence

import numpy as np

from wsvis_tf.core import keys
from wsvis_tf.data import gt_export
from wsvis_tf.evaluation import video_ap
from wsvis_tf.tracking import proposals as proposals_lib
from wsvis_tf.tracking import results as results_lib
from wsvis_tf.tracking import tracker as tracker_lib
from wsvis_tf.tracking import warping

EXACT_FLOW = 'exact_flow'
NO_FLOW = 'no_flow'
FLOW_MODES = (EXACT_FLOW, NO_FLOW)


def strided_frames(num_frames: int, frame_stride: int) -> List[int]:
  """The frames tracked at a stride: 0, k, 2k, ... < num_frames."""
  if frame_stride < 1:
    raise ValueError(f'frame_stride must be >= 1, got {frame_stride}')
  return list(range(0, num_frames, frame_stride))


def proposals_from_example(example: Mapping[str, np.ndarray],
                           flow_mode: str = EXACT_FLOW,
                           seed: int = 0, frame_stride: int = 1
                           ) -> proposals_lib.VideoPredictions:
  """The ground-truth masks of a video as anonymous per-frame proposals.

  Args:
    example: A per-video numpy dict with INSTANCE_MAP ([T, H, W(, 1)]),
      TRACK_CLASSES ([N], 0-based), FRAMES ([T, H, W, 3], optional) and,
      for EXACT_FLOW, GT_FLOW ([T - 1, H, W, 2] forward flow).
    flow_mode: EXACT_FLOW or NO_FLOW.
    seed: Seeds the within-frame shuffle.
    frame_stride: Track frames 0, k, 2k, ... only (module docstring).

  Returns:
    VideoPredictions with scores 1 and 1-based class ids, one frame per
    strided frame.
  """
  if flow_mode not in FLOW_MODES:
    raise ValueError(f'flow_mode must be one of {FLOW_MODES}, got '
                     f'{flow_mode!r}')
  name = keys.as_text(example.get(keys.VIDEO_ID, 'video'))
  instance_map = np.asarray(example[keys.INSTANCE_MAP])
  if instance_map.ndim == 4:
    instance_map = instance_map[..., 0]
  classes = np.asarray(example[keys.TRACK_CLASSES], np.int64).reshape(-1)
  listed = strided_frames(instance_map.shape[0], frame_stride)
  rng = np.random.default_rng(seed)
  frames = []
  for t in listed:
    ids = [k for k in np.unique(instance_map[t]) if k > 0]
    ids = [ids[i] for i in rng.permutation(len(ids))]
    masks = np.zeros((len(ids),) + instance_map.shape[1:], bool)
    for i, k in enumerate(ids):
      masks[i] = instance_map[t] == k
    frames.append(proposals_lib.FrameProposals(
        masks=masks, scores=np.ones([len(ids)], np.float32),
        class_ids=np.array([classes[k - 1] + 1 for k in ids], np.int64)))
  flow_fn = None
  if flow_mode == EXACT_FLOW and len(listed) > 1:
    gt_flow = np.asarray(example[keys.GT_FLOW])
    flow_fn = proposals_lib.array_flow_fn(np.stack(
        [warping.compose_forward(gt_flow[a:b])
         for a, b in zip(listed, listed[1:])]))
  images = example.get(keys.FRAMES)
  return proposals_lib.VideoPredictions(
      frames=frames, flow_fn=flow_fn, flow_direction=proposals_lib.FORWARD,
      images=None if images is None else np.asarray(images)[listed],
      name=name)


@dataclasses.dataclass
class Result:
  """Video metrics of one flow mode (fractions; seconds per video)."""
  name: str
  metrics: Dict[str, float]
  tracks_per_video: float
  gt_tracks_per_video: float
  seconds_per_video: float


def run(examples: Iterable[Mapping[str, np.ndarray]],
        class_names: Sequence[str],
        flow_modes: Sequence[str] = FLOW_MODES,
        config: tracker_lib.TrackerConfig = tracker_lib.TrackerConfig(),
        seed: int = 0, frame_stride: int = 1) -> List[Result]:
  """Tracks the ground-truth masks of every example, once per flow mode.

  Args:
    examples: Per-video numpy dicts (module docstring).
    class_names: Names of the 0-based classes of TRACK_CLASSES.
    flow_modes: Which of FLOW_MODES to run.
    config: Tracker hyper-parameters.
    seed: Seeds the within-frame shuffles (video i uses seed + i).
    frame_stride: Track and evaluate frames 0, k, 2k, ... only.

  Returns:
    One Result per flow mode, in flow_modes order.
  """
  examples = list(examples)
  # The ground truth lists the tracked frames (and only those).
  listed = []
  for ex in examples:
    num_frames = len(ex[keys.INSTANCE_MAP])
    annotated = np.zeros([num_frames], bool)
    annotated[strided_frames(num_frames, frame_stride)] = True
    listed.append(dict(ex, **{keys.ANNOTATED: annotated}))
  ground_truth = gt_export.videos_to_ytvis_json(listed, class_names)
  # gt_export numbers videos 1, 2, ... in example order.
  video_ids = {v['name']: v['id'] for v in ground_truth['videos']}
  out = []
  for mode in flow_modes:
    results, seconds = [], 0.0
    for i, example in enumerate(examples):
      video = proposals_from_example(example, mode, seed + i, frame_stride)
      start = time.perf_counter()
      results.extend(results_lib.video_results(video_ids[video.name], video,
                                               config))
      seconds += time.perf_counter() - start
    n = max(len(examples), 1)
    out.append(Result(
        name=mode, metrics=video_ap.evaluate_videos(ground_truth, results),
        tracks_per_video=len(results) / n,
        gt_tracks_per_video=len(ground_truth['annotations']) / n,
        seconds_per_video=seconds / n))
  return out


def table(results: Sequence[Result]) -> str:
  """A plain-text table: one row per flow mode, metrics in %."""
  header = (f'{"flow":<12}{"AP":>7}{"AP50":>7}{"AP75":>7}{"AR1":>7}'
            f'{"AR10":>7}{"tracks/video":>14}{"gt/video":>10}'
            f'{"s/video":>9}')
  rows = [header, '-' * len(header)]
  for r in results:
    m = r.metrics
    rows.append(
        f'{r.name:<12}' + ''.join(
            f'{100 * m[k]:>7.1f}' for k in (video_ap.MAP, video_ap.AP50,
                                            video_ap.AP75, video_ap.AR1,
                                            video_ap.AR10))
        + f'{r.tracks_per_video:>14.2f}{r.gt_tracks_per_video:>10.2f}'
        f'{r.seconds_per_video:>9.3f}')
  return '\n'.join(rows)


def result_line(results: Sequence[Result]) -> str:
  """RESULT ap50_exact_flow=... ap50_no_flow=... seconds_per_video=...

  seconds_per_video is that of the exact-flow run (the first given when it
  was not run).
  """
  by_name = {r.name: r for r in results}
  parts = [f'ap50_{r.name}={r.metrics[video_ap.AP50]:.4f}' for r in results]
  timed = by_name.get(EXACT_FLOW, results[0])
  parts.append(f'seconds_per_video={timed.seconds_per_video:.4f}')
  return 'RESULT ' + ' '.join(parts)
