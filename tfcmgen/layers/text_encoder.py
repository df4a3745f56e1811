"""Caption token ids to a sentence vector and word features: `TextEncoder`."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops


class _MeanPooling(keras.layers.Layer):
    """Sentence = average of the non-[PAD] word vectors; words = the embeddings."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        # No weights: `units` is taken only so that every pooling is built the same way.
        self.units = units

    def word_dim(self, embedding_dim):
        return embedding_dim

    def build(self, words_shape):
        self.built = True

    def call(self, words, mask):
        weights = ops.cast(mask, words.dtype)[..., None]
        words = words * weights
        # An all-[PAD] caption has count 0: dividing by 1 instead gives a zero vector, not NaN.
        count = ops.maximum(ops.sum(weights, axis=1), 1.0)
        return ops.sum(words, axis=1) / count, words


class _BiGRUPooling(keras.layers.Layer):
    """Words = bidirectional GRU states (2 x embedding_dim); sentence = both final states."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.rnn = keras.layers.Bidirectional(
            keras.layers.GRU(units, return_sequences=True, return_state=True),
            merge_mode="concat",
            name="bigru",
            dtype=self.dtype_policy,
        )

    def word_dim(self, embedding_dim):
        return 2 * self.units

    def build(self, words_shape):
        self.rnn.build(words_shape)
        self.built = True

    def call(self, words, mask):
        # Masked steps keep the previous state, so the backward pass starts at the last real word
        # and an all-[PAD] caption keeps the zero initial state.
        sequence, forward_state, backward_state = self.rnn(words, mask=mask)
        sequence = sequence * ops.cast(mask, sequence.dtype)[..., None]
        return ops.concatenate([forward_state, backward_state], axis=-1), sequence


class _AttentionPooling(keras.layers.Layer):
    """Sentence = attention-weighted sum of the word vectors, with [PAD] words excluded."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.hidden = keras.layers.Dense(
            units, activation="tanh", name="attention_hidden", dtype=self.dtype_policy
        )
        self.score = keras.layers.Dense(
            1, use_bias=False, name="attention_score", dtype=self.dtype_policy
        )

    def word_dim(self, embedding_dim):
        return embedding_dim

    def build(self, words_shape):
        self.hidden.build(words_shape)
        self.score.build((*words_shape[:-1], self.units))
        self.built = True

    def call(self, words, mask):
        weights = ops.cast(mask, words.dtype)[..., None]
        words = words * weights
        # Scores in float32 so the large negative fill stays finite under mixed precision.
        scores = ops.cast(self.score(self.hidden(words))[..., 0], "float32")
        scores = ops.where(mask, scores, -1e9)
        # An all-[PAD] caption gets uniform weights here, zeroed by the mask below: no NaN.
        attention = ops.softmax(scores, axis=-1) * ops.cast(mask, "float32")
        attention = ops.cast(attention, words.dtype)[..., None]
        return ops.sum(attention * words, axis=1), words


def _zero(variable):
    return ops.zeros_like(variable)


class _TransformerPooling(keras.layers.Layer):
    """Words = a small Transformer encoder over the embeddings plus learned positions; sentence =
    the mean of its outputs over the real words.

    Self-attention lets "circle" read the "red" before it and the positions say which object
    came first, so the sentence keeps word order and which attribute belongs to which thing,
    which a mean of the embeddings loses ("a red k left of a blue m" = "a blue k left of a red
    m"). Post-norm blocks as in Vaswani et al. 2017, sized for a CPU: `TRANSFORMER_LAYERS`
    blocks of `TRANSFORMER_HEADS` heads, feed-forward twice the embedding width.
    """

    MAX_POSITIONS = 512  # TrainConfig.max_length is at most 512

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        # Word vectors come at any scale (Word2Vec's, GloVe's): normalised first, they meet
        # position vectors of a comparable size, so order counts from the first step.
        self.input_norm = keras.layers.LayerNormalization(epsilon=1e-5, name="input_norm",
                                                          dtype=self.dtype_policy)
        self.positions = keras.layers.Embedding(
            self.MAX_POSITIONS, units, embeddings_initializer=keras.initializers.RandomNormal(
                stddev=0.5), name="positions", dtype=self.dtype_policy)
        self.blocks = []
        for i in range(TRANSFORMER_LAYERS):
            heads = TRANSFORMER_HEADS if units % TRANSFORMER_HEADS == 0 else 1
            self.blocks.append((
                keras.layers.MultiHeadAttention(heads, units // heads, name=f"attention{i}",
                                                dtype=self.dtype_policy),
                keras.layers.LayerNormalization(epsilon=1e-5, name=f"norm{i}_a",
                                                dtype=self.dtype_policy),
                keras.layers.Dense(2 * units, activation="relu", name=f"ffn{i}_in",
                                   dtype=self.dtype_policy),
                keras.layers.Dense(units, name=f"ffn{i}_out", dtype=self.dtype_policy),
                keras.layers.LayerNormalization(epsilon=1e-5, name=f"norm{i}_b",
                                                dtype=self.dtype_policy),
            ))

    def word_dim(self, embedding_dim):
        return embedding_dim

    def build(self, words_shape):
        self.input_norm.build(words_shape)
        self.positions.build((None,))
        for attention, norm_a, ffn_in, ffn_out, norm_b in self.blocks:
            attention.build(words_shape, words_shape)
            if attention.key_dense.bias is not None:
                # The key bias adds the same q.b to every logit of a row, which the softmax
                # cancels: its gradient is zero up to rounding, and Adam, which divides by the
                # gradient's own size, turned that rounding into steps of up to ~1e-5 that
                # differ with the order of the all-reduce. Held at zero (its initial value)
                # after every step; the variable stays, so saved models load unchanged.
                attention.key_dense.bias.constraint = _zero
            norm_a.build(words_shape)
            ffn_in.build(words_shape)
            ffn_out.build((*words_shape[:-1], 2 * self.units))
            norm_b.build(words_shape)
        self.built = True

    def call(self, words, mask):
        length = ops.shape(words)[1]
        # A word's position counts only the real words before it: a masked word ([UNK], [PAD])
        # takes no place, so "please draw a red circle" (two unknown words) reads exactly as "a
        # red circle", and a caption with a word the vocabulary lacks costs what leaving the
        # word out costs. On captions without masked words inside them this is the word's index.
        index = ops.maximum(ops.cumsum(ops.cast(mask, "int32"), axis=1) - 1, 0)
        # The table is sliced before the lookup: the lookup's sparse gradient then meets the
        # slice and reaches the variable dense. A sparse gradient of the variable repeats its rows
        # once per replica under MultiWorkerMirroredStrategy, and Adam squares each repeated row
        # before summing (its second moment then differs from one process's by up to 0.02 after
        # three steps: tests/test_multiworker.py).
        x = self.input_norm(words) + ops.take(self.positions.embeddings[:length], index, axis=0)
        weights = ops.cast(mask, x.dtype)[..., None]
        # Real words attend to real words only; an all-[PAD] caption's rows are zeroed below.
        attention_mask = ops.logical_and(mask[:, :, None], mask[:, None, :])
        for attention, norm_a, ffn_in, ffn_out, norm_b in self.blocks:
            x = norm_a(x + attention(x, x, attention_mask=attention_mask))
            x = norm_b(x + ffn_out(ffn_in(x)))
        x = x * weights
        count = ops.maximum(ops.sum(weights, axis=1), 1.0)
        return ops.sum(x, axis=1) / count, x


# Size of the "transformer" pooling (measured in bench/two_object_quality.py and
# bench/train_throughput.py; see _TransformerPooling).
TRANSFORMER_LAYERS = 1
TRANSFORMER_HEADS = 2

POOLINGS = {
    "mean": _MeanPooling,
    "bigru": _BiGRUPooling,
    "attention": _AttentionPooling,
    "transformer": _TransformerPooling,
}


@keras.saving.register_keras_serializable(package="tfcmgen")
class TextEncoder(keras.layers.Layer):
    """Encodes caption token ids into a sentence vector and per-word features.

    Token id 0 is `[PAD]` and is masked everywhere: it never enters the pooled sentence vector and
    its word features are zeros. A caption of only `[PAD]` gives a zero sentence vector (before the
    optional projection), never NaN. With `mask_unknown=True` (the default) token id 1, `[UNK]`, is
    masked the same way in every pooling: a word the vocabulary lacks counts as if it were left
    out, instead of acting as one more (random, never-trained) word in the sentence vector.

    Pooling modes (`tfcmgen.layers.text_encoder.POOLINGS`):
    - `"mean"`: the average of the word embeddings; word features are the embeddings
      (`embedding_dim` wide).
    - `"bigru"`: a bidirectional GRU with `embedding_dim` units each way; word features are its
      states (`2 * embedding_dim` wide), the sentence vector is both final states (as in
      AttnGAN's text encoder, with a GRU).
    - `"attention"`: a learned attention over the embeddings (tanh scoring); word features are
      the embeddings.
    - `"transformer"`: a one-block Transformer encoder (two heads) over the embeddings plus
      learned position embeddings; word features are its outputs (`embedding_dim` wide), the
      sentence vector their mean. Keeps word order and binds attributes to their objects.

    `embedding_matrix` is only the starting value of the embedding: `get_config()` reports
    `embedding_matrix=None` and the (trained) values travel in the layer's weights, so a `.keras`
    file holds the matrix once and reloads without it.

    Args:
        vocabulary_size: int. Number of tokens, `[PAD]` (id 0) and `[UNK]` (id 1) included.
        embedding_dim: int. Width of the word embeddings.
        embedding_matrix: np.ndarray or None. Float matrix `[vocabulary_size, embedding_dim]`
            that initialises the embedding, e.g. from `tfcmgen.text.train_word2vec`. None draws
            it at random. Defaults to None.
        trainable_embeddings: bool. Whether the embedding is trained (False keeps the Word2Vec
            vectors fixed). Defaults to True.
        pooling: str. How the words become a sentence vector, one of `"mean"`, `"bigru"`,
            `"attention"`, `"transformer"`. Defaults to `"mean"`.
        output_dim: int or None. If set, the sentence vector is projected to this width by a
            Dense layer (the word features are not). Defaults to None.
        mask_unknown: bool. Mask `[UNK]` (id 1) like `[PAD]`. Defaults to True; a layer saved
            before this option existed loads with False, so its outputs do not change.
        **kwargs: passed on to `keras.layers.Layer`.

    Call arguments:
        token_ids: int tensor `[batch, length]`, 0-padded.

    Returns:
        `(sentence, words)`: `sentence` `[batch, sentence_dim]` and `words`
        `[batch, length, word_dim]` (see the properties of the same names).

    Example:

    >>> import numpy as np
    >>> from tfcmgen.layers import TextEncoder
    >>> encoder = TextEncoder(vocabulary_size=20, embedding_dim=8, pooling="bigru", output_dim=4)
    >>> sentence, words = encoder(np.array([[5, 7, 2, 0, 0]], "int32"))
    >>> tuple(sentence.shape), tuple(words.shape)
    ((1, 4), (1, 5, 16))

    References:
        Mikolov et al. 2013, "Distributed Representations of Words and Phrases" (Word2Vec).
        Xu et al. 2018, "AttnGAN" (bidirectional RNN text encoder with word features).
        Bahdanau et al. 2015, "Neural Machine Translation by Jointly Learning to Align and
        Translate" (additive attention).
        Vaswani et al. 2017, "Attention Is All You Need" (Transformer encoder).
    """

    def __init__(
        self,
        vocabulary_size,
        embedding_dim,
        embedding_matrix=None,
        trainable_embeddings=True,
        pooling="mean",
        output_dim=None,
        mask_unknown=True,
        **kwargs,
    ):
        _check_positive_int("vocabulary_size", vocabulary_size)
        _check_positive_int("embedding_dim", embedding_dim)
        if output_dim is not None:
            _check_positive_int("output_dim", output_dim)
        if pooling not in POOLINGS:
            shown = ", ".join(repr(name) for name in POOLINGS)
            raise ValueError(f"pooling must be one of {shown}; received pooling={pooling!r}")
        if embedding_matrix is not None:
            embedding_matrix = _checked_matrix(embedding_matrix, vocabulary_size, embedding_dim)
        super().__init__(**kwargs)
        self.vocabulary_size = int(vocabulary_size)
        self.embedding_dim = int(embedding_dim)
        # Used once as the initial value below; the weights hold it from then on (see docstring).
        self.embedding_matrix = None
        self.trainable_embeddings = trainable_embeddings
        self.pooling = pooling
        self.output_dim = None if output_dim is None else int(output_dim)
        self.mask_unknown = bool(mask_unknown)

        self.embedding = keras.layers.Embedding(
            self.vocabulary_size,
            self.embedding_dim,
            weights=embedding_matrix,
            trainable=trainable_embeddings,
            name="embedding",
            dtype=self.dtype_policy,
        )
        self.pool = POOLINGS[pooling](self.embedding_dim, name="pool", dtype=self.dtype_policy)
        self.projection = (
            None
            if output_dim is None
            else keras.layers.Dense(self.output_dim, name="projection", dtype=self.dtype_policy)
        )

    @property
    def word_dim(self):
        """Width of the per-word features."""
        return self.pool.word_dim(self.embedding_dim)

    @property
    def sentence_dim(self):
        """Width of the sentence vector."""
        return self.output_dim or self.word_dim

    def build(self, token_ids_shape):
        if len(token_ids_shape) != 2:
            raise ValueError(
                "TextEncoder expects token ids [batch, length]; "
                f"received token_ids shape {tuple(token_ids_shape)}"
            )
        self.embedding.build(token_ids_shape)
        self.pool.build((*token_ids_shape, self.embedding_dim))
        if self.projection is not None:
            self.projection.build((token_ids_shape[0], self.word_dim))
        self.built = True

    def call(self, token_ids):
        token_ids = ops.cast(token_ids, "int32")
        # [PAD] is 0 and [UNK] is 1 (tfcmgen.text.vocabulary); real words start at 2.
        mask = ops.greater(token_ids, 1) if self.mask_unknown else ops.not_equal(token_ids, 0)
        sentence, words = self.pool(self.embedding(token_ids), mask)
        if self.projection is not None:
            sentence = self.projection(sentence)
        return sentence, words

    def compute_output_shape(self, token_ids_shape):
        batch, length = token_ids_shape
        return (batch, self.sentence_dim), (batch, length, self.word_dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "embedding_dim": self.embedding_dim,
                "embedding_matrix": None,
                "trainable_embeddings": self.trainable_embeddings,
                "pooling": self.pooling,
                "output_dim": self.output_dim,
                "mask_unknown": self.mask_unknown,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        # Saved before mask_unknown existed: such a model trained with [UNK] as a word, keep it so.
        config = dict(config)
        config.setdefault("mask_unknown", False)
        return cls(**config)


def _check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name} must be a positive integer; received {name}={value!r}")


def _checked_matrix(matrix, vocabulary_size, embedding_dim):
    matrix = np.asarray(matrix)
    if not np.issubdtype(matrix.dtype, np.number):
        raise ValueError(
            f"embedding_matrix must be a numeric array; received dtype {matrix.dtype}"
        )
    if matrix.shape != (vocabulary_size, embedding_dim):
        raise ValueError(
            "embedding_matrix must have shape (vocabulary_size, embedding_dim) = "
            f"({vocabulary_size}, {embedding_dim}); received embedding_matrix with shape "
            f"{matrix.shape}"
        )
    if not np.all(np.isfinite(matrix)):
        raise ValueError("embedding_matrix must be finite; received NaN or infinite values")
    return matrix.astype("float32")
