"""Word vectors for the text encoder: Word2Vec trained on captions, or pretrained vector files.

Every function returns an embedding matrix aligned with a `Vocabulary`: row i is the vector of
token i; row 0 (`[PAD]`) is zeros; row 1 (`[UNK]`) is the mean of the vectors found; words without
a vector get small random vectors drawn from `seed`. gensim is imported on first use only.
"""

import hashlib
import io
import logging
import os

import numpy as np

from tfcmgen.atomic import write_bytes_atomic
from tfcmgen.text.normalize import split_words
from tfcmgen.text.vocabulary import PAD_ID, SPECIAL_TOKENS, UNK_ID, as_vocabulary

logger = logging.getLogger(__name__)

# Standard deviation of the random rows, relative to that of the vectors found: small enough not to
# dominate, not zero so that the rows differ.
MISSING_VECTOR_SCALE = 0.1


def _check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an int >= 1; received {name}={value!r}")


def _stable_hash(text):
    """A hash that, unlike Python's `hash`, is the same in every process (no PYTHONHASHSEED)."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


def _embedding_matrix(vocabulary, vectors, vector_size, seed):
    """Assembles the matrix from `vectors` (dict word -> vector); returns (matrix, words found)."""
    matrix = np.zeros((len(vocabulary), vector_size), dtype=np.float32)
    missing = []
    found = []
    for index, token in enumerate(vocabulary.tokens):
        if index < len(SPECIAL_TOKENS):
            continue
        vector = vectors.get(token)
        if vector is None:
            missing.append(index)
        else:
            matrix[index] = vector
            found.append(index)
    rng = np.random.default_rng(seed)
    scale = MISSING_VECTOR_SCALE * float(matrix[found].std()) if found else MISSING_VECTOR_SCALE
    scale = scale or MISSING_VECTOR_SCALE
    if missing:
        matrix[missing] = rng.normal(0.0, scale, size=(len(missing), vector_size))
    if found:
        matrix[UNK_ID] = matrix[found].mean(axis=0)
    else:
        matrix[UNK_ID] = rng.normal(0.0, scale, size=vector_size)
    matrix[PAD_ID] = 0.0
    return matrix, len(found)


def train_word2vec(
    captions,
    vocabulary,
    vector_size=64,
    window=5,
    epochs=20,
    min_count=1,
    seed=0,
    workers=1,
):
    """Trains skip-gram Word2Vec (gensim) on captions and returns a vocabulary-aligned matrix.

    Captions are split with `split_words`, as the tokenizers do. With `workers=1` the result is
    reproducible: the same inputs and seed give the same matrix in any process (word vectors are
    seeded with a process-independent hash). More workers are faster but not reproducible.

    Args:
        captions: list of str. Training captions.
        vocabulary: Vocabulary, list of str or vocabulary file path. Rows of the result.
        vector_size: int. Vector dimension. Defaults to 64.
        window: int. Context words on each side. Defaults to 5.
        epochs: int. Passes over the captions. Defaults to 20.
        min_count: int. Words rarer than this get no Word2Vec vector (a random row). Defaults to 1.
        seed: int. Seed of gensim and of the random rows. Defaults to 0.
        workers: int. gensim worker threads. Defaults to 1.

    Returns:
        np.ndarray float32 [len(vocabulary), vector_size].

    Example:
        >>> from tfcmgen.text import Vocabulary
        >>> captions = ["a red circle", "a blue square"]
        >>> vocab = Vocabulary.build(captions)
        >>> train_word2vec(captions, vocab, vector_size=8, epochs=2).shape
        (7, 8)

    References:
        Mikolov et al., "Distributed Representations of Words and Phrases and their
        Compositionality", NeurIPS 2013.
    """
    vocabulary = as_vocabulary(vocabulary)
    for name, value in (
        ("vector_size", vector_size),
        ("window", window),
        ("epochs", epochs),
        ("min_count", min_count),
        ("workers", workers),
    ):
        _check_positive_int(name, value)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an int >= 0; received seed={seed!r}")
    if isinstance(captions, (str, bytes)):
        raise ValueError(
            f"captions must be a list of str, not a single str; received {captions!r:.80}"
        )
    sentences = [words for words in map(split_words, captions) if words]
    if not sentences:
        raise ValueError("captions contain no words: Word2Vec has nothing to train on")

    from gensim.models import Word2Vec

    model = Word2Vec(
        sentences=sentences,
        vector_size=vector_size,
        window=window,
        min_count=min_count,
        epochs=epochs,
        seed=int(seed),
        workers=workers,
        sg=1,
        hashfxn=_stable_hash,
    )
    vectors = {word: model.wv[word] for word in model.wv.index_to_key}
    matrix, found = _embedding_matrix(vocabulary, vectors, vector_size, seed)
    logger.info("Word2Vec vectors for %d of %d words", found, len(vocabulary) - len(SPECIAL_TOKENS))
    return matrix


def _parse_floats(fields):
    try:
        [float(field) for field in fields]
    except ValueError:
        return False
    return True


def _detect_format(path, binary):
    """Returns (binary, has_header) for a word2vec text / binary or GloVe file."""
    with open(path, "rb") as stream:
        head = stream.read(1 << 20)
    if not head.strip():
        raise ValueError(f"{path}: the word vector file is empty")
    first, _, rest = head.partition(b"\n")
    fields = first.split()
    has_header = len(fields) == 2 and all(field.isdigit() for field in fields)
    if not has_header:
        if binary:
            raise ValueError(
                f"{path}: binary=True but line 1 is not a word2vec header '<count> <dimension>'; "
                f"received {first[:80]!r}"
            )
        if len(fields) < 2 or not _parse_floats(fields[1:]):
            raise ValueError(
                f"{path}, line 1: not a word2vec header '<count> <dimension>' nor a GloVe line "
                f"'<word> <number> ...'; received {first[:80]!r}"
            )
        return False, False
    if binary is not None:
        return bool(binary), True
    dimension = int(fields[1])
    line = rest.split(b"\n", 1)[0].split()
    # A text vector line is the word and `dimension` numbers; binary vectors are raw float32 bytes.
    is_text = len(line) == dimension + 1 and _parse_floats(line[1:])
    return not is_text, True


def _read_text_vectors(path, has_header):
    """Yields (key, vector) from a word2vec text or GloVe file, checking every line."""
    with open(path, "rb") as stream:
        count = None
        dimension = None
        number = 0
        if has_header:
            number = 1
            count, dimension = (int(field) for field in stream.readline().split())
        found = 0
        for number, raw in enumerate(stream, start=number + 1):
            try:
                line = raw.decode("utf-8").rstrip()
            except UnicodeDecodeError as error:
                raise ValueError(
                    f"{path}, line {number}: not valid UTF-8 ({error.reason} at byte {error.start})"
                ) from None
            if not line:
                continue
            if dimension is None:
                dimension = len(line.split()) - 1
            # Split from the right: some GloVe releases have keys that contain spaces.
            fields = line.rsplit(" ", dimension)
            try:
                # A key ending in a number is a line with too many values, not a key with spaces.
                if (
                    len(fields) != dimension + 1
                    or not fields[0].strip()
                    or (" " in fields[0] and _parse_floats(fields[0].rsplit(" ", 1)[1:]))
                ):
                    raise ValueError(f"expected a word and {dimension} numbers")
                vector = np.array([float(field) for field in fields[1:]], dtype=np.float32)
            except ValueError as error:
                raise ValueError(
                    f"{path}, line {number}: {error}; received {line[:80]!r}"
                ) from None
            found += 1
            yield fields[0], vector
        if count is not None and found != count:
            raise ValueError(
                f"{path}: the header announces {count} vectors but the file holds {found}"
            )


def _read_binary_vectors(path):
    from gensim.models import KeyedVectors

    try:
        # The Google News vectors hold some keys that are not valid UTF-8: replace, do not fail.
        keyed = KeyedVectors.load_word2vec_format(path, binary=True, unicode_errors="replace")
    except (ValueError, EOFError, IndexError, OverflowError, MemoryError) as error:
        raise ValueError(f"{path}: could not read it as a word2vec binary file ({error})") from None
    for key in keyed.index_to_key:
        yield key, keyed[key]


def _match_vectors(pairs, wanted):
    """Picks each wanted word's vector: the same key, else the first key normalising to it."""
    exact = {}
    normalised = {}
    dimension = None
    for key, vector in pairs:
        dimension = len(vector)
        if key in wanted:
            exact.setdefault(key, np.array(vector, dtype=np.float32))
        elif len(exact) < len(wanted):
            words = split_words(key)
            if len(words) == 1 and words[0] in wanted and words[0] not in normalised:
                normalised[words[0]] = np.array(vector, dtype=np.float32)
    return {**normalised, **exact}, dimension


def load_word_vectors(path, vocabulary, binary=None, seed=0):
    """Loads pretrained vectors (word2vec text or binary, or GloVe) as a vocabulary-aligned matrix.

    The format is detected from the file unless `binary` is given: a first line "<count>
    <dimension>" is a word2vec header, followed by text or raw float32 vectors; without it the file
    is GloVe text ("<word> <number> ..." on every line). Binary files are read by gensim, with
    undecodable bytes in keys replaced (the Google News vectors hold some). Text files are read a
    line at a time, keeping only the vocabulary's vectors, and must be UTF-8 with the same number
    of values on every line.

    A vocabulary word takes the vector of the same key; failing that, of the first key in the file
    that normalises to it (`split_words(key) == [word]`), so cased vectors ("Red") serve lower-case
    words.

    Args:
        path: str or os.PathLike. The vector file.
        vocabulary: Vocabulary, list of str or vocabulary file path. Rows of the result.
        binary: bool or None. Force the word2vec binary (True) or a text format (False); None
            detects it. Defaults to None.
        seed: int. Seed of the random rows of words without a vector. Defaults to 0.

    Returns:
        (matrix, coverage): np.ndarray float32 [len(vocabulary), dimension] and the fraction of
        vocabulary words (not counting "[PAD]" and "[UNK]") that had a vector (0.0 when the
        vocabulary has no words). The coverage is also logged.

    Raises:
        FileNotFoundError: when `path` does not exist.
        ValueError: naming the file (and line for text files), when it cannot be read.

    Example:
        >>> matrix, coverage = load_word_vectors("glove.6B.50d.txt", vocab)  # doctest: +SKIP
    """
    vocabulary = as_vocabulary(vocabulary)
    if binary is not None and not isinstance(binary, bool):
        raise ValueError(f"binary must be True, False or None; received binary={binary!r}")
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"word vector file not found: {path}")
    binary, has_header = _detect_format(path, binary)
    pairs = _read_binary_vectors(path) if binary else _read_text_vectors(path, has_header)
    wanted = set(vocabulary.tokens[len(SPECIAL_TOKENS) :])
    vectors, dimension = _match_vectors(pairs, wanted)
    if dimension is None:
        raise ValueError(f"{path}: the file holds no vectors")
    matrix, found = _embedding_matrix(vocabulary, vectors, dimension, seed)
    total = len(vocabulary) - len(SPECIAL_TOKENS)
    coverage = found / total if total else 0.0
    logger.info(
        "%s: vectors for %d of %d vocabulary words (%.1f%%)", path, found, total, 100 * coverage
    )
    return matrix, coverage


def save_embedding_matrix(path, matrix):
    """Saves a 2-D matrix as float32 .npy, atomically (temporary file, then rename)."""
    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or not np.issubdtype(matrix.dtype, np.number):
        raise ValueError(
            "matrix must be a 2-D numeric array; received shape "
            f"{matrix.shape}, dtype {matrix.dtype}"
        )
    buffer = io.BytesIO()
    np.save(buffer, matrix.astype(np.float32), allow_pickle=False)
    write_bytes_atomic(path, buffer.getvalue())


def load_embedding_matrix(path):
    """Loads a matrix saved by `save_embedding_matrix`; a clear ValueError if it is damaged."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"embedding matrix file not found: {path}")
    try:
        matrix = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise ValueError(f"{path}: not a readable .npy embedding matrix ({error})") from None
    if not isinstance(matrix, np.ndarray) or matrix.ndim != 2:
        raise ValueError(
            f"{path}: expected a 2-D embedding matrix; received shape {np.shape(matrix)}"
        )
    if not np.issubdtype(matrix.dtype, np.floating):
        raise ValueError(f"{path}: expected float values; received dtype {matrix.dtype}")
    return matrix.astype(np.float32, copy=False)
