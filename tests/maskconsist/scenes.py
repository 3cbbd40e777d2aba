"""Hand-made MaskConsist scenes: box masks and Instances (numpy only)."""

from typing import Optional, Sequence

import numpy as np

from wsvis_tf.maskconsist import matching


def box_mask(y1: int, x1: int, y2: int, x2: int, h: int, w: int
            ) -> np.ndarray:
  """[h, w] bool, True on rows y1:y2 and columns x1:x2."""
  m = np.zeros((h, w), bool)
  m[y1:y2, x1:x2] = True
  return m


def instances(masks: Sequence[np.ndarray], classes: Sequence[int],
              scores: Optional[Sequence[float]], h: int, w: int
             ) -> matching.Instances:
  """Instances of the masks (empty, of size h x w, when there are none)."""
  if not masks:
    return matching.Instances.empty(h, w, with_scores=scores is not None)
  return matching.Instances.from_masks(np.stack(masks), classes, scores)
