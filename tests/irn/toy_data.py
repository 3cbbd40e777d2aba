"""Tiny IRN training data and config: train_lib_test and the multi-worker
test train on them."""

import numpy as np

from wsvis_tf.core import keys
from wsvis_tf.irn import config as config_lib
from wsvis_tf.irn import input_pipeline as ip


def examples():
  rng = np.random.default_rng(0)
  out = []
  for k in range(4):
    image = rng.integers(0, 255, (40, 48, 3), np.uint8)
    label = np.zeros((40, 48), np.uint8)
    label[8 + k:28, 6:30] = 1 + k % 2
    label[:, 40:] = 255
    flow = np.zeros((40, 48, 2), np.float32)
    flow[8 + k:28, 6:30, 0] = 3.0
    out.append({keys.IMAGE: image, ip.IR_LABEL: label, ip.FLOW: flow})
  return out


def config(fbound=True, batch=2):
  return config_lib.irn_config_from_dict({
      'train': {'crop_size': 48, 'batch_size': batch, 'radius': 4,
                'log_every': 1, 'checkpoint_every': 2},
      'flow_boundary': {'enabled': fbound}})
