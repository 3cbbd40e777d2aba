r"""Speed and peak memory of IRN instance inference (sparse random walk).

  nice -n 10 python experiments/bench_irn.py

times the whole post-network inference of one frame (centroid refinement,
clustering, instance CAMs, the beta-10 / 2^8-step / radius-5 random walk,
x4 upsampling, argmax, fragment scoring; wsvis_tf/irn/inference.py) on
structured random scenes (4 elliptic instances, 2 classes) at 128x128,
256x256, 384x384 and 480x854, after one warm-up call that includes XLA
compilation. It also walks the 128x128 scene with IRN's dense T^256 (a
(hw)^2 matrix squared 8 times) to report the speed-up and the numerical
agreement. Peak memory = the peak of TensorFlow's CPU allocator during the
call (tf.config.experimental.get_memory_info) + the growth of the resident
set by host (numpy) arrays (VmHWM, reset via /proc/self/clear_refs); see
wsvis_tf/irn/benchmark.py. The network forward pass is not included.

Prints a table and a last line
  RESULT irn_ms_384=... irn_ms_480=... irn_peak_mb_480=...
Takes ~1 min on 2 CPU cores (mostly XLA compilation, once per size).
"""

from absl import flags

from wsvis_tf.core import entry_point
from wsvis_tf.irn import benchmark

_SIZES = flags.DEFINE_list('sizes', ['128x128', '256x256', '384x384',
                                     '480x854'], 'Frame sizes HxW.')
_REPEATS = flags.DEFINE_integer('repeats', 5, 'Timed calls per size.')
_INSTANCES = flags.DEFINE_integer('instances', 4, 'Instances per scene.')
_CLASSES = flags.DEFINE_integer('classes', 2, 'Classes per scene.')
_DENSE = flags.DEFINE_bool('dense_check', True,
                           'Also run the dense walk at 128x128.')
_SEED = flags.DEFINE_integer('seed', 0, 'Scene seed.')


def main(argv):
  del argv
  sizes = [benchmark.parse_size(s) for s in _SIZES.value]
  rows = []
  for height, width in sizes:
    scene = benchmark.make_scene(height, width, _INSTANCES.value,
                                 _CLASSES.value, _SEED.value)
    m = benchmark.measure(scene, _REPEATS.value)
    rows.append(((height, width), scene.boundary.shape, m))
  print(f'\nIRN instance inference, {_INSTANCES.value} instances x '
        f'{_CLASSES.value} classes, median of {_REPEATS.value} calls')
  print(f'{"frame":>9s} {"grid":>9s} {"ms/frame":>9s} {"1st call ms":>11s} '
        f'{"TF MB":>7s} {"host MB":>7s} {"peak MB":>7s} {"detections":>10s}')
  for (h, w), grid, m in rows:
    print(f'{h:4d}x{w:<4d} {grid[0]:4d}x{grid[1]:<4d} {m["ms"]:9.1f} '
          f'{m["first_ms"]:11.0f} {m["tf_mb"]:7.1f} {m["host_mb"]:7.1f} '
          f'{m["peak_mb"]:7.1f} {m["detections"]:10d}')
  if _DENSE.value:
    d = benchmark.dense_check(benchmark.make_scene(
        128, 128, _INSTANCES.value, _CLASSES.value, _SEED.value))
    print(f'\n128x128 walk of {d["channels"]} instance CAMs: dense T^256 '
          f'{d["dense_ms"]:.0f} ms, sparse {d["sparse_ms"]:.0f} ms '
          f'({d["dense_ms"] / max(d["sparse_ms"], 1e-9):.1f}x); max |dense - '
          f'sparse| / max = {d["max_rel_diff"]:.2e}')
  by_size = {size: m for size, _, m in rows}
  get = lambda size, key: by_size.get(size, {}).get(key, float('nan'))
  print(f'RESULT irn_ms_384={get((384, 384), "ms"):.1f} '
        f'irn_ms_480={get((480, 854), "ms"):.1f} '
        f'irn_peak_mb_480={get((480, 854), "peak_mb"):.1f}')


def run() -> None:
  """The `wsvis-bench-irn` console script: flags, then main."""
  entry_point.run(main, __name__)


if __name__ == '__main__':
  run()
