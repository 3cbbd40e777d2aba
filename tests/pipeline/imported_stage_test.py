"""Tests for wsvis_tf.pipeline.components.imported: stages from other runs."""

import os

from absl.testing import absltest

from wsvis_tf.pipeline import runner
from wsvis_tf.pipeline import stage as stage_lib
from wsvis_tf.pipeline.components import imported


def model_stage(weights: str):
  """A finished 'train' stage: model.json and model/{ckpt,log}."""
  def run(ctx):
    os.makedirs(ctx.path('model'))
    for name, text in (('model.json', '{}'), ('model/ckpt', weights),
                       ('model/log', 'not needed')):
      with open(ctx.path(name), 'w') as f:
        f.write(text)
  return stage_lib.Stage(name='train', run=run, config={'w': weights},
                         outputs=('model.json', 'model'))


def reader():
  """A stage reading the imported train stage's checkpoint."""
  def run(ctx):
    with open(ctx.input('train').path('model/ckpt')) as f:
      return {'weights': f.read()}
  return stage_lib.Stage(name='reader', run=run, inputs=('train',))


class ImportedStageTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    self.other = self.create_tempdir('other').full_path
    self.work = self.create_tempdir('work').full_path
    runner.run_stages([model_stage('w1')], self.other)
    self.source = os.path.join(self.other, 'train')

  def test_copies_the_listed_files_and_feeds_readers(self):
    stage = imported.make_import_stage(
        'train', self.source, ['model.json', 'model/ckpt'])
    self.assertEqual(stage.outputs, ('model.json', 'model'))
    records = runner.run_stages([stage, reader()], self.work)
    self.assertEqual(records['reader'].metrics['weights'], 'w1')
    self.assertEqual(sorted(os.listdir(os.path.join(self.work, 'train',
                                                    'model'))), ['ckpt'])
    self.assertEqual(records['train'].metrics['files'], 2)
    # Unchanged source: skipped; a retrained source: imported again.
    records = runner.run_stages(
        [imported.make_import_stage('train', self.source,
                                    ['model.json', 'model/ckpt']),
         reader()], self.work)
    self.assertEqual(records['train'].status, 'skipped')
    runner.run_stages([model_stage('w2')], self.other)
    records = runner.run_stages(
        [imported.make_import_stage('train', self.source,
                                    ['model.json', 'model/ckpt']),
         reader()], self.work)
    self.assertEqual(records['train'].status, 'ran')
    self.assertEqual(records['reader'].metrics['weights'], 'w2')

  def test_a_whole_directory(self):
    stage = imported.make_import_stage('train', self.source, ['model'])
    runner.run_stages([stage], self.work)
    self.assertEqual(sorted(os.listdir(os.path.join(self.work, 'train',
                                                    'model'))),
                     ['ckpt', 'log'])

  def test_errors_name_the_directory_or_file(self):
    empty = self.create_tempdir('empty').full_path
    with self.assertRaisesRegex(ValueError, f'{empty} holds no finished '
                                r'stage record \(stage.json\)'):
      imported.make_import_stage('train', empty, ['model.json'])
    missing = os.path.join(self.source, 'model', 'ckpt-9')
    with self.assertRaisesRegex(ValueError, f'{missing} is missing: the '
                                'train stage there is incomplete'):
      imported.make_import_stage('train', self.source, ['model/ckpt-9'])


if __name__ == '__main__':
  absltest.main()
