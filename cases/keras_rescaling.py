"""Keras' Rescaling layer, scale 1/255, against NumPy's x / 255 in float32.

`keras.layers.Rescaling(1 / 255)` is the layer Keras' guides put first in an image model. It
multiplies by the float32 nearest to 1/255 instead of dividing by 255, so it may differ from
`x / 255` in the last bit.
"""

import numpy as np
import keras

RESCALE = keras.layers.Rescaling(1 / 255)


def numpy(image):
    return image.astype(np.float32) / np.float32(255)


def tensorflow(image):
    return RESCALE(image)
