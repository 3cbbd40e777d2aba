"""Names of the SavedModel's signatures, their inputs and outputs.

The export (export_module.py), the warm-up requests (warmup.py), the client
(client.py) and the tests all read them from here, so a renamed output
cannot leave one of them behind.

Outputs, per signature (B images, N = max_num_detections of the model):

  DETECTION_BOXES        [B, N, 4] float32, yxyx in the image's own pixels
                         (pixel k spans [k, k + 1): max exclusive), 0 pad
  DETECTION_CLASSES      [B, N] int32, 1-based class ids, 0 pad
  DETECTION_CLASS_NAMES  [B, N] string, the class names, '' pad
  DETECTION_SCORES       [B, N] float32, descending, 0 pad
  NUM_DETECTIONS         [B] int32: rows [0, n) of each image are real
  DETECTION_MASKS        [B, N, Hmax, Wmax] uint8 in {0, 1}: each mask at
                         its image's resolution, in the top-left corner of a
                         canvas of the batch's largest height and width
                         (zeros beyond the image)
  IMAGE_HEIGHT           [B] int32, each image's own height
  IMAGE_WIDTH            [B] int32, each image's own width
"""

# Signatures. TF Serving's default one takes encoded images, as its REST
# API's {"b64": ...} values give them.
SERVING_DEFAULT = 'serving_default'
SERVING_IMAGE_TENSOR = 'serving_image_tensor'
SIGNATURES = (SERVING_DEFAULT, SERVING_IMAGE_TENSOR)

# The one input of both signatures: [B] string (encoded JPEG / PNG / GIF /
# BMP bytes) for SERVING_DEFAULT, [B, H, W, 3] uint8 for
# SERVING_IMAGE_TENSOR.
INPUT_IMAGES = 'images'

DETECTION_BOXES = 'detection_boxes'
DETECTION_CLASSES = 'detection_classes'
DETECTION_CLASS_NAMES = 'detection_class_names'
DETECTION_SCORES = 'detection_scores'
NUM_DETECTIONS = 'num_detections'
DETECTION_MASKS = 'detection_masks'
IMAGE_HEIGHT = 'image_height'
IMAGE_WIDTH = 'image_width'
OUTPUTS = (DETECTION_BOXES, DETECTION_CLASSES, DETECTION_CLASS_NAMES,
           DETECTION_SCORES, NUM_DETECTIONS, DETECTION_MASKS, IMAGE_HEIGHT,
           IMAGE_WIDTH)

# The TF Serving layout: <base>/<version>/saved_model.pb, and the warm-up
# file TF Serving replays at load time (tensorflow.org/tfx/serving/
# saved_model_warmup).
ASSETS_EXTRA = 'assets.extra'
WARMUP_FILE = 'tf_serving_warmup_requests'
