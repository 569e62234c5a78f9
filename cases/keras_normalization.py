"""Keras' Normalization layer, fixed mean and variance per channel, against its formula in NumPy.

The formula it documents, (x - mean) / sqrt(variance), in float32 NumPy, against
`keras.layers.Normalization(mean=..., variance=...)` with the ImageNet statistics in pixel
units (mean 123.675, 116.28, 103.53; standard deviation 58.395, 57.12, 57.375), built for
RGB images of any size. Images that are not RGB are made RGB first (`_rgb.py`).
"""

import numpy as np
import tensorflow as tf
import keras

from _rgb import numpy_rgb, tf_rgb

MEAN = (123.675, 116.28, 103.53)
VARIANCE = tuple(std * std for std in (58.395, 57.12, 57.375))

NORMALIZE = keras.layers.Normalization(mean=MEAN, variance=VARIANCE)
NORMALIZE.build((None, None, 3))


def numpy(image):
    rgb = numpy_rgb(image).astype(np.float32)
    mean = np.asarray(MEAN, dtype=np.float32)
    variance = np.asarray(VARIANCE, dtype=np.float32)
    return (rgb - mean) / np.sqrt(variance)


def tensorflow(image):
    return NORMALIZE(tf.cast(tf_rgb(image), tf.float32))
