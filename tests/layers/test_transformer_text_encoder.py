"""The "transformer" pooling of TextEncoder: order and binding kept, padding and [PAD] ignored."""

import keras
import numpy as np
import pytest

from tfcmgen.layers import TextEncoder

TOKEN_IDS = np.array([[3, 4, 5, 0], [6, 0, 0, 0], [0, 0, 0, 0]], "int32")


def _matrix(vocabulary_size=10, dim=4, seed=0):
    return np.random.default_rng(seed).normal(size=(vocabulary_size, dim)).astype("float32")


@pytest.mark.parametrize("output_dim", [None, 3])
def test_transformer_pooling_passes_layer_test(layer_test, output_dim):
    kwargs = dict(vocabulary_size=10, embedding_dim=4, pooling="transformer",
                  output_dim=output_dim)
    layer_test(TextEncoder, kwargs, TOKEN_IDS,
               expected_output_shape=[(3, output_dim or 4), (3, 4, 4)],
               expected_output_dtype="float32",
               # The attention's key bias: its gradient is rounding noise (_TransformerPooling).
               held_constant=("/key/bias",))
    encoder = TextEncoder(**kwargs)
    assert (encoder.sentence_dim, encoder.word_dim) == (output_dim or 4, 4)


def test_padding_does_not_change_the_encoding_and_all_pad_is_zero():
    encoder = TextEncoder(10, 4, embedding_matrix=_matrix(), pooling="transformer")
    short = np.array([[3, 4], [6, 2]], "int32")
    padded = np.array([[3, 4, 0, 0, 0], [6, 2, 0, 0, 0]], "int32")
    short_sentence, short_words = encoder(short)
    padded_sentence, padded_words = encoder(padded)
    np.testing.assert_allclose(padded_sentence, short_sentence, atol=1e-5)
    np.testing.assert_allclose(np.asarray(padded_words)[:, :2], short_words, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(padded_words)[:, 2:], 0.0)
    sentence, words = encoder(np.zeros((2, 5), "int32"))
    assert np.isfinite(np.asarray(sentence)).all()
    np.testing.assert_array_equal(sentence, 0.0)
    np.testing.assert_array_equal(words, 0.0)


def test_swapped_attributes_give_another_sentence_unlike_the_mean():
    # "red(2) circle(3) left(4) blue(5) square(6)" against "blue circle left red square".
    caption = np.array([[2, 3, 4, 5, 6]], "int32")
    swapped = np.array([[5, 3, 4, 2, 6]], "int32")
    mean = TextEncoder(10, 8, embedding_matrix=_matrix(dim=8), pooling="mean")
    np.testing.assert_allclose(mean(caption)[0], mean(swapped)[0], atol=1e-6)
    # Seeded: the untrained encoder's random positions and attention set the size of the
    # difference (0.14-0.35 of the sentence's norm over seeds 0-11; 0.08 was seen unseeded).
    keras.utils.set_random_seed(0)
    encoder = TextEncoder(10, 8, embedding_matrix=_matrix(dim=8), pooling="transformer")
    a, b = np.asarray(encoder(caption)[0]), np.asarray(encoder(swapped)[0])
    assert np.linalg.norm(a - b) > 0.1 * np.linalg.norm(a)
