r"""A client of the exported model on TF Serving: REST and gRPC.

Library: request building and response parsing into numpy, for both of TF
Serving's APIs (tensorflow.org/tfx/serving/api_rest, and the gRPC
PredictionService of tensorflow-serving-api):

  REST  POST <server>/v1/models/<name>[/versions/<v>]:predict with
        {"signature_name": ..., "instances": [{"b64": "<base64 JPEG>"},
        ...]} (row format; a uint8 image tensor is sent as nested lists to
        serving_image_tensor); the answer is {"predictions": [{output:
        value, ...} per image]} (or {"outputs": {...}}, the columnar
        format), or {"error": ...}.
  gRPC  PredictRequest {model_spec {name, signature_name}, inputs {"images":
        TensorProto}} to <host>:<port> (8500 by default); the answer is a
        PredictResponse whose outputs are TensorProtos.

`parse_rest_response` and `parse_grpc_response` give the same dict of numpy
arrays (signature_keys.OUTPUTS, the dtypes of the signature), and
`to_detections` cuts it into per-image `ImageDetections` (the padding
rows, and each mask's padding beyond its image, removed).

Binary (no server runs here; the README's "Serving" section starts one):

  python -m serving.client --server=http://localhost:8501 \
      --model_name=wsvis --image=frame.jpg [--protocol=grpc \
      --server=localhost:8500]

prints one line per detection (class, score, box, mask area). Seconds.
"""

import base64
import dataclasses
import json
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union
import urllib.error
import urllib.request

from absl import app
from absl import flags
import grpc
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc

from serving import signature_keys as sk
from wsvis_tf.core import entry_point

# The numpy dtype of each output (the signature's).
OUTPUT_DTYPES = {
    sk.DETECTION_BOXES: np.float32,
    sk.DETECTION_CLASSES: np.int32,
    sk.DETECTION_CLASS_NAMES: object,
    sk.DETECTION_SCORES: np.float32,
    sk.NUM_DETECTIONS: np.int32,
    sk.DETECTION_MASKS: np.uint8,
    sk.IMAGE_HEIGHT: np.int32,
    sk.IMAGE_WIDTH: np.int32,
}
DEFAULT_MODEL_NAME = 'wsvis'
REST_PORT = 8501
GRPC_PORT = 8500

Images = Union[Sequence[bytes], np.ndarray]


@dataclasses.dataclass
class ImageDetections:
  """One image's detections (numpy).

  Attributes:
    boxes: [n, 4] float32 yxyx in the image's pixels (max exclusive).
    classes: [n] int32 1-based ids.
    class_names: [n] str.
    scores: [n] float32, descending.
    masks: [n, H, W] bool at the image's resolution.
  """
  boxes: np.ndarray
  classes: np.ndarray
  class_names: List[str]
  scores: np.ndarray
  masks: np.ndarray

  def __len__(self) -> int:
    return int(self.scores.shape[0])


def _is_tensor_input(images: Images) -> bool:
  return isinstance(images, np.ndarray) and images.dtype != object


def _check_images(images: Images) -> None:
  if _is_tensor_input(images):
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
      raise ValueError('an image tensor must be [batch, height, width, 3] '
                       f'uint8, got {images.shape} {images.dtype}')
    return
  for i, data in enumerate(images):
    if not isinstance(data, bytes):
      raise ValueError(f'images[{i}] is a {type(data).__name__}, not the '
                       'bytes of an encoded image')
  if not len(images):  # pylint: disable=g-explicit-length-test
    raise ValueError('no images')


def default_signature(images: Images) -> str:
  """serving_image_tensor for a uint8 array, serving_default for bytes."""
  return (sk.SERVING_IMAGE_TENSOR if _is_tensor_input(images)
          else sk.SERVING_DEFAULT)


# --- REST. --------------------------------------------------------------------


def rest_url(server: str, model_name: str = DEFAULT_MODEL_NAME,
             version: Optional[int] = None) -> str:
  """The predict URL of TF Serving's REST API (server: http://host:port)."""
  server = server.rstrip('/')
  if '://' not in server:
    server = 'http://' + server
  path = f'/v1/models/{model_name}'
  if version is not None:
    path += f'/versions/{int(version)}'
  return server + path + ':predict'


def build_rest_request(images: Images,
                       signature_name: Optional[str] = None
                      ) -> Dict[str, Any]:
  """The JSON body (a dict) of a REST predict request.

  Args:
    images: Encoded images (a list of bytes: sent base64 as {"b64": ...},
      the REST API's binary values) or a [B, H, W, 3] uint8 array (nested
      lists).
    signature_name: Defaults to default_signature(images).

  Returns:
    {"signature_name": ..., "instances": [...]} (row format).
  """
  _check_images(images)
  if _is_tensor_input(images):
    instances = images.tolist()
  else:
    instances = [{'b64': base64.b64encode(data).decode('ascii')}
                 for data in images]
  return {'signature_name': signature_name or default_signature(images),
          'instances': instances}


def _decode_rest_value(value):
  if isinstance(value, dict) and set(value) == {'b64'}:
    return base64.b64decode(value['b64'])
  if isinstance(value, list):
    return [_decode_rest_value(v) for v in value]
  return value


def _text(value) -> str:
  return value.decode('utf-8') if isinstance(value, bytes) else str(value)


def _as_output_array(name: str, value) -> np.ndarray:
  dtype = OUTPUT_DTYPES.get(name)
  if dtype is None:
    raise ValueError(f'unexpected output {name!r}; the signature has '
                     f'{sorted(OUTPUT_DTYPES)}')
  if dtype is object:
    array = np.array(value, dtype=object)
    return (np.vectorize(_text, otypes=[object])(array) if array.size
            else array)
  return np.asarray(value, dtype=dtype)


def parse_rest_response(response: Union[str, bytes, Mapping[str, Any]]
                       ) -> Dict[str, np.ndarray]:
  """A REST predict response (JSON text or dict) -> {output: array}.

  Raises:
    RuntimeError: the response is TF Serving's {"error": ...}.
    ValueError: it is neither the row ("predictions") nor the columnar
      ("outputs") format of this model's outputs.
  """
  if isinstance(response, (str, bytes)):
    response = json.loads(response)
  if 'error' in response:
    raise RuntimeError(f'TF Serving error: {response["error"]}')
  if 'predictions' in response:
    rows = response['predictions']
    if not isinstance(rows, list) or not all(isinstance(r, dict)
                                              for r in rows):
      raise ValueError('"predictions" must be a list of one {output: '
                       'value} object per image')
    if not rows:
      raise ValueError('"predictions" is empty')
    names = set(rows[0])
    for i, row in enumerate(rows):
      if set(row) != names:
        raise ValueError(f'predictions[{i}] has outputs {sorted(row)}, '
                         f'predictions[0] {sorted(names)}')
    columns = {n: [_decode_rest_value(r[n]) for r in rows] for n in names}
  elif 'outputs' in response:
    columns = {n: _decode_rest_value(v)
               for n, v in response['outputs'].items()}
  else:
    raise ValueError('a REST predict response has "predictions" or '
                     f'"outputs"; got keys {sorted(response)}')
  missing = set(sk.OUTPUTS) - set(columns)
  if missing:
    raise ValueError(f'the response lacks outputs {sorted(missing)}')
  return {n: _as_output_array(n, v) for n, v in columns.items()}


def send_rest(url: str, body: Mapping[str, Any],
              timeout: float = 60.0) -> Dict[str, Any]:
  """POSTs a JSON body; returns the JSON answer (TF Serving's error too)."""
  request = urllib.request.Request(
      url, data=json.dumps(body).encode('utf-8'),
      headers={'Content-Type': 'application/json'}, method='POST')
  try:
    with urllib.request.urlopen(request, timeout=timeout) as answer:
      return json.loads(answer.read())
  except urllib.error.HTTPError as e:
    text = e.read().decode('utf-8', 'replace')
    try:
      return json.loads(text)
    except json.JSONDecodeError:
      raise RuntimeError(f'{url}: HTTP {e.code}: {text[:500]}') from e


# --- gRPC. --------------------------------------------------------------------


def build_grpc_request(images: Images,
                       model_name: str = DEFAULT_MODEL_NAME,
                       signature_name: Optional[str] = None,
                       version: Optional[int] = None):
  """A tensorflow_serving PredictRequest for the images (see REST)."""
  _check_images(images)
  request = predict_pb2.PredictRequest()
  request.model_spec.name = model_name
  request.model_spec.signature_name = (signature_name or
                                       default_signature(images))
  if version is not None:
    request.model_spec.version.value = int(version)
  if _is_tensor_input(images):
    proto = tf.make_tensor_proto(images, dtype=tf.uint8)
  else:
    proto = tf.make_tensor_proto(list(images), dtype=tf.string,
                                 shape=[len(images)])
  request.inputs[sk.INPUT_IMAGES].CopyFrom(proto)
  return request


def request_inputs(request) -> Dict[str, tf.Tensor]:
  """A PredictRequest's inputs as tensors (to run it on a loaded model)."""
  return {k: tf.constant(tf.make_ndarray(v))
          for k, v in request.inputs.items()}


def parse_grpc_response(response) -> Dict[str, np.ndarray]:
  """A PredictResponse -> {output: array} (as parse_rest_response)."""
  missing = set(sk.OUTPUTS) - set(response.outputs)
  if missing:
    raise ValueError(f'the response lacks outputs {sorted(missing)}')
  return {n: _as_output_array(n, tf.make_ndarray(v))
          for n, v in response.outputs.items()}


def send_grpc(server: str, request, timeout: float = 60.0):
  """Sends a PredictRequest to host:port; returns the PredictResponse."""
  with grpc.insecure_channel(server) as channel:
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    return stub.Predict(request, timeout=timeout)


# --- Outputs. -----------------------------------------------------------------


def to_detections(outputs: Mapping[str, np.ndarray]) -> List[ImageDetections]:
  """Per-image detections: padding rows and mask padding removed.

  Args:
    outputs: A parsed response, or the signature's outputs as numpy (class
      names as bytes or str).

  Returns:
    One ImageDetections per image.
  """
  result = []
  for i in range(len(outputs[sk.NUM_DETECTIONS])):
    n = int(outputs[sk.NUM_DETECTIONS][i])
    h = int(outputs[sk.IMAGE_HEIGHT][i])
    w = int(outputs[sk.IMAGE_WIDTH][i])
    result.append(ImageDetections(
        boxes=np.asarray(outputs[sk.DETECTION_BOXES][i, :n], np.float32),
        classes=np.asarray(outputs[sk.DETECTION_CLASSES][i, :n], np.int32),
        class_names=[_text(s)
                     for s in outputs[sk.DETECTION_CLASS_NAMES][i, :n]],
        scores=np.asarray(outputs[sk.DETECTION_SCORES][i, :n], np.float32),
        masks=np.asarray(outputs[sk.DETECTION_MASKS][i, :n, :h, :w]) > 0))
  return result


def format_detections(detections: Sequence[ImageDetections],
                      names: Sequence[str]) -> str:
  lines = []
  for name, found in zip(names, detections):
    lines.append(f'{name}: {len(found)} detection(s)')
    for k in range(len(found)):
      y1, x1, y2, x2 = (float(v) for v in found.boxes[k])
      lines.append(
          f'  {found.class_names[k]:<12s} (class {int(found.classes[k])})  '
          f'score {float(found.scores[k]):.3f}  box y1={y1:.1f} x1={x1:.1f} '
          f'y2={y2:.1f} x2={x2:.1f}  mask {int(found.masks[k].sum())} px')
  return '\n'.join(lines)


# --- Binary. ------------------------------------------------------------------

_FLAGS = {}


def _define_flags() -> None:
  """The binary's flags, defined only when it runs (export.py and warmup.py
  import this module as a library)."""
  if _FLAGS:
    return
  _FLAGS.update(
      server=flags.DEFINE_string(
          'server', f'http://localhost:{REST_PORT}',
          'REST: http://host:port; gRPC: host:port.'),
      protocol=flags.DEFINE_enum('protocol', 'rest', ['rest', 'grpc'],
                                 'TF Serving API to use.'),
      model_name=flags.DEFINE_string(
          'model_name', DEFAULT_MODEL_NAME,
          'The model name in the server config.'),
      version=flags.DEFINE_integer('version', None, 'A model version.'),
      image=flags.DEFINE_multi_string('image', [],
                                      'Image files (JPEG, PNG).'),
      timeout=flags.DEFINE_float('timeout', 60.0, 'Seconds.'))


def main(argv):
  del argv
  f = {k: v.value for k, v in _FLAGS.items()}
  if not f['image']:
    raise app.UsageError('give --image')
  images = []
  for path in f['image']:
    with open(path, 'rb') as fh:
      images.append(fh.read())
  if f['protocol'] == 'rest':
    url = rest_url(f['server'], f['model_name'], f['version'])
    outputs = parse_rest_response(send_rest(
        url, build_rest_request(images), f['timeout']))
  else:
    outputs = parse_grpc_response(send_grpc(
        f['server'], build_grpc_request(images, f['model_name'],
                                        version=f['version']),
        f['timeout']))
  print(format_detections(to_detections(outputs), f['image']))


def run() -> None:
  """Console script wsvis-serving-client (pyproject.toml)."""
  _define_flags()
  entry_point.run(main, __name__)


if __name__ == '__main__':
  run()
