"""wsvis-tf: weakly supervised video instance segmentation in TensorFlow."""
