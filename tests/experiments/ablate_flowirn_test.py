"""experiments/ablate_flowirn.py (paper Table 4) on the smoke preset."""

import json
import os
import re
import statistics

from absl.testing import absltest

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

  def test_duplicate_seeds_are_refused(self):
    proc = binaries.run('ablate_flowirn.py', '--preset=smoke',
                        f'--work_dir={self.create_tempdir().full_path}',
                        '--seeds=1,1', check=False)
    self.assertNotEqual(proc.returncode, 0)
    self.assertIn('duplicates', proc.stderr)


if __name__ == '__main__':
  absltest.main()
