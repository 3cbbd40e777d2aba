r"""Where DDFlow's training time goes: ms per step of each variant, one run.

  python experiments/bench_flow_step.py --preset=quick

times the training step of the preset's network (weights, batch and frame
size as `make demo` trains it: batch 4 of 128x160 frames for `quick`) for
each of its stages, with the cost volume as the library computes it
(`shifts`: (2r+1)^2 shifted products, a fixed-order gradient) and in
DDFlow's form (`extract_patches`, autodiffed), with and without XLA. Every
variant starts from the same weights and steps on the same random frames,
so their first losses must agree (printed). The data pipeline is left out
(it costs < 1 ms a batch; tf.data prefetches). From the per-step times and
the preset's stage lengths it estimates the training loop's minutes. Prints
a table and a last line
  RESULT <stage>_ms=... <stage>_patches_ms=... <stage>_speedup=...
  train_min=... train_patches_min=...
(the trainer's default, XLA on). ~4 min for `quick` on 2 CPU cores; the
ratios hold when other jobs share the cores, the absolute times do not.
"""

import time
from typing import Dict, List, Tuple
from unittest import mock

from absl import flags
import numpy as np
import tensorflow as tf
import tf_keras

from wsvis_tf.core import entry_point
from wsvis_tf.core import training
from wsvis_tf.flow import config as config_lib
from wsvis_tf.flow import model as model_lib
from wsvis_tf.flow import train_data
from wsvis_tf.flow import train_lib

_PRESET = flags.DEFINE_enum('preset', 'quick', sorted(config_lib.PRESETS),
                            'Flow config preset.')
_IMAGE_SIZE = flags.DEFINE_list(
    'image_size', ['128', '160'],
    'Frame height,width (default: the procedural default dataset\'s).')
_STEPS = flags.DEFINE_integer('steps', 30, 'Timed steps per variant.')
_WARMUP = flags.DEFINE_integer('warmup', 3,
                               'Untimed steps per variant (after tracing).')
_SEED = flags.DEFINE_integer('seed', 0, 'Weights and frames.')

COST_VOLUMES = {'shifts': model_lib.cost_volume,
                'extract_patches': model_lib.cost_volume_patches}


def _time_variant(config: config_lib.FlowConfig, image_size: Tuple[int, int],
                  stage: str, jit: bool, frames: Dict[str, np.ndarray]
                 ) -> Tuple[float, float]:
  """(ms per step, loss of the first step) of one variant."""
  training.seed_everything(_SEED.value)
  strategy = training.default_strategy()
  model = model_lib.build_model(config.model, image_size)
  optimizer = tf_keras.optimizers.Adam(config.train.learning_rate)
  optimizer.build(model.trainable_variables)
  iterator = iter(tf.data.Dataset.from_tensors(frames).repeat())
  step_fn = train_lib.make_step_fn(model, optimizer, stage, config, strategy,
                                   jit)
  first = float(step_fn(iterator)[train_lib.LOSS_TOTAL].numpy())
  for _ in range(_WARMUP.value):
    step_fn(iterator)
  start = time.perf_counter()
  for _ in range(_STEPS.value):
    out = step_fn(iterator)
  out[train_lib.LOSS_TOTAL].numpy()
  return (time.perf_counter() - start) / _STEPS.value * 1000.0, first


def main(argv):
  del argv
  if _STEPS.value < 1:
    raise ValueError(f'--steps must be >= 1, got {_STEPS.value}')
  if len(_IMAGE_SIZE.value) != 2:
    raise ValueError(f'--image_size must be height,width, got '
                     f'{",".join(_IMAGE_SIZE.value)}')
  image_size = (int(_IMAGE_SIZE.value[0]), int(_IMAGE_SIZE.value[1]))
  config = config_lib.get_config(_PRESET.value)
  batch = config.train.batch_size
  rng = np.random.default_rng(_SEED.value)
  frames = {k: rng.integers(0, 256, (batch,) + image_size + (3,),
                            dtype=np.uint8)
            for k in (train_data.IMAGE1, train_data.IMAGE2)}
  stages = sorted({s.name for s in config.train.stages},
                  key=config_lib.STAGES.index)
  stages = [s for s in stages if s != config_lib.DISTILLATION]
  print(f'DDFlow {_PRESET.value}: batch {batch} of {image_size[0]}x'
        f'{image_size[1]} random frames, {_STEPS.value} timed steps a '
        'variant')
  print(f'{"stage":<18}{"cost volume":<17}{"XLA":<5}{"ms/step":>9}'
        f'{"steps/s":>9}{"first loss":>12}')
  times: Dict[Tuple[str, str, bool], float] = {}
  for stage in stages:
    for name in COST_VOLUMES:
      for jit in (True, False):
        with mock.patch.object(model_lib, 'cost_volume', COST_VOLUMES[name]):
          ms, loss = _time_variant(config, image_size, stage, jit, frames)
        times[(stage, name, jit)] = ms
        print(f'{stage:<18}{name:<17}{"on" if jit else "off":<5}{ms:>9.1f}'
              f'{1000.0 / ms:>9.2f}{loss:>12.5f}', flush=True)
  # The trainer's default: XLA on (train_flow.py --jit_compile).
  result: List[str] = []
  minutes = {name: 0.0 for name in COST_VOLUMES}
  for s in config.train.stages:
    for name in COST_VOLUMES:
      key = (s.name, name, True)
      if key in times:
        minutes[name] += s.steps * times[key] / 60000.0
  for stage in stages:
    new, old = times[(stage, 'shifts', True)], times[(stage, 'extract_patches',
                                                          True)]
    print(f'{stage}: shifts {old / new:.2f}x faster than extract_patches '
          '(XLA on)')
    result += [f'{stage}_ms={new:.1f}', f'{stage}_patches_ms={old:.1f}',
               f'{stage}_speedup={old / new:.2f}']
  print(f'{_PRESET.value} training loop ({config.train.total_steps} steps, '
        f'distillation not timed): {minutes["shifts"]:.1f} min with shifts, '
        f'{minutes["extract_patches"]:.1f} min with extract_patches')
  result += [f'train_min={minutes["shifts"]:.2f}',
             f'train_patches_min={minutes["extract_patches"]:.2f}']
  print('RESULT ' + ' '.join(result))


def run() -> None:
  """The `wsvis-bench-flow-step` console script: flags, then main."""
  entry_point.run(main, __name__)


if __name__ == '__main__':
  run()
