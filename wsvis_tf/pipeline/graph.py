"""The pipeline's stages, in order, for a dataset and a preset.

Each later stage (flow, cam, flowirn, maskconsist, ...) plugs in here by
adding its component's make_stage to preset_stages.
"""

from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence

from wsvis_tf.data import sources
from wsvis_tf.pipeline import presets
from wsvis_tf.pipeline import stage as stage_lib
from wsvis_tf.pipeline.components import cam
from wsvis_tf.pipeline.components import contact_sheet
from wsvis_tf.pipeline.components import data
from wsvis_tf.pipeline.components import export
from wsvis_tf.pipeline.components import flow
from wsvis_tf.pipeline.components import irn
from wsvis_tf.pipeline.components import report
from wsvis_tf.pipeline.components import segmenter
from wsvis_tf.pipeline.components import video


def build_stages(preset_name: str, source: sources.VideoSource,
                 imagenet_weights: Optional[str] = None,
                 train_from_scratch: bool = False,
                 seed: int = 0) -> List[stage_lib.Stage]:
  """The stages of a named preset on a source.

  imagenet_weights and train_from_scratch settle the backbone's
  initialisation (presets.pipeline_preset: the paper and cityscapes presets
  need one of them, else MissingWeightsError); `seed` seeds every training
  stage (presets.apply_seed).
  """
  return preset_stages(
      presets.apply_seed(
          presets.pipeline_preset(preset_name, source.name, imagenet_weights,
                                  train_from_scratch), seed), source)


def preset_stages(preset: Mapping[str, Mapping[str, Any]],
                  source: sources.VideoSource) -> List[stage_lib.Stage]:
  """The stages of a preset dict (presets.pipeline_preset) on a source."""
  stages = [
      data.make_stage(source, preset['data']),
  ]
  # DDFlow (paper sec 4.2): flow_train -> flow.
  stages += flow.make_stages(preset)
  # CAM -> IR labels, after the flow stage if there is one (f-CAMs).
  flow_stage = next((s.name for s in stages if s.name == cam.FLOW), None)
  stages += cam.make_stages(preset, source, flow_stage)
  # IRN / flowIRN heads -> instance pseudo-labels (paper sec 3.1-3.2).
  stages += irn.make_stages(preset, source, flow_stage)
  # Mask R-CNN and MaskConsist on the pseudo-labels, their predictions
  # (paper sec 3.3, 4.2).
  stages += segmenter.make_stages(preset)
  # Their predictions tracked (UnOVOST, paper sec 4.4) and scored (Tables
  # 3, 6), when the preset has predict stages.
  after_segmenter = video.make_stages(preset, stages)
  stages += after_segmenter
  # The segmenter as a SavedModel for TF Serving (serving/export.py).
  if export.NAME in preset:
    stages.append(export.make_stage(preset[export.NAME]))
  names = {s.name for s in stages}
  stages.append(contact_sheet.make_stage(
      preset['contact_sheet'],
      flow.NAME if flow.NAME in names else None,
      irn.PSEUDO_LABELS if irn.PSEUDO_LABELS in names else None))
  # The report reads every earlier stage's record (wall times).
  if after_segmenter:
    stages.append(report.make_stage(preset.get(report.NAME, {}),
                                    [s.name for s in stages]))
  return stages


def upstream(stages: Sequence[stage_lib.Stage],
             names: Iterable[str]) -> List[stage_lib.Stage]:
  """The named stages and every stage they read, transitively, in order.

  For binaries that run part of a preset and add stages of their own (e.g.
  the ablations after the pseudo-labels), without the preset's later stages
  that read stages they leave out.
  """
  by_name = {s.name: s for s in stages}
  needed, todo = set(), list(names)
  while todo:
    name = todo.pop()
    if name in needed:
      continue
    if name not in by_name:
      raise ValueError(f'no stage {name!r} in {sorted(by_name)}')
    needed.add(name)
    todo.extend(by_name[name].inputs)
  return [s for s in stages if s.name in needed]


def make_source(dataset: str, data_dir: str, preset_name: str,
                tfds_dir: str, config: Optional[str] = None,
                options: Optional[Dict[str, Any]] = None
               ) -> sources.VideoSource:
  """The video source; see sources.register_source for the two dirs.

  config (a builder config name) overrides the preset's; options override
  builder config fields (sources.get_source).
  """
  preset = presets.get_preset(preset_name, dataset)
  return sources.get_source(dataset, data_dir,
                            config or preset['data'].get('builder_config'),
                            tfds_dir, options)
