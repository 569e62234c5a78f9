"""tf.image.convert_image_dtype from uint8 to float32, against NumPy's x / 255 in float32.

`tf.image.convert_image_dtype(image, tf.float32)` is TensorFlow's documented way to turn
uint8 pixels into floats in [0, 1]. It multiplies by 1/255 instead of dividing by 255.
"""

import numpy as np
import tensorflow as tf


def numpy(image):
    return image.astype(np.float32) / np.float32(255)


def tensorflow(image):
    return tf.image.convert_image_dtype(image, tf.float32)
