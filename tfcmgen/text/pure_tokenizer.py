"""Caption tokenizer in pure Python and NumPy, for runtimes without TensorFlow (ONNX)."""

import numpy as np

from tfcmgen.text.normalize import split_words
from tfcmgen.text.vocabulary import PAD_ID, as_vocabulary


def check_aliases(aliases, vocabulary):
    """`aliases` as a dict of normalised non-vocabulary words to vocabulary words (ValueError
    naming the entry otherwise); {} for None."""
    checked = {}
    for word, target in dict(aliases or {}).items():
        if not isinstance(word, str) or split_words(word) != [word] or word in vocabulary:
            raise ValueError(f"alias {word!r} must be a normalised word outside the vocabulary")
        if vocabulary.lookup(target) <= 1:
            raise ValueError(f"alias {word!r} must map to a vocabulary word; received {target!r}")
        checked[word] = target
    return checked


def check_max_length(max_length):
    """Raises ValueError unless `max_length` is an int >= 1."""
    if isinstance(max_length, bool) or not isinstance(max_length, (int, np.integer)):
        raise ValueError(f"max_length must be an int >= 1; received max_length={max_length!r}")
    if max_length < 1:
        raise ValueError(f"max_length must be an int >= 1; received max_length={max_length!r}")


class PurePythonTokenizer:
    """Turns captions into fixed-length token ids like `CaptionTokenizer`, without TensorFlow.

    Words come from `split_words` (NFKC_Casefold, then every character that is not a letter, mark
    or digit separates words); unknown words become `[UNK]` (1). Each row holds the first
    `max_length` words: longer captions are truncated at the end, shorter ones padded at the end
    with `[PAD]` (0). A caption without words is all `[PAD]`.

    Args:
        vocabulary: Vocabulary, list of str, or path of a vocabulary file.
        max_length: int. Number of ids per caption. Defaults to 16.
        aliases: dict str -> str or None. Extra words mapped to a vocabulary word's id (as in
            `CaptionTokenizer`). Defaults to None.

    Example:
        >>> tokenizer = PurePythonTokenizer(["[PAD]", "[UNK]", "a", "red", "circle"], max_length=5)
        >>> tokenizer.encode(["A red circle!", "a GREEN circle"]).tolist()
        [[2, 3, 4, 0, 0], [2, 1, 4, 0, 0]]
    """

    def __init__(self, vocabulary, max_length=16, aliases=None):
        check_max_length(max_length)
        self.vocabulary = as_vocabulary(vocabulary)
        self.max_length = int(max_length)
        self.aliases = check_aliases(aliases, self.vocabulary)

    @property
    def vocabulary_size(self):
        return len(self.vocabulary)

    def encode(self, captions):
        """Token ids for a list of captions.

        Args:
            captions: list of str (or UTF-8 bytes, decoded with replacement like the in-graph
                tokenizer).

        Returns:
            np.ndarray int32 of shape [len(captions), max_length].
        """
        if isinstance(captions, (str, bytes)):
            raise ValueError(
                f"captions must be a list of str, not a single str; received {captions!r:.80} "
                "(wrap it in a list)"
            )
        captions = list(captions)
        ids = np.full((len(captions), self.max_length), PAD_ID, dtype=np.int32)
        for row, caption in enumerate(captions):
            words = split_words(caption)[: self.max_length]
            ids[row, : len(words)] = [
                self.vocabulary.lookup(self.aliases.get(word, word)) for word in words]
        return ids

    def __call__(self, captions):
        return self.encode(captions)
