"""Keras' preprocess_input, mode "tf", on float32 RGB images, as documented.

`keras.applications.imagenet_utils.preprocess_input(x, mode="tf")` scales to [-1, 1]: x / 127.5 - 1.
The documented input is a float array or tensor of RGB pixels in [0, 255]: the NumPy side
passes a float32 ndarray (Keras' NumPy code path), the TensorFlow side a float32 tensor (its
tensor code path). Images that are not RGB are made RGB first (`_rgb.py`).
"""

import numpy as np
import tensorflow as tf
from keras.applications import imagenet_utils

from _rgb import numpy_rgb, tf_rgb


def numpy(image):
    return imagenet_utils.preprocess_input(numpy_rgb(image).astype(np.float32), mode="tf")


def tensorflow(image):
    return imagenet_utils.preprocess_input(tf.cast(tf_rgb(image), tf.float32), mode="tf")
