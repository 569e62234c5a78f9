"""Helpers for cases whose formula needs RGB images (not a case: its name starts with _).

An input pipeline makes every image RGB before a per-channel formula: grayscale (rank 2 or one
channel) is repeated to three channels and an alpha channel is dropped. The same in NumPy and
in TensorFlow, where the channel count may be unknown while tracing.
"""

import numpy as np
import tensorflow as tf


def numpy_rgb(image):
    """`image` (H, W) or (H, W, C) as (H, W, 3), in its own dtype."""
    rgb = image if image.ndim == 3 else image[..., np.newaxis]
    if rgb.shape[-1] == 1:
        rgb = np.repeat(rgb, 3, axis=-1)
    return rgb[..., :3]


def tf_rgb(image):
    """`numpy_rgb` for a tensor; the channel count is chosen at run time."""
    # expand_dims, not image[..., tf.newaxis]: TFLite's builtin strided slice cannot add an
    # axis, and the model would not convert.
    rgb = image if image.shape.rank == 3 else tf.expand_dims(image, -1)
    return tf.cond(
        tf.equal(tf.shape(rgb)[-1], 1),
        lambda: tf.tile(rgb, [1, 1, 3]),
        lambda: rgb[..., :3],
    )
