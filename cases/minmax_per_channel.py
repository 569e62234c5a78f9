"""Min-max normalization per channel, in float32: each channel stretched to [0, 1] on its own.

Statistics are taken over height and width (axes 0 and 1) and broadcast back over the channels;
a rank-2 image is one channel. A channel that is constant gives 0/0 = NaN on both sides.
"""

import numpy as np
import tensorflow as tf


def numpy(image):
    pixels = image.astype(np.float32)
    low = pixels.min(axis=(0, 1), keepdims=True)
    high = pixels.max(axis=(0, 1), keepdims=True)
    return (pixels - low) / (high - low)


def tensorflow(image):
    pixels = tf.cast(image, tf.float32)
    low = tf.reduce_min(pixels, axis=[0, 1], keepdims=True)
    high = tf.reduce_max(pixels, axis=[0, 1], keepdims=True)
    return (pixels - low) / (high - low)
