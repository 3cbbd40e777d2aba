"""pseudo_labels on Beam (2 worker processes) = in-process, bitwise.

See beam_testlib; here the smoke stages without DDFlow up to pseudo_labels
(f-CAMs and f-Bound from the exact flow), pseudo_labels on Beam: the mean
displacement (IRN MeanShift) and the instance inference are two Beam
pipelines, the COCO JSON and AP are assembled after them.
"""

import tensorflow as tf

from tests.pipeline import beam_testlib


class BeamPseudoLabelsStageTest(beam_testlib.BeamStageTestCase):
  LAST = 'pseudo_labels'
  BEAM_STAGES = ('pseudo_labels',)
  WITH_DDFLOW = False

  def test_mean_shift_and_ap(self):
    metrics = self.beam['pseudo_labels'].metrics
    self.assertIn('AP50', metrics)
    self.assertEqual(metrics['computed'], metrics['frames'])
    self.assertGreater(metrics['annotations'], 0)
    # inference_set: the statistic of the frames, not the running mean.
    self.assertNotEqual(metrics['mean_shift'], metrics['running_mean_shift'])


if __name__ == '__main__':
  tf.test.main()
