"""DCGAN-style text-conditional discriminator with a projection or a matching-aware head."""

from __future__ import annotations

import keras
from keras import ops

from tfcmgen.models.generator import check_image_size, check_positive_int

HEADS = ("projection", "matching")


def _leaky_relu(x):
    """LeakyReLU(0.2) written as max(x, 0.2 x): with the LeakyRelu op, grappler's remapper fails to
    fuse Conv2D+BiasAdd+LeakyRelu when the gradient needs the pre-activation, and logs an error at
    every training start (TF 2.21)."""
    return ops.maximum(x, 0.2 * x)


def discriminator_widths(image_size: int, base_width: int) -> list[int]:
    """Channels after each stride-2 conv, from image_size/2 down to 4x4: w, 2w, 4w, 8w, 8w, ..."""
    widths = []
    resolution = image_size // 2
    while resolution >= 4:
        widths.append(max(4, min(8 * base_width, base_width * image_size // (2 * resolution))))
        resolution //= 2
    return widths


@keras.saving.register_keras_serializable(package="tfcmgen")
class Discriminator(keras.layers.Layer):
    """Text-conditional DCGAN discriminator: `[images, sentence vectors]` -> one logit per example.

    The image trunk is a stack of stride-2 4x4 convolutions with LeakyReLU(0.2) down to a 4x4 map
    (`features`); the text enters only in the `head`, so one trunk pass serves an image paired with
    its own caption and with a mismatched one. Two heads:

    - `"projection"` (Miyato and Koyama 2018): `D(x, s) = w . phi(x) + <V s, phi(x)>` where `phi(x)`
      is the flattened 4x4 map. Flattening, not pooling, keeps where things are, which captions name.
    - `"matching"` (GAN-CLS, Reed et al. 2016): the sentence, projected and tiled over the 4x4 map, is
      concatenated to it, followed by a 1x1 conv and a dense layer to the logit.

    Args:
        image_size: int. Input side, one of 32, 64, 128, 256. Defaults to 64.
        base_width: int. Channel multiplier (w, 2w, 4w, 8w, ... after each downsampling).
            Defaults to 32.
        spectral_norm: bool. Spectral normalisation of every conv and dense kernel
            (`keras.layers.SpectralNormalization`). Defaults to True.
        head: str. `"projection"` or `"matching"`. Defaults to `"projection"`.
        contrastive_dim: int. Width of the image-text contrastive embedding (`contrastive_embed`,
            XMC-GAN); 0 builds none. Defaults to 0.
        **kwargs: passed on to `keras.layers.Layer`.

    Example:

    >>> import numpy as np
    >>> d = Discriminator(image_size=32, base_width=4)
    >>> tuple(d([np.zeros((2, 32, 32, 3), "float32"), np.zeros((2, 6), "float32")]).shape)
    (2,)

    References:
        Radford et al. 2016, "Unsupervised Representation Learning with Deep Convolutional GANs".
        Zhang et al. 2021, "Cross-Modal Contrastive Learning for Text-to-Image Generation" (XMC-GAN).
        Miyato et al. 2018, "Spectral Normalization for Generative Adversarial Networks".
        Miyato and Koyama 2018, "cGANs with Projection Discriminator".
        Reed et al. 2016, "Generative Adversarial Text to Image Synthesis".
    """

    def __init__(self, image_size=64, base_width=32, spectral_norm=True, head="projection",
                 contrastive_dim=0, **kwargs):
        super().__init__(**kwargs)
        self.image_size = check_image_size(image_size)
        self.base_width = check_positive_int("base_width", base_width)
        self.spectral_norm = bool(spectral_norm)
        if head not in HEADS:
            shown = ", ".join(repr(h) for h in HEADS)
            raise ValueError(f"head must be one of {shown}; received head={head!r}")
        self.head = head
        self.contrastive_dim = check_positive_int("contrastive_dim", contrastive_dim, minimum=0)

        self.widths = discriminator_widths(self.image_size, self.base_width)
        self.convs = [
            self._sn(keras.layers.Conv2D(width, 4, strides=2, padding="same", name=f"down{i}"))
            for i, width in enumerate(self.widths)
        ]
        top = self.widths[-1]
        if head == "projection":
            self.unconditional = self._sn(keras.layers.Dense(1, name="unconditional"))
            self.embed = self._sn(keras.layers.Dense(4 * 4 * top, use_bias=False, name="embed"))
        else:
            self.text_projection = self._sn(keras.layers.Dense(top // 2, name="text_projection"))
            self.joint = self._sn(keras.layers.Conv2D(top, 1, name="joint"))
            self.logit = self._sn(keras.layers.Dense(1, name="logit"))
        if self.contrastive_dim:
            # Not spectrally normalised: the embeddings are L2-normalised before use anyway.
            self.contrastive_image = keras.layers.Dense(self.contrastive_dim, name="contrastive_image")
            self.contrastive_text = keras.layers.Dense(self.contrastive_dim, name="contrastive_text")

    def _sn(self, layer):
        if not self.spectral_norm:
            return layer
        return keras.layers.SpectralNormalization(layer, name=f"sn_{layer.name}")

    def build(self, input_shape):
        sentence_dim = input_shape[1][-1]
        shape = (None, self.image_size, self.image_size, 3)
        for conv, width in zip(self.convs, self.widths):
            conv.build(shape)
            shape = (None, shape[1] // 2, shape[2] // 2, width)
        top = self.widths[-1]
        if self.head == "projection":
            self.unconditional.build((None, 16 * top))
            self.embed.build((None, sentence_dim))
        else:
            self.text_projection.build((None, sentence_dim))
            self.joint.build((None, 4, 4, top + top // 2))
            self.logit.build((None, 16 * top))
        if self.contrastive_dim:
            self.contrastive_image.build((None, 16 * top))
            self.contrastive_text.build((None, sentence_dim))

    def features(self, images, training=None):
        """Image trunk: [B, S, S, 3] -> 4x4 feature map [B, 4, 4, C]."""
        x = ops.cast(images, self.compute_dtype)
        for conv in self.convs:
            x = conv(x, training=training)
            x = _leaky_relu(x)
        return x

    def head_logits(self, features, sentence, training=None):
        """Text-conditional head: (4x4 features from `features`, sentence [B, D]) -> logits [B]."""
        sentence = ops.cast(sentence, self.compute_dtype)
        if self.head == "projection":
            flat = ops.reshape(features, (-1, 16 * self.widths[-1]))
            projection = ops.sum(self.embed(sentence, training=training) * flat, axis=-1)
            logits = ops.squeeze(self.unconditional(flat, training=training), -1) + projection
        else:
            text = _leaky_relu(self.text_projection(sentence, training=training))
            text = ops.tile(ops.reshape(text, (-1, 1, 1, self.widths[-1] // 2)), (1, 4, 4, 1))
            joint = ops.concatenate([features, text], axis=-1)
            joint = _leaky_relu(self.joint(joint, training=training))
            flat = ops.reshape(joint, (-1, 16 * self.widths[-1]))
            logits = ops.squeeze(self.logit(flat, training=training), -1)
        return ops.cast(logits, "float32")

    def contrastive_embed(self, features, sentence):
        """(4x4 features, sentence [B, D]) -> L2-normalised (image, text) embeddings, float32.

        Their dot products score every image against every caption of a batch for the
        contrastive loss (`tfcmgen.losses.contrastive_loss`). Needs `contrastive_dim > 0`.
        """
        flat = ops.reshape(features, (-1, 16 * self.widths[-1]))
        text = self.contrastive_text_embed(sentence)
        image = ops.cast(self.contrastive_image(flat), "float32")
        return ops.normalize(image, axis=-1), text

    def contrastive_text_embed(self, sentence):
        """Sentence [B, D] -> the L2-normalised text embedding of `contrastive_embed`, float32
        (for captions that need no image side, such as hard negatives)."""
        if not self.contrastive_dim:
            raise ValueError("contrastive_embed needs a Discriminator built with contrastive_dim > 0")
        text = ops.cast(self.contrastive_text(ops.cast(sentence, self.compute_dtype)), "float32")
        return ops.normalize(text, axis=-1)

    def call(self, inputs, training=None):
        images, sentence = inputs
        return self.head_logits(self.features(images, training), sentence, training)

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0],)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "image_size": self.image_size,
                "base_width": self.base_width,
                "spectral_norm": self.spectral_norm,
                "head": self.head,
                "contrastive_dim": self.contrastive_dim,
            }
        )
        return config
