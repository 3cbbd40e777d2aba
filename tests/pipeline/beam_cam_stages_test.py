"""cam and ir_labels on Beam (2 worker processes) = in-process, bitwise.

See beam_testlib; here data, cam_train, cam, ir_labels with f-CAMs from the
exact flow of the procedural data (no DDFlow, to keep the test short).
"""

import tensorflow as tf

from tests.pipeline import beam_testlib


class BeamCamStagesTest(beam_testlib.BeamStageTestCase):
  LAST = 'ir_labels'
  BEAM_STAGES = ('cam', 'ir_labels')
  WITH_DDFLOW = False

  def test_metrics_against_ground_truth(self):
    self.assertIn('cam_miou', self.beam['cam'].metrics)
    self.assertTrue(self.beam['ir_labels'].metrics['use_fcam'])
    self.assertIn('ir_fg_precision', self.beam['ir_labels'].metrics)


if __name__ == '__main__':
  tf.test.main()
