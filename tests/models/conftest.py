"""Tiny CrossModalGAN settings and data shared by the model tests."""

import numpy as np

VOCABULARY_SIZE = 20
MAX_LENGTH = 6
IMAGE_SIZE = 32
TINY = {
    "vocabulary_size": VOCABULARY_SIZE,
    "max_length": MAX_LENGTH,
    "image_size": IMAGE_SIZE,
    "embedding_dim": 8,
    "condition_dim": 8,
    "noise_dim": 8,
    "generator_width": 4,
    "discriminator_width": 4,
}


def tiny_batch(n=8, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "image": rng.uniform(-1, 1, (n, IMAGE_SIZE, IMAGE_SIZE, 3)).astype("float32"),
        "token_ids": rng.integers(1, VOCABULARY_SIZE, (n, MAX_LENGTH)).astype("int32"),
        "mismatched_token_ids": rng.integers(1, VOCABULARY_SIZE, (n, MAX_LENGTH)).astype("int32"),
    }


def tiny_gan(loss="hinge", run_eagerly=False, **overrides):
    import keras

    from tfcmgen.models import CrossModalGAN

    gan = CrossModalGAN(**{**TINY, **overrides})
    gan.compile(
        keras.optimizers.Adam(1e-3, beta_1=0.0, beta_2=0.9),
        keras.optimizers.Adam(2e-3, beta_1=0.0, beta_2=0.9),
        loss=loss,
        run_eagerly=run_eagerly,
    )
    return gan


def tiny_dataset(n=8, batch_size=4, seed=0):
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices(tiny_batch(n, seed)).batch(
        batch_size, drop_remainder=True
    )
