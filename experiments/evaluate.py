r"""Evaluates instance segmentation results; prints one JSON line of metrics.

Frames (COCO mask AP through pycocotools); `wsvis-evaluate` is the console
script (pyproject.toml), `python experiments/evaluate.py` the same binary:
  wsvis-evaluate --mode=frames --annotations=GT.json --results=RES.json
  -> {"AP": 0.41, "AP50": 0.63, "AP75": 0.44}

Videos (the YouTube-VIS metric, as the youtubevos cocoapi computes it):
  bazel run //experiments:evaluate -- --mode=video \
      --annotations=$PWD/GT.json --results=$PWD/RES.json
  -> {"mAP": 0.3, "AP50": 0.5, "AP75": 0.3, "AR1": 0.3, "AR10": 0.4}

Inputs are COCO instances / COCO results JSON (frames) or YouTube-VIS /
YouTube-VIS results JSON (video); see wsvis_tf/evaluation/formats.py.
Values are fractions in [0, 1]; -1 means undefined (no ground truth), as in
pycocotools. stdout carries only the JSON line. A missing or malformed input
is a one-line error on stderr and exit code 2.

Run time on 2 CPU cores (measured): under 1 s to start; frames, about 2 s
per 1,000 frames (480x640) of 10 instances and 20 results; video, about
12 s for 300 videos of 36 frames (720x1280) with 100 results each (a
YouTube-VIS 2019 valid-sized split; most of it is reading the JSON).
"""

import json
import sys

from absl import app
from absl import flags

from wsvis_tf.core import entry_point
from wsvis_tf.evaluation import frame_ap
from wsvis_tf.evaluation import video_ap

MODE_FRAMES = 'frames'
MODE_VIDEO = 'video'

_ANNOTATIONS = flags.DEFINE_string(
    'annotations', None,
    'Ground truth: COCO instances JSON (frames) or YouTube-VIS JSON (video).')
_RESULTS = flags.DEFINE_string(
    'results', None,
    'Results: COCO results JSON (frames) or YouTube-VIS results JSON (video).')
_MODE = flags.DEFINE_enum(
    'mode', MODE_FRAMES, [MODE_FRAMES, MODE_VIDEO],
    'frames: COCO AP, AP50, AP75; video: YouTube-VIS mAP, AP50, AP75, AR1, '
    'AR10.')
flags.mark_flags_as_required(['annotations', 'results'])

EXIT_BAD_INPUT = 2


def main(argv) -> int:
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  evaluate = (frame_ap.evaluate_frames if _MODE.value == MODE_FRAMES
              else video_ap.evaluate_videos)
  try:
    metrics = evaluate(_ANNOTATIONS.value, _RESULTS.value)
  except (FileNotFoundError, ValueError) as e:
    # A user error, not a bug: one line, no traceback.
    message = ' '.join(str(e).split())
    print(f'evaluate: error: {message}', file=sys.stderr)
    return EXIT_BAD_INPUT
  print(json.dumps(metrics))
  return 0


def run() -> None:
  """The `wsvis-evaluate` console script: flags, then main."""
  entry_point.run(main, __name__)


if __name__ == '__main__':
  run()
