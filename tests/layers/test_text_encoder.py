import keras
import numpy as np
import pytest

from tfcmgen.layers import TextEncoder

# Two captions and one caption made only of [PAD] (id 0).
TOKEN_IDS = np.array([[3, 4, 5, 0], [6, 0, 0, 0], [0, 0, 0, 0]], "int32")


def _matrix(vocabulary_size=10, dim=4, seed=0):
    # The [PAD] row is not zero on purpose: masking, not the embedding, must keep it out.
    return np.random.default_rng(seed).normal(size=(vocabulary_size, dim)).astype("float32")


@pytest.mark.parametrize(
    "pooling, output_dim, word_dim",
    [("mean", None, 4), ("bigru", 3, 8), ("attention", 3, 4)],
)
def test_text_encoder_passes_layer_test(layer_test, pooling, output_dim, word_dim):
    kwargs = dict(vocabulary_size=10, embedding_dim=4, pooling=pooling, output_dim=output_dim)
    sentence_dim = output_dim or word_dim
    layer_test(
        TextEncoder,
        kwargs,
        TOKEN_IDS,
        expected_output_shape=[(3, sentence_dim), (3, 4, word_dim)],
        expected_output_dtype="float32",
    )
    encoder = TextEncoder(**kwargs)
    assert (encoder.sentence_dim, encoder.word_dim) == (sentence_dim, word_dim)


def test_mean_pooling_averages_only_real_words_and_gives_zeros_for_all_pad():
    matrix = _matrix()
    encoder = TextEncoder(10, 4, embedding_matrix=matrix, pooling="mean")
    sentence, words = encoder(TOKEN_IDS)
    np.testing.assert_allclose(sentence[0], matrix[[3, 4, 5]].mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(sentence[1], matrix[6], atol=1e-6)
    np.testing.assert_array_equal(sentence[2], np.zeros(4))
    np.testing.assert_allclose(words[0, :3], matrix[[3, 4, 5]], atol=1e-6)
    np.testing.assert_array_equal(np.asarray(words)[TOKEN_IDS == 0], 0.0)


@pytest.mark.parametrize("pooling", ["mean", "bigru", "attention"])
def test_padding_does_not_change_the_encoding(pooling):
    encoder = TextEncoder(10, 4, embedding_matrix=_matrix(), pooling=pooling, output_dim=3)
    short = np.array([[3, 4], [6, 2]], "int32")
    padded = np.array([[3, 4, 0, 0, 0], [6, 2, 0, 0, 0]], "int32")
    short_sentence, short_words = encoder(short)
    padded_sentence, padded_words = encoder(padded)
    np.testing.assert_allclose(padded_sentence, short_sentence, atol=1e-5)
    np.testing.assert_allclose(np.asarray(padded_words)[:, :2], short_words, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(padded_words)[:, 2:], 0.0)


@pytest.mark.parametrize("pooling", ["mean", "bigru", "attention"])
def test_all_pad_caption_gives_finite_zero_sentence(pooling):
    encoder = TextEncoder(10, 4, embedding_matrix=_matrix(), pooling=pooling)
    sentence, words = encoder(np.zeros((2, 5), "int32"))
    np.testing.assert_array_equal(sentence, 0.0)
    np.testing.assert_array_equal(words, 0.0)


def test_attention_weights_are_a_convex_combination_of_real_words():
    matrix = _matrix()
    encoder = TextEncoder(10, 4, embedding_matrix=matrix, pooling="attention")
    # One real word: all the attention falls on it, whatever the scores.
    sentence, _ = encoder(np.array([[7, 0, 0]], "int32"))
    np.testing.assert_allclose(sentence[0], matrix[7], atol=1e-6)
    # Several words: the result lies inside their bounding box.
    sentence, _ = encoder(np.array([[3, 4, 5, 0]], "int32"))
    words = matrix[[3, 4, 5]]
    assert np.all(np.asarray(sentence[0]) <= words.max(axis=0) + 1e-6)
    assert np.all(np.asarray(sentence[0]) >= words.min(axis=0) - 1e-6)


def test_embedding_matrix_initialises_and_can_be_frozen():
    matrix = _matrix()
    frozen = TextEncoder(10, 4, embedding_matrix=matrix, trainable_embeddings=False)
    np.testing.assert_array_equal(frozen.embedding.embeddings.numpy(), matrix)
    assert frozen.embedding.embeddings.path not in [w.path for w in frozen.trainable_weights]
    trainable = TextEncoder(10, 4, embedding_matrix=matrix)
    trainable.build((None, 4))
    assert any(w is trainable.embedding.embeddings for w in trainable.trainable_weights)


def test_embedding_matrix_survives_keras_save_without_being_in_the_config(tmp_path):
    matrix = _matrix()
    encoder = TextEncoder(10, 4, embedding_matrix=matrix, trainable_embeddings=False)
    assert encoder.get_config()["embedding_matrix"] is None
    inputs = keras.Input((4,), dtype="int32")
    model = keras.Model(inputs, encoder(inputs))
    model.save(tmp_path / "encoder.keras")
    loaded = keras.saving.load_model(tmp_path / "encoder.keras")
    loaded_encoder = loaded.layers[-1]
    np.testing.assert_array_equal(loaded_encoder.embedding.embeddings.numpy(), matrix)
    assert loaded_encoder.embedding.trainable is False


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(embedding_matrix=np.zeros((9, 4))), r"\(10, 4\).*received.*\(9, 4\)"),
        (dict(embedding_matrix=np.full((10, 4), np.nan)), "finite"),
        (dict(pooling="max"), "pooling='max'"),
        (dict(output_dim=0), "output_dim=0"),
        (dict(vocabulary_size=0), "vocabulary_size=0"),
        (dict(embedding_dim=2.5), "embedding_dim=2.5"),
    ],
)
def test_bad_arguments_raise_naming_them(kwargs, message):
    arguments = dict(vocabulary_size=10, embedding_dim=4)
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        TextEncoder(**arguments)


def test_token_ids_must_be_two_dimensional():
    with pytest.raises(ValueError, match="token ids"):
        TextEncoder(10, 4)(np.zeros((2, 3, 4), "int32"))


@pytest.mark.parametrize("pooling", ["mean", "bigru", "attention", "transformer"])
def test_unknown_words_are_masked_wherever_they_stand(pooling):
    # [UNK] is id 1: inserted anywhere, it changes neither the sentence nor the other words.
    encoder = TextEncoder(10, 4, embedding_matrix=_matrix(), pooling=pooling, output_dim=3)
    plain = np.array([[3, 4, 5, 0, 0, 0, 0]], "int32")
    with_unknown = np.array([[1, 3, 1, 4, 5, 1, 0]], "int32")
    sentence, words = encoder(plain)
    unknown_sentence, unknown_words = encoder(with_unknown)
    np.testing.assert_allclose(unknown_sentence, sentence, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(unknown_words)[0, [0, 2, 5]], 0.0)
    # Without the mask (models saved before it) [UNK] is a word like any other.
    old = TextEncoder(10, 4, embedding_matrix=_matrix(), pooling=pooling, output_dim=3,
                      mask_unknown=False)
    old(plain)
    old.set_weights(encoder.get_weights())
    assert not np.allclose(old(with_unknown)[0], old(plain)[0], atol=1e-3)


@pytest.mark.parametrize("pooling", ["mean", "attention"])
def test_order_free_poolings_ignore_word_order(pooling):
    encoder = TextEncoder(10, 4, embedding_matrix=_matrix(), pooling=pooling)
    forward, backward = encoder(np.array([[3, 4, 5, 0], [5, 1, 4, 3]], "int32"))[0]
    np.testing.assert_allclose(forward, backward, atol=1e-5)


def test_config_without_mask_unknown_loads_with_the_old_behaviour():
    encoder = TextEncoder(10, 4)
    assert encoder.mask_unknown and encoder.get_config()["mask_unknown"] is True
    config = encoder.get_config()
    del config["mask_unknown"]
    assert TextEncoder.from_config(config).mask_unknown is False
    assert TextEncoder.from_config(encoder.get_config()).mask_unknown is True


def test_transformer_positions_get_a_dense_gradient_and_key_biases_stay_zero():
    # Under MultiWorkerMirroredStrategy a lookup's sparse gradient repeats its rows once per
    # worker and Adam squares them one by one, and the key bias (gradient zero up to rounding)
    # drifted with the all-reduce's order: both made two workers train differently from one
    # process (tests/test_multiworker.py). Checked here without a cluster.
    import tensorflow as tf

    encoder = TextEncoder(10, 4, embedding_matrix=_matrix(), pooling="transformer")
    encoder(TOKEN_IDS)
    pool = encoder.pool
    with tf.GradientTape() as tape:
        sentence, _ = encoder(TOKEN_IDS)
        loss = tf.reduce_sum(sentence**2)
    gradients = tape.gradient(loss, pool.trainable_variables)
    positions = [g for g, v in zip(gradients, pool.trainable_variables)
                 if v is pool.positions.embeddings]
    assert len(positions) == 1 and not isinstance(positions[0], tf.IndexedSlices)

    key_biases = [attention.key_dense.bias for attention, *_ in pool.blocks]
    before = [np.asarray(v.value).copy() for v in pool.trainable_variables]
    optimizer = keras.optimizers.Adam(0.1)
    for _ in range(3):
        with tf.GradientTape() as tape:
            sentence, _ = encoder(TOKEN_IDS)
            loss = tf.reduce_sum(sentence[:, 0])
        variables = encoder.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
    for bias in key_biases:
        np.testing.assert_array_equal(bias.numpy(), 0.0)
    moved = [not np.array_equal(b, np.asarray(v.value))
             for b, v in zip(before, pool.trainable_variables)]
    assert sum(moved) > len(moved) // 2  # the rest of the encoder trains
