"""Keys of the feature and output dicts shared across wsvis-tf.

Every dataset builder (synthetic, ytvis, cityscapes_pairs, video_folder)
yields one example per video with the VIDEO_* keys below; the tf.data
pipelines in `wsvis_tf.data` turn those into frames or (t, t+delta) pairs
with the FRAME_* / PAIR_* keys. Keys live here, once, so that a builder,
a pipeline and a model never spell the same key two ways.
"""

# --- One example per video (TFDS builders). -------------------------------
# A scalar tf.string: the video's name, unique within the dataset.
VIDEO_ID = 'video_id'
# A [T, H, W, 3] uint8 tensor: every decoded frame of the video.
FRAMES = 'frames'
# A [T] tf.string tensor: each frame's file name, e.g. b'00005.jpg'. With
# VIDEO_ID it names a frame the YouTube-VIS way: '<video_id>/<frame name>'.
FRAME_NAMES = 'frame_names'
# A [T, C] bool tensor: frame-level class labels, the only training signal.
FRAME_LABELS = 'frame_labels'
# A [T] bool tensor: frames with ground truth (YouTube-VIS: every 5th frame).
# Training frames are the annotated ones; the others only feed flow.
ANNOTATED = 'annotated'

# Evaluation-only ground truth (never read by training code).
# A [T, H, W, 1] uint16 tensor: 0 is background, k > 0 is the visible part
# of track k - 1 (TRACK_IDS[k - 1], TRACK_CLASSES[k - 1]).
INSTANCE_MAP = 'instance_map'
# A [N] int64 tensor: the dataset-wide id of each track (instance).
TRACK_IDS = 'track_ids'
# A [N] int64 tensor: each track's 0-based class index.
TRACK_CLASSES = 'track_classes'
# A [T - 1, H, W, 2] float tensor (synthetic data only): exact forward flow
# from frame t to t + 1 in pixels, channel 0 = dx, channel 1 = dy.
GT_FLOW = 'gt_flow'
# A [T - 1, H, W] bool tensor (synthetic data only): pixels of frame t that
# are not visible in frame t + 1 (occluded or outside the frame).
GT_OCCLUSION = 'gt_occlusion'

# --- One example per frame or per (t, t + delta) pair (tf.data). ----------
# Pairs suffix each frame key with _A (frame t) and _B (frame t + delta).
IMAGE = 'image'                    # [H, W, 3] uint8
LABELS = 'labels'                  # [C] float32 multi-hot
FRAME_INDEX = 'frame_index'        # scalar int32, index within the video
FRAME_NAME = 'frame_name'          # scalar tf.string
SUFFIX_A = '_a'
SUFFIX_B = '_b'
DELTA = 'delta'                    # scalar int32, index_b - index_a


def pair_key(key: str, which: str) -> str:
  """Returns the pair version of a frame key, which is 'a' or 'b'."""
  if which not in ('a', 'b'):
    raise ValueError(f'which must be "a" or "b", got {which!r}')
  return key + (SUFFIX_A if which == 'a' else SUFFIX_B)

# --- Backbone features (shared by the CAM network and the IRN heads). -----
# ResNet stages as IRN uses them (strides (2, 2, 2, 1), output stride 16):
# stage1 = conv1 + max-pool (stride 4), stage2 (stride 4), stage3 (stride 8),
# stage4 (stride 16), stage5 (stride 16).
BACKBONE_STAGES = ('stage1', 'stage2', 'stage3', 'stage4', 'stage5')
BACKBONE_STRIDES = (4, 4, 8, 16, 16)


def as_text(value) -> str:
  """A string feature as numpy gives it (bytes, a 0-d array) as a str.

  tfds.as_numpy yields tf.string values as bytes; e.g.
  as_text(video[VIDEO_ID]) is the video's name.
  """
  if getattr(value, 'ndim', None) == 0:  # a 0-d numpy array
    value = value.item()
  if isinstance(value, bytes):
    return value.decode('utf-8')
  return str(value)
