"""Scale to [-1, 1]: x / 127.5 - 1 in float32, as MobileNet- and Inception-style models expect.

Two roundings (a division, then a subtraction) that a graph compiler may fuse or reorder,
e.g. into x * (1 / 127.5) - 1 or a fused multiply-add.
"""

import numpy as np
import tensorflow as tf


def numpy(image):
    return image.astype(np.float32) / np.float32(127.5) - np.float32(1.0)


def tensorflow(image):
    return tf.cast(image, tf.float32) / 127.5 - 1.0
