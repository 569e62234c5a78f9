"""The article's pitfall: np.max / np.min called on a float32 tf.Tensor, then TF arithmetic.

Source: ../shared/seed/article.txt, `normalize_pixels_tensor` (examples 2 and 3). The article
claims TensorFlow "intercepts" np.max on a tensor and builds graph ops, and that the result "might
or might not be the same" as NumPy's. tfdiff checks instead of assuming: in eager mode np.max
turns the tensor into an ndarray (Tensor.__array__) and computes in NumPy; inside a graph
(tf.function, XLA, the v1 Session mode of example 3) the tensor is symbolic and np.max raises.
The reference is the article's own NumPy version of the same normalization.

One deliberate change: the article writes tf.convert_to_tensor(image_array, dtype=tf.float32)
on a NumPy array. tfdiff passes the TF side a uint8 tf.Tensor, and convert_to_tensor refuses to
change a tensor's dtype, so this case uses tf.cast to make the same float32 tensor. The
`.numpy()` of example 2 is left to the harness, which converts every mode's result.
"""

import numpy as np
import tensorflow as tf


def numpy(image_array):
    max_pixel = np.max(image_array)
    min_pixel = np.min(image_array)
    return (image_array - min_pixel) / (max_pixel - min_pixel)


def tensorflow(image):
    tensor = tf.cast(image, tf.float32)
    max_pixel = np.max(tensor)
    min_pixel = np.min(tensor)
    normalized_array = (tensor - min_pixel) / (max_pixel - min_pixel)
    return normalized_array
