"""TF Serving warm-up requests: assets.extra/tf_serving_warmup_requests.

TF Serving replays the PredictionLog records of this TFRecord file when it
loads a model version, before the version serves (tensorflow.org/tfx/
serving/saved_model_warmup), so the first real request does not pay for
the graph's first run. The records here exercise both signatures: one
serving_default request with two encoded images of different sizes (a JPEG
at the model's input size, a PNG at about 3/4 of it: the per-image decode
and the padding of masks to the batch's largest image), and one
serving_image_tensor request with one uint8 image. The images are drawn
procedurally (a colour gradient with two filled shapes: something for the
model to detect), so the file needs no data.

The protos are tensorflow-serving-api 2.20.0's (requirements.txt).
"""

import os
from typing import List, Sequence

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from serving import client
from serving import signature_keys as sk


def warmup_image(height: int, width: int, seed: int = 0) -> np.ndarray:
  """A [height, width, 3] uint8 gradient with a disc and a rectangle."""
  rng = np.random.default_rng(seed)
  y, x = np.mgrid[0:height, 0:width].astype(np.float32)
  image = np.stack([255 * y / max(height - 1, 1),
                    255 * x / max(width - 1, 1),
                    np.full_like(y, 128)], axis=-1)
  cy, cx, r = height * 0.4, width * 0.3, min(height, width) * 0.2
  image[(y - cy) ** 2 + (x - cx) ** 2 < r * r] = rng.integers(0, 256, 3)
  image[int(height * 0.55):int(height * 0.9),
        int(width * 0.55):int(width * 0.9)] = rng.integers(0, 256, 3)
  return image.astype(np.uint8)


def warmup_requests(input_size: Sequence[int],
                    model_name: str = client.DEFAULT_MODEL_NAME
                   ) -> List[prediction_log_pb2.PredictionLog]:
  """The PredictionLog records (module docstring).

  Args:
    input_size: The model's [height, width] (task.model.input_size).
    model_name: The model name of the requests (TF Serving takes the model
      from the version being loaded; the name is informative).

  Returns:
    PredictionLog protos, each holding a PredictRequest.
  """
  height, width = int(input_size[0]), int(input_size[1])
  full = warmup_image(height, width, seed=0)
  small = warmup_image(max(1, height * 3 // 4), max(1, width * 3 // 4),
                       seed=1)
  encoded = [tf.io.encode_jpeg(full, quality=95).numpy(),
             tf.io.encode_png(small).numpy()]
  requests = [
      client.build_grpc_request(encoded, model_name, sk.SERVING_DEFAULT),
      client.build_grpc_request(full[np.newaxis], model_name,
                                sk.SERVING_IMAGE_TENSOR),
  ]
  logs = []
  for request in requests:
    log = prediction_log_pb2.PredictionLog()
    log.predict_log.request.CopyFrom(request)
    logs.append(log)
  return logs


def write_warmup_file(saved_model_dir: str,
                      records: Sequence[prediction_log_pb2.PredictionLog]
                     ) -> str:
  """Writes saved_model_dir/assets.extra/tf_serving_warmup_requests."""
  path = os.path.join(saved_model_dir, sk.ASSETS_EXTRA, sk.WARMUP_FILE)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with tf.io.TFRecordWriter(path) as writer:
    for record in records:
      writer.write(record.SerializeToString())
  return path


def read_warmup_file(path: str) -> List[prediction_log_pb2.PredictionLog]:
  """The PredictionLog records of a warm-up file.

  Raises:
    ValueError: a record is not a PredictionLog with a predict request.
  """
  logs = []
  for i, data in enumerate(tf.data.TFRecordDataset(path).as_numpy_iterator()):
    log = prediction_log_pb2.PredictionLog()
    log.ParseFromString(data)
    if log.WhichOneof('log_type') != 'predict_log':
      raise ValueError(f'{path}: record {i} is a {log.WhichOneof("log_type")}'
                       ', not a predict_log')
    logs.append(log)
  return logs
