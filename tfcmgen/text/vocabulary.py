"""The word vocabulary shared by both tokenizers and the embedding matrices."""

import collections
import os

from tfcmgen.atomic import write_text_atomic
from tfcmgen.text.normalize import split_words

PAD = "[PAD]"
UNK = "[UNK]"
PAD_ID = 0
UNK_ID = 1
SPECIAL_TOKENS = (PAD, UNK)


class Vocabulary:
    """An ordered list of words; a word's id is its index.

    Index 0 is `"[PAD]"` (padding), index 1 is `"[UNK]"` (any word not in the list), then the words.
    Every other token must be a normalised word, i.e. `split_words(token) == [token]`: a token that
    the tokenizers can never produce (such as "Red" or "red circle") is refused, not kept silently.

    Args:
        tokens: list of str. The full token list, starting with "[PAD]" and "[UNK]"; no duplicates.

    Example:
        >>> vocab = Vocabulary.build(["a red circle", "a blue circle"], min_count=1)
        >>> vocab.tokens
        ['[PAD]', '[UNK]', 'a', 'circle', 'blue', 'red']
        >>> vocab.lookup("red"), vocab.lookup("green")
        (5, 1)
    """

    def __init__(self, tokens):
        if isinstance(tokens, (str, bytes)) or not hasattr(tokens, "__iter__"):
            raise ValueError(
                f"tokens must be a list of str; received {type(tokens).__name__}: {tokens!r:.80}"
            )
        tokens = list(tokens)
        if tuple(tokens[:2]) != SPECIAL_TOKENS:
            raise ValueError(
                f"tokens must start with {list(SPECIAL_TOKENS)}; received {tokens[:2]}"
            )
        index = {}
        for position, token in enumerate(tokens):
            if position >= 2:
                _check_word(token, f"token {position}")
            if token in index:
                raise ValueError(
                    f"token {token!r} appears twice, at indices {index[token]} and {position}"
                )
            index[token] = position
        self._tokens = tokens
        self._index = index

    @classmethod
    def build(cls, captions, min_count=1, max_size=None):
        """Builds a vocabulary from captions.

        Words are ordered by descending count, ties alphabetically (by code point), so the result
        does not depend on caption order.

        Args:
            captions: iterable of str. The training captions.
            min_count: int. Words seen fewer times are left out (they become "[UNK]"). Defaults
                to 1.
            max_size: int or None. Largest vocabulary size, counting "[PAD]" and "[UNK]"; the
                most frequent words are kept. None keeps all. Defaults to None.

        Returns:
            A `Vocabulary`.
        """
        if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
            raise ValueError(f"min_count must be an int >= 1; received min_count={min_count!r}")
        if max_size is not None and (
            isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 2
        ):
            raise ValueError(
                "max_size must be None or an int >= 2 (it counts [PAD] and [UNK]); "
                f"received max_size={max_size!r}"
            )
        if isinstance(captions, (str, bytes)):
            raise ValueError(
                f"captions must be an iterable of str, not a single str; received {captions!r:.80}"
            )
        counts = collections.Counter()
        for caption in captions:
            counts.update(split_words(caption))
        words = sorted(
            (word for word, count in counts.items() if count >= min_count),
            key=lambda word: (-counts[word], word),
        )
        if max_size is not None:
            words = words[: max_size - len(SPECIAL_TOKENS)]
        return cls(list(SPECIAL_TOKENS) + words)

    @property
    def tokens(self):
        """The token list (a copy): "[PAD]", "[UNK]", then the words."""
        return list(self._tokens)

    def __len__(self):
        return len(self._tokens)

    def __contains__(self, word):
        return word in self._index

    def __eq__(self, other):
        return isinstance(other, Vocabulary) and self._tokens == other._tokens

    def __hash__(self):
        return hash(tuple(self._tokens))

    def __repr__(self):
        preview = ", ".join(repr(token) for token in self._tokens[2:7])
        more = ", ..." if len(self._tokens) > 7 else ""
        return f"Vocabulary(size={len(self)}, words=[{preview}{more}])"

    def lookup(self, word):
        """Returns the id of a normalised word, `UNK_ID` when it is not in the vocabulary.

        The special tokens are not words: `lookup("[PAD]")` is `UNK_ID`, as in the tokenizers.
        """
        position = self._index.get(word, UNK_ID)
        return UNK_ID if position == PAD_ID else position

    def save(self, path):
        """Writes one token a line (UTF-8, "\\n" line ends), atomically.

        The text goes to a temporary file in the same folder that then replaces `path`, so a crash
        leaves either the old file or the new one, never half of one.
        """
        write_text_atomic(path, "\n".join(self._tokens) + "\n")

    @classmethod
    def load(cls, path):
        """Reads a file written by `save`.

        Raises:
            FileNotFoundError: when `path` does not exist.
            ValueError: naming the file and line, when the file is not UTF-8, does not start with
                "[PAD]" and "[UNK]", or has an empty, duplicate or non-normalised token.
        """
        path = os.fspath(path)
        with open(path, "rb") as stream:
            data = stream.read()
        lines = data.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        tokens = []
        seen = {}
        for number, raw in enumerate(lines, start=1):
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                token = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise ValueError(
                    f"{path}, line {number}: not valid UTF-8 ({error.reason} at byte "
                    f"{error.start} of the line: {raw[error.start:error.start + 4]!r})"
                ) from None
            if number <= len(SPECIAL_TOKENS):
                expected = SPECIAL_TOKENS[number - 1]
                if token != expected:
                    raise ValueError(
                        f"{path}, line {number}: expected {expected!r} (a vocabulary file starts "
                        f"with {SPECIAL_TOKENS[0]!r} then {SPECIAL_TOKENS[1]!r}); "
                        f"received {token!r:.80}"
                    )
            else:
                try:
                    _check_word(token, "token")
                except ValueError as error:
                    raise ValueError(f"{path}, line {number}: {error}") from None
            if token in seen:
                raise ValueError(
                    f"{path}, line {number}: token {token!r} already appears on line {seen[token]}"
                )
            seen[token] = number
            tokens.append(token)
        if len(tokens) < len(SPECIAL_TOKENS):
            raise ValueError(
                f"{path}, line {len(tokens) + 1}: file ends before the {list(SPECIAL_TOKENS)} "
                "header lines"
            )
        return cls(tokens)


def _check_word(token, where):
    if not isinstance(token, str):
        raise ValueError(f"{where} must be a str; received {type(token).__name__}: {token!r:.80}")
    if split_words(token) != [token]:
        raise ValueError(
            f"{where} {token!r:.80} is not a normalised word (split_words gives "
            f"{split_words(token)!r:.80}); the tokenizers could never produce it"
        )


def as_vocabulary(vocabulary):
    """Accepts a `Vocabulary`, a token list or the path of a vocabulary file.

    Args:
        vocabulary: Vocabulary, list of str, or str / os.PathLike path of a file from
            `Vocabulary.save`.

    Returns:
        A `Vocabulary`.
    """
    if isinstance(vocabulary, Vocabulary):
        return vocabulary
    if isinstance(vocabulary, (str, os.PathLike)):
        return Vocabulary.load(vocabulary)
    if isinstance(vocabulary, (list, tuple)):
        return Vocabulary(vocabulary)
    raise ValueError(
        "vocabulary must be a Vocabulary, a list of tokens or a vocabulary file path; "
        f"received {type(vocabulary).__name__}: {vocabulary!r:.80}"
    )
