"""The pipeline's stages, in order, for a dataset and a preset.

Each later stage (flow, cam, flowirn, maskconsist, ...) plugs in here by
adding its component's make_stage to build_stages.
"""

from typing import List

from wsvis_tf.data import sources
from wsvis_tf.pipeline import presets
from wsvis_tf.pipeline import stage as stage_lib
from wsvis_tf.pipeline.components import contact_sheet
from wsvis_tf.pipeline.components import data


def build_stages(preset_name: str, source: sources.VideoSource
                ) -> List[stage_lib.Stage]:
  preset = presets.get_preset(preset_name, source.name)
  return [
      data.make_stage(source, preset['data']),
      contact_sheet.make_stage(preset['contact_sheet']),
  ]


def make_source(dataset: str, data_dir: str, preset_name: str,
                tfds_dir: str) -> sources.VideoSource:
  """The video source; see sources.register_source for the two dirs."""
  preset = presets.get_preset(preset_name, dataset)
  return sources.get_source(dataset, data_dir,
                            preset['data'].get('builder_config'), tfds_dir)
