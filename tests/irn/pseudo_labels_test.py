"""Tests for wsvis_tf.irn.pseudo_labels (COCO JSON, resume cache, empty)."""

import json
import os

from absl.testing import absltest
import numpy as np

from wsvis_tf.core import mask_ops
from wsvis_tf.evaluation import frame_ap
from wsvis_tf.irn import inference
from wsvis_tf.irn import pseudo_labels


def _detections():
  components = np.zeros((8, 10), np.int32)
  components[1:4, 1:5] = 1
  components[5:7, 6:9] = 2
  return inference.Detections(components, np.array([0.9, 0.0], np.float32),
                              np.array([2, 0], np.int32))


class PseudoLabelsTest(absltest.TestCase):

  def test_file_names_as_ground_truth(self):
    self.assertEqual(pseudo_labels.coco_file_name('vid', '00005.png'),
                     'vid/00005.jpg')
    self.assertEqual(pseudo_labels.coco_file_name('vid', '00005.jpg'),
                     'vid/00005.jpg')

  def test_annotations_skip_low_scores(self):
    anns = pseudo_labels.detections_to_annotations(_detections(), 1e-5)
    self.assertLen(anns, 1)
    self.assertEqual(anns[0]['category_id'], 3)
    self.assertEqual(anns[0]['area'], 12.0)
    np.testing.assert_array_equal(mask_ops.decode(anns[0]['segmentation']),
                                  _detections().mask(0))

  def test_assemble_scores_against_itself(self):
    images = [{'id': 7, 'file_name': 'v/0.jpg', 'height': 8, 'width': 10},
              {'id': 9, 'file_name': 'v/1.jpg', 'height': 8, 'width': 10}]
    categories = [{'id': c, 'name': str(c)} for c in (1, 2, 3)]
    anns = pseudo_labels.detections_to_annotations(_detections())
    coco = pseudo_labels.assemble(images, categories, {7: anns, 9: []})
    self.assertEqual([a['id'] for a in coco['annotations']], [1])
    self.assertEqual(coco['annotations'][0]['image_id'], 7)
    path = self.create_tempfile().full_path
    pseudo_labels.write(path, coco)
    with open(path) as f:
      loaded = json.load(f)
    ap = frame_ap.evaluate_frames(loaded, pseudo_labels.as_results(loaded))
    self.assertAlmostEqual(ap[frame_ap.AP50], 1.0)
    with self.assertRaisesRegex(ValueError, 'unknown image ids'):
      pseudo_labels.assemble(images, categories, {8: anns})

  def test_empty_set_is_valid_json_with_a_warning(self):
    images = [{'id': 1, 'file_name': 'v/0.jpg', 'height': 8, 'width': 10}]
    coco = pseudo_labels.assemble(images, [{'id': 1, 'name': 'a'}], {})
    path = os.path.join(self.create_tempdir().full_path, 'p.json')
    with self.assertLogs(level='WARNING') as logs:
      pseudo_labels.write(path, coco)
    self.assertIn('empty pseudo-label set', logs.output[0])
    with open(path) as f:
      loaded = json.load(f)
    self.assertEqual(loaded['annotations'], [])
    self.assertLen(loaded['images'], 1)
    self.assertEqual(pseudo_labels.as_results(loaded), [])

  def test_partial_results_resume(self):
    partial = pseudo_labels.PartialResults(self.create_tempdir().full_path)
    self.assertIsNone(partial.get('v', '00001.jpg'))
    anns = pseudo_labels.detections_to_annotations(_detections())
    partial.put('v', '00001.jpg', anns)
    self.assertEqual(partial.get('v', '00001.jpg'), anns)
    partial.put('v', '00002.jpg', [])
    self.assertEqual(partial.get('v', '00002.jpg'), [])


if __name__ == '__main__':
  absltest.main()
