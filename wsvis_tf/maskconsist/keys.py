"""Keys of the dicts the MaskConsist modules share.

Label keys are tf-models' (dataloaders/maskrcnn_input.Parser, read by
tasks/maskrcnn.MaskRCNNTask and MaskRCNNModel); the input pipeline adds the
MaskConsist inputs below. A parsed pair is (images [2, Hp, Wp, 3], labels)
with every per-frame label stacked on a leading axis of 2 (frame a, frame
b); a batch of B pairs adds a leading B.
"""

# --- tf-models' Mask R-CNN labels (per frame). ------------------------------
IMAGE_INFO = 'image_info'                # [4, 2] float32, see Parser
ANCHOR_BOXES = 'anchor_boxes'            # {level: [h_l, w_l, 4 A]}
RPN_SCORE_TARGETS = 'rpn_score_targets'  # {level: [h_l, w_l, A]} int32
RPN_BOX_TARGETS = 'rpn_box_targets'      # {level: [h_l, w_l, 4 A]}
GT_BOXES = 'gt_boxes'                    # [K, 4] yxyx canvas pixels, -1 pad
GT_CLASSES = 'gt_classes'                # [K] int32 1-based, -1 pad
GT_MASKS = 'gt_masks'                    # [K, S, S] float32 box masks, -1 pad

# --- MaskConsist inputs. ------------------------------------------------------
# [K, h, w] bool: the pseudo-labels as whole masks on the matching canvas
# (the network input canvas at 1 / matching_stride), False padded.
FULL_MASKS = 'full_masks'
# [h, w, 2] float32 (dx, dy) in matching-canvas pixels: flow a -> b at the
# pixels of frame a, and b -> a at the pixels of frame b (one per pair).
FLOW_AB = 'flow_ab'
FLOW_BA = 'flow_ba'

# --- MaskConsistModel stage outputs. -----------------------------------------
BACKBONE_FEATURES = 'backbone_features'  # {level: [B, h_l, w_l, C]}
DECODER_FEATURES = 'decoder_features'    # {level: [B, h_l, w_l, F]}
RPN_SCORES = 'rpn_scores'                # {level: [B, h_l, w_l, A]}
RPN_BOXES = 'rpn_boxes'                  # {level: [B, h_l, w_l, 4 A]}

# tf-models' inference outputs (MaskRCNNModel.call(training=False)).
DETECTION_BOXES = 'detection_boxes'      # [B, N, 4] canvas pixels
DETECTION_SCORES = 'detection_scores'    # [B, N]
DETECTION_CLASSES = 'detection_classes'  # [B, N] int32 1-based (0: none)
NUM_DETECTIONS = 'num_detections'        # [B] int32
DETECTION_MASKS = 'detection_masks'      # [B, N, 28, 28] probabilities

# tf-models' training outputs read by MaskRCNNTask.build_losses.
TRAINING_OUTPUTS = ('rpn_scores', 'rpn_boxes', 'class_outputs',
                    'box_outputs', 'class_targets', 'box_targets',
                    'mask_outputs', 'mask_targets', 'mask_class_targets')
