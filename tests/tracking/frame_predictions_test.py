"""Tests for wsvis_tf.tracking.frame_predictions: COCO frames -> tracks."""

import json
import os

from absl.testing import absltest
import numpy as np

from wsvis_tf.core import mask_ops
from wsvis_tf.evaluation import video_ap
from wsvis_tf.tracking import frame_predictions
from wsvis_tf.tracking import proposals

H, W = 24, 32


def square(y, x, size=6):
  mask = np.zeros((H, W), bool)
  mask[y:y + size, x:x + size] = True
  return mask


def predictions_json(frames):
  """COCO predictions of video 'v': frames[t] = [(mask, class, score)]."""
  images, annotations = [], []
  for t, items in enumerate(frames):
    images.append({'id': t + 1, 'file_name': f'v/{t:05d}.jpg',
                   'frame_index': t, 'height': H, 'width': W})
    for mask, class_id, score in items:
      annotations.append({'id': len(annotations) + 1, 'image_id': t + 1,
                          'category_id': class_id, 'score': score,
                          'segmentation': mask_ops.encode(mask)})
  return {'images': images, 'annotations': annotations,
          'categories': [{'id': 1, 'name': 'a'}, {'id': 2, 'name': 'b'}]}


def two_squares(num_frames=6):
  """Square A (class 1) moves right 2 px a frame; B (class 2) moves down."""
  return [[(square(2, 2 + 2 * t), 1, 0.9), (square(4 + 2 * t, 20), 2, 0.7)]
          for t in range(num_frames)]


class LoadTest(absltest.TestCase):

  def test_groups_by_video_and_frame(self):
    coco = predictions_json(two_squares(3))
    index = frame_predictions.load(coco)
    self.assertEqual(list(index), ['v'])
    self.assertEqual(sorted(index['v']), [0, 1, 2])
    frame = index['v'][1]
    self.assertEqual(frame.file_name, 'v/00001.jpg')
    self.assertEqual((frame.height, frame.width), (H, W))
    self.assertEqual([a['category_id'] for a in frame.annotations], [1, 2])
    proposals_1 = frame_predictions.frame_proposals(frame, min_score=0.8)
    self.assertLen(proposals_1, 1)
    np.testing.assert_array_equal(proposals_1.masks[0], square(2, 4))

  def test_reads_a_file_and_names_it_in_errors(self):
    path = os.path.join(self.create_tempdir().full_path, 'p.json')
    coco = predictions_json(two_squares(2))
    coco['annotations'][1]['image_id'] = 9
    with open(path, 'w') as f:
      json.dump(coco, f)
    with self.assertRaisesRegex(ValueError, rf'{path}: annotations\[1\]: '
                                'image_id 9 is not an image'):
      frame_predictions.load(path)
    with open(path, 'w') as f:
      f.write('{not json')
    with self.assertRaisesRegex(ValueError, f'{path}: not a JSON file'):
      frame_predictions.load(path)

  def test_ground_truth_without_scores(self):
    coco = predictions_json(two_squares(2))
    for ann in coco['annotations']:
      del ann['score']
    with self.assertRaisesRegex(ValueError, r"lacks field 'score'"):
      frame_predictions.load(coco)
    index = frame_predictions.load(coco, scores=False)
    self.assertLen(index['v'][1].annotations, 2)
    # A score that is there is still checked.
    coco['annotations'][0]['score'] = float('inf')
    with self.assertRaisesRegex(ValueError, 'score must be a finite number'):
      frame_predictions.load(coco, scores=False)

  def test_bad_entries(self):
    def broken(edit):
      coco = predictions_json(two_squares(2))
      edit(coco)
      return coco

    cases = [
        (lambda c: c.pop('images'), "lacks the 'images' list"),
        (lambda c: c['images'][0].update(file_name='00000.jpg'),
         r"file_name must be '<video>/<frame file>'"),
        (lambda c: c['images'][1].pop('frame_index'),
         r"image 'v/00001.jpg' lacks field 'frame_index'"),
        (lambda c: c['images'][1].update(frame_index=0),
         r"frame 0 of video 'v' appears twice"),
        (lambda c: c['annotations'][0].update(category_id=0),
         r"frame 'v/00000.jpg'\): category_id must be an integer >= 1"),
        (lambda c: c['annotations'][0].update(score=float('nan')),
         'score must be a finite number'),
        (lambda c: c['annotations'][2].update(
            segmentation=mask_ops.encode(np.ones((5, 5), bool))),
         r"segmentation must be an RLE of size \[24, 32\]"),
    ]
    for edit, message in cases:
      with self.subTest(message):
        with self.assertRaisesRegex(ValueError, message):
          frame_predictions.load(broken(edit))


class DatasetChecksTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    self.index = frame_predictions.load(predictions_json(two_squares(3)))
    self.names = [f'v/{t:05d}.jpg' for t in range(3)]

  def test_matching_frames_pass(self):
    frame_predictions.check_video('p.json', 'v', self.index['v'], self.names,
                                  (H, W))
    frame_predictions.unknown_videos('p.json', self.index, ['v', 'w'])

  def test_frames_the_dataset_lacks(self):
    with self.assertRaisesRegex(
        ValueError, r"p.json: frame 'v/00002.jpg' \(frame_index 2\) is not "
        r"in the dataset: video 'v' has 2 frames"):
      frame_predictions.check_video('p.json', 'v', self.index['v'],
                                    self.names[:2], (H, W))
    renamed = self.names[:1] + ['v/frame1.jpg'] + self.names[2:]
    with self.assertRaisesRegex(
        ValueError, r"p.json: frame 'v/00001.jpg' is not in the dataset: "
        r"frame 1 of video 'v' is 'v/frame1.jpg'"):
      frame_predictions.check_video('p.json', 'v', self.index['v'], renamed,
                                    (H, W))
    with self.assertRaisesRegex(ValueError, r'is 24x32, the dataset\'s frame '
                                'is 48x64'):
      frame_predictions.check_video('p.json', 'v', self.index['v'],
                                    self.names, (48, 64))
    with self.assertRaisesRegex(
        ValueError, r"p.json: frame 'v/00000.jpg' is not in the dataset: no "
        "video 'v' in the split"):
      frame_predictions.unknown_videos('p.json', self.index, ['w'])

  def test_listed_frames(self):
    self.assertEqual(frame_predictions.listed_frames(
        'p.json', 'v', self.names, [self.names[2], self.names[0]]), [2, 0])
    with self.assertRaisesRegex(ValueError, "lists frame 'v/00009.jpg' of "
                                "video 'v', which the predictions lack"):
      frame_predictions.listed_frames('p.json', 'v', self.names,
                                      ['v/00009.jpg'])


class FlowBetweenTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    self.reads = []

    def read_flow(a, b):
      # A uniform flow whose value names the pair (dx = 10 a + b), so
      # that a wrong pair or direction shows.
      self.reads.append((a, b))
      flow = np.zeros((H, W, 2), np.float32)
      flow[..., 0] = 10 * a + b
      flow[..., 1] = 1.0
      return flow

    self.read_flow = read_flow

  def test_consecutive_frames_read_the_backward_flow(self):
    flow_fn, direction = frame_predictions.flow_between(self.read_flow,
                                                        [3, 4, 5])
    self.assertEqual(direction, proposals.BACKWARD)
    self.assertEqual(flow_fn(1)[0, 0, 0], 10 * 5 + 4)
    self.assertEqual(self.reads, [(5, 4)])

  def test_gaps_chain_the_forward_flows(self):
    flow_fn, direction = frame_predictions.flow_between(self.read_flow,
                                                        [0, 1, 4])
    self.assertEqual(direction, proposals.FORWARD)
    np.testing.assert_allclose(flow_fn(0)[0, 0], [1.0, 1.0])
    self.reads.clear()
    # Uniform flows chain by adding: (12 + 23 + 34, 3).
    np.testing.assert_allclose(flow_fn(1)[5, 5], [69.0, 3.0])
    self.assertEqual(self.reads, [(1, 2), (2, 3), (3, 4)])

  def test_no_flow_and_bad_frames(self):
    self.assertEqual(frame_predictions.flow_between(None, [0, 2]),
                     (None, proposals.BACKWARD))
    with self.assertRaisesRegex(ValueError, 'must increase'):
      frame_predictions.flow_between(self.read_flow, [0, 2, 2])


class TrackVideoTest(absltest.TestCase):

  def ground_truth(self, frames, listed):
    """YouTube-VIS ground truth of two_squares on the listed frames."""
    anns = []
    for k, class_id in enumerate((1, 2)):
      anns.append({'id': k + 1, 'video_id': 3, 'category_id': class_id,
                   'iscrowd': 0, 'segmentations': [
                       mask_ops.encode(frames[t][k][0]) for t in listed]})
    return {'videos': [{'id': 3, 'name': 'v', 'height': H, 'width': W,
                        'length': len(listed)}],
            'categories': [{'id': 1}, {'id': 2}], 'annotations': anns}

  def test_tracks_on_the_listed_frames_are_perfect(self):
    frames = two_squares(6)
    index = frame_predictions.load(predictions_json(frames))
    listed = [0, 2, 4]
    entries = frame_predictions.track_video(
        3, 'v', index['v'], listed_file_names=[f'v/{t:05d}.jpg'
                                               for t in listed])
    self.assertLen(entries, 2)
    for entry in entries:
      self.assertEqual(entry['video_id'], 3)
      self.assertLen(entry['segmentations'], 3)
    self.assertEqual(sorted(e['category_id'] for e in entries), [1, 2])
    metrics = video_ap.evaluate_videos(self.ground_truth(frames, listed),
                                       entries)
    self.assertAlmostEqual(metrics[video_ap.MAP], 1.0)

  def test_a_frame_not_predicted_chains_the_flow_over_the_gap(self):
    # A fast square (6 px a frame, its own size) on frames 0, 1, 3, 4;
    # frame 2 is not in the file at all, so the tracked frames skip it and
    # the forward flows 1 -> 2 -> 3 are chained (a wrong pair or direction
    # would move the mask off the square: no overlap).
    frames = [[(square(4, 6 * t), 1, 0.9)] for t in range(5)]
    coco = predictions_json(frames)
    coco['images'].pop(2)
    coco['annotations'].pop(2)
    index = frame_predictions.load(coco)
    self.assertEqual(sorted(index['v']), [0, 1, 3, 4])
    reads = []

    def read_flow(a, b):
      reads.append((a, b))
      flow = np.zeros((H, W, 2), np.float32)
      flow[..., 0] = 6.0 * (b - a)
      return flow

    entries = frame_predictions.track_video(1, 'v', index['v'], read_flow)
    self.assertLen(entries, 1)
    self.assertLen(entries[0]['segmentations'], 4)
    self.assertNotIn(None, entries[0]['segmentations'])
    self.assertEqual(sorted(set(reads)), [(0, 1), (1, 2), (2, 3), (3, 4)])

  def test_bad_listed_frame_names_the_file(self):
    index = frame_predictions.load(predictions_json(two_squares(2)))
    with self.assertRaisesRegex(ValueError, "preds.json: the ground truth "
                                "lists frame 'v/00007.jpg'"):
      frame_predictions.track_video(1, 'v', index['v'],
                                    listed_file_names=['v/00007.jpg'],
                                    name='preds.json')


if __name__ == '__main__':
  absltest.main()
