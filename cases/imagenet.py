"""ImageNet normalization: (x / 255 - mean) / std per RGB channel, in float32.

The torchvision / Keras "torch" constants: mean (0.485, 0.456, 0.406), std (0.229, 0.224,
0.225). Images that are not RGB are made RGB first, as an input pipeline must: grayscale
(rank 2 or one channel) is repeated to three channels and an alpha channel is dropped
(`_rgb.py`).
"""

import numpy as np
import tensorflow as tf

from _rgb import numpy_rgb, tf_rgb

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def numpy(image):
    rgb = numpy_rgb(image).astype(np.float32)
    mean = np.asarray(MEAN, dtype=np.float32)
    std = np.asarray(STD, dtype=np.float32)
    return (rgb / np.float32(255.0) - mean) / std


def tensorflow(image):
    rgb = tf.cast(tf_rgb(image), tf.float32)
    mean = tf.constant(MEAN, dtype=tf.float32)
    std = tf.constant(STD, dtype=tf.float32)
    return (rgb / 255.0 - mean) / std
