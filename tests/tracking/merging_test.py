"""Tests for wsvis_tf.tracking.merging: UnOVOST's forest path cutting."""

from absl.testing import absltest
import numpy as np

from wsvis_tf.tracking import merging


def distances_from(pairs, k):
  """A symmetric [k, k] matrix from {(i, j): d}; unspecified pairs are 1."""
  d = np.ones((k, k)) - np.eye(k)
  for (i, j), v in pairs.items():
    d[i, j] = d[j, i] = v
  return d


class NormalisedDistancesTest(absltest.TestCase):

  def test_hand_values(self):
    got = merging.normalised_distances(np.array([[0.0, 0.0], [3.0, 4.0],
                                                 [6.0, 8.0]]))
    np.testing.assert_allclose(got, [[0, 0.5, 1], [0.5, 0, 0.5],
                                     [1, 0.5, 0]])

  def test_identical_embeddings(self):
    np.testing.assert_array_equal(
        merging.normalised_distances(np.ones((3, 4))), np.zeros((3, 3)))


class LinkPredecessorsTest(absltest.TestCase):

  def test_nearest_earlier_ending_tracklet(self):
    # 0: frames 0-3, 1: 0-9 (never ends before anything), 2: 5-9.
    # 2 may only link to 0 (1 is still running), however far 0 is.
    d = distances_from({(2, 0): 0.9, (2, 1): 0.1}, 3)
    self.assertEqual(merging.link_predecessors([0, 0, 5], [3, 9, 9],
                                               d).tolist(), [-1, -1, 0])

  def test_picks_smallest_distance(self):
    # 0: 0-2, 1: 0-3, 2: 5-8; 2 is nearer 1.
    d = distances_from({(2, 0): 0.6, (2, 1): 0.3, (0, 1): 1.0}, 3)
    self.assertEqual(merging.link_predecessors([0, 0, 5], [2, 3, 8],
                                               d).tolist(), [-1, -1, 1])

  def test_tie_rule_continues_the_chain(self):
    # A (0-1) -> B (3-4) is a chain. C (6-7) is nearest A, then B: linking
    # to A would fork the chain at A, so C links to B.
    d = distances_from({(0, 1): 0.3, (2, 0): 0.1, (2, 1): 0.2}, 3)
    got = merging.link_predecessors([0, 3, 6], [1, 4, 7], d)
    self.assertEqual(got.tolist(), [-1, 0, 1])
    # Without the chain (B starts at 1, before A ends, so B is a root) C
    # keeps its nearest, A.
    d = distances_from({(0, 1): 0.3, (2, 0): 0.1, (2, 1): 0.2}, 3)
    got = merging.link_predecessors([0, 1, 6], [1, 4, 7], d)
    self.assertEqual(got.tolist(), [-1, -1, 0])


class CutPathsTest(absltest.TestCase):

  def test_longest_branch_wins_and_the_rest_is_cut(self):
    # R (0-4) has children X (6-9) and Y (6-7): R-X covers (4 + 3) / 10,
    # R-Y (4 + 1) / 10; similarity is equal. Y becomes its own trajectory.
    parents = np.array([-1, 0, 0])
    d = distances_from({(0, 1): 0.5, (0, 2): 0.5}, 3)
    got = merging.cut_paths(parents, [0, 6, 6], [4, 9, 7], d, 10)
    self.assertEqual(got, [[0, 1], [2]])

  def test_similarity_breaks_equal_coverage(self):
    # Equal coverage; R-Y is more similar (0.9 vs 0.6): 0.1 * 0.3 decides.
    parents = np.array([-1, 0, 0])
    d = distances_from({(0, 1): 0.4, (0, 2): 0.1}, 3)
    got = merging.cut_paths(parents, [0, 6, 6], [4, 9, 9], d, 10)
    self.assertEqual(got, [[0, 2], [1]])

  def test_score_tie_goes_to_latest_end(self):
    # R-X: (2 + 2) / 10 ending at 8; R-Y: (2 + 2) / 10 ending at 9.
    parents = np.array([-1, 0, 0])
    d = distances_from({(0, 1): 0.5, (0, 2): 0.5}, 3)
    got = merging.cut_paths(parents, [0, 6, 7], [2, 8, 9], d, 10)
    self.assertEqual(got, [[0, 2], [1]])

  def test_coverage_outweighs_similarity(self):
    # One more frame of coverage (0.9 / 10 = 0.09) beats a similarity gain
    # of 0.8 * 0.1 = 0.08.
    parents = np.array([-1, 0, 0])
    d = distances_from({(0, 1): 0.9, (0, 2): 0.1}, 3)
    got = merging.cut_paths(parents, [0, 6, 6], [4, 9, 8], d, 10)
    self.assertEqual(got, [[0, 1], [2]])

  def test_subtrees_are_cut_recursively(self):
    # 0 -> 1 -> {2, 3}; 0 -> 4 -> 5. Frames: 0: 0-3, 1: 5-9, 2: 11-19,
    # 3: 11-12, 4: 5-6, 5: 8-15. Best path of tree 0: 0-1-2 (4+4+8).
    # Left: 3 alone (off 1), and the subtree 4 -> 5, a path of its own.
    parents = np.array([-1, 0, 1, 1, 0, 4])
    starts, ends = [0, 5, 11, 11, 5, 8], [3, 9, 19, 12, 6, 15]
    d = distances_from({}, 6) * 0.5
    got = merging.cut_paths(parents, starts, ends, d, 20)
    self.assertEqual(got, [[0, 1, 2], [3], [4, 5]])

  def test_every_tracklet_exactly_once(self):
    rng = np.random.default_rng(0)
    for _ in range(20):
      k = 12
      starts = rng.integers(0, 30, k)
      ends = starts + rng.integers(0, 5, k)
      emb = rng.normal(size=(k, 4))
      got = merging.merge_tracklets(starts, ends, emb, 40)
      flat = sorted(i for traj in got for i in traj)
      self.assertEqual(flat, list(range(k)))
      for traj in got:  # In time order, never overlapping.
        for a, b in zip(traj, traj[1:]):
          self.assertLess(ends[a], starts[b])


class MergeTrackletsTest(absltest.TestCase):

  def test_disabled_and_empty(self):
    cfg = merging.MergeConfig(enabled=False)
    self.assertEqual(merging.merge_tracklets([0, 5], [2, 8], np.eye(2), 10,
                                             cfg), [[0], [1]])
    self.assertEqual(merging.merge_tracklets([], [], np.zeros((0, 2)), 10),
                     [])

  def test_gap_is_bridged_by_appearance(self):
    # Two objects, both hidden during frames 4-6: red 0 (0-3) and blue 1
    # (0-3); then blue 2 (7-9) and red 3 (7-9). Embeddings decide.
    red, blue = [1.0, 0.0], [0.0, 1.0]
    emb = np.array([red, blue, blue, red])
    got = merging.merge_tracklets([0, 0, 7, 7], [3, 3, 9, 9], emb, 10)
    self.assertCountEqual(got, [[0, 3], [1, 2]])


if __name__ == '__main__':
  absltest.main()
