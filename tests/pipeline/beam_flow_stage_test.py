"""The DDFlow flow stage on Beam (2 worker processes) = in-process, bitwise.

See beam_testlib; here the stages data, flow_train, flow (~1.5 min).
"""

import tensorflow as tf

from tests.pipeline import beam_testlib


class BeamFlowStageTest(beam_testlib.BeamStageTestCase):
  LAST = 'flow'
  BEAM_STAGES = ('flow',)

  def test_flow_files_of_every_split(self):
    metrics = self.beam['flow'].metrics
    self.assertEqual(metrics['train_videos'],
                     self.source.num_videos('train'))
    self.assertEqual(metrics['validation_videos'],
                     self.source.num_videos('validation'))
    self.assertGreater(metrics['train_written'], 0)
    self.assertEqual(metrics['train_skipped'], 0)


if __name__ == '__main__':
  tf.test.main()
