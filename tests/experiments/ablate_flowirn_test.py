"""experiments/ablate_flowirn.py (paper Table 4) on the smoke preset."""

import json
import os
import re
import statistics

from absl.testing import absltest

from datasets.real_video import test_fixtures
from datasets.ytvis import ytvis_json
from tests.experiments import binaries


def _metrics(work, name):
  with open(os.path.join(work, name, 'stage.json')) as f:
    return json.load(f)['metrics']


class AblateFlowIrnTest(absltest.TestCase):

  def test_two_variants_two_seeds(self):
    work = self.create_tempdir().full_path
    out = binaries.run('ablate_flowirn.py', '--dataset=synthetic',
                       f'--work_dir={work}', '--preset=smoke',
                       '--flow=ground_truth', '--variants=irn,flowirn',
                       '--seeds=0,3').stdout
    lines = out.strip().splitlines()
    result = dict(kv.split('=') for kv in lines[-1].split()[1:])
    self.assertEqual(lines[-1].split()[0], 'RESULT')
    self.assertEqual(set(result), {'irn', 'flowirn', 'seeds'})
    self.assertEqual(result['seeds'], '2')
    for variant in ('irn', 'flowirn'):
      # Seed 0 is the preset's (plain stage names), seed 3 gets its own.
      per_seed = [100 * _metrics(work, f'pseudo_labels_{variant}{tag}')['AP50']
                  for tag in ('', '_seed3')]
      self.assertAlmostEqual(float(result[variant]),
                             statistics.fmean(per_seed), delta=0.006)
      row = next(l for l in lines if l.startswith(variant + ' '))
      self.assertIn(' '.join(f'{x:.2f}' for x in per_seed), row)
      # The empty column: frames without any instance, mean over seeds.
      empty = statistics.fmean(
          _metrics(work, f'pseudo_labels_{variant}{tag}')[
              'frames_without_instances'] for tag in ('', '_seed3'))
      self.assertEqual(float(row.split()[7]), round(empty, 1))
      with open(os.path.join(work, f'irn_train_{variant}_seed3',
                             'model.json')) as f:
        self.assertEqual(json.load(f)['seed'], 3)
    # flowIRN trained with f-Bound (the default form), IRN without.
    with open(os.path.join(work, 'irn_train_flowirn', 'stage.json')) as f:
      fbound = json.load(f)['config']['irn']['flow_boundary']
    self.assertTrue(fbound['enabled'])
    self.assertEqual((fbound['feature'], fbound['pair_difference'],
                      fbound['max_difference']), ('flow', 'endpoints', 4.0))
    with open(os.path.join(work, 'irn_train_irn', 'stage.json')) as f:
      self.assertFalse(json.load(f)['config']['irn']['flow_boundary'][
          'enabled'])
    self.assertIsNotNone(re.search(r'irn\s+no\s+no', out))

  def test_real_data_flags_reach_the_dataset(self):
    # The flags every pipeline binary shares (wsvis_tf/pipeline/cli.py):
    # --dataset_options and --bad_frames reach the YouTube-VIS builder,
    # whose prepared config is named after them. IRN alone reads no flow,
    # so no DDFlow stage runs (--flow=ground_truth: ytvis has none, and the
    # IR labels fall back to plain CAMs). ~40 s.
    data = self.create_tempdir('ytvis').full_path
    work = self.create_tempdir('work').full_path
    videos = [test_fixtures.moving_boxes(f'vid_{i}', [7 * (i % 2)],
                                         num_frames=4, seed=i)
              for i in range(4)]
    test_fixtures.write_ytvis(data, videos, ytvis_json.YTVIS_2019_CLASSES)
    out = binaries.run('ablate_flowirn.py', '--dataset=ytvis',
                       f'--data_dir={data}', f'--work_dir={work}',
                       '--preset=smoke', '--variants=irn',
                       '--flow=ground_truth', '--bad_frames=skip',
                       '--dataset_options=val_videos_per_class=1').stdout
    self.assertRegex(out.strip().splitlines()[-1],
                     r'^RESULT irn=\d+\.\d\d seeds=1$')
    with open(os.path.join(work, 'data', 'dataset.json')) as f:
      summary = json.load(f)
    self.assertEqual(summary['dataset'], 'ytvis')
    self.assertIn('bad_frames.skip', summary['tfds_name'])
    self.assertIn('val_videos_per_class.1', summary['tfds_name'])
    self.assertEqual(sum(s['videos'] for s in summary['splits'].values()), 4)

  def test_duplicate_seeds_are_refused(self):
    proc = binaries.run('ablate_flowirn.py', '--preset=smoke',
                        f'--work_dir={self.create_tempdir().full_path}',
                        '--seeds=1,1', check=False)
    self.assertNotEqual(proc.returncode, 0)
    self.assertIn('duplicates', proc.stderr)


if __name__ == '__main__':
  absltest.main()
