"""Test data for the MaskConsist task: the procedural 'tiny' videos.

`TinyWork(root)` prepares wsvis_synthetic/tiny (4 training videos of 6
frames of 64 x 80, ~10 s), writes pseudo-labels made from its ground truth
(optionally with instances removed), zero flows for every pair, and gives
smoke experiment configs pointing at them.
"""

import os
from typing import Callable, Optional

import numpy as np
import tensorflow_datasets as tfds

from official.core import exp_factory
from wsvis_tf.core import atomic_io
from wsvis_tf.core import keys as core_keys
from wsvis_tf.data import gt_export
from wsvis_tf.data import pairs
from wsvis_tf.data import sources
from wsvis_tf.flow import flow_store
from wsvis_tf.maskconsist import experiments  # pylint: disable=unused-import

DELTA = 2


class TinyWork:
  """The tiny procedural dataset with pseudo-labels and flows."""

  def __init__(self, root: str):
    self.root = root
    self.data_dir = os.path.join(root, 'tfds')
    self.source = sources.get_source('synthetic', self.data_dir, 'tiny')
    self.source.prepare()
    self.videos = [
        {k: v for k, v in video.items()
         if k not in (core_keys.GT_FLOW, core_keys.GT_OCCLUSION)}
        for video in tfds.as_numpy(self.source.videos('train'))]
    self.flow_dir = os.path.join(root, 'flows')
    store = flow_store.FlowStore(self.flow_dir)
    for video in self.videos:
      video_id = core_keys.as_text(video[core_keys.VIDEO_ID])
      t, h, w = video[core_keys.FRAMES].shape[:3]
      for a, b in pairs.pair_indices(t, DELTA, video[core_keys.ANNOTATED]):
        for x, y in ((a, b), (b, a)):
          if not store.exists(video_id, x, y):
            store.write(video_id, x, y, np.zeros((h, w, 2), np.float32))

  def pseudo_labels(self, name: str = 'pl.json',
                    keep: Optional[Callable[[dict], bool]] = None) -> str:
    """Ground truth as a pseudo-label JSON; keep(annotation) filters."""
    coco = gt_export.videos_to_coco_json(self.videos,
                                         self.source.class_names)
    if keep is not None:
      coco['annotations'] = [a for a in coco['annotations'] if keep(a)]
    path = os.path.join(self.root, name)
    atomic_io.write_json(path, coco)
    return path

  def params(self, maskconsist: bool, pseudo_labels: Optional[str] = None):
    """The smoke experiment on this data."""
    params = exp_factory.get_exp_config(
        'maskconsist_smoke' if maskconsist else
        'maskrcnn_pseudolabels_smoke')
    data = params.task.train_data
    data.source.data_dir = self.data_dir
    data.pseudo_labels = pseudo_labels or self.pseudo_labels()
    data.flow_dir = self.flow_dir
    return params
