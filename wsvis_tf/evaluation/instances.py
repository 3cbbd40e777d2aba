"""In-memory instance predictions of one frame, for TC and semantic IoU."""

import dataclasses
from typing import Any, Dict, List, Optional

import numpy as np

from wsvis_tf.core import mask_ops


@dataclasses.dataclass
class FrameInstances:
  """The instances predicted (or annotated) on one frame.

  Attributes:
    masks: A [N, H, W] array, nonzero = inside (converted to uint8 0/1).
    class_ids: A [N] int64 array of category ids.
    scores: A [N] float32 array of confidences (ones for ground truth).
  """
  masks: np.ndarray
  class_ids: np.ndarray
  scores: Optional[np.ndarray] = None

  def __post_init__(self):
    self.masks = (np.asarray(self.masks) != 0).astype(np.uint8)
    if self.masks.ndim != 3:
      raise ValueError(f'FrameInstances: masks must be [N, H, W], got shape '
                       f'{self.masks.shape}')
    n = self.masks.shape[0]
    self.class_ids = np.asarray(self.class_ids, np.int64).reshape(-1)
    if self.scores is None:
      self.scores = np.ones([n], np.float32)
    self.scores = np.asarray(self.scores, np.float32).reshape(-1)
    if self.class_ids.shape != (n,) or self.scores.shape != (n,):
      raise ValueError(f'FrameInstances: {n} masks but class_ids of shape '
                       f'{self.class_ids.shape} and scores of shape '
                       f'{self.scores.shape}')
    if not np.all(np.isfinite(self.scores)):
      raise ValueError('FrameInstances: scores must be finite')

  @property
  def height(self) -> int:
    return self.masks.shape[1]

  @property
  def width(self) -> int:
    return self.masks.shape[2]

  def __len__(self) -> int:
    return self.masks.shape[0]

  def select(self, keep: np.ndarray) -> 'FrameInstances':
    """The instances where the boolean [N] `keep` is true."""
    keep = np.asarray(keep, bool)
    return FrameInstances(self.masks[keep], self.class_ids[keep],
                          self.scores[keep])

  def to_coco_results(self, image_id: int) -> List[Dict[str, Any]]:
    """COCO results entries {image_id, category_id, segmentation, score}."""
    return [{'image_id': int(image_id), 'category_id': int(c),
             'segmentation': mask_ops.encode(m), 'score': float(s)}
            for m, c, s in zip(self.masks, self.class_ids, self.scores)]
