"""PASCAL VOC 2012 through TFDS as single-frame examples with image labels.

The paper trains the CAM/IRN stage on VOC 2012 first for Cityscapes (sec
4.2). TFDS's `voc/2012` builder (tensorflow_datasets/object_detection/voc.py,
v5.0.0) has features image, image/filename, objects and labels: a Sequence of
ClassLabel over the 20 VOC classes, built from the annotation XML (IRN's
load_image_label_from_xml reads the same objects). Its splits are train
(5,717 images), validation (5,823) and test (no labels). Nothing is
downloaded: the dataset must already be prepared in a TFDS data dir (built
with `tfds build voc/2012 --data_dir=DIR` where the VOC tars can be fetched,
or copied from such a machine).

`voc_frames` turns it into the frame schema of `wsvis_tf.core.keys` (IMAGE,
LABELS multi-hot [20], FRAME_INDEX 0, FRAME_NAME the file name, VIDEO_ID
'voc2012'), so the CAM trainer reads it like video frames.
"""

from typing import List, Optional

import tensorflow as tf
import tensorflow_datasets as tfds

from wsvis_tf.core import keys

VOC_TFDS_NAME = 'voc/2012'
VIDEO_ID = 'voc2012'


def voc_builder(data_dir: Optional[str] = None,
                name: str = VOC_TFDS_NAME) -> tfds.core.DatasetBuilder:
  """The prepared TFDS VOC builder; a clear error if it is not there.

  Args:
    data_dir: The TFDS data dir (None: TFDS's default, $TFDS_DATA_DIR or
      ~/tensorflow_datasets).
    name: The TFDS name, 'voc/2012' by default.

  Raises:
    FileNotFoundError: the dataset is not prepared in data_dir.
  """
  builder = tfds.builder(name, data_dir=data_dir)
  if not builder.is_prepared():
    raise FileNotFoundError(
        f'TFDS dataset {name} is not prepared in {builder.data_dir}. The '
        'cityscapes preset pretrains the CAM network on PASCAL VOC 2012 '
        '(paper sec 4.2): build it once with `tfds build voc/2012 '
        '--data_dir=DIR` on a machine that can fetch the VOC tars (or copy '
        'a prepared DIR/voc/2012 here) and pass that DIR as the pretrain '
        'data_dir. Nothing is downloaded by wsvis-tf.')
  return builder


def voc_class_names(builder: tfds.core.DatasetBuilder) -> List[str]:
  """The 20 class names of the builder's `labels` feature, in index order."""
  return list(builder.info.features['labels'].feature.names)


def num_examples(builder: tfds.core.DatasetBuilder, split: str) -> int:
  """Number of images in a split expression such as 'train+validation'."""
  return sum(builder.info.splits[s.strip()].num_examples
             for s in split.split('+'))


def voc_frames(builder: tfds.core.DatasetBuilder, split: str = 'train',
               shuffle_files: bool = False) -> tf.data.Dataset:
  """Single-frame examples {IMAGE, LABELS, FRAME_INDEX, FRAME_NAME, VIDEO_ID}.

  Args:
    builder: From voc_builder (or any builder with image, image/filename
      and a `labels` Sequence(ClassLabel)).
    split: A TFDS split expression; the VOC 2012 test split has no labels.
    shuffle_files: Passed to as_dataset.

  Returns:
    IMAGE [H, W, 3] uint8, LABELS [20] float32 multi-hot, FRAME_INDEX 0,
    FRAME_NAME the image file name, VIDEO_ID 'voc2012'.
  """
  num_classes = len(voc_class_names(builder))

  def convert(example):
    labels = tf.cast(example['labels'], tf.int32)
    multi_hot = tf.reduce_max(tf.one_hot(labels, num_classes), axis=0)
    # reduce_max over zero rows (an image without objects) gives the
    # lowest float, not 0: hence the guard.
    multi_hot = tf.cond(tf.size(labels) > 0, lambda: multi_hot,
                        lambda: tf.zeros([num_classes], tf.float32))
    return {
        keys.IMAGE: example['image'],
        keys.LABELS: multi_hot,
        keys.FRAME_INDEX: tf.constant(0, tf.int32),
        keys.FRAME_NAME: example['image/filename'],
        keys.VIDEO_ID: tf.constant(VIDEO_ID),
    }

  ds = builder.as_dataset(split=split, shuffle_files=shuffle_files)
  return ds.map(convert, num_parallel_calls=tf.data.AUTOTUNE)
