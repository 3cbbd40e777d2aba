r"""Frame predictions and video tracks of a trained model on any dataset.

  wsvis-predict --model_dir=work/demo --dataset=video_folder \
      --data_dir=my_videos --work_dir=work/my_videos --preset=quick

(`python experiments/predict.py` is the same binary.) --model_dir is the
work directory of a finished pipeline run (experiments/run_pipeline.py):
its DDFlow weights (flow_train) and a trained segmenter (--model=
maskconsist: maskconsist_train, or maskrcnn: maskrcnn_train) are imported
into --work_dir (wsvis_tf/pipeline/components/imported.py), then the
pipeline's own stages run there on the dataset of the dataset flags (any
the pipeline reads: the procedural data, YouTube-VIS, Cityscapes, or a
folder of your own videos, datasets/real_video/README.md):

  data     the dataset, prepared; its ground truth where it has one;
  flow     DDFlow flows of every video (for the tracker and TC);
  predict  <split>_predictions.json per split: a COCO instances JSON with
           scores (the images it covers listed, file_name
           '<video>/<frame file>' and frame_index; every frame of a held-out
           split, the annotated frames of 'train' - all frames of a video
           folder), frame AP and TC where ground truth exists;
  track    <split>_tracks.json: YouTube-VIS results (video ids of
           data/ground_truth/<split>_videos.json) after UnOVOST tracking.

The dataset's class names must be the model's (a video folder's labels file
names them); the last lines give each output file. Stage settings (flow
extraction, predict, track) are the --preset's. A rerun skips what is done.
"""

import os

from absl import flags

from datasets.real_video import manual_dir
from wsvis_tf.core import atomic_io
from wsvis_tf.core import entry_point
from wsvis_tf.pipeline import cli
from wsvis_tf.pipeline.components import data as data_component
from wsvis_tf.pipeline.components import flow as flow_component
from wsvis_tf.pipeline.components import imported
from wsvis_tf.pipeline.components import segmenter
from wsvis_tf.pipeline.components import video

PROGRAM = 'predict'
cli.define_flags()
FLAGS = flags.FLAGS
_MODEL_DIR = flags.DEFINE_string(
    'model_dir', None, 'Work directory of a finished pipeline run holding '
    'flow_train and the trained segmenter.')
_MODEL = flags.DEFINE_enum(
    'model', 'maskconsist', ['maskconsist', 'maskrcnn'],
    'Which trained segmenter: MaskConsist (maskconsist_train) or the Mask '
    'R-CNN baseline (maskrcnn_train).')
_SPLITS = flags.DEFINE_list(
    'splits', [], 'Splits to predict and track (default: every split of '
    'the dataset).')
flags.mark_flag_as_required('model_dir')

_TRAIN_STAGES = {'maskconsist': segmenter.MASKCONSIST_TRAIN,
                 'maskrcnn': segmenter.MASKRCNN_TRAIN}


def _model_files(train_dir: str):
  """The files a predict stage reads from a train stage directory."""
  info = atomic_io.read_json(os.path.join(train_dir, segmenter.MODEL_JSON))
  checkpoint = info['checkpoint']
  prefix = os.path.basename(checkpoint)
  folder = os.path.dirname(checkpoint)
  shards = sorted(n for n in os.listdir(os.path.join(train_dir, folder))
                  if n.startswith(prefix + '.'))
  return info, [segmenter.MODEL_JSON,
                os.path.join(segmenter.MODEL_DIR, 'params.yaml')] + [
                    os.path.join(folder, n) for n in shards]


def build_stages(source, preset, model_dir: str, model: str, splits):
  """data, flow_train (imported), flow, <train> (imported), predict, track.
  """
  train_name = _TRAIN_STAGES[model]
  train_dir = os.path.join(model_dir, train_name)
  if not os.path.exists(os.path.join(train_dir, segmenter.MODEL_JSON)):
    raise ValueError(f'{train_dir} holds no trained model '
                     f'({segmenter.MODEL_JSON}); run the pipeline through '
                     f'{train_name} first')
  info, files = _model_files(train_dir)
  if info.get('class_names') != list(source.class_names):
    raise ValueError(
        f'the model in {train_dir} predicts the classes '
        f'{info.get("class_names")}; dataset {source.name!r} has '
        f'{list(source.class_names)} (a video folder\'s labels file must '
        'name the model\'s classes)')
  unknown = sorted(set(splits) - set(source.splits))
  if unknown:
    raise ValueError(f'--splits {unknown} are not splits of the dataset '
                     f'(it has {list(source.splits)})')
  splits = list(splits) or list(source.splits)
  extract = dict(preset.get(flow_component.NAME, {}))
  extract['delta'] = preset['data']['delta']
  predict_config = dict(preset.get(segmenter.PREDICT, {}), splits=splits)
  stages = [
      data_component.make_stage(source, preset['data']),
      imported.make_import_stage(
          flow_component.TRAIN_NAME,
          os.path.join(model_dir, flow_component.TRAIN_NAME),
          [flow_component.EXPORT_DIR]),
      flow_component.make_stage(extract),
      imported.make_import_stage(train_name, train_dir, files),
  ]
  predict = segmenter.make_predict_stage(predict_config, segmenter.PREDICT,
                                         train_name)
  stages += [predict,
             video.make_track_stage(preset.get(video.TRACK, {}), video.TRACK,
                                    predict)]
  return stages


def main(argv):
  del argv
  source, preset = cli.source_and_preset(PROGRAM)
  try:
    # The splits and class names of a real dataset are known once it is
    # prepared (the data stage would do it first thing).
    source.prepare()
  except manual_dir.InputError as e:
    cli.usage_error(PROGRAM, e)
  try:
    stages = build_stages(source, preset, os.path.abspath(_MODEL_DIR.value),
                          _MODEL.value, _SPLITS.value)
  except ValueError as e:
    cli.usage_error(PROGRAM, e)
  records = cli.run_stages(PROGRAM, stages, {'source': source},
                           force=FLAGS.force)
  predict = records[segmenter.PREDICT]
  track = records[video.TRACK]
  print(f'{"stage":18s} {"status":8s} {"wall s":>8s}')
  for name, rec in records.items():
    print(f'{name:18s} {rec.status:8s} {rec.wall_time_s:8.1f}')
  for split in predict.config['splits']:
    m = predict.metrics
    scored = (f' (frame AP50 {m[split + "_AP50"]:.4f})'
              if m.get(f'{split}_AP50', -1) >= 0 else '')
    print(f'{split} frame predictions: '
          f'{predict.path(segmenter.PREDICTIONS.format(split=split))}'
          f'{scored}')
  for split in track.config['splits']:
    print(f'{split} video tracks: '
          f'{track.path(video.TRACKS.format(split=split))} '
          f'({track.metrics[split + "_tracks"]} tracks in '
          f'{track.metrics[split + "_videos"]} videos)')


def run() -> None:
  """The `wsvis-predict` console script: flags, then main."""
  entry_point.run(main, __name__)


if __name__ == '__main__':
  run()
