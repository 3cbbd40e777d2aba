"""Runs SavedModel signatures in a fresh process (for export_test.py).

  python run_saved_model.py SAVED_MODEL_DIR JOBS_JSON

JOBS_JSON is a list of {"signature", "inputs" (an .npz file: the input
"images", a string array or a uint8 array), "outputs" (an .npz file to
write)}. Each job's outputs are written as arrays, or, when the signature
raises, "error_type" and "error_message" (strings). Only TensorFlow and
numpy are imported: nothing of the project is in this process but the
SavedModel.
"""

import json
import sys

import numpy as np
import tensorflow as tf


def main(saved_model_dir: str, jobs_path: str) -> None:
  loaded = tf.saved_model.load(saved_model_dir)
  with open(jobs_path) as f:
    jobs = json.load(f)
  for job in jobs:
    with np.load(job['inputs'], allow_pickle=True) as data:
      images = data['images']
    if images.dtype == object:
      images = tf.constant(list(images), dtype=tf.string,
                           shape=images.shape)
    else:
      images = tf.constant(images)
    try:
      out = loaded.signatures[job['signature']](images=images)
      arrays = {k: v.numpy() for k, v in out.items()}
    except Exception as e:  # pylint: disable=broad-except
      arrays = {'error_type': np.array(type(e).__name__),
                'error_message': np.array(str(e))}
    np.savez(job['outputs'], **arrays)


if __name__ == '__main__':
  main(sys.argv[1], sys.argv[2])
