"""Tests for wsvis_tf.tracking.proposals: inputs and overlap resolution."""

from absl.testing import absltest
import numpy as np

from wsvis_tf.evaluation import instances
from wsvis_tf.tracking import proposals

H, W = 20, 24


def box(y0, x0, y1, x1, h=H, w=W):
  mask = np.zeros((h, w), bool)
  mask[y0:y1, x0:x1] = True
  return mask


def frame(masks, scores=None, classes=None, embeddings=None):
  n = len(masks)
  return proposals.FrameProposals(
      masks=np.array(masks, bool).reshape(n, H, W),
      scores=np.linspace(0.9, 0.5, n) if scores is None else scores,
      class_ids=np.ones([n], np.int64) if classes is None else classes,
      embeddings=embeddings)


class FrameProposalsTest(absltest.TestCase):

  def test_converts_and_validates(self):
    f = proposals.FrameProposals(
        masks=np.stack([box(0, 0, 4, 4).astype(np.uint8) * 7]),
        scores=[0.5], class_ids=[3])
    self.assertEqual(f.masks.dtype, bool)
    self.assertEqual(f.masks.sum(), 16)
    self.assertEqual(f.scores.dtype, np.float32)
    self.assertEqual(f.class_ids.dtype, np.int64)
    self.assertLen(f, 1)
    self.assertEqual(tuple(f.size), (H, W))

  def test_from_instances(self):
    inst = instances.FrameInstances(np.stack([box(0, 0, 4, 4)]), [2], [0.25])
    f = proposals.FrameProposals.from_instances(inst, np.ones([1, 5]))
    self.assertEqual(f.class_ids.tolist(), [2])
    self.assertEqual(f.scores.tolist(), [0.25])
    self.assertEqual(f.embeddings.shape, (1, 5))

  def test_bad_inputs(self):
    with self.assertRaisesRegex(ValueError, r'masks must be \[N, H, W\]'):
      proposals.FrameProposals(box(0, 0, 2, 2), [1.0], [1])
    with self.assertRaisesRegex(ValueError, 'scores of shape'):
      proposals.FrameProposals(np.stack([box(0, 0, 2, 2)]), [1.0, 2.0], [1])
    with self.assertRaisesRegex(ValueError, '1-based'):
      proposals.FrameProposals(np.stack([box(0, 0, 2, 2)]), [1.0], [0])
    with self.assertRaisesRegex(ValueError, 'finite'):
      proposals.FrameProposals(np.stack([box(0, 0, 2, 2)]), [np.nan], [1])
    with self.assertRaisesRegex(ValueError, 'integers'):
      proposals.FrameProposals(np.stack([box(0, 0, 2, 2)]), [1.0], [1.5])
    with self.assertRaisesRegex(ValueError, r'embeddings must be \[1, D\]'):
      proposals.FrameProposals(np.stack([box(0, 0, 2, 2)]), [1.0], [1],
                               embeddings=np.ones([2, 4]))


class VideoPredictionsTest(absltest.TestCase):

  def test_frames_of_different_sizes(self):
    other = proposals.FrameProposals.empty(H + 1, W)
    with self.assertRaisesRegex(ValueError,
                                r'clip: frame 1 masks are \[21, 24\]'):
      proposals.VideoPredictions([frame([box(0, 0, 2, 2)]), other],
                                 name='clip')

  def test_flow_shape_and_values_are_checked(self):
    bad = np.zeros((H, W - 1, 2))
    video = proposals.VideoPredictions(
        [frame([box(0, 0, 2, 2)])] * 3, flow_fn=lambda t: bad, name='v7')
    with self.assertRaisesRegex(
        ValueError, r'v7: backward flow between frames 1 and 2 has shape '
        r'\[20, 23, 2\], expected \[H, W, 2\] = \[20, 24, 2\]'):
      video.flow(1)
    video.flow_fn = lambda t: np.full((H, W, 2), np.inf)
    with self.assertRaisesRegex(ValueError, 'NaN/Inf'):
      video.flow(0)
    video.flow_fn = lambda t: None
    self.assertIsNone(video.flow(0))
    video.flow_fn = lambda t: np.ones((H, W, 2), np.float16)
    self.assertEqual(video.flow(0).dtype, np.float32)

  def test_other_bad_inputs(self):
    f = frame([box(0, 0, 2, 2)])
    with self.assertRaisesRegex(ValueError, 'flow_direction'):
      proposals.VideoPredictions([f], flow_direction='sideways')
    with self.assertRaisesRegex(ValueError, r'image 0 has shape \(20, 24\)'):
      proposals.VideoPredictions([f], images=[np.zeros((H, W), np.uint8)])
    with self.assertRaisesRegex(ValueError, '2 images for 1 frames'):
      proposals.VideoPredictions([f], images=np.zeros((2, H, W, 3)))
    with self.assertRaisesRegex(ValueError, r'frames \[1\] do not'):
      proposals.VideoPredictions([frame([box(0, 0, 2, 2)], embeddings=[[1.0]]),
                                  f])
    with self.assertRaisesRegex(ValueError, r'sizes \[1, 2\]'):
      proposals.VideoPredictions([
          frame([box(0, 0, 2, 2)], embeddings=[[1.0]]),
          frame([box(0, 0, 2, 2)], embeddings=[[1.0, 2.0]])])
    with self.assertRaisesRegex(ValueError, 'expected FrameProposals'):
      proposals.VideoPredictions([f.masks])


class ArrayFlowFnTest(absltest.TestCase):

  def test_indexing_and_errors(self):
    flows = np.arange(2 * H * W * 2, dtype=np.float32).reshape(2, H, W, 2)
    fn = proposals.array_flow_fn(flows)
    np.testing.assert_array_equal(fn(1), flows[1])
    with self.assertRaisesRegex(ValueError, 'between frames 2 and 3'):
      fn(2)
    with self.assertRaisesRegex(ValueError, r'\[T - 1, H, W, 2\]'):
      proposals.array_flow_fn(flows[0])


class ResolveOverlapsTest(absltest.TestCase):

  def test_iou_at_threshold_keeps_the_higher_score(self):
    # A: 10 x 12; B: A shifted by 8 columns: I = 40, U = 200, IoU = 0.2.
    # C: shifted by 9: IoU = 30 / 210 < 0.2, kept.
    a, b, c = box(0, 0, 10, 12), box(0, 8, 10, 20), box(10, 9, 20, 21)
    c_over_a = box(0, 9, 10, 21)
    masks = np.stack([b, a, c_over_a, c])
    kept = proposals.resolve_overlaps(masks, np.array([0.6, 0.9, 0.5, 0.1]),
                                      0.2, 20)
    # By score: a (0.9) kept, b (0.6) overlaps a at 0.2 -> dropped,
    # c_over_a (0.5) overlaps a at 1/7 and b is gone -> kept, c disjoint.
    self.assertEqual(kept.tolist(), [1, 2, 3])
    # The lower-scored one of an overlapping pair goes, whichever index.
    kept = proposals.resolve_overlaps(masks[:2], np.array([0.9, 0.6]), 0.2,
                                      20)
    self.assertEqual(kept.tolist(), [0])

  def test_dropped_proposal_does_not_suppress(self):
    # b overlaps a (dropped); c overlaps only b: c stays.
    a, b, c = box(0, 0, 6, 6), box(0, 2, 6, 8), box(0, 6, 6, 10)
    kept = proposals.resolve_overlaps(np.stack([a, b, c]),
                                      np.array([0.9, 0.8, 0.7]), 0.2, 20)
    self.assertEqual(kept.tolist(), [0, 2])

  def test_cap_by_score_and_empty_masks(self):
    masks = np.zeros((25, 5 * 5, 5 * 5), bool)
    for i in range(25):
      masks[i, 5 * (i // 5):5 * (i // 5) + 5, 5 * (i % 5):5 * (i % 5) + 5] = 1
    masks[3] = False  # An empty proposal is dropped whatever its score.
    scores = np.random.default_rng(0).permutation(25).astype(np.float32)
    scores[3] = 100
    kept = proposals.resolve_overlaps(masks, scores, 0.2, 20)
    order = [i for i in np.argsort(-scores) if i != 3][:20]
    self.assertEqual(kept.tolist(), order)
    self.assertEmpty(proposals.resolve_overlaps(masks[:0], scores[:0], 0.2,
                                                20))


if __name__ == '__main__':
  absltest.main()
