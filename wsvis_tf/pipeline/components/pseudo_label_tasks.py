"""The pseudo_labels stage's per-video work (IRN inference, paper sec 3.2).

Two VideoTasks (wsvis_tf/pipeline/per_video.py), run in-process or on an
Apache Beam runner by wsvis_tf.pipeline.components.irn:

  MeanDisplacementTask  per video, the sum of its frames' mean displacement
                        (IRN MeanShift statistic, inference.displacement_sum);
  PseudoLabelsTask      per video, IRN instance inference of its frames,
                        one PartialResults file per frame.

Both load the irn_train model once per process (setup).
"""

import dataclasses
import time
from typing import Any, Dict, List, Mapping, Optional

import numpy as np
import tensorflow as tf

from wsvis_tf.backbones import resnet
from wsvis_tf.cam import extraction
from wsvis_tf.core import atomic_io
from wsvis_tf.core import keys
from wsvis_tf.flowirn import fcam
from wsvis_tf.flowirn import frame_flow
from wsvis_tf.irn import config as config_lib
from wsvis_tf.irn import inference
from wsvis_tf.irn import model as model_lib
from wsvis_tf.irn import pseudo_labels as pseudo_lib
from wsvis_tf.pipeline import per_video
from wsvis_tf.pipeline import stage as stage_lib
from wsvis_tf.pipeline.components import cam as cam_component

# irn_train's model description (written by components.irn).
MODEL_JSON = 'model.json'


def load_irn_model(record: stage_lib.StageRecord) -> model_lib.IrnModel:
  """The trained IrnModel of an irn_train record."""
  info = atomic_io.read_json(record.path(MODEL_JSON))
  model = model_lib.IrnModel(resnet.build_resnet(info['backbone']))
  model(tf.zeros([1, 32, 32, 3]))  # create the variables
  model_lib.restore_model(model, record.path(info['checkpoint']))
  return model



MEAN_SHIFT_DIR = 'mean_displacement'


def _network(irn_record: stage_lib.StageRecord,
             mean_shift: Optional[List[float]] = None
            ) -> model_lib.EdgeDisplacement:
  """The IRN network of irn_record; MeanShift set to mean_shift if given."""
  network = model_lib.EdgeDisplacement(load_irn_model(irn_record))
  if mean_shift is not None:
    network.model.heads.mean_shift.running_mean.assign(
        np.asarray(mean_shift, np.float32))
  return network


@dataclasses.dataclass(frozen=True)
class MeanDisplacementTask(per_video.VideoTask):
  """Per video: the sum of its wanted frames' mean displacements (IRN)."""
  irn_record: stage_lib.StageRecord
  # video id -> [frame index] to segment.
  wanted: Mapping[str, List[int]]
  image_scale: float

  def setup(self) -> model_lib.EdgeDisplacement:
    return _network(self.irn_record)

  def process(self, state, video: Mapping[str, Any]) -> Dict[str, Any]:
    ts = self.wanted.get(keys.as_text(video[keys.VIDEO_ID]), [])
    total, count = inference.displacement_sum(
        state, (video[keys.FRAMES][t] for t in ts), self.image_scale)
    return {'sum': [float(v) for v in total], 'count': count}


@dataclasses.dataclass(frozen=True)
class PseudoLabelsTask(per_video.VideoTask):
  """The pseudo_labels stage's per-video work: IRN instance inference.

  Each frame's annotations go to PartialResults files (frames/); the summary
  is {'size': [H, W], 'frames': [t], 'computed', 'frames_without_labels',
  'seconds'}.
  """
  config: Mapping[str, Any]  # InferenceConfig.as_dict()
  irn_record: stage_lib.StageRecord
  cam_record: stage_lib.StageRecord
  flow_record: Optional[stage_lib.StageRecord]
  flow_source: Optional[str]  # the stage's resolved one (frame_flow)
  frames_dir: str
  # video id -> [[frame index, frame name]] to segment.
  wanted: Mapping[str, List[Any]]
  num_classes: int
  mean_shift: Optional[List[float]]

  def setup(self) -> model_lib.EdgeDisplacement:
    return _network(self.irn_record, self.mean_shift)

  def process(self, state, video: Mapping[str, Any]) -> Dict[str, Any]:
    cfg = config_lib.irn_config_from_dict(
        {'inference': dict(self.config)}).inference
    params = inference.InferenceParams(
        cfg.centroid_iterations, cfg.cluster_threshold, cfg.walk_radius,
        cfg.beta, cfg.exp_times, cfg.background_threshold,
        cfg.min_fragment_fraction,
        walk_normalization=cfg.walk_normalization)
    partial = pseudo_lib.PartialResults(self.frames_dir)
    video_id = keys.as_text(video[keys.VIDEO_ID])
    frames = video[keys.FRAMES]
    wanted = self.wanted.get(video_id, [])
    flow_fn = None
    if cfg.use_fcam and wanted:
      flow_fn = frame_flow.frame_flow_fn(self.flow_source, self.flow_record,
                                         video)
    out = {'size': [int(v) for v in frames.shape[1:3]], 'frames': [],
           'computed': 0, 'frames_without_labels': 0, 'seconds': 0.0}
    for t, frame_name in sorted(wanted):
      if t >= len(frames):
        raise ValueError(f'frame {t} of the cam stage is not in video '
                         f'{video_id} of {len(frames)} frames any more')
      if partial.get(video_id, frame_name) is None:
        tick = time.time()
        cams = extraction.load_cams(cam_component.cam_file(
            self.cam_record, video_id, frame_name))
        class_keys = cams[extraction.NPZ_KEYS]
        if class_keys.size == 0:
          # No class label: nothing to segment (IRN would fail on it).
          out['frames_without_labels'] += 1
          annotations = []
        else:
          stride4 = cams[extraction.NPZ_CAM]
          if flow_fn is not None:
            stride4 = fcam.flow_amplified_cams(
                stride4, flow_fn(t), cfg.amplification, cfg.percentile,
                extraction.CAM_STRIDE)
          detections = inference.segment_frame(
              state, frames[t], stride4, class_keys, params,
              self.num_classes, cfg.image_scale)
          annotations = pseudo_lib.detections_to_annotations(
              detections, cfg.min_score)
        partial.put(video_id, frame_name, annotations)
        out['computed'] += 1
        out['seconds'] += time.time() - tick
      out['frames'].append(t)
    return out
