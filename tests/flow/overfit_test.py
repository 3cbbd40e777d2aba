"""A tiny DDFlow overfits one frame pair with its unsupervised losses.

Frame 2 is frame 1 (a smooth random texture) translated by (1.5, -1) px.
After 150 Adam steps on the photometric loss (DDFlow's first stage; the
occlusion-masked stages start from its weights, since flagging every pixel
occluded trivially zeroes them) the loss above its floor falls by at least
4x and the flow is within 0.5 px of the truth in the interior. ~15 s on 2 CPU cores.
"""

import numpy as np
import scipy.ndimage
import tensorflow as tf
import tf_keras

from wsvis_tf.core import flow_ops
from wsvis_tf.flow import config as config_lib
from wsvis_tf.flow import model as model_lib
from wsvis_tf.flow import train_data
from wsvis_tf.flow import train_lib

_SHIFT = np.float32([1.5, -1.0])


def _pair(h=32, w=48, seed=0):
  rng = np.random.default_rng(seed)
  tex = rng.uniform(0, 1, (h + 16, w + 16, 3))
  tex = scipy.ndimage.gaussian_filter(tex, (1.5, 1.5, 0))
  tex = (tex - tex.min()) / (tex.max() - tex.min())
  tex = tex[None].astype(np.float32)
  flow = np.broadcast_to(_SHIFT, (1,) + tex.shape[1:3] + (2,))
  # warp(frame2, flow) = frame1 for frame2(y) = frame1(y - flow).
  frame2 = flow_ops.warp(tex, -flow).numpy()
  return tex[:, 8:-8, 8:-8], frame2[:, 8:-8, 8:-8]


class OverfitTest(tf.test.TestCase):

  def test_tiny_model_overfits_one_pair(self):
    tf.random.set_seed(0)
    cfg = config_lib.get_config('smoke')
    model = model_lib.build_model(cfg.model, (32, 48))
    optimizer = tf_keras.optimizers.Adam(2e-3)
    im1, im2 = _pair()
    batch = {train_data.IMAGE1: tf.constant(im1),
             train_data.IMAGE2: tf.constant(im2)}

    @tf.function
    def step():
      with tf.GradientTape() as tape:
        out = model((im1, im2), training=True)
        loss = train_lib.compute_losses(out, batch, config_lib.PHOTOMETRIC,
                                        cfg.losses)[train_lib.LOSS_TOTAL]
      grads = tape.gradient(loss, model.trainable_variables)
      optimizer.apply_gradients(zip(grads, model.trainable_variables))
      return loss, out[model_lib.FLOW_FW]

    # Identical images cost 3 channels x (0 + 0.01)^0.4 / 2 per direction.
    floor = 2 * 3 * 0.01 ** 0.4 / 2
    first, _ = step()
    for _ in range(150):
      last, flow = step()
    first, last = float(first) - floor, float(last) - floor
    print(f'photometric loss above floor: {first:.4f} -> {last:.4f} '
          f'({first / last:.1f}x)')
    self.assertTrue(np.isfinite(last))
    self.assertGreater(first / last, 4.0)
    epe = flow_ops.endpoint_error(flow.numpy()[0, 6:-6, 6:-6],
                                  np.broadcast_to(_SHIFT, (20, 36, 2)))
    print(f'interior EPE {epe:.3f} px')
    self.assertLess(epe, 0.5)


if __name__ == '__main__':
  tf.test.main()
