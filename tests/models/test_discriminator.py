"""Discriminator: both heads, spectral norm, shared trunk, argument errors, the shared checks."""

import keras
import numpy as np
import pytest

from tfcmgen.models import Discriminator
from tfcmgen.models.discriminator import discriminator_widths

RNG = np.random.default_rng(0)
IMAGES = RNG.uniform(-1, 1, size=(2, 32, 32, 3)).astype("float32")
SENTENCE = RNG.normal(size=(2, 6)).astype("float32")


@pytest.mark.parametrize("head", ["projection", "matching"])
@pytest.mark.parametrize("spectral_norm", [True, False])
def test_discriminator_passes_layer_test(layer_test, head, spectral_norm):
    layer_test(
        Discriminator,
        {"image_size": 32, "base_width": 4, "spectral_norm": spectral_norm, "head": head},
        [IMAGES, SENTENCE],
        expected_output_shape=(2,),
        expected_output_dtype="float32",
    )


def test_spectral_norm_wraps_every_kernel():
    d = Discriminator(image_size=32, base_width=4, spectral_norm=True)
    d([IMAGES, SENTENCE])
    wrapped = [d.unconditional, d.embed, *d.convs]
    assert all(isinstance(layer, keras.layers.SpectralNormalization) for layer in wrapped)
    # In training the kernels are divided by their largest singular value (power iteration).
    for _ in range(30):
        d([IMAGES, SENTENCE], training=True)
    kernel = d.convs[1].layer.kernel.numpy()
    sigma = np.linalg.svd(kernel.reshape(-1, kernel.shape[-1]), compute_uv=False)[0]
    assert abs(sigma - 1.0) < 0.05


@pytest.mark.parametrize("head", ["projection", "matching"])
def test_head_on_shared_features_equals_the_full_call(head):
    d = Discriminator(image_size=32, base_width=4, head=head)
    full = np.asarray(d([IMAGES, SENTENCE]))
    features = d.features(IMAGES)
    assert tuple(features.shape) == (2, 4, 4, 16)
    np.testing.assert_allclose(d.head_logits(features, SENTENCE), full, rtol=1e-5, atol=1e-6)
    # The caption changes the judgement of the same image.
    other = np.asarray(d.head_logits(features, -SENTENCE))
    assert np.abs(other - full).max() > 1e-4


def test_widths_double_down_to_4x4():
    assert discriminator_widths(64, 32) == [32, 64, 128, 256]
    assert discriminator_widths(32, 4) == [4, 8, 16]
    assert discriminator_widths(256, 8) == [8, 16, 32, 64, 64, 64]


def test_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match="head must be one of 'projection', 'matching'; "
                                         "received head='concat'"):
        Discriminator(head="concat")
    with pytest.raises(ValueError, match="image_size=100"):
        Discriminator(image_size=100)


def test_contrastive_embeddings_are_unit_vectors_and_round_trip():
    d = Discriminator(image_size=32, base_width=4, contrastive_dim=5)
    d([IMAGES, SENTENCE])
    image, text = d.contrastive_embed(d.features(IMAGES), SENTENCE)
    assert image.shape == (2, 5) and text.shape == (2, 5)
    np.testing.assert_allclose(np.linalg.norm(image, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(text, axis=1), 1.0, rtol=1e-5)
    assert Discriminator.from_config(d.get_config()).contrastive_dim == 5


def test_contrastive_embed_needs_a_contrastive_dim():
    d = Discriminator(image_size=32, base_width=4)
    d([IMAGES, SENTENCE])
    with pytest.raises(ValueError, match="contrastive_dim"):
        d.contrastive_embed(d.features(IMAGES), SENTENCE)
