"""One worker of multi_worker_training_test (a subprocess, TF_CONFIG set).

  python -m tests.distributed.train_worker_main LIB STEPS MODEL_DIR OUT.json

Trains a tiny DDFlow, CAM network or IRN (LIB = flow | cam | irn) for STEPS
steps with its library's training loop under MultiWorkerMirroredStrategy
(resuming from MODEL_DIR's checkpoints as the loop does), then writes the
replica count, the loop's metrics and a checksum of the final weights.
"""

import json
import sys

import numpy as np
import tensorflow as tf

from tests.cam import toy_data as cam_toy_data
from tests.flow import toy_data as flow_toy_data
from tests.irn import toy_data as irn_toy_data
from wsvis_tf.backbones import resnet
from wsvis_tf.cam import config as cam_config
from wsvis_tf.cam import model as cam_model
from wsvis_tf.cam import train_lib as cam_train_lib
from wsvis_tf.core import keys
from wsvis_tf.core import training
from wsvis_tf.flow import config as flow_config
from wsvis_tf.flow import train_lib as flow_train_lib
from wsvis_tf.irn import input_pipeline as ip
from wsvis_tf.irn import model as irn_model
from wsvis_tf.irn import train_lib as irn_train_lib


def _checksum(weights) -> float:
  return float(sum(np.sum(np.abs(w), dtype=np.float64) for w in weights))


def _flow(steps, model_dir, strategy):
  data = flow_toy_data.tiny_pairs()
  config = flow_config.get_config('smoke', {'train': {
      'stages': [{'name': 'photometric', 'steps': steps}],
      'batch_size': 2, 'checkpoint_every': 1}})
  metrics, model = flow_train_lib.train(config, data, model_dir,
                                        strategy=strategy, jit_compile=False)
  checkpoint = (tf.train.latest_checkpoint(model_dir + '/checkpoints')
                if training.is_chief(strategy) else None)
  return metrics, model.get_weights(), checkpoint


def _cam(steps, model_dir, strategy):
  data = cam_toy_data.toy_dataset(8, seed=3)
  cfg = cam_config.cam_config_from_dict({
      'backbone': {'name': 'resnet_tiny', 'frozen_bn': True},
      'train': {'batch_size': 4, 'log_every': 1, 'checkpoint_every': 1}})
  models = []

  def model_fn():
    models.append(cam_model.build_cam_model(cfg, 2))
    return models[-1]

  result = cam_train_lib.train_cam(
      model_fn, lambda: tf.data.Dataset.from_tensor_slices(
          {keys.IMAGE: data['image'].astype(np.float32),
           keys.LABELS: data['labels']}).batch(4).repeat(),
      cfg.train, steps, model_dir, strategy=strategy)
  return result, models[-1].get_weights(), result['checkpoint']


def _irn(steps, model_dir, strategy):
  cfg = irn_toy_data.config()
  examples = irn_toy_data.examples()
  models = []

  def model_fn():
    models.append(irn_model.IrnModel(resnet.build_resnet('resnet_tiny')))
    return models[-1]

  result = irn_train_lib.train_irn(
      model_fn, lambda: ip.training_dataset(
          ip.examples_dataset(lambda: examples, True), cfg.train.crop_size,
          cfg.train.rescale, cfg.train.flip, cfg.train.batch_size, True),
      cfg, num_classes=2, num_steps=steps, model_dir=model_dir,
      strategy=strategy)
  return result, models[-1].get_weights(), result['checkpoint']


def main(lib: str, steps: str, model_dir: str, out_path: str) -> None:
  strategy = training.make_strategy('multi_worker_mirrored')
  training.seed_everything(0)
  metrics, weights, checkpoint = {'flow': _flow, 'cam': _cam,
                                  'irn': _irn}[lib](int(steps), model_dir,
                                                    strategy)
  with open(out_path, 'w') as f:
    json.dump({'replicas': strategy.num_replicas_in_sync,
               'chief': training.is_chief(strategy),
               'write_dir': training.worker_model_dir(model_dir, strategy),
               'checkpoint': checkpoint, 'checksum': _checksum(weights),
               'metrics': {k: v for k, v in metrics.items()
                           if isinstance(v, (int, float, str, type(None)))}},
              f)


if __name__ == '__main__':
  main(*sys.argv[1:5])
