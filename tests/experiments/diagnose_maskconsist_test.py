"""experiments/diagnose_maskconsist.py on a hand-made work dir."""

import json
import os
import re
import tempfile

from absl.testing import absltest
import numpy as np
from pycocotools import mask as coco_mask

from tests.experiments import binaries
from wsvis_tf.flow import flow_store

H, W = 20, 30


def _rle(mask):
  rle = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
  rle['counts'] = rle['counts'].decode('ascii')
  return rle


def _coco(path, frames, scores=False):
  """frames: [(frame index, [(mask, class)])] of video v0."""
  images, anns = [], []
  for image_id, (t, instances) in enumerate(frames, 1):
    images.append({'id': image_id, 'file_name': f'v0/{t:05d}.jpg',
                   'frame_index': t, 'height': H, 'width': W})
    for mask, cls in instances:
      ann = {'id': len(anns) + 1, 'image_id': image_id, 'category_id': cls,
             'segmentation': _rle(mask), 'iscrowd': 0}
      if scores:
        ann['score'] = 0.9
      anns.append(ann)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, 'w') as f:
    json.dump({'images': images, 'annotations': anns,
               'categories': [{'id': 3, 'name': 'c'}]}, f)


class DiagnoseMaskConsistTest(absltest.TestCase):

  def _work_dir(self, tmp):
    # Object X (class 3), static, in frames 0 and 2; the flowIRN labels
    # have it in frame 0 only, the model predicts it in both.
    x = np.zeros([H, W], bool)
    x[4:14, 4:16] = True
    _coco(f'{tmp}/data/ground_truth/train_frames.json',
          [(0, [(x, 3)]), (2, [(x, 3)])])
    _coco(f'{tmp}/pseudo_labels/pseudo_labels.json', [(0, [(x, 3)]), (2, [])])
    _coco(f'{tmp}/predict/train_predictions.json',
          [(0, [(x, 3)]), (2, [(x, 3)])], scores=True)
    store = flow_store.FlowStore(f'{tmp}/flow/flows')
    store.write('v0', 0, 2, np.zeros([H, W, 2], np.float32))
    store.write('v0', 2, 0, np.zeros([H, W, 2], np.float32))
    os.makedirs(f'{tmp}/maskconsist_train/model')
    with open(f'{tmp}/maskconsist_train/model.json', 'w') as f:
      json.dump({'experiment': 'maskconsist_smoke'}, f)
    with open(f'{tmp}/maskconsist_train/model/params.yaml', 'w') as f:
      f.write('task:\n  train_data:\n    delta: 2\n')

  def test_counts_the_recovered_instance(self):
    with tempfile.TemporaryDirectory() as tmp:
      self._work_dir(tmp)
      proc = binaries.run('diagnose_maskconsist.py', f'--work_dir={tmp}',
                          timeout=600)
    last = proc.stdout.strip().splitlines()[-1]
    self.assertIn('1 training pairs (t, t+2)', proc.stdout)
    fields = dict(re.findall(r'(\w+)=([0-9.na]+)', last))
    self.assertTrue(last.startswith('RESULT '), last)
    self.assertEqual(fields['pairs'], '1')
    self.assertEqual(float(fields['added_per_pair']), 1.0)
    self.assertEqual(float(fields['new_per_pair']), 1.0)
    self.assertEqual(float(fields['fp_per_pair']), 0.0)
    self.assertEqual(float(fields['added_precision']), 1.0)
    # One label, right; it covers one of the two true instances.
    self.assertEqual(float(fields['label_precision']), 1.0)
    self.assertEqual(float(fields['label_coverage']), 0.5)

  def test_missing_predictions_name_the_file(self):
    with tempfile.TemporaryDirectory() as tmp:
      self._work_dir(tmp)
      os.remove(f'{tmp}/predict/train_predictions.json')
      proc = binaries.run('diagnose_maskconsist.py', f'--work_dir={tmp}',
                          check=False, timeout=600)
    self.assertEqual(proc.returncode, 2, proc.stderr[-2000:])
    last = proc.stderr.strip().splitlines()[-1]
    self.assertIn('predict/train_predictions.json: missing', last)
    self.assertTrue(last.startswith('diagnose_maskconsist: error:'), last)


if __name__ == '__main__':
  absltest.main()
