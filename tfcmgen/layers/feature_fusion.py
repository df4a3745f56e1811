"""Text fused with image features and/or noise, on vectors or feature maps: `FeatureFusion`."""

from __future__ import annotations

import keras
from keras import ops


def _over_space(text, other):
    """`text` [B, T] as it meets `other`: unchanged for vectors, [B, 1, 1, T] for maps."""
    if len(other.shape) == 4:
        return text[:, None, None, :]
    return text


def _tiled(text, other):
    """`text` [B, T] repeated at every position of `other` ([B, H, W, T] for maps)."""
    if len(other.shape) == 4:
        # Adding zeros of shape [B, H, W, 1] broadcasts with unknown H and W too.
        return text[:, None, None, :] + ops.zeros_like(other[..., :1])
    return text


class _AddFusion(keras.layers.Layer):
    """projection(text) + other."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.text_projection = keras.layers.Dense(
            units, name="text_projection", dtype=self.dtype_policy
        )

    def build(self, text_shape, other_shape):
        self.text_projection.build(text_shape)
        self.built = True

    def call(self, text, other):
        return _over_space(self.text_projection(text), other) + other


class _MultiplyFusion(_AddFusion):
    """projection(text) * other."""

    def call(self, text, other):
        return _over_space(self.text_projection(text), other) * other


class _ConcatFusion(keras.layers.Layer):
    """Dense(concat(text, other)): text tiled over space on maps (a 1x1 convolution there)."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.output_projection = keras.layers.Dense(
            units, name="output_projection", dtype=self.dtype_policy
        )

    def build(self, text_shape, other_shape):
        self.output_projection.build((*other_shape[:-1], text_shape[-1] + other_shape[-1]))
        self.built = True

    def call(self, text, other):
        return self.output_projection(ops.concatenate([_tiled(text, other), other], axis=-1))


class _GatedFusion(keras.layers.Layer):
    """g * projection(text) + (1 - g) * other, g = sigmoid(Dense(concat(text, other)))."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.text_projection = keras.layers.Dense(
            units, name="text_projection", dtype=self.dtype_policy
        )
        self.gate = keras.layers.Dense(
            units, activation="sigmoid", name="gate", dtype=self.dtype_policy
        )

    def build(self, text_shape, other_shape):
        self.text_projection.build(text_shape)
        self.gate.build((*other_shape[:-1], text_shape[-1] + other_shape[-1]))
        self.built = True

    def call(self, text, other):
        gate = self.gate(ops.concatenate([_tiled(text, other), other], axis=-1))
        projected = _over_space(self.text_projection(text), other)
        return gate * projected + (1.0 - gate) * other


class _FiLMFusion(keras.layers.Layer):
    """(1 + gamma(text)) * other + beta(text), per channel; gamma and beta from a small MLP."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.hidden = keras.layers.Dense(
            units, activation="relu", name="film_hidden", dtype=self.dtype_policy
        )
        # Zero-initialised heads start as the identity, as DF-GAN initialises its affine layers.
        self.gamma = keras.layers.Dense(
            units, kernel_initializer="zeros", name="gamma", dtype=self.dtype_policy
        )
        self.beta = keras.layers.Dense(
            units, kernel_initializer="zeros", name="beta", dtype=self.dtype_policy
        )
        self.units = units

    def build(self, text_shape, other_shape):
        self.hidden.build(text_shape)
        self.gamma.build((text_shape[0], self.units))
        self.beta.build((text_shape[0], self.units))
        self.built = True

    def call(self, text, other):
        hidden = self.hidden(text)
        gamma = _over_space(self.gamma(hidden), other)
        beta = _over_space(self.beta(hidden), other)
        return (1.0 + gamma) * other + beta


FUSION_MODES = {
    "add": _AddFusion,
    "multiply": _MultiplyFusion,
    "concat": _ConcatFusion,
    "gated": _GatedFusion,
    "film": _FiLMFusion,
}


@keras.saving.register_keras_serializable(package="tfcmgen")
class FeatureFusion(keras.layers.Layer):
    """Fuses a text vector with image features (vector or feature map) and optional noise.

    The layer is called on `[text, other]` or `[text, other, noise]`:
    - `text`: `[B, T]`, e.g. a sentence vector or a conditioning-augmentation sample.
    - `other`: image features, either a vector `[B, D]` or a feature map `[B, H, W, C]`; on
      maps the text is broadcast over every position.
    - `noise` (vectors only): `[B, Z]`, concatenated to `other` before its projection.

    `other` (with the noise) is first brought to the common width `units` by a Dense layer (a
    1x1 convolution on maps); when it is already `units` wide and there is no noise it is used
    as it is, so a fusion inside a block of `units` channels modulates that block's own
    features. The modes (`tfcmgen.layers.feature_fusion.FUSION_MODES`) then combine it with the
    text:
    - `"add"`: `Dense(text) + other`.
    - `"multiply"`: `Dense(text) * other`.
    - `"concat"`: `Dense(concat(text, other))`.
    - `"gated"`: `g * Dense(text) + (1 - g) * other`, with the gate
      `g = sigmoid(Dense(concat(text, other)))` per position and channel.
    - `"film"`: `(1 + gamma) * other + beta`, per channel, with `gamma` and `beta` predicted
      from the text by a Dense-ReLU-Dense network whose last layers start at zero (identity), as
      in DF-GAN's deep fusion blocks.

    Every mode returns `other`'s shape with `units` channels: `[B, units]` or
    `[B, H, W, units]`.

    Args:
        mode: str. One of `"add"`, `"multiply"`, `"concat"`, `"gated"`, `"film"`.
        units: int. The common width, and the width of the output.
        **kwargs: passed on to `keras.layers.Layer`.

    Example:

    >>> import numpy as np
    >>> from tfcmgen.layers import FeatureFusion
    >>> text = np.ones((2, 8), "float32")
    >>> feature_map = np.ones((2, 4, 4, 16), "float32")
    >>> tuple(FeatureFusion("film", units=16)([text, feature_map]).shape)
    (2, 4, 4, 16)
    >>> noise = np.ones((2, 5), "float32")
    >>> tuple(FeatureFusion("gated", units=6)([text, np.ones((2, 3), "float32"), noise]).shape)
    (2, 6)

    References:
        Tao et al. 2022, "DF-GAN: A Simple and Effective Baseline for Text-to-Image Synthesis"
        (text-predicted affine fusion). Perez et al. 2018, "FiLM: Visual Reasoning with a
        General Conditioning Layer". Reed et al. 2016, "Generative Adversarial Text to Image
        Synthesis" (concatenated text and noise). Dong et al. 2017, "Semantic Image Synthesis
        via Adversarial Learning" (text fused into image feature maps).
    """

    def __init__(self, mode, units, **kwargs):
        if mode not in FUSION_MODES:
            shown = ", ".join(repr(name) for name in FUSION_MODES)
            raise ValueError(f"mode must be one of {shown}; received mode={mode!r}")
        if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
            raise ValueError(f"units must be a positive integer; received units={units!r}")
        super().__init__(**kwargs)
        self.mode = mode
        self.units = units
        self.fusion = FUSION_MODES[mode](units, name=mode, dtype=self.dtype_policy)
        # Created in build: whether `other` needs projecting depends on its width.
        self.other_projection = None

    def build(self, input_shape):
        text_shape, other_shape, noise_shape = _split_shapes(input_shape)
        width = other_shape[-1]
        if noise_shape is not None:
            width += noise_shape[-1]
        if noise_shape is not None or other_shape[-1] != self.units:
            self.other_projection = keras.layers.Dense(
                self.units, name="other_projection", dtype=self.dtype_policy
            )
            self.other_projection.build((*other_shape[:-1], width))
        self.fusion.build(text_shape, (*other_shape[:-1], self.units))
        self.built = True

    def call(self, inputs):
        text, other = inputs[0], inputs[1]
        if len(inputs) == 3:
            other = ops.concatenate([other, ops.cast(inputs[2], other.dtype)], axis=-1)
        if self.other_projection is not None:
            other = self.other_projection(other)
        return self.fusion(ops.cast(text, other.dtype), other)

    def compute_output_shape(self, input_shape):
        return (*tuple(input_shape[1])[:-1], self.units)

    def get_config(self):
        config = super().get_config()
        config.update({"mode": self.mode, "units": self.units})
        return config


def _split_shapes(input_shape):
    """Checks the inputs' shapes; returns (text, other, noise or None)."""
    if not isinstance(input_shape, (list, tuple)) or len(input_shape) not in (2, 3):
        raise ValueError(
            "FeatureFusion expects a list [text, other] or [text, other, noise]; "
            f"received input_shape={input_shape!r}"
        )
    if not all(isinstance(shape, (list, tuple)) for shape in input_shape):
        raise ValueError(
            "FeatureFusion expects a list of 2 or 3 tensors, not one tensor; "
            f"received input_shape={tuple(input_shape)!r}"
        )
    text_shape, other_shape = tuple(input_shape[0]), tuple(input_shape[1])
    noise_shape = tuple(input_shape[2]) if len(input_shape) == 3 else None
    if len(text_shape) != 2:
        raise ValueError(f"text must be a vector [batch, dim]; received text shape {text_shape}")
    if len(other_shape) not in (2, 4):
        raise ValueError(
            "other must be a vector [batch, dim] or a feature map [batch, height, width, "
            f"channels]; received other shape {other_shape}"
        )
    if noise_shape is not None and (len(noise_shape) != 2 or len(other_shape) != 2):
        raise ValueError(
            "noise [batch, dim] can only be fused with vector features [batch, dim]; received "
            f"noise shape {noise_shape} with other shape {other_shape}"
        )
    for name, shape in (("text", text_shape), ("other", other_shape), ("noise", noise_shape)):
        if shape is not None and shape[-1] is None:
            raise ValueError(f"the last axis of {name} must be known; received shape {shape}")
    return text_shape, other_shape, noise_shape
