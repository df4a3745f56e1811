import keras
import numpy as np
import pytest

from tfcmgen.layers import ConditioningAugmentation


def _layer_with_known_weights(output_dim=3, input_dim=5, seed=0):
    layer = ConditioningAugmentation(output_dim, seed=seed)
    layer.build((None, input_dim))
    rng = np.random.default_rng(1)
    kernel = rng.normal(scale=0.3, size=(input_dim, 2 * output_dim)).astype("float32")
    bias = rng.normal(scale=0.3, size=(2 * output_dim,)).astype("float32")
    layer.statistics.kernel.assign(kernel)
    layer.statistics.bias.assign(bias)
    return layer, kernel, bias


def test_conditioning_augmentation_passes_layer_test(layer_test):
    layer_test(
        ConditioningAugmentation,
        dict(output_dim=3, seed=1),
        np.random.default_rng(0).normal(size=(4, 5)).astype("float32"),
        expected_output_shape=[(4, 3), (4,)],
        expected_output_dtype="float32",
        expected_num_trainable_weights=2,
    )


def test_kl_matches_the_closed_form_in_numpy():
    layer, kernel, bias = _layer_with_known_weights()
    sentence = np.random.default_rng(2).normal(size=(4, 5)).astype("float32")
    statistics = sentence @ kernel + bias
    mu, logvar = statistics[:, :3], statistics[:, 3:]
    expected = 0.5 * np.sum(np.exp(logvar) + mu**2 - 1.0 - logvar, axis=-1)
    for training in (False, True):
        _, kl = layer(sentence, training=training)
        np.testing.assert_allclose(kl, expected, rtol=1e-5)
    assert float(ConditioningAugmentation.kl_divergence(np.zeros(3), np.zeros(3))) == 0.0


def test_inference_returns_the_mean():
    layer, kernel, bias = _layer_with_known_weights()
    sentence = np.ones((2, 5), "float32")
    condition, _ = layer(sentence, training=False)
    np.testing.assert_allclose(condition, (sentence @ kernel + bias)[:, :3], rtol=1e-5)
    np.testing.assert_array_equal(condition, layer(sentence)[0])


def test_training_samples_with_the_predicted_mean_and_spread():
    layer, kernel, bias = _layer_with_known_weights()
    sentence = np.ones((20000, 5), "float32")
    statistics = (sentence[:1] @ kernel + bias)[0]
    mu, std = statistics[:3], np.exp(statistics[3:] / 2)
    samples = np.asarray(layer(sentence, training=True)[0])
    np.testing.assert_allclose(samples.mean(axis=0), mu, atol=0.05)
    np.testing.assert_allclose(samples.std(axis=0), std, rtol=0.05)
    assert not np.array_equal(samples, np.asarray(layer(sentence, training=True)[0]))


def test_same_seed_gives_the_same_samples():
    first, _, _ = _layer_with_known_weights(seed=7)
    second, _, _ = _layer_with_known_weights(seed=7)
    sentence = np.ones((3, 5), "float32")
    np.testing.assert_array_equal(
        first(sentence, training=True)[0], second(sentence, training=True)[0]
    )


def test_kl_stays_float32_under_mixed_precision():
    layer = ConditioningAugmentation(3, dtype="mixed_float16")
    condition, kl = layer(np.ones((2, 5), "float32"), training=True)
    assert condition.dtype == "float16" and kl.dtype == "float32"
    symbolic_condition, symbolic_kl = layer(keras.Input((5,)))
    assert symbolic_condition.dtype == "float16" and symbolic_kl.dtype == "float32"


@pytest.mark.parametrize(
    "kwargs, message",
    [(dict(output_dim=0), "output_dim=0"), (dict(output_dim=4, seed="a"), "seed='a'")],
)
def test_bad_arguments_raise_naming_them(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ConditioningAugmentation(**kwargs)
