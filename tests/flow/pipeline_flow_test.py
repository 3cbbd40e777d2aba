"""The flow_train and flow pipeline stages end to end on the tiny dataset.

data -> flow_train (smoke preset) -> flow -> contact_sheet, then a rerun
that skips everything and one that redoes the extraction after a file was
lost.
~40 s on 2 CPU cores.
"""

import os

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from wsvis_tf.core import keys
from wsvis_tf.data import sources
from wsvis_tf.flow import extract
from wsvis_tf.pipeline import presets
from wsvis_tf.pipeline import runner
from wsvis_tf.pipeline.components import contact_sheet
from wsvis_tf.pipeline.components import data
from wsvis_tf.pipeline.components import flow


class FlowStagesTest(tf.test.TestCase):

  def test_train_extract_contact_sheet_and_resume(self):
    work = self.create_tempdir().full_path
    source = sources.get_source('synthetic', os.path.join(work, 'tfds'),
                                'tiny')
    preset = presets.get_preset('smoke', 'synthetic')
    # One training stage keeps this test short (train_lib_test covers the
    # staged schedule).
    preset['flow_train']['overrides'] = {'train': {'stages': [
        {'name': 'photometric', 'steps': 2}]}}
    stages = [data.make_stage(source, preset['data'])]
    stages += flow.make_stages(preset)
    stages.append(contact_sheet.make_stage(preset['contact_sheet'],
                                           flow.NAME))
    self.assertEqual([s.name for s in stages],
                     ['data', 'flow_train', 'flow', 'contact_sheet'])
    records = runner.run_stages(stages, work, {'source': source})
    self.assertTrue(np.isfinite(records['flow_train'].metrics['loss/total']))
    self.assertIn('validation_epe', records['flow_train'].metrics)

    store = flow.store_of(records['flow'])
    delta = preset['data']['delta']
    expected = 0
    for split in source.splits:
      for video in tfds.as_numpy(source.videos(split)):
        vid = video[keys.VIDEO_ID].decode()
        pairs = extract.required_pairs(len(video[keys.FRAMES]), delta,
                                       video[keys.ANNOTATED])
        self.assertEqual(store.pairs(vid), pairs)
        expected += len(pairs)
        h, w = video[keys.FRAMES].shape[1:3]
        f = store.flow_for_frame(vid, len(video[keys.FRAMES]) - 1,
                                 len(video[keys.FRAMES]), (h, w))
        self.assertEqual(f.shape, (h, w, 2))
    metrics = records['flow'].metrics
    self.assertEqual(metrics['train_written'] + metrics['validation_written'],
                     expected)
    self.assertTrue(os.path.exists(records['contact_sheet'].path(
        contact_sheet.OUTPUT)))

    # Up to date: nothing reruns.
    again = runner.run_stages(stages, work, {'source': source})
    self.assertEqual({r.status for r in again.values()}, {'skipped'})

    # A lost file: the flow stage's outputs no longer match its record, so
    # it reruns (flow_train, intact, does not).
    lost = store.path(store.video_ids()[0], 0, 1)
    os.remove(lost)
    third = runner.run_stages(stages, work, {'source': source},
                              until='flow')
    self.assertEqual(third['flow_train'].status, 'skipped')
    self.assertEqual(third['flow'].status, 'ran')
    self.assertTrue(os.path.exists(lost))


if __name__ == '__main__':
  tf.test.main()
