"""InceptionV3 pool features from a local ImageNet weights file: the paper-comparable FID.

FID and KID on the matcher's features compare models on one dataset with one matcher file; only
FID on ImageNet InceptionV3 pool features (2048-D, images resized to 299x299) compares with figures
published in papers. Nothing is downloaded: pass the Keras weights file
`inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5` you fetched yourself.

Note: papers use the TF1 / pytorch-fid Inception graph, whose resize and weights differ slightly
from `keras.applications.InceptionV3`; values agree closely but not to the last digit.

Example:

>>> features = InceptionFeatures("inception_v3_notop.h5")  # doctest: +SKIP
>>> features(images_uint8).shape  # doctest: +SKIP
(1000, 2048)
"""

from __future__ import annotations

import os

import numpy as np

#: Input side of InceptionV3.
INCEPTION_SIZE = 299


class InceptionFeatures:
    """Callable: uint8 images [N, S, S, 3] -> float64 InceptionV3 pool features [N, 2048].

    Args:
        weights: str. Path of a local InceptionV3 weights file without the top (`include_top=
            False`), as `keras.applications.InceptionV3` saves or loads it.
        batch_size: int. Images per forward pass. Defaults to 32.
    """

    def __init__(self, weights: str, batch_size: int = 32):
        import keras

        if not os.path.isfile(weights):
            raise FileNotFoundError(
                f"--inception-weights {weights!r} is not a file; pass a local InceptionV3 "
                "weights file (include_top=False); nothing is downloaded"
            )
        self.weights = weights
        self.batch_size = batch_size
        try:
            self.model = keras.applications.InceptionV3(
                include_top=False, weights=weights, pooling="avg",
                input_shape=(INCEPTION_SIZE, INCEPTION_SIZE, 3),
            )
        except Exception as error:  # h5py/keras raise several types for a wrong file
            raise ValueError(
                f"{weights}: not InceptionV3 weights without the top ({error})"
            ) from error

    def __call__(self, images) -> np.ndarray:
        import keras
        import tensorflow as tf

        images = np.asarray(images)
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(
                f"images must be uint8 [N, S, S, 3]; received {images.dtype} {images.shape}"
            )
        parts = []
        for start in range(0, len(images), self.batch_size):
            batch = tf.image.resize(tf.cast(images[start:start + self.batch_size], tf.float32),
                                    (INCEPTION_SIZE, INCEPTION_SIZE), method="bilinear")
            batch = keras.applications.inception_v3.preprocess_input(batch)
            parts.append(np.asarray(self.model(batch, training=False), np.float64))
        return np.concatenate(parts)
