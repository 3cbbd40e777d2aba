"""The exported SavedModel: outputs, signatures, warm-up, errors, client.

One export of the smoke model (maskrcnn_pseudolabels_smoke: resnet_tiny,
64 x 96 input, random initialisation, seeded) from a checkpoint; the
SavedModel is run in a fresh process (run_saved_model.py) and compared with
the in-memory model's FramePredictor on the same JPEGs. Random weights
score every class near 1 / 5, above the 0.05 threshold, so both images have
detections (asserted: comparing two empty outputs would prove nothing).
~2 min on 2 shared CPU cores (the export traces both signatures).
"""

import base64
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import tensorflow as tf
import tf_keras
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.config import model_server_config_pb2
from google.protobuf import text_format

from official.core import exp_factory
from serving import client
from serving import export
from serving import export_module
from serving import model_source
from serving import signature_keys as sk
from serving import warmup
from wsvis_tf.maskconsist import inference
from wsvis_tf.maskconsist import task as task_lib

EXPERIMENT = 'maskrcnn_pseudolabels_smoke'
CLASS_NAMES = ['red_triangle', 'green_disc', 'blue_square', 'yellow_diamond']
RUNNER = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                      'run_saved_model.py')
TOL = 1e-4


def _frame(height: int, width: int, seed: int) -> np.ndarray:
  """A [h, w, 3] uint8 frame: noisy background, a disc and a rectangle."""
  rng = np.random.default_rng(seed)
  frame = rng.integers(40, 90, (height, width, 3)).astype(np.uint8)
  y, x = np.mgrid[0:height, 0:width]
  disc = (y - height * 0.35) ** 2 + (x - width * 0.3) ** 2 < (
      0.2 * min(height, width)) ** 2
  frame[disc] = (220, 40, 40)
  frame[int(height * 0.5):int(height * 0.85),
        int(width * 0.55):int(width * 0.9)] = (40, 200, 60)
  return frame


def _run_in_fresh_process(saved_model_dir, tmp_dir, jobs):
  """[(signature, images array)] -> [outputs dict] from run_saved_model.py.
  """
  specs = []
  for i, (signature, images) in enumerate(jobs):
    inputs = os.path.join(tmp_dir, f'in_{i}.npz')
    np.savez(inputs, images=images)
    specs.append({'signature': signature, 'inputs': inputs,
                  'outputs': os.path.join(tmp_dir, f'out_{i}.npz')})
  jobs_path = os.path.join(tmp_dir, 'jobs.json')
  with open(jobs_path, 'w') as f:
    json.dump(specs, f)
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
  proc = subprocess.run([sys.executable, RUNNER, saved_model_dir, jobs_path],
                        capture_output=True, text=True, env=env, timeout=600)
  if proc.returncode:
    raise AssertionError(f'run_saved_model.py failed:\n{proc.stderr[-3000:]}')
  results = []
  for spec in specs:
    with np.load(spec['outputs'], allow_pickle=True) as data:
      results.append({k: data[k] for k in data.files})
  return results


def _rest_response(outputs, row_format: bool) -> str:
  """Outputs as TF Serving's REST API writes them (JSON text)."""

  def value(x):
    if x.dtype == object or x.dtype.kind == 'S':
      return np.vectorize(lambda s: s.decode('utf-8'), otypes=[object])(
          x).tolist()
    return x.tolist()

  if row_format:
    batch = len(outputs[sk.NUM_DETECTIONS])
    body = {'predictions': [{k: value(v[i]) for k, v in outputs.items()}
                            for i in range(batch)]}
  else:
    body = {'outputs': {k: value(v) for k, v in outputs.items()}}
  return json.dumps(body)


class ExportTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.tmp = os.path.join(os.environ.get('TEST_TMPDIR', '/tmp'),
                           'serving_export_test')
    shutil.rmtree(cls.tmp, ignore_errors=True)
    os.makedirs(cls.tmp)
    params = exp_factory.get_exp_config(EXPERIMENT)
    cls.model_config = params.task.model
    tf_keras.utils.set_random_seed(0)
    cls.model = task_lib.MaskConsistTask(params.task).build_model()
    checkpoint = tf.train.Checkpoint(model=cls.model).save(
        os.path.join(cls.tmp, 'ckpt', 'ckpt'))
    spec = model_source.resolve_model(experiment=EXPERIMENT,
                                      checkpoint=checkpoint,
                                      class_names=CLASS_NAMES)
    cls.export_dir = os.path.join(cls.tmp, 'export')
    cls.saved_model = export.export_saved_model(spec, cls.export_dir,
                                                model_name='smoke')
    # Two JPEGs of different sizes (one batch of serving_default); the
    # in-memory reference decodes the same bytes with the same decoder.
    cls.jpegs = [tf.io.encode_jpeg(_frame(64, 80, 0), quality=90).numpy(),
                 tf.io.encode_jpeg(_frame(40, 56, 1), quality=90).numpy()]
    cls.frames = [tf.io.decode_jpeg(j, channels=3).numpy() for j in cls.jpegs]
    # The reference, once: the JPEG frames, then a same-size pair for
    # serving_image_tensor (FramePredictor batches frames of one size).
    cls.pair = np.stack([cls.frames[0], cls.frames[0][:, ::-1]])
    predictor = inference.FramePredictor(cls.model, cls.model_config)
    cls.expected = predictor(cls.frames + list(cls.pair))
    cls.loaded = tf.saved_model.load(cls.saved_model)

  def assert_matches_predictor(self, outputs, frames, expected):
    self.assertAllEqual(outputs[sk.IMAGE_HEIGHT], [f.shape[0] for f in frames])
    self.assertAllEqual(outputs[sk.IMAGE_WIDTH], [f.shape[1] for f in frames])
    max_h = max(f.shape[0] for f in frames)
    max_w = max(f.shape[1] for f in frames)
    slots = self.model_config.detection_generator.max_num_detections
    self.assertEqual(outputs[sk.DETECTION_MASKS].shape,
                     (len(frames), slots, max_h, max_w))
    self.assertEqual(outputs[sk.DETECTION_MASKS].dtype, np.uint8)
    for i, (frame, want) in enumerate(zip(frames, expected)):
      n = int(outputs[sk.NUM_DETECTIONS][i])
      self.assertGreater(len(want), 0, 'no detections: a vacuous test')
      self.assertEqual(n, len(want))
      self.assertAllClose(outputs[sk.DETECTION_BOXES][i, :n], want.boxes,
                          atol=TOL, rtol=0)
      self.assertAllClose(outputs[sk.DETECTION_SCORES][i, :n], want.scores,
                          atol=TOL, rtol=0)
      self.assertAllEqual(outputs[sk.DETECTION_CLASSES][i, :n], want.classes)
      names = [s.decode() if isinstance(s, bytes) else s
               for s in outputs[sk.DETECTION_CLASS_NAMES][i, :n]]
      self.assertEqual(names, [CLASS_NAMES[c - 1] for c in want.classes])
      h, w = frame.shape[:2]
      masks = outputs[sk.DETECTION_MASKS][i]
      self.assertAllEqual(masks[:n, :h, :w] > 0, want.masks)
      self.assertGreater(int(masks[:n].sum()), 0)
      # Padding: rows past n, and pixels past the image, are empty.
      self.assertEqual(int(masks[n:].sum()) + int(masks[:, h:].sum()) +
                       int(masks[:, :, w:].sum()), 0)
      self.assertTrue(np.all(outputs[sk.DETECTION_SCORES][i, n:] == 0))
      self.assertTrue(np.all(outputs[sk.DETECTION_CLASSES][i, n:] == 0))
      self.assertTrue(np.all(outputs[sk.DETECTION_BOXES][i, n:] == 0))

  def test_fresh_process_outputs_equal_the_in_memory_model(self):
    by_bytes, by_tensor = _run_in_fresh_process(
        self.saved_model, self.create_tempdir().full_path,
        [(sk.SERVING_DEFAULT, np.array(self.jpegs, dtype=object)),
         (sk.SERVING_IMAGE_TENSOR, self.pair)])
    self.assertNotIn('error_message', by_bytes)
    self.assertNotIn('error_message', by_tensor)
    self.assert_matches_predictor(by_bytes, self.frames, self.expected[:2])
    self.assert_matches_predictor(by_tensor, list(self.pair),
                                  self.expected[2:])

  def test_images_keeping_different_counts_in_one_batch(self):
    # A score cut between the two images' scores: each keeps its own number
    # of detections, both under the slot count, so the batched paste must
    # leave the dropped slots of one image that the other still fills
    # empty. A low mask threshold, as a user may export with (the cut at
    # each image's size under it: box_masks_test's PasteBinaryBatchTest).
    scores = [s for want in self.expected[:2] for s in want.scores]
    min_score = float(np.median(scores))
    module = export_module.ServingModule(
        exp_factory.get_exp_config(EXPERIMENT), CLASS_NAMES,
        model=self.model, min_score=min_score, mask_threshold=0.1)
    outputs = {k: v.numpy() for k, v in module.inference_from_image_bytes(
        tf.constant(self.jpegs)).items()}
    predictor = inference.FramePredictor(self.model, self.model_config,
                                         min_score=min_score,
                                         mask_threshold=0.1)
    expected = predictor(self.frames)
    counts = [len(want) for want in expected]
    slots = self.model_config.detection_generator.max_num_detections
    self.assertNotEqual(counts[0], counts[1])
    self.assertLess(max(counts), slots)
    self.assertGreater(min(counts), 0)
    self.assert_matches_predictor(outputs, self.frames, expected)

  def test_saved_model_cli_lists_both_signatures(self):
    cli = os.path.join(os.path.dirname(sys.executable), 'saved_model_cli')
    proc = subprocess.run([cli, 'show', '--all', '--dir', self.saved_model],
                          capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2'))
    self.assertEqual(proc.returncode, 0, proc.stderr[-2000:])
    out = proc.stdout
    sections = {}
    for name in sk.SIGNATURES:
      start = out.index(f"signature_def['{name}']")
      end = out.find('signature_def[', start + 1)
      sections[name] = out[start:end if end > 0 else len(out)]
    # Inputs of unknown rank (export_module.get_inference_signatures says
    # why); the graph checks [B] and [B, H, W, 3].
    self.assertIn('dtype: DT_STRING\n        shape: unknown_rank',
                  sections[sk.SERVING_DEFAULT])
    self.assertIn('dtype: DT_UINT8\n        shape: unknown_rank',
                  sections[sk.SERVING_IMAGE_TENSOR])
    for section in sections.values():
      self.assertIn(f"inputs['{sk.INPUT_IMAGES}']", section)
      for output in sk.OUTPUTS:
        self.assertIn(f"outputs['{output}']", section)
      self.assertIn('Method name is: tensorflow/serving/predict', section)

  def test_export_files_and_models_config(self):
    self.assertEqual(self.saved_model, os.path.join(self.export_dir, '1'))
    with open(os.path.join(self.export_dir, export.MODELS_CONFIG)) as f:
      config = text_format.Parse(f.read(),
                                 model_server_config_pb2.ModelServerConfig())
    (entry,) = config.model_config_list.config
    self.assertEqual(entry.name, 'smoke')
    self.assertEqual(entry.base_path, self.export_dir)
    self.assertEqual(entry.model_platform, 'tensorflow')
    # Only the version directory and models.config: no temporary leftovers.
    self.assertCountEqual(os.listdir(self.export_dir),
                          ['1', export.MODELS_CONFIG])
    with open(os.path.join(self.saved_model, sk.ASSETS_EXTRA,
                           export.EXPORT_JSON)) as f:
      info = json.load(f)
    self.assertEqual(info['class_names'], CLASS_NAMES)
    self.assertEqual(info['input_size'], [64, 96])
    with self.assertRaisesRegex(ValueError, 'exists'):
      export.export_saved_model(
          model_source.ModelSpec(None, '', []), self.export_dir)

  def test_repository_models_config_parses(self):
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))), 'serving', export.MODELS_CONFIG)
    with open(path) as f:
      config = text_format.Parse(f.read(),
                                 model_server_config_pb2.ModelServerConfig())
    (entry,) = config.model_config_list.config
    self.assertEqual(entry.name, client.DEFAULT_MODEL_NAME)
    self.assertEqual(entry.model_platform, 'tensorflow')

  def test_warmup_requests_parse_and_run(self):
    path = os.path.join(self.saved_model, sk.ASSETS_EXTRA, sk.WARMUP_FILE)
    logs = warmup.read_warmup_file(path)
    self.assertLen(logs, 2)
    seen = set()
    for log in logs:
      request = log.predict_log.request
      self.assertEqual(request.model_spec.name, 'smoke')
      signature = request.model_spec.signature_name
      seen.add(signature)
      inputs = client.request_inputs(request)
      self.assertEqual(set(inputs), {sk.INPUT_IMAGES})
      out = self.loaded.signatures[signature](**inputs)
      self.assertEqual(set(out), set(sk.OUTPUTS))
      batch = int(inputs[sk.INPUT_IMAGES].shape[0])
      self.assertEqual(out[sk.NUM_DETECTIONS].shape, (batch,))
      if signature == sk.SERVING_DEFAULT:
        # A JPEG at the input size and a PNG of 3/4 of it.
        self.assertEqual(batch, 2)
        self.assertAllEqual(out[sk.IMAGE_HEIGHT], [64, 48])
        self.assertAllEqual(out[sk.IMAGE_WIDTH], [96, 72])
    self.assertEqual(seen, set(sk.SIGNATURES))

  def test_png_gray_and_rgba_decode_to_rgb(self):
    rgb = self.frames[1]
    gray = np.round(rgb.astype(np.float32).mean(-1, keepdims=True)).astype(
        np.uint8)
    rgba = np.concatenate([rgb, np.full_like(rgb[..., :1], 255)], -1)
    run = self.loaded.signatures[sk.SERVING_DEFAULT]
    want = run(images=tf.constant([tf.io.encode_png(rgb).numpy()]))
    got = run(images=tf.constant([tf.io.encode_png(rgba).numpy()]))
    # An opaque alpha channel is dropped: the RGB image's detections.
    for key in sk.OUTPUTS:
      self.assertAllEqual(got[key], want[key], msg=key)
    # One gray channel is repeated: the image of three equal channels.
    got = run(images=tf.constant([tf.io.encode_png(gray).numpy()]))
    want = self.loaded.signatures[sk.SERVING_IMAGE_TENSOR](
        images=tf.constant(np.repeat(gray, 3, -1)[np.newaxis]))
    for key in sk.OUTPUTS:
      self.assertAllEqual(got[key], want[key], msg=key)

  def assert_invalid(self, signature, images, pattern):
    with self.assertRaisesRegex(tf.errors.InvalidArgumentError, pattern):
      self.loaded.signatures[signature](images=images)

  def test_bad_inputs_are_invalid_argument_errors(self):
    tensor, default = sk.SERVING_IMAGE_TENSOR, sk.SERVING_DEFAULT
    self.assert_invalid(tensor, tf.zeros([1, 64, 80, 3], tf.float32),
                        'expected to be a uint8 tensor but is a float')
    self.assert_invalid(tensor, tf.zeros([64, 80, 3], tf.uint8),
                        r'must be \[batch, height, width, 3\] uint8, got '
                        r'shape \[64 80 3\]')
    self.assert_invalid(tensor, tf.zeros([1, 64, 80, 3, 1], tf.uint8),
                        'must be .batch, height, width, 3. uint8')
    self.assert_invalid(tensor, tf.zeros([1, 64, 80, 4], tf.uint8),
                        r'must have 3 channels \(RGB\)')
    self.assert_invalid(tensor, tf.zeros([1, 0, 80, 3], tf.uint8),
                        'holds empty images')
    self.assert_invalid(tensor, tf.zeros([0, 64, 80, 3], tf.uint8),
                        'is an empty batch')
    self.assert_invalid(default, tf.constant([1.0]),
                        'expected to be a string tensor but is a float')
    self.assert_invalid(default, tf.constant([[self.jpegs[0]]]),
                        'must be a .batch. string tensor')
    self.assert_invalid(default, tf.constant([self.jpegs[0], b'']),
                        r'images\[1\] is an empty string')
    self.assert_invalid(default, tf.constant([b'not an image at all']),
                        r'images\[0\] is not an encoded JPEG, PNG, GIF or '
                        'BMP image')
    self.assert_invalid(default, tf.constant([], tf.string),
                        'is an empty batch')
    # A JPEG cut short: the header passes, the decoder refuses the data.
    self.assert_invalid(default, tf.constant([self.jpegs[0][:200]]),
                        '(?i)jpeg')

  def test_client_round_trips_rest_and_grpc(self):
    want = {k: v.numpy() for k, v in self.loaded.signatures[
        sk.SERVING_DEFAULT](images=tf.constant(self.jpegs)).items()}

    # REST: the server side of TF Serving, by hand: b64 values decoded to
    # the string input, outputs written as JSON lists per instance (row
    # format) or per output (columnar).
    body = json.loads(json.dumps(client.build_rest_request(self.jpegs)))
    self.assertEqual(body['signature_name'], sk.SERVING_DEFAULT)
    sent = [base64.b64decode(i['b64']) for i in body['instances']]
    self.assertEqual(sent, self.jpegs)
    served = {k: v.numpy() for k, v in self.loaded.signatures[
        body['signature_name']](images=tf.constant(sent)).items()}
    for row_format in (True, False):
      got = client.parse_rest_response(_rest_response(served, row_format))
      self.assertEqual(set(got), set(sk.OUTPUTS))
      for key in sk.OUTPUTS:
        expected = want[key]
        if expected.dtype == object:
          expected = np.vectorize(lambda s: s.decode())(expected)
        self.assertAllEqual(got[key], expected, msg=key)
        self.assertEqual(got[key].dtype, client.OUTPUT_DTYPES[key], key)

    # gRPC: the request's TensorProto fed to the signature, the outputs
    # returned as a serialised PredictResponse.
    request = client.build_grpc_request(self.jpegs, 'smoke')
    request = predict_pb2.PredictRequest.FromString(
        request.SerializeToString())
    out = self.loaded.signatures[request.model_spec.signature_name](
        **client.request_inputs(request))
    response = predict_pb2.PredictResponse()
    for key, value in out.items():
      response.outputs[key].CopyFrom(tf.make_tensor_proto(value.numpy()))
    got = client.parse_grpc_response(
        predict_pb2.PredictResponse.FromString(response.SerializeToString()))
    for key in sk.OUTPUTS:
      if want[key].dtype == object:
        self.assertEqual(got[key].tolist(),
                         np.vectorize(lambda s: s.decode())(
                             want[key]).tolist(), key)
      else:
        self.assertAllEqual(got[key], want[key], msg=key)

    detections = client.to_detections(got)
    self.assertLen(detections, 2)
    for i, (found, frame) in enumerate(zip(detections, self.frames)):
      n = int(want[sk.NUM_DETECTIONS][i])
      self.assertLen(found, n)
      self.assertEqual(found.masks.shape, (n,) + frame.shape[:2])
      self.assertEqual(found.class_names,
                       [CLASS_NAMES[c - 1] for c in found.classes])

    # A uint8 tensor goes to serving_image_tensor, as nested lists.
    batch = np.stack([self.frames[0]])
    body = client.build_rest_request(batch)
    self.assertEqual(body['signature_name'], sk.SERVING_IMAGE_TENSOR)
    served = self.loaded.signatures[sk.SERVING_IMAGE_TENSOR](
        images=tf.constant(np.array(body['instances'], np.uint8)))
    self.assertAllEqual(served[sk.NUM_DETECTIONS], want[sk.NUM_DETECTIONS][:1])

  def test_checkpoint_of_another_model_is_refused(self):
    other = tf.train.Checkpoint(v=tf.Variable(1.0)).save(
        os.path.join(self.create_tempdir().full_path, 'ckpt'))
    spec = model_source.resolve_model(experiment=EXPERIMENT,
                                      checkpoint=other,
                                      class_names=CLASS_NAMES)
    with self.assertRaisesRegex(ValueError, 'does not fit the model'):
      export.export_saved_model(spec, self.create_tempdir().full_path)


if __name__ == '__main__':
  tf.test.main()
