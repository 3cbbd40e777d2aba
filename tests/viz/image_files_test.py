"""Tests for wsvis_tf.viz.image_files: palette PNGs and animated GIFs."""

import io

from absl.testing import absltest
import numpy as np
from PIL import Image
from PIL import ImageSequence

from wsvis_tf.viz import image_files


def few_colour_frames(num_frames=4, height=20, width=30):
  """Frames of 3 flat colours: a red square moving right on grey."""
  frames = np.full((num_frames, height, width, 3), 90, np.uint8)
  for t in range(num_frames):
    frames[t, 5:12, 2 + 4 * t:9 + 4 * t] = (230, 20, 20)
    frames[t, 15:, :] = (20, 20, 200)
  return frames


class ImageFilesTest(absltest.TestCase):

  def test_png_of_few_colours_is_lossless(self):
    image = few_colour_frames(1)[0]
    with Image.open(io.BytesIO(image_files.png_bytes(image))) as png:
      self.assertEqual(png.format, 'PNG')
      self.assertEqual(png.mode, 'P')
      np.testing.assert_array_equal(np.asarray(png.convert('RGB')), image)

  def test_png_palette_is_bounded(self):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    with Image.open(io.BytesIO(image_files.png_bytes(image, 16))) as png:
      self.assertLessEqual(len(np.unique(np.asarray(png))), 16)

  def test_gif_frames_timing_and_shared_palette(self):
    frames = few_colour_frames(4)
    data = image_files.gif_bytes(frames, frame_ms=150)
    with Image.open(io.BytesIO(data)) as gif:
      self.assertEqual(gif.format, 'GIF')
      self.assertEqual(gif.n_frames, 4)
      self.assertEqual(gif.info['loop'], 0)
      self.assertEqual(gif.info['duration'], 150)
      decoded = [np.asarray(f.convert('RGB'))
                 for f in ImageSequence.Iterator(gif)]
    for t in range(4):
      np.testing.assert_array_equal(decoded[t], frames[t])

  def test_bad_inputs(self):
    with self.assertRaisesRegex(ValueError, r'\[H, W, 3\] uint8 image, got '
                                r'float32 \[4, 4, 3\]'):
      image_files.png_bytes(np.zeros((4, 4, 3), np.float32))
    with self.assertRaisesRegex(ValueError, 'no frames'):
      image_files.gif_bytes([], 100)
    with self.assertRaisesRegex(ValueError, 'frames of different sizes'):
      image_files.gif_bytes([np.zeros((4, 4, 3), np.uint8),
                             np.zeros((4, 5, 3), np.uint8)], 100)
    with self.assertRaisesRegex(ValueError, 'frame_ms must be > 0'):
      image_files.gif_bytes(few_colour_frames(2), 0)
    with self.assertRaisesRegex(ValueError, r'colors must be in \[2, 256\]'):
      image_files.png_bytes(few_colour_frames(1)[0], 300)


if __name__ == '__main__':
  absltest.main()
