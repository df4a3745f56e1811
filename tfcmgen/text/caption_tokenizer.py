"""In-graph caption tokenizer: raw tf.string captions in, fixed-length int32 token ids out."""

import keras
import tensorflow as tf
import tensorflow_text as tf_text

from tfcmgen.text.normalize import re2_patterns
from tfcmgen.text.pure_tokenizer import check_max_length
from tfcmgen.text.vocabulary import PAD_ID, SPECIAL_TOKENS, UNK_ID, as_vocabulary

# Op types the layer adds beyond core TensorFlow. Stock TF Serving links an older tensorflow-text
# (2.12 at the last report) and reports newer ops as "not registered"; CaseFoldUTF8 has been in
# tensorflow-text since 1.0. Everything else the layer runs is core TF (UnicodeTranscode,
# StaticRegexReplace, StringSplitV2, the hash-table ops, RaggedTensorToTensor).
SERVING_TEXT_OPS = ("CaseFoldUTF8",)


@keras.saving.register_keras_serializable(package="tfcmgen")
class CaptionTokenizer(keras.layers.Layer):
    """Tokenizes raw captions inside the TensorFlow graph.

    Runs eagerly, in `tf.data` maps, in `tf.function`s and in exported SavedModels, so serving takes
    raw strings. The steps are those of `tfcmgen.text.normalize.split_words`: invalid UTF-8 becomes
    U+FFFD; characters not assigned in Unicode 12.1 (and U+200B) become spaces; NFKC_Casefold
    (tensorflow-text `case_fold_utf8`); every character that is not a letter, mark or digit
    separates words. Each word maps to its vocabulary id, unknown words to `[UNK]` (1).

    Fixed length: each caption gives exactly `max_length` ids, its first `max_length` words. Longer
    captions are truncated (words past `max_length` are dropped); shorter ones are padded at the end
    with `[PAD]` (0). A caption without words (empty, only punctuation) is all `[PAD]`.

    Input shapes: a scalar string gives int32 `[max_length]`; `[B]` (or `[B, 1]`) strings give
    `[B, max_length]`; an empty batch gives `[0, max_length]`. Ids equal those of
    `PurePythonTokenizer` for every input (tested, including property-based tests on arbitrary
    Unicode).

    Limits, on purpose: letters assigned after Unicode 12.1 (e.g. CJK Extension G) are separators,
    because older ICU, RE2 and Python builds do not know them and would disagree. The agreement is
    tested against the tensorflow-text installed here; for the older tensorflow-text inside TF
    Serving it rests on Unicode's normalization and case-folding stability policies.

    Args:
        vocabulary: Vocabulary, list of str, or path of a vocabulary file (read once, when the
            layer is made; the token list is stored in the layer config, so a saved `.keras` file
            does not need the file).
        max_length: int. Number of ids per caption. Defaults to 16.
        **kwargs: passed on to `keras.layers.Layer` (e.g. `name`).

    Example:
        >>> tokenizer = CaptionTokenizer(["[PAD]", "[UNK]", "a", "red", "circle"], max_length=4)
        >>> tokenizer(tf.constant(["A red circle.", "a GREEN circle"])).numpy().tolist()
        [[2, 3, 4, 0], [2, 1, 4, 0]]

    References:
        Unicode Standard Annex #15 (normalization) and #44 (NFKC_Casefold, general categories).
    """

    def __init__(self, vocabulary, max_length=16, **kwargs):
        super().__init__(**kwargs)
        check_max_length(max_length)
        self.vocabulary = as_vocabulary(vocabulary)
        self.max_length = int(max_length)
        self._not_kept_pattern, self._separator_pattern = re2_patterns()
        # Keras must hand the strings over untouched, and XLA has no string ops.
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        self.supports_jit = False
        tokens = self.vocabulary.tokens
        # The special tokens map to [UNK] like any other non-word (split never yields them); they
        # also keep the table non-empty for a vocabulary without words, which TF refuses.
        ids = [UNK_ID] * len(SPECIAL_TOKENS) + list(range(len(SPECIAL_TOKENS), len(tokens)))
        with tf.init_scope():
            # Made eagerly even when the layer is built inside a tf.function or a tf.data map.
            self._table = tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer(
                    tf.constant(tokens, dtype=tf.string), tf.constant(ids, dtype=tf.int64)
                ),
                default_value=tf.constant(UNK_ID, dtype=tf.int64),
            )
        self.built = True

    @property
    def vocabulary_size(self):
        return len(self.vocabulary)

    def split(self, strings):
        """Returns the normalised words of `[B]` strings as a tf.RaggedTensor `[B, (words)]`."""
        strings = tf.strings.unicode_transcode(
            strings, "UTF-8", "UTF-8", errors="replace", replacement_char=0xFFFD
        )
        strings = tf.strings.regex_replace(strings, self._not_kept_pattern, " ")
        strings = tf_text.case_fold_utf8(strings)
        strings = tf.strings.regex_replace(strings, self._separator_pattern, " ")
        return tf.strings.split(strings)

    def call(self, strings):
        strings = tf.convert_to_tensor(strings)
        if strings.dtype != tf.string:
            raise ValueError(
                f"CaptionTokenizer takes tf.string captions; received dtype {strings.dtype.name} "
                f"with shape {strings.shape}"
            )
        rank = self._check_rank(strings.shape)
        if rank == 0:
            strings = tf.reshape(strings, [1])
        elif rank == 2:
            strings = tf.squeeze(strings, axis=-1)
        words = self.split(strings)
        ids = words.with_flat_values(self._table.lookup(words.flat_values))
        ids = ids.to_tensor(default_value=PAD_ID, shape=[None, self.max_length])
        ids = tf.cast(ids, tf.int32)
        return ids[0] if rank == 0 else ids

    def _check_rank(self, shape):
        shape = tf.TensorShape(shape)
        if shape.rank is None or shape.rank > 2 or (shape.rank == 2 and shape[-1] != 1):
            raise ValueError(
                "CaptionTokenizer takes a scalar, [batch] or [batch, 1] string tensor; received "
                f"shape {shape}"
            )
        return shape.rank

    def compute_output_shape(self, input_shape):
        rank = self._check_rank(input_shape)
        if rank == 0:
            return (self.max_length,)
        return (tuple(input_shape)[0], self.max_length)

    def compute_output_spec(self, inputs):
        return keras.KerasTensor(self.compute_output_shape(inputs.shape), dtype="int32")

    def get_config(self):
        config = super().get_config()
        config.update({"vocabulary": self.vocabulary.tokens, "max_length": self.max_length})
        return config
