"""CaptionTokenizer: shapes, graph modes (tf.data, tf.function, SavedModel), serialization, ops."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from tfcmgen.text import SERVING_TEXT_OPS, CaptionTokenizer, Vocabulary

TOKENS = ["[PAD]", "[UNK]", "a", "red", "circle", "in", "the", "top", "left"]
CAPTIONS = ["a red circle", "A RED circle in the top left, in the top left", "", "a green circle"]
EXPECTED = [
    [2, 3, 4, 0, 0, 0],
    [2, 3, 4, 5, 6, 7],  # truncated: the first six words are kept
    [0, 0, 0, 0, 0, 0],  # no words: all [PAD]
    [2, 1, 4, 0, 0, 0],  # unknown word: [UNK]
]


@pytest.fixture(scope="module")
def tokenizer():
    return CaptionTokenizer(TOKENS, max_length=6)


def test_vocabulary_tokens_must_be_normalised():
    with pytest.raises(ValueError, match="'Straße' is not a normalised word"):
        CaptionTokenizer(TOKENS + ["Straße"])


def test_batch_pads_and_truncates(tokenizer):
    ids = tokenizer(tf.constant(CAPTIONS))
    assert ids.dtype == tf.int32
    assert ids.numpy().tolist() == EXPECTED
    assert tokenizer.vocabulary_size == 9


def test_scalar_column_and_empty_inputs(tokenizer):
    assert tokenizer(tf.constant("a red circle")).numpy().tolist() == EXPECTED[0]
    assert tokenizer(tf.constant([["a red circle"], ["a green circle"]])).numpy().tolist() == [
        EXPECTED[0],
        EXPECTED[3],
    ]
    empty = tokenizer(tf.constant([], dtype=tf.string))
    assert empty.shape == (0, 6) and empty.dtype == tf.int32
    assert tokenizer(["a red circle"]).numpy().tolist() == [EXPECTED[0]]


def test_rejects_non_strings_and_bad_shapes(tokenizer):
    with pytest.raises(ValueError, match="takes tf.string captions; received dtype int32"):
        tokenizer(tf.constant([1, 2]))
    message = r"scalar, \[batch\] or \[batch, 1\].*received shape \(2, 2\)"
    with pytest.raises(ValueError, match=message):
        tokenizer(tf.constant([["a", "b"], ["c", "d"]]))
    with pytest.raises(ValueError, match="max_length must be an int >= 1; received max_length=0"):
        CaptionTokenizer(TOKENS, max_length=0)


def test_vocabulary_from_list_path_and_object(tmp_path):
    vocab = Vocabulary(TOKENS)
    vocab.save(tmp_path / "vocab.txt")
    for source in (TOKENS, vocab, str(tmp_path / "vocab.txt"), tmp_path / "vocab.txt"):
        layer = CaptionTokenizer(source, max_length=6)
        assert layer(tf.constant(CAPTIONS)).numpy().tolist() == EXPECTED


def test_vocabulary_without_words_gives_unknown_ids():
    layer = CaptionTokenizer(["[PAD]", "[UNK]"], max_length=3)
    assert layer(tf.constant(["red circle", "!"])).numpy().tolist() == [[1, 1, 0], [0, 0, 0]]


def test_tf_data_map(tokenizer):
    dataset = tf.data.Dataset.from_tensor_slices(CAPTIONS).map(tokenizer).batch(2)
    batches = [batch.numpy() for batch in dataset]
    assert [batch.shape for batch in batches] == [(2, 6), (2, 6)]
    np.testing.assert_array_equal(np.concatenate(batches), EXPECTED)
    batched = tf.data.Dataset.from_tensor_slices(CAPTIONS).batch(3).map(tokenizer)
    np.testing.assert_array_equal(np.concatenate(list(batched.as_numpy_iterator())), EXPECTED)


def test_tf_function_with_unknown_batch(tokenizer):
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def run(strings):
        return tokenizer(strings)

    assert run(tf.constant(CAPTIONS)).numpy().tolist() == EXPECTED
    assert run(tf.constant([], dtype=tf.string)).shape == (0, 6)


def test_symbolic_call_and_keras_file_round_trip(tokenizer, tmp_path):
    inputs = keras.Input(shape=(), dtype="string")
    outputs = tokenizer(inputs)
    assert tuple(outputs.shape) == (None, 6) and outputs.dtype == "int32"
    model = keras.Model(inputs, outputs)
    model.save(tmp_path / "tokenizer.keras")
    restored = keras.saving.load_model(tmp_path / "tokenizer.keras")
    assert restored(tf.constant(CAPTIONS)).numpy().tolist() == EXPECTED


def test_get_config_round_trip(tmp_path):
    Vocabulary(TOKENS).save(tmp_path / "vocab.txt")
    layer = CaptionTokenizer(str(tmp_path / "vocab.txt"), max_length=6, name="tok")
    config = layer.get_config()
    assert config["vocabulary"] == TOKENS and config["max_length"] == 6
    (tmp_path / "vocab.txt").unlink()  # the config holds the tokens, not the path
    clone = CaptionTokenizer.from_config(config)
    assert clone.name == "tok"
    assert clone(tf.constant(CAPTIONS)).numpy().tolist() == EXPECTED
    revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert isinstance(revived, CaptionTokenizer)
    assert revived(tf.constant(CAPTIONS)).numpy().tolist() == EXPECTED


def _graph_op_types(saved_model_dir):
    proto = saved_model_pb2.SavedModel()
    with open(f"{saved_model_dir}/saved_model.pb", "rb") as stream:
        proto.ParseFromString(stream.read())
    op_types = set()
    for meta_graph in proto.meta_graphs:
        op_types.update(node.op for node in meta_graph.graph_def.node)
        for function in meta_graph.graph_def.library.function:
            op_types.update(node.op for node in function.node_def)
    return op_types


def test_saved_model_takes_raw_strings_and_uses_only_declared_text_ops(tokenizer, tmp_path):
    module = tf.Module()
    module.tokenizer = tokenizer
    module.serve = tf.function(
        lambda captions: {"token_ids": tokenizer(captions)},
        input_signature=[tf.TensorSpec([None], tf.string, name="captions")],
    )
    tf.saved_model.save(module, str(tmp_path), signatures={"serving_default": module.serve})
    restored = tf.saved_model.load(str(tmp_path))
    result = restored.signatures["serving_default"](captions=tf.constant(CAPTIONS))
    assert result["token_ids"].numpy().tolist() == EXPECTED
    op_types = _graph_op_types(tmp_path)
    # tf.raw_ops lists the core ops; whatever else the graph holds must be declared for TF Serving.
    non_core = {op for op in op_types if not hasattr(tf.raw_ops, op)}
    # Core TensorFlow only: TF Serving without TF Text, saved_model_cli and TF Java load it.
    assert non_core == set(SERVING_TEXT_OPS) == set()
    assert {"StaticRegexReplace", "StringSplitV2", "LookupTableFindV2"} <= op_types
