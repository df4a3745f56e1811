"""Words the vocabulary lacks, mapped to words it has: `WordMapper` and the run's word map.

A caption typed by a user holds words the training captions never had: synonyms ("crimson"),
typos ("teh", "writen") and extra words ("please draw ..."). The text encoder masks `[UNK]`, so an
unknown word costs no more than leaving it out; this module goes further and maps an unknown word to
a known one where that is safe:

1. Neighbours: with pretrained word vectors (`--word-vectors`), which know far more words than the
   captions, each word of the vectors' vocabulary that the captions lack maps to its nearest
   vocabulary word by cosine similarity, if that similarity is at least `min_similarity`. The run
   keeps only this table (`word_map.tsv`, a few hundred KB at most), not the vectors.
2. Spelling: a word neither the vocabulary nor the vectors know is taken for a typo and maps to the
   vocabulary word at the smallest optimal-string-alignment distance (rapidfuzz), within a limit
   that grows with the word's length (`max_spelling_edits`): none below 3 letters; up to 4 only a
   swap of two adjacent letters ("teh" -> "the") or one letter left out inside a longer word
   ("whte" -> "white", but not "draw" -> "drawn"), so "for" never becomes "four"; 1 edit up to 7
   letters, 2 from 8. A word the vectors know but place far from every vocabulary word is a real
   word the model cannot draw ("beautiful", "please"): it stays unknown and is masked.

Where each path maps:
- `generate` (run folders, `TextToImageGenerator`) and the Python loaders of exports (SavedModel,
  ONNX) apply both steps to the caption text before tokenising, and log what was mapped.
- A SavedModel served on its own (TF Serving) takes raw strings: its in-graph `CaptionTokenizer`
  holds the neighbour table as extra keys of its static hash table (`aliases`), so vector
  neighbours map there too. Spelling cannot: typos are an open set, and a static table of every
  misspelling within two edits of every word would be huge. There an unmapped typo is `[UNK]`,
  which the encoder masks: it costs what leaving the word out costs.

Case and punctuation never matter: words are compared after `split_words` (NFKC casefold).

Example:

>>> mapper = WordMapper(["[PAD]", "[UNK]", "the", "digit", "seven", "written", "in", "red"],
...                     neighbours={"crimson": "red"})
>>> mapper.map_captions(["Teh digit SEVEN writen in crimson, please!"])[0]
['the digit seven written in red please']
"""

from __future__ import annotations

import dataclasses
import logging
import os

import numpy as np

from tfcmgen.atomic import write_text_atomic
from tfcmgen.text.normalize import split_words
from tfcmgen.text.vocabulary import SPECIAL_TOKENS, as_vocabulary

logger = logging.getLogger(__name__)

WORD_MAP_FILE = "word_map.tsv"
# Cosine similarity a vector neighbour needs to stand in for a word. With GloVe/word2vec vectors,
# synonyms and inflections ("crimson"/"red", "circles"/"circle") score about 0.6-0.8 and unrelated
# words below 0.5.
MIN_SIMILARITY = 0.6
# Words of the vector file looked at, from its top: such files list frequent words first, and the
# rare tail is mostly noise (and would make word_map.tsv large).
MAX_VECTOR_WORDS = 50_000


def max_spelling_edits(word: str) -> int:
    """Largest optimal-string-alignment distance at which `word` counts as a typo.

    0 below 3 letters; 1 but only as a swap of adjacent letters for 3-4 (see `WordMapper`), 1 for
    5-7, 2 from 8. Short words have many real neighbours ("for"/"four", "bed"/"red").
    """
    length = len(word)
    if length < 3:
        return 0
    if length < 8:
        return 1
    return 2


@dataclasses.dataclass(frozen=True)
class WordMapping:
    """One unknown word of one caption and what became of it.

    Attributes:
        caption: int. Index of the caption.
        word: str. The unknown word (normalised).
        target: str or None. The vocabulary word it maps to; None: left unknown (masked).
        how: str. "neighbour", "spelling" or "unknown".
    """

    caption: int
    word: str
    target: str | None
    how: str

    def __str__(self):
        if self.target is None:
            return f"{self.word!r} unknown (left out)"
        return f"{self.word!r} -> {self.target!r} ({self.how})"


class WordMapper:
    """Maps the unknown words of captions to vocabulary words (see the module docstring).

    Args:
        vocabulary: Vocabulary, token list or vocabulary file.
        neighbours: dict str -> str or None. Unknown word -> vocabulary word, from word vectors
            (`build_neighbours`, `load_word_map`). Defaults to None (spelling only).
        known: iterable of str or None. Words that are real words although not in the vocabulary
            (the vectors' vocabulary): never spell-corrected. Defaults to the keys of `neighbours`
            only.
        spelling: bool. Correct typos by edit distance. Defaults to True.
    """

    def __init__(self, vocabulary, neighbours=None, known=None, spelling=True):
        self.vocabulary = as_vocabulary(vocabulary)
        self.words = self.vocabulary.tokens[len(SPECIAL_TOKENS):]
        self.neighbours = {}
        for word, target in dict(neighbours or {}).items():
            if target not in self.vocabulary or target in SPECIAL_TOKENS:
                raise ValueError(f"neighbour of {word!r} must be a vocabulary word; "
                                 f"received {target!r}")
            if word not in self.vocabulary:
                self.neighbours[word] = target
        self.known = frozenset(known or ())
        self.spelling = bool(spelling)
        self._cache: dict[str, tuple[str | None, str]] = {}

    def save(self, path) -> bool:
        """Writes the neighbours and known words as `word_map.tsv` (`save_word_map`) if there are
        any (runs without word vectors have none: spelling needs only the vocabulary); returns
        whether it wrote the file."""
        if not self.neighbours and not self.known:
            return False
        save_word_map(path, self.neighbours, self.known)
        return True

    def map_word(self, word: str) -> tuple[str | None, str]:
        """`(target, how)` for a normalised word the vocabulary lacks (see `WordMapping`)."""
        if word in self.vocabulary:
            return word, "known"
        if word not in self._cache:
            self._cache[word] = self._map(word)
        return self._cache[word]

    def _map(self, word):
        if word in self.neighbours:
            return self.neighbours[word], "neighbour"
        if not self.spelling or word in self.known or not self.words:
            return None, "unknown"
        limit = max_spelling_edits(word)
        if limit == 0:
            return None, "unknown"
        from rapidfuzz import process
        from rapidfuzz.distance import OSA

        # Vocabulary order is by training count, so among equal distances the commonest word wins
        # (extract keeps the input order for ties).
        found = process.extract(word, self.words, scorer=OSA.distance, score_cutoff=limit,
                                limit=None)
        if not found:
            return None, "unknown"
        best = min(distance for _, distance, _ in found)
        candidates = [choice for choice, distance, _ in found if distance == best]
        if len(word) <= 4:
            # Short words: only a swap of two adjacent letters ("teh"), or one letter left out of
            # a word of 5 or more ("whte"); any other edit too often makes another real word
            # ("for" -> "four", "bed" -> "red").
            # A word that begins the longer one is rather another form of it ("draw", "drawn").
            candidates = [c for c in candidates
                          if (len(c) == len(word) and sorted(c) == sorted(word))
                          or (len(c) == len(word) + 1 and len(c) >= 5
                              and not c.startswith(word))]
        if not candidates:
            return None, "unknown"
        return candidates[0], "spelling"

    def map_captions(self, captions):
        """Rewrites captions with their unknown words mapped.

        Returns:
            `(mapped, mappings)`: the captions as normalised words joined by spaces (unknown
            words that stay unknown are kept: the tokenizer makes them `[UNK]`, the encoder masks
            them), and a list of `WordMapping` for every unknown word met.
        """
        mapped, mappings = [], []
        for index, caption in enumerate(captions):
            if isinstance(caption, bytes):
                caption = caption.decode("utf-8", errors="replace")
            words = []
            for word in split_words(caption):
                target, how = self.map_word(word)
                if how != "known":
                    mappings.append(WordMapping(index, word, target, how))
                words.append(word if target is None else target)
            mapped.append(" ".join(words))
        return mapped, mappings


def report_mappings(mappings, captions, log=logger) -> None:
    """Logs one warning per caption that had unknown words, saying what became of each.

    A caption none of whose words is known or mapped is left to the loaders' own warning ("has no
    word the model knows"): one message per problem.
    """
    by_caption: dict[int, list[WordMapping]] = {}
    for mapping in mappings:
        by_caption.setdefault(mapping.caption, []).append(mapping)
    for index, items in by_caption.items():
        nothing_known = all(m.target is None for m in items) and \
            len(items) == len(split_words(_text(captions[index])))
        if not nothing_known:
            log.warning("caption %r: %s", captions[index], ", ".join(str(m) for m in items))


def _text(caption):
    return caption.decode("utf-8", errors="replace") if isinstance(caption, bytes) else caption


def map_and_report(mapper, captions, log=logger) -> list[str]:
    """`mapper.map_captions(captions)[0]`, logging what was mapped (`report_mappings`)."""
    captions = list(captions)
    mapped, mappings = mapper.map_captions(captions)
    report_mappings(mappings, captions, log)
    return mapped


def build_neighbours(vocabulary, vectors_path, min_similarity=MIN_SIMILARITY,
                     max_words=MAX_VECTOR_WORDS, binary=None):
    """Nearest vocabulary word of each word the vector file knows and the vocabulary lacks.

    Args:
        vocabulary: Vocabulary, token list or vocabulary file.
        vectors_path: str. word2vec (text or binary) or GloVe file, as for `load_word_vectors`.
        min_similarity: float. Cosine similarity a neighbour needs. Defaults to `MIN_SIMILARITY`.
        max_words: int. Words read from the top of the file. Defaults to `MAX_VECTOR_WORDS`.
        binary: bool or None. As for `load_word_vectors`.

    Returns:
        `(neighbours, known)`: dict unknown word -> vocabulary word, and the set of all
        normalised words of the file read (real words: `WordMapper` never spell-corrects them).
    """
    from tfcmgen.text.word2vec import _detect_format, _read_binary_vectors, _read_text_vectors

    vocabulary = as_vocabulary(vocabulary)
    path = os.fspath(vectors_path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"word vector file not found: {path}")
    binary, has_header = _detect_format(path, binary)
    pairs = _read_binary_vectors(path) if binary else _read_text_vectors(path, has_header)
    vocab_rows, others = {}, {}
    for count, (key, vector) in enumerate(pairs):
        if count >= max_words:
            break
        words = split_words(key)
        if len(words) != 1:
            continue
        word = words[0]
        target = vocab_rows if word in vocabulary else others
        target.setdefault(word, np.asarray(vector, np.float32))
    known = set(vocab_rows) | set(others)
    if not vocab_rows or not others:
        return {}, known
    names = list(vocab_rows)
    matrix = _unit_rows(np.stack([vocab_rows[w] for w in names]))
    other_names = list(others)
    neighbours = {}
    for start in range(0, len(other_names), 4096):
        chunk = other_names[start:start + 4096]
        similarity = _unit_rows(np.stack([others[w] for w in chunk])) @ matrix.T
        best = similarity.argmax(axis=1)
        for word, column, row in zip(chunk, best, similarity):
            if row[column] >= min_similarity:
                neighbours[word] = names[column]
    return neighbours, known


def _unit_rows(matrix):
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.maximum(norms, 1e-12)


def save_word_map(path, neighbours, known=()) -> None:
    """Writes `word_map.tsv`: "word<TAB>target" lines for neighbours, "word<TAB>" for known real
    words without a neighbour (they are never spell-corrected). Atomic."""
    lines = [f"{word}\t{target}" for word, target in sorted(neighbours.items())]
    lines += [f"{word}\t" for word in sorted(set(known) - set(neighbours))]
    write_text_atomic(os.fspath(path), "".join(line + "\n" for line in lines))


def load_word_map(path):
    """Reads a file from `save_word_map`: `(neighbours, known)`; ({}, set()) when it is absent."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        return {}, set()
    neighbours, known = {}, set()
    with open(path, encoding="utf-8") as stream:
        for number, line in enumerate(stream, start=1):
            fields = line.rstrip("\n").split("\t")
            if len(fields) != 2 or not fields[0]:
                raise ValueError(f"{path}, line {number}: expected 'word<TAB>target' or "
                                 f"'word<TAB>'; received {line[:80]!r}")
            known.add(fields[0])
            if fields[1]:
                neighbours[fields[0]] = fields[1]
    return neighbours, known


def mapper_for_folder(folder, vocabulary) -> WordMapper:
    """The `WordMapper` of a run or export folder (its `word_map.tsv`, if any)."""
    neighbours, known = load_word_map(os.path.join(folder, WORD_MAP_FILE))
    neighbours = {w: t for w, t in neighbours.items() if t in as_vocabulary(vocabulary)}
    return WordMapper(vocabulary, neighbours=neighbours, known=known)
