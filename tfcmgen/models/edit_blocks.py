"""The editor's building blocks: pixel losses, fused convolutions, up-sampling blocks and the
output heads (`OUTPUTS`, named in `tfcmgen.registry.OUTPUT_MODES`) of `TextImageEditor`."""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from tfcmgen import layers as tfcm_layers


def per_example_mse(a, b):
    difference = tf.cast(a, tf.float32) - tf.cast(b, tf.float32)
    return tf.reduce_mean(tf.square(difference), axis=[1, 2, 3])


def per_example_l1(a, b):
    difference = tf.cast(a, tf.float32) - tf.cast(b, tf.float32)
    return tf.reduce_mean(tf.abs(difference), axis=[1, 2, 3])


# Pixel losses of the reconstruction and paired terms: per-example means over pixels, [B].
# "mse" learns text-driven edits several times faster than "l1" from a source-copying start: an
# L1 gradient is only a sign, so it cannot tell a slightly wrong pixel from a badly wrong one
# (measured: 0.92 against 0.00-0.60 colour-change accuracy after 600 steps at 32x32).
PIXEL_LOSSES = {"mse": per_example_mse, "l1": per_example_l1}


class FusedConv(keras.layers.Layer):
    """3x3 conv, batch norm, text fusion (FiLM / gated / ...), optional ReLU."""

    def __init__(self, width, fusion, activation=True, **kwargs):
        super().__init__(**kwargs)
        self.width = width
        self.activation = activation
        self.conv = keras.layers.Conv2D(width, 3, padding="same", use_bias=False, name="conv")
        # Synchronised statistics so that a mirrored run takes the same step as one device.
        self.norm = keras.layers.BatchNormalization(momentum=0.9, synchronized=True, name="bn")
        self.fusion = tfcm_layers.FeatureFusion(fusion, width, name="fusion")

    def build(self, inputs_shape, text_shape):
        self.conv.build(inputs_shape)
        shape = (*inputs_shape[:-1], self.width)
        self.norm.build(shape)
        self.fusion.build([text_shape, shape])

    def call(self, inputs, text, training=None):
        x = self.fusion([text, self.norm(self.conv(inputs), training=training)])
        return ops.relu(x) if self.activation else x


class FusedResidualBlock(keras.layers.Layer):
    """`x + F(x, text)` with `F` = fused conv, ReLU, fused conv (the text enters twice)."""

    def __init__(self, width, fusion, **kwargs):
        super().__init__(**kwargs)
        self.first = FusedConv(width, fusion, name="first")
        self.second = FusedConv(width, fusion, activation=False, name="second")

    def build(self, inputs_shape, text_shape):
        self.first.build(inputs_shape, text_shape)
        self.second.build(inputs_shape, text_shape)

    def call(self, inputs, text, training=None):
        x = self.first(inputs, text, training=training)
        return inputs + self.second(x, text, training=training)


class UpsamplingBlock(keras.layers.Layer):
    """Nearest-neighbour 2x upsampling then a fused conv (no transposed-conv checkerboard)."""

    def __init__(self, width, fusion, **kwargs):
        super().__init__(**kwargs)
        self.width = width
        self.upsample = keras.layers.UpSampling2D(2, interpolation="nearest", name="upsample")
        self.fused = FusedConv(width, fusion, name="fused")

    def build(self, inputs_shape, text_shape):
        batch, height, width, channels = inputs_shape
        up = (batch, None if height is None else 2 * height, None if width is None else 2 * width,
              channels)
        self.fused.build(up, text_shape)

    def call(self, inputs, text, training=None):
        return self.fused(self.upsample(inputs), text, training=training)


class DirectOutput(keras.layers.Layer):
    """`tanh(conv(features, source))`: the decoder draws every pixel."""

    kernel_initializer = "glorot_uniform"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.to_rgb = keras.layers.Conv2D(
            3, 3, padding="same", kernel_initializer=self.kernel_initializer, name="to_rgb"
        )

    def build(self, features_shape, images_shape):
        self.to_rgb.build(features_shape)

    def call(self, features, images):
        return ops.tanh(self.to_rgb(features))


class ResidualOutput(DirectOutput):
    """`clip(source + 2 tanh(conv(features, source)), -1, 1)`: the decoder draws the change.

    Keeping the source is the zero change, and the pixel terms reach every pixel's change at full
    strength (unlike a mask, whose gradient vanishes where it closes). The clip only cuts values
    beyond the image range, where any target in [-1, 1] is already met. The change starts at zero:
    an untrained editor returns its input.
    """

    kernel_initializer = "zeros"

    def call(self, features, images):
        return ops.clip(images + 2.0 * ops.tanh(self.to_rgb(features)), -1.0, 1.0)


class BlendOutput(DirectOutput):
    """`m * tanh(conv) + (1 - m) * source` with a predicted soft mask `m` (GANimation).

    Pixels outside the mask are copied exactly; but where the mask closes early in training the
    drawn pixels get no gradient, so it learns more slowly than `"residual"` on a CPU budget.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.to_mask = keras.layers.Conv2D(1, 3, padding="same", name="to_mask")

    def build(self, features_shape, images_shape):
        super().build(features_shape, images_shape)
        self.to_mask.build(features_shape)

    def call(self, features, images):
        mask = ops.sigmoid(self.to_mask(features))
        return mask * ops.tanh(self.to_rgb(features)) + (1.0 - mask) * images


class MaskedResidualOutput(ResidualOutput):
    """`clip(source + m * 2 tanh(conv), -1, 1)`: a change, confined by a predicted soft mask `m`.

    The mask multiplies an image-derived "where" with a text-derived "what", which a residual alone
    must build from ReLUs. As the change starts at zero, the mask gets no gradient until the change
    exists, so it cannot close early (the failure of `"blend"`).
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.to_mask = keras.layers.Conv2D(1, 3, padding="same", name="to_mask")

    def build(self, features_shape, images_shape):
        super().build(features_shape, images_shape)
        self.to_mask.build(features_shape)

    def call(self, features, images):
        mask = ops.sigmoid(self.to_mask(features))
        return ops.clip(images + mask * 2.0 * ops.tanh(self.to_rgb(features)), -1.0, 1.0)


# How the decoder's last features become the edited image.
OUTPUTS = {
    "residual": ResidualOutput,
    "masked_residual": MaskedResidualOutput,
    "blend": BlendOutput,
    "direct": DirectOutput,
}
