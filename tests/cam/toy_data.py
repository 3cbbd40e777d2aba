"""A toy two-class task for CAM tests: class evidence on a part of a body.

Each 64 x 64 image holds one or two 16 x 16 "bodies" (the same brown square
for both classes) on grey noise; a body carries an 8 x 8 part in one corner,
red for class 0, blue for class 1, as the procedural dataset does on a
larger scale. Labels are the classes whose part is in the image.
"""

from typing import Dict, List, Tuple

import numpy as np

SIZE = 64
BODY = 16
PART = 8
PART_COLOURS = ((220, 30, 30), (30, 30, 220))
BODY_COLOUR = (140, 100, 60)


def toy_image(rng: np.random.RandomState, classes: List[int]
             ) -> Tuple[np.ndarray, List[Tuple[int, int, int]]]:
  """An image with one body per class; returns it and (class, y, x) parts."""
  image = rng.normal(120, 8, (SIZE, SIZE, 3))
  parts = []
  slots = rng.permutation([(y, x) for y in (4, 36) for x in (4, 36)])
  for c, (y, x) in zip(classes, slots):
    y += rng.randint(0, 8)
    x += rng.randint(0, 8)
    image[y:y + BODY, x:x + BODY] = BODY_COLOUR
    py, px = y + rng.choice([0, BODY - PART]), x + rng.choice([0, BODY - PART])
    image[py:py + PART, px:px + PART] = PART_COLOURS[c]
    parts.append((c, py, px))
  return np.clip(image, 0, 255).astype(np.uint8), parts


def toy_dataset(num: int, seed: int = 0) -> Dict[str, np.ndarray]:
  """{'image': [N, 64, 64, 3] uint8, 'labels': [N, 2] float32, 'parts'}."""
  rng = np.random.RandomState(seed)
  images, labels, parts = [], [], []
  for _ in range(num):
    classes = [[0], [1], [0, 1], [0, 0]][rng.randint(4)]
    image, p = toy_image(rng, classes)
    images.append(image)
    multi_hot = np.zeros(2, np.float32)
    multi_hot[classes] = 1.0
    labels.append(multi_hot)
    parts.append(p)
  return {'image': np.stack(images), 'labels': np.stack(labels),
          'parts': parts}
