"""The wsvis-export binary (python -m serving.export) on a stage dir.

A pipeline-style stage dir (model.json beside model/ with params.yaml and a
checkpoint of the randomly initialised smoke model) exported through the
binary, the result loaded and run; then the binary's errors. ~1 min on 2
shared CPU cores (one export, a few interpreter starts).
"""

import json
import os
import subprocess
import sys

import numpy as np
import tensorflow as tf
import tf_keras

from official.core import exp_factory
from official.core import train_utils
from serving import model_source
from serving import signature_keys as sk
from wsvis_tf.core import atomic_io
from wsvis_tf.maskconsist import task as task_lib

EXPERIMENT = 'maskrcnn_pseudolabels_smoke'
NAMES = ['tri', 'disc', 'square', 'diamond']
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def _export(*args: str) -> subprocess.CompletedProcess:
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', PYTHONPATH=os.pathsep.join(
      [ROOT] + os.environ.get('PYTHONPATH', '').split(os.pathsep)))
  return subprocess.run([sys.executable, '-m', 'serving.export', *args],
                        capture_output=True, text=True, timeout=600, cwd=ROOT,
                        env=env)


class ExportBinaryTest(tf.test.TestCase):

  def test_stage_dir_export_and_errors(self):
    stage = self.create_tempdir().full_path
    model_dir = os.path.join(stage, model_source.STAGE_MODEL_DIR)
    params = exp_factory.get_exp_config(EXPERIMENT)
    tf_keras.utils.set_random_seed(1)
    model = task_lib.MaskConsistTask(params.task).build_model()
    ckpt = tf.train.Checkpoint(model=model).save(
        os.path.join(model_dir, 'ckpt'))
    train_utils.serialize_config(params, model_dir)
    atomic_io.write_json(os.path.join(stage, model_source.MODEL_JSON), {
        'experiment': EXPERIMENT, 'checkpoint': os.path.relpath(ckpt, stage),
        'class_names': NAMES})
    out = os.path.join(self.create_tempdir().full_path, 'm')

    proc = _export(f'--model_dir={stage}', f'--export_dir={out}',
                   '--model_name=m', '--version=3', '--min_score=0.3')
    self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
    printed = json.loads(proc.stdout.strip().splitlines()[-1])
    self.assertEqual(printed['saved_model'], os.path.join(out, '3'))
    self.assertEqual(printed['class_names'], NAMES)
    with open(os.path.join(out, '3', sk.ASSETS_EXTRA, 'export.json')) as f:
      info = json.load(f)
    self.assertEqual(info['checkpoint'], ckpt)
    self.assertEqual(info['min_score'], 0.3)
    loaded = tf.saved_model.load(printed['saved_model'])
    image = np.random.default_rng(0).integers(0, 255, (50, 70, 3), np.uint8)
    result = loaded.signatures[sk.SERVING_DEFAULT](
        images=tf.constant([tf.io.encode_png(image).numpy()]))
    n = int(result[sk.NUM_DETECTIONS][0])
    scores = result[sk.DETECTION_SCORES][0].numpy()
    self.assertTrue(np.all(scores[:n] >= 0.3))
    self.assertTrue(np.all(scores[n:] == 0))
    names = {s.decode() for s in result[sk.DETECTION_CLASS_NAMES][0].numpy()}
    self.assertContainsSubset(names - {''}, set(NAMES))

    proc = _export(f'--model_dir={stage}', f'--export_dir={out}',
                   '--version=3')
    self.assertEqual(proc.returncode, 2)
    self.assertIn('wsvis-export: error:', proc.stderr)
    self.assertIn('exists; pass overwrite', proc.stderr)
    proc = _export('--experiment=no_such_experiment', f'--checkpoint={ckpt}',
                   f'--export_dir={out}')
    self.assertEqual(proc.returncode, 2)
    self.assertIn("unknown experiment 'no_such_experiment'", proc.stderr)

  def test_help_describes_the_binary(self):
    proc = _export('--help')
    self.assertIn('TF Serving SavedModel', proc.stdout)
    for flag in ('--model_dir', '--experiment', '--checkpoint',
                 '--export_dir', '--params_override', '--class_names'):
      self.assertIn(flag, proc.stdout)


if __name__ == '__main__':
  tf.test.main()
