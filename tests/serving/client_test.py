"""serving.client without a model: requests, responses, HTTP and gRPC.

Stand-in servers in this process speak TF Serving's protocols (a REST
handler answering the row format or an error, a gRPC PredictionService),
answering hand-made outputs; export_test.py runs the client's requests
through the real SavedModel. The CLI runs once as a subprocess against the
REST stand-in. Seconds.
"""

import base64
from concurrent import futures
import http.server
import json
import os
import subprocess
import sys
import threading

import grpc
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc

from serving import client
from serving import signature_keys as sk


def _outputs():
  """Hand-made outputs of 2 images (3 slots; 2 and 0 detections)."""
  masks = np.zeros((2, 3, 4, 5), np.uint8)
  masks[0, 0, 1:3, 1:4] = 1
  masks[0, 1, 0:2, 0:2] = 1
  return {
      sk.DETECTION_BOXES: np.array(
          [[[1, 1, 3, 4], [0, 0, 2, 2], [0, 0, 0, 0]],
           [[0, 0, 0, 0]] * 3], np.float32),
      sk.DETECTION_CLASSES: np.array([[2, 1, 0], [0, 0, 0]], np.int32),
      sk.DETECTION_CLASS_NAMES: np.array(
          [[b'disc', b'triangle', b''], [b'', b'', b'']], object),
      sk.DETECTION_SCORES: np.array([[0.9, 0.4, 0], [0, 0, 0]], np.float32),
      sk.NUM_DETECTIONS: np.array([2, 0], np.int32),
      sk.DETECTION_MASKS: masks,
      sk.IMAGE_HEIGHT: np.array([4, 3], np.int32),
      sk.IMAGE_WIDTH: np.array([5, 2], np.int32),
  }


def _json_value(x):
  if x.dtype == object:
    return np.vectorize(lambda s: s.decode(), otypes=[object])(x).tolist()
  return x.tolist()


def _row_response(outputs):
  return {'predictions': [{k: _json_value(v[i]) for k, v in outputs.items()}
                          for i in range(len(outputs[sk.NUM_DETECTIONS]))]}


class _Handler(http.server.BaseHTTPRequestHandler):
  """TF Serving's REST predict, answering _outputs() (or an error)."""

  requests = []

  def do_POST(self):  # pylint: disable=invalid-name
    body = json.loads(self.rfile.read(int(self.headers['Content-Length'])))
    _Handler.requests.append((self.path, body))
    if self.path.endswith('/broken:predict'):
      status, answer = 400, {'error': 'Expects arg[0] to be uint8'}
    else:
      outputs = _outputs()
      n = len(body['instances'])
      status, answer = 200, _row_response(
          {k: v[:n] for k, v in outputs.items()})
    data = json.dumps(answer).encode()
    self.send_response(status)
    self.send_header('Content-Type', 'application/json')
    self.send_header('Content-Length', str(len(data)))
    self.end_headers()
    self.wfile.write(data)

  def log_message(self, *args):
    del args


class _Servicer(prediction_service_pb2_grpc.PredictionServiceServicer):

  def __init__(self):
    self.requests = []

  def Predict(self, request, context):  # pylint: disable=invalid-name
    self.requests.append(request)
    response = predict_pb2.PredictResponse()
    for key, value in _outputs().items():
      response.outputs[key].CopyFrom(tf.make_tensor_proto(value))
    return response


class ClientTest(tf.test.TestCase):

  def test_rest_url(self):
    self.assertEqual(client.rest_url('localhost:8501/', 'm'),
                     'http://localhost:8501/v1/models/m:predict')
    self.assertEqual(client.rest_url('https://h:1', 'm', 3),
                     'https://h:1/v1/models/m/versions/3:predict')

  def test_rest_request_of_bytes_and_of_a_tensor(self):
    images = [b'\xff\xd8\xff\x00abc', b'\x89PNG\r\n\x1a\n\x00']
    body = client.build_rest_request(images)
    self.assertEqual(body['signature_name'], sk.SERVING_DEFAULT)
    self.assertEqual([base64.b64decode(i['b64']) for i in body['instances']],
                     images)
    json.dumps(body)  # JSON-serialisable as is
    tensor = np.arange(2 * 2 * 3 * 3, dtype=np.uint8).reshape(2, 2, 3, 3)
    body = client.build_rest_request(tensor)
    self.assertEqual(body['signature_name'], sk.SERVING_IMAGE_TENSOR)
    self.assertAllEqual(np.array(body['instances'], np.uint8), tensor)
    for bad, pattern in (([], 'no images'),
                         (['a.jpg'], r'images\[0\] is a str'),
                         (np.zeros((2, 3, 3), np.uint8), r'\[batch, height'),
                         (np.zeros((1, 2, 3, 3), np.float32), 'uint8')):
      with self.assertRaisesRegex(ValueError, pattern):
        client.build_rest_request(bad)

  def test_parse_rest_row_and_columnar_formats(self):
    want = _outputs()
    columnar = {'outputs': {k: _json_value(v) for k, v in want.items()}}
    # Binary outputs come back base64-encoded ({"b64": ...}) when a
    # string output's name ends in _bytes; decoded all the same.
    row = _row_response(want)
    row['predictions'][0][sk.DETECTION_CLASS_NAMES][0] = {
        'b64': base64.b64encode(b'disc').decode()}
    for response in (row, json.dumps(columnar), columnar):
      got = client.parse_rest_response(response)
      self.assertEqual(set(got), set(sk.OUTPUTS))
      for key, value in want.items():
        self.assertEqual(got[key].dtype, client.OUTPUT_DTYPES[key], key)
        if value.dtype == object:
          value = np.vectorize(lambda s: s.decode(), otypes=[object])(value)
          self.assertEqual(got[key].tolist(), value.tolist(), key)
        else:
          self.assertAllEqual(got[key], value, msg=key)

  def test_parse_rest_errors(self):
    with self.assertRaisesRegex(RuntimeError, 'TF Serving error: bad'):
      client.parse_rest_response({'error': 'bad'})
    with self.assertRaisesRegex(ValueError, 'lacks outputs'):
      client.parse_rest_response({'outputs': {sk.NUM_DETECTIONS: [1]}})
    with self.assertRaisesRegex(ValueError, '"predictions" or "outputs"'):
      client.parse_rest_response({'result': []})
    rows = _row_response(_outputs())
    del rows['predictions'][1][sk.IMAGE_WIDTH]
    with self.assertRaisesRegex(ValueError, r'predictions\[1\] has outputs'):
      client.parse_rest_response(rows)
    columnar = {'outputs': {k: _json_value(v) for k, v in _outputs().items()}}
    columnar['outputs']['extra'] = [0]
    with self.assertRaisesRegex(ValueError, "unexpected output 'extra'"):
      client.parse_rest_response(columnar)

  def test_to_detections_cuts_the_padding(self):
    first, second = client.to_detections(_outputs())
    self.assertLen(first, 2)
    self.assertLen(second, 0)
    self.assertEqual(first.class_names, ['disc', 'triangle'])
    self.assertAllEqual(first.classes, [2, 1])
    self.assertEqual(first.masks.shape, (2, 4, 5))
    self.assertEqual(first.masks.dtype, bool)
    self.assertEqual(int(first.masks[0].sum()), 6)
    self.assertEqual(second.masks.shape, (0, 3, 2))
    text = client.format_detections([first, second], ['a.jpg', 'b.png'])
    self.assertIn('a.jpg: 2 detection(s)', text)
    self.assertIn('disc', text)
    self.assertIn('mask 6 px', text)
    self.assertIn('b.png: 0 detection(s)', text)

  def test_grpc_request_and_round_trip_through_a_server(self):
    images = [b'\xff\xd8\xffone', b'\xff\xd8\xfftwo']
    request = client.build_grpc_request(images, 'm', version=2)
    self.assertEqual(request.model_spec.name, 'm')
    self.assertEqual(request.model_spec.signature_name, sk.SERVING_DEFAULT)
    self.assertEqual(request.model_spec.version.value, 2)
    inputs = client.request_inputs(request)
    self.assertEqual(inputs[sk.INPUT_IMAGES].numpy().tolist(), images)
    tensor = np.ones((1, 2, 2, 3), np.uint8)
    inputs = client.request_inputs(client.build_grpc_request(tensor))
    self.assertEqual(inputs[sk.INPUT_IMAGES].dtype, tf.uint8)
    self.assertAllEqual(inputs[sk.INPUT_IMAGES], tensor)

    servicer = _Servicer()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        servicer, server)
    port = server.add_insecure_port('localhost:0')
    server.start()
    try:
      response = client.send_grpc(f'localhost:{port}', request, timeout=30)
    finally:
      server.stop(None)
    self.assertEqual(servicer.requests[0], request)
    got = client.parse_grpc_response(response)
    for key, value in _outputs().items():
      if value.dtype == object:
        self.assertEqual(got[key].tolist(), np.vectorize(
            lambda s: s.decode(), otypes=[object])(value).tolist(), key)
      else:
        self.assertAllEqual(got[key], value, msg=key)

  def test_rest_over_http_and_the_cli(self):
    server = http.server.ThreadingHTTPServer(('localhost', 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f'http://localhost:{server.server_address[1]}'
    try:
      answer = client.send_rest(client.rest_url(base, 'wsvis'),
                                client.build_rest_request([b'\xff\xd8\xffx']))
      got = client.parse_rest_response(answer)
      self.assertAllEqual(got[sk.NUM_DETECTIONS], [2])
      # TF Serving answers errors with an HTTP error status and JSON.
      answer = client.send_rest(client.rest_url(base, 'broken'),
                                client.build_rest_request([b'\xff\xd8\xff']))
      with self.assertRaisesRegex(RuntimeError, 'Expects arg.0. to be'):
        client.parse_rest_response(answer)

      image = os.path.join(self.create_tempdir().full_path, 'frame.jpg')
      with open(image, 'wb') as f:
        f.write(b'\xff\xd8\xffjpeg bytes')
      root = os.path.dirname(os.path.dirname(os.path.dirname(
          os.path.abspath(__file__))))
      proc = subprocess.run(
          [sys.executable, '-m', 'serving.client', f'--server={base}',
           '--model_name=wsvis', f'--image={image}'],
          capture_output=True, text=True, timeout=300, cwd=root,
          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2',
                   PYTHONPATH=os.pathsep.join(
                       [root] + os.environ.get('PYTHONPATH', '').split(
                           os.pathsep))))
      self.assertEqual(proc.returncode, 0, proc.stderr[-2000:])
      self.assertIn('frame.jpg: 2 detection(s)', proc.stdout)
      self.assertIn('disc', proc.stdout)
    finally:
      server.shutdown()
    path, body = _Handler.requests[-1]
    self.assertEqual(path, '/v1/models/wsvis:predict')
    self.assertEqual(base64.b64decode(body['instances'][0]['b64']),
                     b'\xff\xd8\xffjpeg bytes')


if __name__ == '__main__':
  tf.test.main()
