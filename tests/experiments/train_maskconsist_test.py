"""experiments/train_maskconsist.py as a user runs it."""

import json
import os
import tempfile

import tensorflow as tf

from tests.experiments import binaries
from tests.maskconsist import fixtures


class TrainMaskConsistBinaryTest(tf.test.TestCase):

  def test_trains_and_reports_bad_configs(self):
    work = fixtures.TinyWork(tempfile.mkdtemp(prefix='mc_binary_'))
    overrides = ','.join([
        f'task.train_data.source.data_dir={work.data_dir}',
        f'task.train_data.pseudo_labels={work.pseudo_labels()}',
        f'task.train_data.flow_dir={work.flow_dir}',
        'trainer.train_steps=2'])
    model_dir = self.create_tempdir().full_path
    # The baseline experiment: a smaller graph to trace than MaskConsist's,
    # whose runs the tests of wsvis_tf/maskconsist cover.
    proc = binaries.run('train_maskconsist.py',
                        '--experiment=maskrcnn_pseudolabels_smoke',
                        f'--model_dir={model_dir}',
                        f'--params_override={overrides}')
    metrics = json.loads(proc.stdout.strip().splitlines()[-1])
    self.assertEqual(metrics['steps'], 2)
    self.assertEqual(os.path.basename(metrics['checkpoint']), 'ckpt-2')
    self.assertIn('mask_loss', metrics)

    proc = binaries.run('train_maskconsist.py',
                        '--experiment=maskconsist_ytvis',
                        f'--model_dir={model_dir}/ytvis', check=False)
    self.assertEqual(proc.returncode, 2)
    self.assertIn('wsvis_resnet.imagenet_weights is empty', proc.stderr)
    proc = binaries.run('train_maskconsist.py',
                        '--experiment=maskconsist_smoke',
                        f'--model_dir={model_dir}/bad',
                        '--params_override=task.matching.iom_treshold=0.3',
                        check=False)
    self.assertEqual(proc.returncode, 2)
    self.assertIn('iom_treshold', proc.stderr)


if __name__ == '__main__':
  tf.test.main()
