r"""The paper's third step: MaskConsist retrained on its own predictions.

  nice -n 10 python experiments/self_train.py --dataset=synthetic \
      --work_dir=work/demo --preset=quick --rounds=1

runs the pipeline (every stage of run_pipeline.py, skipped when already done
in --work_dir), then --rounds self-training rounds: round r trains the
preset's MaskConsist experiment on the previous round's confident
training-frame predictions (predict/train_labels.json: score >= 0.5; round 2
reads the `predict` stage of run_pipeline.py) in stage
maskconsist_train_r<r>, and predicts in predict_r<r>
(wsvis_tf/pipeline/components/segmenter.py). The table gives each round's
held-out AP50, AP and TC and its labels' AP50 on the training frames; the
last line is
  RESULT round1=... round2=... [...] labels1=... labels2=...
(held-out AP50 in %; round1 is run_pipeline.py's MaskConsist; labelsN: the
AP50 of the labels round N trained on, on the training frames). The paper
does not say which predictions become labels; the 0.5 score cut is the
predict stage's label_min_score. `run_pipeline.py --self_training_rounds=N`
runs the same stages. The dataset and preset flags are run_pipeline.py's.
"""

import time

from absl import app
from absl import flags

from wsvis_tf.core import entry_point
from wsvis_tf.pipeline import cli
from wsvis_tf.pipeline import graph
from wsvis_tf.pipeline.components import irn
from wsvis_tf.pipeline.components import segmenter

PROGRAM = 'self_train'
cli.define_flags()
FLAGS = flags.FLAGS
_ROUNDS = flags.DEFINE_integer('rounds', 1, 'Self-training rounds after '
                               'the pipeline\'s MaskConsist.')


def main(argv):
  del argv
  start = time.time()
  if _ROUNDS.value < 1:
    raise app.UsageError(f'--rounds must be >= 1, got {_ROUNDS.value}')
  source, preset = cli.source_and_preset(PROGRAM)
  if segmenter.MASKCONSIST_TRAIN not in preset:
    cli.usage_error(PROGRAM, f'preset {FLAGS.preset!r} has no '
                    f'{segmenter.MASKCONSIST_TRAIN} stage')
  try:
    stages = graph.preset_stages(preset, source)
    stages += segmenter.self_training_stages(preset, _ROUNDS.value)
  except ValueError as e:
    cli.usage_error(PROGRAM, e)
  records = cli.run_stages(PROGRAM, stages, {'source': source},
                           force=FLAGS.force)
  predicts = [segmenter.PREDICT] + [f'{segmenter.PREDICT}_r{r}'
                                    for r in range(2, _ROUNDS.value + 2)]
  # Round 1 trained on the flowIRN labels, round r on predict_r<r-1>'s.
  label_ap50 = [records[irn.PSEUDO_LABELS].metrics.get('AP50', float('nan'))]
  label_ap50 += [records[p].metrics.get('train_labels_AP50', float('nan'))
                 for p in predicts[:-1]]
  metrics = [records[p].metrics for p in predicts]
  held_out = next((k[:-len('_AP50')] for k in sorted(metrics[0])
                   if k.endswith('_AP50') and not k.startswith('train')),
                  '')
  print(f'\nSelf-training on {source.name} ({FLAGS.preset}), work dir '
        f'{cli.work_dir()}')
  print(f'{"round":6s} {"stage":14s} {held_out + " AP50 %":>16s} '
        f'{"AP %":>6s} {"TC %":>6s} {"labels AP50 %":>14s}')
  results, labels = [], []
  for r, (name, m) in enumerate(zip(predicts, metrics), start=1):
    ap50 = 100 * m.get(f'{held_out}_AP50', float('nan'))
    results.append(f'round{r}={ap50:.2f}')
    labels.append(f'labels{r}={100 * label_ap50[r - 1]:.2f}')
    print(f'{r:<6d} {name:14s} {ap50:16.2f} '
          f'{100 * m.get(f"{held_out}_AP", float("nan")):6.2f} '
          f'{100 * m.get(f"{held_out}_TC", float("nan")):6.2f} '
          f'{100 * label_ap50[r - 1]:14.2f}')
  print(f'wall time {time.time() - start:.0f} s (this run; stages already '
        'done were skipped)')
  print('RESULT ' + ' '.join(results + labels))


def run() -> None:
  """The `wsvis-self-train` console script: flags, then main."""
  entry_point.run(main, __name__)


if __name__ == '__main__':
  run()
