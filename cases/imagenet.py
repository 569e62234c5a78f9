"""ImageNet normalization: (x / 255 - mean) / std per RGB channel, in float32.

The torchvision / Keras "torch" constants: mean (0.485, 0.456, 0.406), std (0.229, 0.224,
0.225). Images that are not RGB are made RGB first, as an input pipeline must: grayscale
(rank 2 or one channel) is repeated to three channels and an alpha channel is dropped.
"""

import numpy as np
import tensorflow as tf

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def numpy(image):
    rgb = image if image.ndim == 3 else image[..., np.newaxis]
    if rgb.shape[-1] == 1:
        rgb = np.repeat(rgb, 3, axis=-1)
    rgb = rgb[..., :3].astype(np.float32)
    mean = np.asarray(MEAN, dtype=np.float32)
    std = np.asarray(STD, dtype=np.float32)
    return (rgb / np.float32(255.0) - mean) / std


def tensorflow(image):
    rgb = image if image.shape.rank == 3 else image[..., tf.newaxis]
    # The channel count is unknown while tracing a graph, so choose at run time.
    rgb = tf.cond(
        tf.equal(tf.shape(rgb)[-1], 1),
        lambda: tf.tile(rgb, [1, 1, 3]),
        lambda: rgb[..., :3],
    )
    rgb = tf.cast(rgb, tf.float32)
    mean = tf.constant(MEAN, dtype=tf.float32)
    std = tf.constant(STD, dtype=tf.float32)
    return (rgb / 255.0 - mean) / std
