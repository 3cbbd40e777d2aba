"""Tests for wsvis_tf.evaluation.formats: every bad input names its field."""

import copy
import os

from absl.testing import absltest

from tests.evaluation import fixtures
from wsvis_tf.core import mask_ops
from wsvis_tf.evaluation import formats
from wsvis_tf.evaluation import frame_ap
from wsvis_tf.evaluation import video_ap

H, W = 10, 12
MASK = fixtures.box_mask(H, W, (1, 1, 5, 6))


def _coco():
  return (fixtures.coco_gt({1: (H, W), 2: (H, W)}, [(1, 1, MASK)]),
          fixtures.coco_results([(1, 1, MASK, 0.9), (2, 2, MASK, 0.5)]))


def _ytvis():
  return (fixtures.ytvis_gt({1: (H, W, 3)}, [(1, 1, [MASK, None, MASK])]),
          fixtures.ytvis_results([(1, 1, [MASK, MASK, None], 0.9)]))


class FileErrorsTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    self.dir = self.create_tempdir().full_path

  def test_missing_file(self):
    path = os.path.join(self.dir, 'gt.json')
    with self.assertRaisesRegex(FileNotFoundError, f'{path}: no such file'):
      frame_ap.evaluate_frames(path, [])

  def test_malformed_json(self):
    path = os.path.join(self.dir, 'gt.json')
    with open(path, 'w') as f:
      f.write('{"images": [')
    with self.assertRaisesRegex(ValueError, f'{path}: not valid JSON'):
      video_ap.evaluate_videos(path, [])

  def test_results_name_unknown_image_in_files(self):
    gt, res = _coco()
    res[1]['image_id'] = 17
    gt_path = fixtures.write_json(self.dir, 'gt.json', gt)
    res_path = fixtures.write_json(self.dir, 'results.json', res)
    with self.assertRaises(ValueError) as cm:
      frame_ap.evaluate_frames(gt_path, res_path)
    self.assertEqual(str(cm.exception),
                     f'{res_path}: entry 1: image_id 17 is not an image in '
                     f'{gt_path}')

  def test_results_must_be_a_list(self):
    gt, _ = _coco()
    res_path = fixtures.write_json(self.dir, 'results.json', gt)
    with self.assertRaisesRegex(
        ValueError, f'{res_path}: expected a JSON list of results, got dict'):
      frame_ap.evaluate_frames(gt, res_path)


class CocoErrorsTest(absltest.TestCase):

  def assert_gt_error(self, gt, message):
    with self.assertRaises(ValueError) as cm:
      formats.load_coco_ground_truth(gt)
    self.assertEqual(str(cm.exception), message)

  def assert_results_error(self, res, message):
    gt = formats.load_coco_ground_truth(_coco()[0])
    with self.assertRaises(ValueError) as cm:
      formats.load_coco_results(res, gt)
    self.assertEqual(str(cm.exception), message)

  def test_missing_top_level_field(self):
    gt, _ = _coco()
    del gt['annotations']
    self.assert_gt_error(gt, '<ground truth>: missing field "annotations"')

  def test_missing_annotation_field(self):
    gt, _ = _coco()
    del gt['annotations'][0]['category_id']
    self.assert_gt_error(
        gt, '<ground truth>: annotations[0]: missing field "category_id"')

  def test_missing_image_size(self):
    gt, _ = _coco()
    del gt['images'][1]['height']
    self.assert_gt_error(gt, '<ground truth>: images[1]: missing field '
                         '"height"')

  def test_annotation_on_unknown_image(self):
    gt, _ = _coco()
    gt['annotations'][0]['image_id'] = 5
    self.assert_gt_error(
        gt, '<ground truth>: annotations[0]: image_id 5 is not in images')

  def test_annotation_id_zero_and_duplicates(self):
    gt, _ = _coco()
    gt['annotations'][0]['id'] = 0
    self.assert_gt_error(gt, '<ground truth>: annotations[0]: field "id" '
                         'must be positive, got 0')
    gt, _ = _coco()
    gt['annotations'].append(copy.deepcopy(gt['annotations'][0]))
    self.assert_gt_error(gt, '<ground truth>: annotations[1]: duplicate id 1')

  def test_gt_mask_of_wrong_size(self):
    gt, _ = _coco()
    gt['annotations'][0]['segmentation'] = mask_ops.encode(MASK[:, :5])
    self.assert_gt_error(
        gt, '<ground truth>: annotations[0]: segmentation: RLE size [10, 5] '
        'does not match the image size [10, 12]')

  def test_results_unknown_image(self):
    _, res = _coco()
    res[1]['image_id'] = 17
    self.assert_results_error(
        res, '<results>: entry 1: image_id 17 is not an image in '
        '<ground truth>')

  def test_results_unknown_category(self):
    _, res = _coco()
    res[0]['category_id'] = 7
    self.assert_results_error(
        res, '<results>: entry 0: category_id 7 is not a category in '
        '<ground truth>')

  def test_results_mask_of_wrong_size(self):
    _, res = _coco()
    res[1]['segmentation'] = mask_ops.encode(MASK[:8])
    self.assert_results_error(
        res, '<results>: entry 1: segmentation: RLE size [8, 12] does not '
        'match the image size [10, 12]')

  def test_results_missing_or_bad_score(self):
    _, res = _coco()
    del res[0]['score']
    self.assert_results_error(res, '<results>: entry 0: missing field '
                              '"score"')
    _, res = _coco()
    res[0]['score'] = float('nan')
    self.assert_results_error(res, '<results>: entry 0: field "score" must '
                              'be a finite number, got nan')

  def test_results_id_of_wrong_type(self):
    _, res = _coco()
    res[0]['image_id'] = '1'
    self.assert_results_error(res, '<results>: entry 0: field "image_id" '
                              "must be an integer, got '1'")


class YtvisErrorsTest(absltest.TestCase):

  def assert_gt_error(self, gt, message):
    with self.assertRaises(ValueError) as cm:
      formats.load_ytvis_ground_truth(gt)
    self.assertEqual(str(cm.exception), message)

  def assert_results_error(self, res, message):
    gt = formats.load_ytvis_ground_truth(_ytvis()[0])
    with self.assertRaises(ValueError) as cm:
      formats.load_ytvis_results(res, gt)
    self.assertEqual(str(cm.exception), message)

  def test_video_without_length(self):
    gt, _ = _ytvis()
    del gt['videos'][0]['length'], gt['videos'][0]['file_names']
    self.assert_gt_error(gt, '<ground truth>: videos[0]: missing field '
                         '"length" (or "file_names")')

  def test_gt_segmentations_of_wrong_length(self):
    gt, _ = _ytvis()
    gt['annotations'][0]['segmentations'].pop()
    self.assert_gt_error(
        gt, '<ground truth>: annotations[0]: field "segmentations" has 2 '
        'entries, the video has 3 frames')

  def test_gt_missing_segmentations(self):
    gt, _ = _ytvis()
    del gt['annotations'][0]['segmentations']
    self.assert_gt_error(gt, '<ground truth>: annotations[0]: missing field '
                         '"segmentations"')

  def test_results_unknown_video(self):
    _, res = _ytvis()
    res[0]['video_id'] = 4
    self.assert_results_error(
        res, '<results>: entry 0: video_id 4 is not a video in '
        '<ground truth>')

  def test_results_unknown_category(self):
    _, res = _ytvis()
    res[0]['category_id'] = 9
    self.assert_results_error(
        res, '<results>: entry 0: category_id 9 is not a category in '
        '<ground truth>')

  def test_results_segmentations_of_wrong_length(self):
    _, res = _ytvis()
    res[0]['segmentations'].append(None)
    self.assert_results_error(
        res, '<results>: entry 0: field "segmentations" has 4 entries, the '
        'video has 3 frames')

  def test_results_mask_of_wrong_size(self):
    _, res = _ytvis()
    res[0]['segmentations'][1] = mask_ops.encode(MASK[:, 2:])
    self.assert_results_error(
        res, '<results>: entry 0: segmentations[1]: RLE size [10, 10] does '
        'not match the image size [10, 12]')

  def test_results_missing_segmentations(self):
    _, res = _ytvis()
    del res[0]['segmentations']
    self.assert_results_error(res, '<results>: entry 0: missing field '
                              '"segmentations"')


class NormalisationTest(absltest.TestCase):

  def test_defaults_and_areas(self):
    gt, res = _ytvis()
    del gt['annotations'][0]['areas'], gt['annotations'][0]['iscrowd']
    gt = formats.load_ytvis_ground_truth(gt)
    ann = gt.annotations[0]
    self.assertEqual(ann['iscrowd'], 0)
    self.assertEqual(ann['avg_area'], float(MASK.sum()))
    self.assertIsNone(ann['segmentations'][1])
    res = formats.load_ytvis_results(res, gt)
    self.assertEqual(res[0]['id'], 1)
    self.assertEqual(res[0]['areas'], [MASK.sum(), MASK.sum(), None])

  def test_polygon_ground_truth(self):
    gt, _ = _coco()
    gt['annotations'][0]['segmentation'] = [[1, 1, 6, 1, 6, 5, 1, 5]]
    ann = formats.load_coco_ground_truth(gt).dataset['annotations'][0]
    self.assertEqual(ann['segmentation']['size'], [H, W])


if __name__ == '__main__':
  absltest.main()
