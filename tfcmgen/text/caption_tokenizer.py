"""In-graph caption tokenizer: raw tf.string captions in, fixed-length int32 token ids out."""

import keras
import tensorflow as tf

from tfcmgen.text import case_folding
from tfcmgen.text.normalize import re2_patterns
from tfcmgen.text.pure_tokenizer import check_aliases, check_max_length
from tfcmgen.text.vocabulary import PAD_ID, SPECIAL_TOKENS, UNK_ID, as_vocabulary

# Op types the layer adds beyond core TensorFlow: none. Case folding is two hash-table lookups
# (`case_folding`) instead of tensorflow-text's CaseFoldUTF8, so `saved_model_cli`, TF Java, the C
# API and TF Serving builds without TF Text load the export. Everything the layer runs is core TF
# (UnicodeTranscode, UnicodeDecode, StaticRegexReplace, StringSplitV2, the hash-table ops,
# UnicodeEncode, RaggedTensorToTensor).
SERVING_TEXT_OPS = ()


@keras.saving.register_keras_serializable(package="tfcmgen")
class CaptionTokenizer(keras.layers.Layer):
    """Tokenizes raw captions inside the TensorFlow graph.

    Runs eagerly, in `tf.data` maps, in `tf.function`s and in exported SavedModels, so serving takes
    raw strings. The steps are those of `tfcmgen.text.normalize.split_words`: invalid UTF-8 becomes
    U+FFFD; characters not assigned in Unicode 12.1 (and U+200B) become spaces; NFKC_Casefold by
    the two lookup tables of `tfcmgen.text.case_folding` (core TensorFlow ops only, so exports
    load without tensorflow-text; ICU's result except for combining marks stacked out of
    canonical order); every character that is not a letter, mark or digit separates words. Each word maps to its vocabulary id, unknown words to `[UNK]` (1).

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
        aliases: dict str -> str or None. Extra words the table maps to a vocabulary word's id,
            e.g. the word-vector neighbours of `tfcmgen.text.word_mapping` ("crimson" -> "red"),
            so an exported SavedModel maps them in the graph. Stored in the layer config.
            Defaults to None.
        **kwargs: passed on to `keras.layers.Layer` (e.g. `name`).

    Example:
        >>> tokenizer = CaptionTokenizer(["[PAD]", "[UNK]", "a", "red", "circle"], max_length=4)
        >>> tokenizer(tf.constant(["A red circle.", "a GREEN circle"])).numpy().tolist()
        [[2, 3, 4, 0], [2, 1, 4, 0]]

    References:
        Unicode Standard Annex #15 (normalization) and #44 (NFKC_Casefold, general categories).
    """

    def __init__(self, vocabulary, max_length=16, aliases=None, **kwargs):
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
        self.aliases = check_aliases(aliases, self.vocabulary)
        tokens = tokens + list(self.aliases)
        ids = ids + [self.vocabulary.lookup(target) for target in self.aliases.values()]
        with tf.init_scope():
            # Made eagerly even when the layer is built inside a tf.function or a tf.data map.
            self._table = tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer(
                    tf.constant(tokens, dtype=tf.string), tf.constant(ids, dtype=tf.int64)
                ),
                default_value=tf.constant(UNK_ID, dtype=tf.int64),
            )
            self._make_fold_tables()
        self.built = True

    @property
    def vocabulary_size(self):
        return len(self.vocabulary)

    def _make_fold_tables(self):
        case_map = case_folding.case_map()
        pairs = case_folding.composition_pairs()
        self._case_table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(list(case_map), tf.int64),
                tf.constant([value.encode("utf-8") for value in case_map.values()], tf.string),
            ),
            # Not valid UTF-8, so no mapping equals it: marks "keep the character".
            default_value=tf.constant(b"\xff", tf.string),
        )
        self._pair_table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(list(pairs), tf.int64), tf.constant(list(pairs.values()), tf.int64)
            ),
            default_value=tf.constant(-1, tf.int64),
        )

    def _fold(self, strings):
        """`case_folding.fold` of `[B]` valid UTF-8 strings, in core TensorFlow ops."""
        chars = tf.strings.unicode_split(strings, "UTF-8")
        code_points = tf.strings.unicode_decode(strings, "UTF-8")
        mapped = self._case_table.lookup(tf.cast(code_points.flat_values, tf.int64))
        mapped = tf.where(tf.equal(mapped, b"\xff"), chars.flat_values, mapped)
        strings = tf.strings.reduce_join(chars.with_flat_values(mapped), axis=1)
        code_points = tf.cast(tf.strings.unicode_decode(strings, "UTF-8"), tf.int64)
        for _ in range(case_folding.COMPOSITION_PASSES):
            code_points = self._compose_pass(code_points)
        return tf.strings.unicode_encode(tf.cast(code_points, tf.int32), "UTF-8")

    def _compose_pass(self, code_points):
        """`case_folding.compose_pass` on every row of a ragged `[B, (chars)]` int64 tensor."""
        values = code_points.flat_values
        rows = code_points.value_rowids()
        count = tf.shape(values, out_type=tf.int64)[0]
        positions = tf.range(count)
        last = tf.equal(positions + 1, tf.gather(code_points.row_limits(), rows))
        # Shifted copies cut to `count`, so an empty batch stays empty.
        following = tf.concat([values[1:], tf.zeros([1], tf.int64)], axis=0)[:count]
        composite = self._pair_table.lookup(values * case_folding.PAIR_BASE + following)
        found = tf.logical_and(composite >= 0, tf.logical_not(last))
        found_before = tf.concat([[False], found], axis=0)[:count]
        applied = tf.logical_and(found, tf.logical_not(found_before))
        consumed = tf.concat([[False], applied], axis=0)[:count]
        keep = tf.logical_not(consumed)
        values = tf.boolean_mask(tf.where(applied, composite, values), keep)
        return tf.RaggedTensor.from_value_rowids(
            values, tf.boolean_mask(rows, keep), nrows=code_points.nrows()
        )

    def split(self, strings):
        """Returns the normalised words of `[B]` strings as a tf.RaggedTensor `[B, (words)]`."""
        strings = tf.strings.unicode_transcode(
            strings, "UTF-8", "UTF-8", errors="replace", replacement_char=0xFFFD
        )
        strings = tf.strings.regex_replace(strings, self._not_kept_pattern, " ")
        strings = self._fold(strings)
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
        if self.aliases:
            config["aliases"] = dict(self.aliases)
        return config
