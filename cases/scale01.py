"""Scale to [0, 1]: x / 255 in float32, the most common input normalization there is.

Both sides cast to float32 and divide by 255. Division is correctly rounded in IEEE arithmetic,
so any difference shows a mode computing something else: a compiler that turns x / 255 into
x * (1 / 255), for instance, which is off by one ULP for some pixel values.
"""

import numpy as np
import tensorflow as tf


def numpy(image):
    return image.astype(np.float32) / np.float32(255.0)


def tensorflow(image):
    return tf.cast(image, tf.float32) / 255.0
