"""Min-max normalization (x - min) / (max - min), exactly as the article's first example.

Source: ../shared/seed/article.txt, `normalize_pixels_numpy`. The NumPy side is that function
verbatim: uint8 in, float64 out (under NumPy 2, `image - min` stays uint8 and cannot wrap since
min is the minimum; the true division then gives float64). The TensorFlow side is what a TF user
writes for the same formula: tf.reduce_min / tf.reduce_max on a float32 copy, float32 out.
What it checks: whether the article's reference agrees with its TF equivalent in every mode,
including on constant images, where both sides compute 0/0.
"""

import numpy as np
import tensorflow as tf


def numpy(image_array):
    max_pixel = np.max(image_array)
    min_pixel = np.min(image_array)
    normalized_array = (image_array - min_pixel) / (max_pixel - min_pixel)
    return normalized_array


def tensorflow(image):
    pixels = tf.cast(image, tf.float32)
    min_pixel = tf.reduce_min(pixels)
    max_pixel = tf.reduce_max(pixels)
    return (pixels - min_pixel) / (max_pixel - min_pixel)
