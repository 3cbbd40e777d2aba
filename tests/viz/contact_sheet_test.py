"""Tests for wsvis_tf.viz (overlays and contact sheets)."""

from absl.testing import absltest
import cv2
import numpy as np

from wsvis_tf.core import keys
from wsvis_tf.viz import contact_sheet
from wsvis_tf.viz import overlays


def make_video(num_frames=4, height=20, width=30):
  inst = np.zeros((num_frames, height, width, 1), np.uint16)
  for t in range(num_frames):
    inst[t, 5:10, 2 + t:8 + t] = 1   # moves right by 1 px per frame
  flow = np.zeros((num_frames - 1, height, width, 2), np.float32)
  flow[..., 0] = (inst[:-1, ..., 0] == 1)
  return {
      keys.VIDEO_ID: b'v',
      keys.FRAMES: np.full((num_frames, height, width, 3), 100, np.uint8),
      keys.INSTANCE_MAP: inst,
      keys.TRACK_IDS: np.array([7]),
      keys.TRACK_CLASSES: np.array([1]),
      keys.GT_FLOW: flow,
  }


class OverlaysTest(absltest.TestCase):

  def test_draw_instances_colours_only_the_mask_interior(self):
    image = np.zeros((10, 10, 3), np.uint8)
    mask = np.zeros((1, 10, 10), np.uint8)
    mask[0, 3:7, 3:7] = 1
    out = overlays.draw_instances(image, mask, alpha=1.0)
    self.assertEqual(out.dtype, np.uint8)
    np.testing.assert_array_equal(out[5, 5], overlays.instance_color(0))
    np.testing.assert_array_equal(out[0, 9], [0, 0, 0])

  def test_colour_is_stable_per_id_and_distinct(self):
    np.testing.assert_array_equal(overlays.instance_color(3),
                                  overlays.instance_color(3))
    self.assertFalse(np.array_equal(overlays.instance_color(3),
                                    overlays.instance_color(4)))

  def test_grid_layout(self):
    tile = np.full((4, 5, 3), 255, np.uint8)
    out = overlays.grid([[tile, tile], [tile]], pad=1, background=0)
    self.assertEqual(out.shape, (2 * 5 + 1, 2 * 6 + 1, 3))
    self.assertEqual(out[-2, -2, 0], 0)  # missing tile stays background

  def test_write_png_round_trip(self):
    path = self.create_tempfile('x.png').full_path
    image = np.random.default_rng(0).integers(0, 255, (6, 7, 3), np.uint8)
    overlays.write_png(path, image)
    back = cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(back, image)


class ContactSheetTest(absltest.TestCase):

  def test_sheet_has_two_rows_per_video_and_upscales_small_frames(self):
    sheet = contact_sheet.contact_sheet([make_video(), make_video()],
                                        ['a', 'b'], frames_per_video=3)
    factor = -(-240 // 30)
    self.assertEqual(sheet.dtype, np.uint8)
    tile_h = 20 * factor + 14  # frame + caption strip
    self.assertEqual(sheet.shape[0], 4 * (tile_h + 2) + 2)
    self.assertEqual(sheet.shape[1], 3 * (30 * factor + 2) + 2)

  def test_flow_row_shows_motion_only_where_it_is(self):
    video = make_video()
    rows = contact_sheet.video_block(video, ['a', 'b'], [0])
    flow_tile = rows[1][0][14:]  # below the caption
    factor = -(-240 // 30)
    still = flow_tile[0, 0]
    moving = flow_tile[7 * factor, 4 * factor]
    np.testing.assert_array_equal(still, [255, 255, 255])
    self.assertFalse(np.array_equal(moving, still))

  def test_no_videos_is_an_error(self):
    with self.assertRaisesRegex(ValueError, 'no videos'):
      contact_sheet.contact_sheet([], ['a'])


if __name__ == '__main__':
  absltest.main()
