"""tf.image.per_image_standardization against a NumPy reimplementation of it.

The NumPy side follows TensorFlow's documented algorithm: cast to float32, subtract the mean
over the last three axes, divide by max(stddev, 1 / sqrt(number of elements)), the floor that
keeps constant images finite; like TensorFlow it rejects images of fewer than three dimensions
with a ValueError. The two sides sum in different orders (NumPy pairwise, TensorFlow's Eigen
reductions), so means and deviations can differ in their last bits.
"""

import numpy as np
import tensorflow as tf


def numpy(image):
    if image.ndim < 3:
        raise ValueError("'image' (shape %s) must be at least three-dimensional." % (image.shape,))
    pixels = image.astype(np.float32)
    axes = (-1, -2, -3)
    mean = pixels.mean(axis=axes, keepdims=True, dtype=np.float32)
    stddev = pixels.std(axis=axes, keepdims=True, dtype=np.float32)
    min_stddev = np.float32(1.0) / np.sqrt(np.float32(np.prod(pixels.shape[-3:])))
    return (pixels - mean) / np.maximum(stddev, min_stddev)


def tensorflow(image):
    return tf.image.per_image_standardization(image)
