"""`ImageTextMatcher`: the independent judge of whether an image shows what a caption says.

A CLIP / DAMSM-style dual encoder trained contrastively on one dataset's training split: a small
CNN embeds images, a bidirectional GRU over the dataset's own vocabulary embeds captions, and
matching pairs are pulled together on the unit sphere. It shares no weights with any GAN's
discriminator, so a generator cannot have been trained against the judge that scores it.

Example:

>>> import numpy as np
>>> matcher = ImageTextMatcher(vocabulary_size=10, max_length=4, image_size=16, width=4,
...                            embedding_dim=8, feature_dim=8, projection_dim=8)
>>> logits = matcher((np.zeros((3, 16, 16, 3), "float32"), np.ones((3, 4), "int32")))
>>> tuple(logits.shape)
(3, 3)
"""

from __future__ import annotations

import math

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="tfcmgen")
def contrastive_matching_loss(y_true, y_pred):
    """Symmetric InfoNCE with several positives per row: image->text and text->image.

    `y_pred` holds the logits [B, B] of every image against every caption of a batch; `y_true`
    [B, B] is 1 where the pair matches. Templated datasets repeat captions, so two images of a
    batch can share one: both are positives (soft targets spread evenly over them), not a false
    negative each.

    References:
        Oord et al. 2018, "Representation Learning with Contrastive Predictive Coding";
        Radford et al. 2021, "Learning Transferable Visual Models From Natural Language
        Supervision" (CLIP).
    """
    y_true = ops.cast(y_true, y_pred.dtype)
    rows = y_true / ops.sum(y_true, axis=1, keepdims=True)
    cols = ops.transpose(y_true) / ops.sum(ops.transpose(y_true), axis=1, keepdims=True)
    image_to_text = keras.losses.categorical_crossentropy(rows, y_pred, from_logits=True)
    text_to_image = keras.losses.categorical_crossentropy(
        cols, ops.transpose(y_pred), from_logits=True
    )
    return (image_to_text + text_to_image) / 2.0


@keras.saving.register_keras_serializable(package="tfcmgen")
class ImageTextMatcher(keras.Model):
    """Dual encoder scoring images against captions (cosine similarity / temperature).

    Images (float in [-1, 1]) go through stride-2 convolutions down to 4x4, are flattened (so
    position survives: captions say "top left") and become `feature_dim` image features (the
    features FID and KID are computed on), then a unit-length embedding. Token ids go through an
    embedding and a bidirectional GRU (order matters: "a red circle left of a blue square").

    Args:
        vocabulary_size: int. Token ids are in [0, vocabulary_size); 0 is padding.
        max_length: int. Token ids per caption. Defaults to 16.
        image_size: int. Side of the square input images, a power of two >= 8. Defaults to 64.
        width: int. Channels of the first convolution (doubling up to 4x). Defaults to 32.
        embedding_dim: int. Word embedding size. Defaults to 64.
        feature_dim: int. Size of the image features. Defaults to 128.
        projection_dim: int. Size of the shared embedding. Defaults to 64.
        temperature: float. Divides the cosine similarities into logits. Defaults to 0.1.
        **kwargs: passed on to `keras.Model`.

    Example:

    >>> matcher = ImageTextMatcher(vocabulary_size=50, image_size=32, width=8)
    >>> matcher.compile(optimizer="adam", loss=contrastive_matching_loss)  # doctest: +SKIP

    References:
        Xu et al. 2018, "AttnGAN" (DAMSM, the image-text matcher behind R-precision);
        Radford et al. 2021, "CLIP".
    """

    def __init__(
        self,
        vocabulary_size: int,
        max_length: int = 16,
        image_size: int = 64,
        width: int = 32,
        embedding_dim: int = 64,
        feature_dim: int = 128,
        projection_dim: int = 64,
        temperature: float = 0.1,
        **kwargs,
    ):
        super().__init__(**kwargs)
        for name, value in (("vocabulary_size", vocabulary_size), ("max_length", max_length),
                            ("width", width), ("embedding_dim", embedding_dim),
                            ("feature_dim", feature_dim), ("projection_dim", projection_dim)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer; received {name}={value!r}")
        if (isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 8
                or image_size & (image_size - 1)):
            raise ValueError(
                f"image_size must be a power of two >= 8; received image_size={image_size!r}"
            )
        if not isinstance(temperature, (int, float)) or not temperature > 0:
            raise ValueError(f"temperature must be > 0; received temperature={temperature!r}")
        self.vocabulary_size = vocabulary_size
        self.max_length = max_length
        self.image_size = image_size
        self.width = width
        self.embedding_dim = embedding_dim
        self.feature_dim = feature_dim
        self.projection_dim = projection_dim
        self.temperature = float(temperature)

        downsamplings = int(math.log2(image_size)) - 2  # to 4x4
        self.convolutions = [
            layers.Conv2D(width * 2 ** min(i, 2), 3, strides=2, padding="same",
                          activation="relu", name=f"conv_{i}")
            for i in range(downsamplings)
        ]
        self.flatten = layers.Flatten()
        self.image_features = layers.Dense(feature_dim, activation="relu", name="image_features")
        self.image_projection = layers.Dense(projection_dim, name="image_projection")
        self.word_embedding = layers.Embedding(vocabulary_size, embedding_dim, mask_zero=True,
                                               name="word_embedding")
        self.text_rnn = layers.Bidirectional(layers.GRU(embedding_dim), name="text_rnn")
        self.text_projection = layers.Dense(projection_dim, name="text_projection")

    def features(self, images):
        """Image features [B, feature_dim] of float images [B, S, S, 3] in [-1, 1]."""
        x = images
        for convolution in self.convolutions:
            x = convolution(x)
        return self.image_features(self.flatten(x))

    def embed_images(self, images):
        """Unit-length image embeddings [B, projection_dim]."""
        return ops.normalize(self.image_projection(self.features(images)), axis=-1)

    def embed_texts(self, token_ids):
        """Unit-length caption embeddings [B, projection_dim] of token ids [B, max_length]."""
        x = self.word_embedding(token_ids)
        mask = self.word_embedding.compute_mask(token_ids)
        # A caption of padding only (no known word) would give the GRU an empty sequence.
        mask = ops.logical_or(mask, ops.expand_dims(ops.arange(ops.shape(token_ids)[1]) == 0, 0))
        return ops.normalize(self.text_projection(self.text_rnn(x, mask=mask)), axis=-1)

    def call(self, inputs):
        images, token_ids = inputs
        image_embeddings = self.embed_images(images)
        text_embeddings = self.embed_texts(token_ids)
        return ops.matmul(image_embeddings, ops.transpose(text_embeddings)) / self.temperature

    def get_config(self):
        config = super().get_config()
        config.update(
            vocabulary_size=self.vocabulary_size,
            max_length=self.max_length,
            image_size=self.image_size,
            width=self.width,
            embedding_dim=self.embedding_dim,
            feature_dim=self.feature_dim,
            projection_dim=self.projection_dim,
            temperature=self.temperature,
        )
        return config
