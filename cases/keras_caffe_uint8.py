"""Keras' preprocess_input, mode "caffe", on the raw uint8 image, as users commonly call it.

`keras.applications.imagenet_utils.preprocess_input(x, mode="caffe")` flips RGB to BGR and subtracts the ImageNet mean per channel, without scaling.
Called on the decoded uint8 image without a cast first: the NumPy side passes the uint8
ndarray (Keras' NumPy code path, which converts to float32 itself), the TensorFlow side the
uint8 tensor (its tensor code path, which does not). Images that are not RGB are made RGB
first (`_rgb.py`).
"""

from keras.applications import imagenet_utils

from _rgb import numpy_rgb, tf_rgb


def numpy(image):
    return imagenet_utils.preprocess_input(numpy_rgb(image), mode="caffe")


def tensorflow(image):
    return imagenet_utils.preprocess_input(tf_rgb(image), mode="caffe")
