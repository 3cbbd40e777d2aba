"""Warping a procedural frame with its true flow reproduces the other frame.

Checks the conventions DDFlow's losses rest on (flow_ops.warp is backward
warping: warp(frame t+1, flow t->t+1) ~ frame t) on the embedded dataset's
exact flow, away from occlusions.
"""

import cv2
import numpy as np
import scipy.ndimage
import tensorflow as tf

from datasets.synthetic import render
from wsvis_tf.core import flow_ops
from wsvis_tf.core import keys

_CONFIG = render.RenderConfig(height=48, width=64, num_frames=4,
                              object_speed=(1.5, 3.0), min_visible_pixels=8,
                              noise_std=0.0, seed=3)


class WarpConsistencyTest(tf.test.TestCase):

  def test_true_flow_reproduces_frame_away_from_occlusions(self):
    video = render.render_video(_CONFIG, render.video_rng(3, 'train', 0))
    frames = video[keys.FRAMES].astype(np.float32)
    for t in range(len(frames) - 1):
      flow = np.asarray(video[keys.GT_FLOW][t], np.float32)
      occluded = video[keys.GT_OCCLUSION][t]
      # Bilinear sampling mixes layers within a pixel of a motion boundary.
      edges = np.zeros_like(occluded)
      for c in range(2):
        gy, gx = np.gradient(flow[..., c])
        edges |= np.hypot(gx, gy) > 1e-3
      keep = ~scipy.ndimage.binary_dilation(occluded | edges, iterations=2)
      self.assertGreater(keep.mean(), 0.5)

      def error(f):
        # Re-sampling the fine texture bilinearly blurs it: compare at
        # sigma 1 so that what remains is misalignment.
        warped = flow_ops.warp(frames[t + 1][None], f[None]).numpy()[0]
        diff = (cv2.GaussianBlur(warped, (0, 0), 1.0) -
                cv2.GaussianBlur(frames[t], (0, 0), 1.0))
        return float(np.abs(diff).mean(-1)[keep].mean())

      err = error(flow)
      others = {'zero flow': error(0 * flow), '-flow': error(-flow)}
      for dx, dy in ((0.5, 0), (-0.5, 0), (0, 0.5), (0, -0.5)):
        others[f'flow+({dx},{dy})'] = error(flow + np.float32([dx, dy]))
      print(f't={t}: mean |error| {err:.3f} (8-bit levels); ' +
            ', '.join(f'{k} {v:.3f}' for k, v in others.items()))
      self.assertLess(err, 0.6)
      for name, value in others.items():
        self.assertLess(err, 0.75 * value, msg=name)


if __name__ == '__main__':
  tf.test.main()
