"""Hand-made scenes for the tracker tests: translating coloured squares.

A scene is a list of objects drawn bottom to top over a grey background;
each object has a top-left corner per frame (or None where it is out of the
scene) and a colour. The scene gives, exactly:
  * per-frame proposals: the visible part of every object that is present
    and not listed as missed on that frame, score and class per object;
  * the frames (uint8 RGB);
  * the forward flow t -> t+1 (at a pixel of t, the motion of the topmost
    object there, 0 on the background) and the backward flow t+1 -> t (at
    a pixel of t+1, minus the motion of the topmost object there).
"""

import dataclasses
from typing import List, Optional, Sequence, Tuple

import numpy as np

from wsvis_tf.tracking import proposals

BACKGROUND = (128, 128, 128)


@dataclasses.dataclass
class Square:
  """An object: corners[t] = (y, x) top-left on frame t, or None."""
  corners: Sequence[Optional[Tuple[int, int]]]
  colour: Tuple[int, int, int]
  size: int = 8
  class_id: int = 1
  score: float = 0.9
  missed: Sequence[int] = ()  # Frames where the detector misses it.

  def mask(self, t: int, height: int, width: int) -> np.ndarray:
    mask = np.zeros((height, width), bool)
    if self.corners[t] is not None:
      y, x = self.corners[t]
      mask[max(y, 0):max(y + self.size, 0),
           max(x, 0):max(x + self.size, 0)] = True
    return mask

  def motion(self, t: int) -> Tuple[int, int]:
    """(dx, dy) from t to t+1."""
    (y0, x0), (y1, x1) = self.corners[t], self.corners[t + 1]
    return x1 - x0, y1 - y0


@dataclasses.dataclass
class Scene:
  objects: List[Square]
  height: int = 32
  width: int = 48

  @property
  def num_frames(self) -> int:
    return len(self.objects[0].corners)

  def _masks(self, t):
    return [o.mask(t, self.height, self.width) for o in self.objects]

  def visible(self, t: int) -> List[np.ndarray]:
    """Each object's visible mask on frame t (objects later in the list
    are in front)."""
    masks = self._masks(t)
    out = []
    for i, m in enumerate(masks):
      front = np.zeros_like(m)
      for n in masks[i + 1:]:
        front |= n
      out.append(m & ~front)
    return out

  def frame(self, t: int) -> proposals.FrameProposals:
    """Proposals of frame t, in object order."""
    return self.frame_and_objects(t)[0]

  def frame_and_objects(self, t: int):
    """(proposals of frame t, the object index of each proposal)."""
    masks, scores, classes, which = [], [], [], []
    for i, (o, m) in enumerate(zip(self.objects, self.visible(t))):
      if m.any() and t not in o.missed:
        masks.append(m)
        scores.append(o.score)
        classes.append(o.class_id)
        which.append(i)
    masks = (np.stack(masks) if masks
             else np.zeros((0, self.height, self.width), bool))
    return proposals.FrameProposals(masks, scores, classes), which

  def image(self, t: int) -> np.ndarray:
    image = np.empty((self.height, self.width, 3), np.uint8)
    image[:] = BACKGROUND
    for o, m in zip(self.objects, self._masks(t)):
      image[m] = o.colour
    return image

  def forward_flow(self, t: int) -> np.ndarray:
    flow = np.zeros((self.height, self.width, 2), np.float32)
    for o, m in zip(self.objects, self._masks(t)):
      if m.any() and o.corners[t + 1] is not None:
        flow[m] = o.motion(t)
    return flow

  def backward_flow(self, t: int) -> np.ndarray:
    flow = np.zeros((self.height, self.width, 2), np.float32)
    for o, m in zip(self.objects, self._masks(t + 1)):
      if m.any() and o.corners[t] is not None:
        flow[m] = -np.float32(o.motion(t))
    return flow

  def video(self, flow: Optional[str] = proposals.BACKWARD,
            with_images: bool = True) -> proposals.VideoPredictions:
    """The scene as tracker input; flow BACKWARD, FORWARD or None."""
    flow_fn = {None: None, proposals.BACKWARD: self.backward_flow,
               proposals.FORWARD: self.forward_flow}[flow]
    return proposals.VideoPredictions(
        frames=[self.frame(t) for t in range(self.num_frames)],
        flow_fn=flow_fn, flow_direction=flow or proposals.BACKWARD,
        images=([self.image(t) for t in range(self.num_frames)]
                if with_images else None), name='scene')

  def identities(self, track) -> List[Optional[int]]:
    """Which object the track follows on each frame (None: absent)."""
    out = []
    for t, j in enumerate(track.proposal_ids):
      out.append(None if j < 0 else self.frame_and_objects(t)[1][j])
    return out
