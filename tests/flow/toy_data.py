"""A tiny DDFlow training set: the distributed tests train on it."""

from datasets.synthetic import render
from wsvis_tf.core import keys
from wsvis_tf.flow import train_data


def tiny_pairs() -> train_data.PairData:
  """The (t, t+1) pairs of one procedural 3-frame 32x48 video."""
  cfg = render.RenderConfig(height=32, width=48, num_frames=3,
                            min_visible_pixels=4, seed=7)
  video = render.render_video(cfg, render.video_rng(7, 'train', 0))
  video[keys.VIDEO_ID] = 'v'
  return train_data.collect_pairs([video], (1,))
