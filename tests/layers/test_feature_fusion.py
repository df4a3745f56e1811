import keras
import numpy as np
import pytest

from tfcmgen.layers import FeatureFusion
from tfcmgen.layers.feature_fusion import FUSION_MODES

MODES = ["add", "multiply", "concat", "gated", "film"]
RNG = np.random.default_rng(0)
TEXT = RNG.normal(size=(2, 3)).astype("float32")
VECTOR = RNG.normal(size=(2, 5)).astype("float32")
NOISE = RNG.normal(size=(2, 2)).astype("float32")
FEATURE_MAP = RNG.normal(size=(2, 3, 3, 4)).astype("float32")


def test_registry_lists_every_mode():
    assert sorted(FUSION_MODES) == sorted(MODES)


@pytest.mark.parametrize("mode", MODES)
def test_fusion_on_feature_maps_passes_layer_test(layer_test, mode):
    # 4 channels in, 6 out: the map is projected before fusing.
    layer_test(
        FeatureFusion,
        dict(mode=mode, units=6),
        [TEXT, FEATURE_MAP],
        expected_output_shape=(2, 3, 3, 6),
        expected_output_dtype="float32",
    )


@pytest.mark.parametrize("mode", MODES)
def test_fusion_of_text_vector_and_noise_passes_layer_test(layer_test, mode):
    layer_test(
        FeatureFusion,
        dict(mode=mode, units=4),
        [TEXT, VECTOR, NOISE],
        expected_output_shape=(2, 4),
        expected_output_dtype="float32",
    )


def _fusion(mode, inputs, units):
    layer = FeatureFusion(mode, units)
    layer.build([x.shape for x in inputs])
    return layer


def _set_dense(dense, seed):
    rng = np.random.default_rng(seed)
    kernel = rng.normal(size=tuple(dense.kernel.shape)).astype("float32")
    bias = rng.normal(size=tuple(dense.bias.shape)).astype("float32")
    dense.kernel.assign(kernel)
    dense.bias.assign(bias)
    return kernel, bias


def _tile(text, feature_map):
    return np.broadcast_to(text[:, None, None, :], (*feature_map.shape[:3], text.shape[-1]))


def test_other_already_units_wide_is_used_as_is_and_otherwise_projected():
    assert _fusion("add", [TEXT, FEATURE_MAP], units=4).other_projection is None
    assert _fusion("add", [TEXT, FEATURE_MAP], units=5).other_projection is not None
    # Noise joins the image features before a projection, even at the right width.
    assert _fusion("add", [TEXT, VECTOR, NOISE], units=5).other_projection is not None


@pytest.mark.parametrize("mode", ["add", "multiply"])
def test_add_and_multiply_broadcast_the_projected_text_over_the_map(mode):
    layer = _fusion(mode, [TEXT, FEATURE_MAP], units=4)
    kernel, bias = _set_dense(layer.fusion.text_projection, seed=1)
    text = (TEXT @ kernel + bias)[:, None, None, :]
    expected = text + FEATURE_MAP if mode == "add" else text * FEATURE_MAP
    np.testing.assert_allclose(layer([TEXT, FEATURE_MAP]), expected, rtol=1e-5, atol=1e-5)


def test_concat_projects_text_tiled_beside_the_features():
    layer = _fusion("concat", [TEXT, FEATURE_MAP], units=4)
    kernel, bias = _set_dense(layer.fusion.output_projection, seed=2)
    joined = np.concatenate([_tile(TEXT, FEATURE_MAP), FEATURE_MAP], axis=-1)
    np.testing.assert_allclose(
        layer([TEXT, FEATURE_MAP]), joined @ kernel + bias, rtol=1e-5, atol=1e-5
    )


def test_gated_mixes_text_and_features_with_a_sigmoid_gate():
    layer = _fusion("gated", [TEXT, FEATURE_MAP], units=4)
    text_kernel, text_bias = _set_dense(layer.fusion.text_projection, seed=3)
    gate_kernel, gate_bias = _set_dense(layer.fusion.gate, seed=4)
    joined = np.concatenate([_tile(TEXT, FEATURE_MAP), FEATURE_MAP], axis=-1)
    gate = 1.0 / (1.0 + np.exp(-(joined @ gate_kernel + gate_bias)))
    text = (TEXT @ text_kernel + text_bias)[:, None, None, :]
    expected = gate * text + (1.0 - gate) * FEATURE_MAP
    np.testing.assert_allclose(layer([TEXT, FEATURE_MAP]), expected, rtol=1e-5, atol=1e-5)


def test_film_starts_as_identity_then_scales_and_shifts_each_channel():
    layer = _fusion("film", [TEXT, FEATURE_MAP], units=4)
    np.testing.assert_allclose(layer([TEXT, FEATURE_MAP]), FEATURE_MAP, atol=1e-6)
    hidden_kernel, hidden_bias = _set_dense(layer.fusion.hidden, seed=5)
    gamma_kernel, gamma_bias = _set_dense(layer.fusion.gamma, seed=6)
    beta_kernel, beta_bias = _set_dense(layer.fusion.beta, seed=7)
    hidden = np.maximum(TEXT @ hidden_kernel + hidden_bias, 0.0)
    gamma = (hidden @ gamma_kernel + gamma_bias)[:, None, None, :]
    beta = (hidden @ beta_kernel + beta_bias)[:, None, None, :]
    np.testing.assert_allclose(
        layer([TEXT, FEATURE_MAP]), (1.0 + gamma) * FEATURE_MAP + beta, rtol=1e-5, atol=1e-5
    )


def test_noise_is_concatenated_to_the_features_before_projection():
    layer = _fusion("add", [TEXT, VECTOR, NOISE], units=4)
    text_kernel, text_bias = _set_dense(layer.fusion.text_projection, seed=8)
    other_kernel, other_bias = _set_dense(layer.other_projection, seed=9)
    other = np.concatenate([VECTOR, NOISE], axis=-1) @ other_kernel + other_bias
    expected = TEXT @ text_kernel + text_bias + other
    np.testing.assert_allclose(layer([TEXT, VECTOR, NOISE]), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("mode", MODES)
def test_feature_maps_of_any_size_go_through_one_model(mode):
    text = keras.Input((3,))
    feature_map = keras.Input((None, None, 4))
    model = keras.Model([text, feature_map], FeatureFusion(mode, 8)([text, feature_map]))
    for size in (2, 5):
        maps = np.ones((2, size, size, 4), "float32")
        assert model([TEXT, maps]).shape == (2, size, size, 8)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(mode="sum", units=4), "mode must be one of 'add'.*received mode='sum'"),
        (dict(mode="film", units=0), "units=0"),
        (dict(mode="film", units=None), "units=None"),
    ],
)
def test_bad_arguments_raise_naming_them(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FeatureFusion(**kwargs)


@pytest.mark.parametrize(
    "inputs, message",
    [
        ([TEXT, FEATURE_MAP, NOISE], "noise.*only be fused with vector"),
        ([FEATURE_MAP, FEATURE_MAP], "text must be a vector"),
        ([TEXT, FEATURE_MAP[0]], "other must be a vector"),
        ([TEXT], "received input_shape"),
        (TEXT, "list of 2 or 3 tensors"),
    ],
)
def test_bad_inputs_raise_naming_them(inputs, message):
    with pytest.raises(ValueError, match=message):
        FeatureFusion("add", 4)(inputs)
