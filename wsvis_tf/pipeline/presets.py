"""Named presets: one config dict per stage.

  smoke  tiny data, a few steps per stage: what the tests run end to end.
  quick  the procedural default on 2 CPU cores (the `make demo` run).
  paper  the paper's settings (sec 4.2), for GPUs and real data.

Dataset-specific settings (frame distance delta, builder config) come from
DATASET_DEFAULTS and are merged into the 'data' stage's config.
"""

import copy
from typing import Any, Dict

# delta: distance of paired frames (paper sec 4.2: 5 for YouTube-VIS, whose
# annotated frames are every 5th; 3 for Cityscapes).
DATASET_DEFAULTS: Dict[str, Dict[str, Any]] = {
    'synthetic': {'delta': 2},
    'ytvis': {'delta': 5},
    'cityscapes': {'delta': 3},
    'video_folder': {'delta': 5},
}

_PRESETS: Dict[str, Dict[str, Dict[str, Any]]] = {
    'smoke': {
        'data': {'builder_config': 'tiny'},
        'contact_sheet': {'split': 'train', 'num_videos': 2,
                          'frames_per_video': 3},
    },
    'quick': {
        'data': {'builder_config': 'default'},
        'contact_sheet': {'split': 'train', 'num_videos': 4,
                          'frames_per_video': 5},
    },
    'paper': {
        'data': {'builder_config': 'default'},
        'contact_sheet': {'split': 'train', 'num_videos': 6,
                          'frames_per_video': 6},
    },
}


def preset_names():
  return sorted(_PRESETS)


def get_preset(name: str, dataset: str) -> Dict[str, Dict[str, Any]]:
  """A deep copy of the named preset, with the dataset's defaults merged."""
  if name not in _PRESETS:
    raise ValueError(f'unknown preset {name!r}; known: {preset_names()}')
  if dataset not in DATASET_DEFAULTS:
    raise ValueError(f'unknown dataset {dataset!r}; known: '
                     f'{sorted(DATASET_DEFAULTS)}')
  preset = copy.deepcopy(_PRESETS[name])
  preset['data'].update(DATASET_DEFAULTS[dataset])
  if dataset != 'synthetic':
    preset['data'].pop('builder_config', None)
  return preset
