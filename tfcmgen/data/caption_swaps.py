"""Swapped-attribute captions: hard negatives derived from the caption text alone.

"a red circle to the left of a blue square" and "a blue circle to the left of a red square" hold
the same words; a discriminator that reads captions as bags of words cannot tell them apart, and
random mismatched captions rarely force it to. This module rewrites each training caption into
captions that are false of its own image:

- **attribute swaps**: two words *of the same kind* exchanged ("red" <-> "blue", "circle" <->
  "square", or "left" <-> "right" in "a red circle on the left, a blue square on the right");
- **object swaps**: the two sides of an asymmetric relation exchanged ("a blue square to the left
  of a red circle"), for the relation phrases in `RELATIONS`.

Which words are of the same kind is learnt from the captions, so it works on any folder dataset:
two words are *substitutes* when two captions are identical except for them at one position
("a red circle ..." / "a green circle ..."), and word kinds are the connected groups of
substitutes (`word_classes`). Words in more than `max_document_frequency` of the captions
("a", "the") are left out, so articles never count as attributes. Only one kind is swapped at a
time: exchanging every kind at once can give back the same meaning ("a blue square on the right,
a red circle on the left"). "and" is not a relation here: in "a bird with a red head and black
wings" the two sides are not ordered.

A swap of two synonyms, or of two values of one object ("a red and blue ball"), leaves the
caption true; such captions are rare in descriptions of several things and only cost a little
noise in the discriminator's targets.

Example:

>>> captions = ["a red circle to the left of a blue square",
...             "a green circle to the left of a blue square",
...             "a red circle to the left of a green square"]
>>> classes = word_classes(captions, max_document_frequency=0.9)
>>> classes["red"] == classes["green"] == classes["blue"], "circle" in classes
(True, False)
>>> caption_swaps(captions[0], classes)
['a blue circle to the left of a red square', 'a blue square to the left of a red circle']
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from tfcmgen.text.normalize import split_words

# Articles: equal in the substitution contexts of `word_classes` ("an orange circle" and "a red
# circle" are one slot apart, not two), and chosen again after a swap ("an red" is no caption).
_ARTICLES = {"a": "a", "an": "a"}
# Asymmetric relations between two things, as word sequences (normalised: lower case, no
# punctuation). Exchanging the things around one of these makes a true caption false.
RELATIONS = (
    ("to", "the", "left", "of"),
    ("to", "the", "right", "of"),
    ("on", "the", "left", "of"),
    ("on", "the", "right", "of"),
    ("above",),
    ("below",),
    ("under",),
    ("over",),
    ("on", "top", "of"),
    ("in", "front", "of"),
    ("behind",),
)


def word_classes(captions, max_document_frequency: float = 0.5) -> dict[str, int]:
    """Groups the words of `captions` into kinds by substitution (see the module docstring).

    Args:
        captions: iterable of str.
        max_document_frequency: float in (0, 1]. Words in a larger share of the (distinct)
            captions belong to no kind. Defaults to 0.5.

    Returns:
        dict from word to kind id, for words whose kind holds at least two words.
    """
    if not 0.0 < max_document_frequency <= 1.0:
        raise ValueError("max_document_frequency must be in (0, 1]; received "
                         f"{max_document_frequency!r}")
    sentences = {tuple(split_words(c)) for c in captions}
    sentences.discard(())
    if not sentences:
        return {}
    frequency = Counter(w for s in sentences for w in set(s))
    limit = max_document_frequency * len(sentences)
    parent: dict[str, str] = {}

    def find(word):
        while parent[word] != word:
            parent[word] = parent[parent[word]]
            word = parent[word]
        return word

    slots: dict[tuple, str] = {}
    for sentence in sentences:
        for i, word in enumerate(sentence):
            if frequency[word] > limit:
                continue
            parent.setdefault(word, word)
            key = (tuple(_ARTICLES.get(w, w) for w in sentence[:i]),
                   tuple(_ARTICLES.get(w, w) for w in sentence[i + 1:]))
            other = slots.setdefault(key, word)
            if other != word:
                parent[find(word)] = find(other)
    groups: dict[str, list[str]] = {}
    for word in parent:
        groups.setdefault(find(word), []).append(word)
    classes = {}
    for members in groups.values():
        if len(members) >= 2:
            kind = len(set(classes.values()))
            classes.update({w: kind for w in members})
    return classes


def kind_positions(words: list[str], classes: dict[str, int]) -> dict[int, list[int]]:
    """Where each kind occurs in a caption: kind id -> positions of its words, in order.

    Words outside `classes` (of no kind) are left out. `tfcmgen.data.augmentation` reads from
    this which captions name two things of one kind (two colours, two objects).

    >>> kind_positions(["a", "red", "circle", "and", "a", "blue", "square"],
    ...                {"red": 0, "blue": 0, "circle": 1, "square": 1})
    {0: [1, 5], 1: [2, 6]}
    """
    positions: dict[int, list[int]] = {}
    for i, word in enumerate(words):
        if word in classes:
            positions.setdefault(classes[word], []).append(i)
    return positions


def _attribute_swaps(words: list[str], classes: dict[str, int]) -> list[list[str]]:
    """One rewrite per kind with two different words in the caption: the first two exchanged."""
    swaps = []
    for positions in kind_positions(words, classes).values():
        first = positions[0]
        second = next((j for j in positions[1:] if words[j] != words[first]), None)
        if second is not None:
            swapped = list(words)
            swapped[first], swapped[second] = words[second], words[first]
            swaps.append(swapped)
    return swaps


def _object_swap(words: list[str]) -> list[str] | None:
    """`Y REL X` for a caption `X REL Y` with exactly one relation of `RELATIONS`, else None."""
    found = []
    i = 0
    while i < len(words):
        match = next((r for r in RELATIONS if tuple(words[i:i + len(r)]) == r), None)
        if match is None:
            i += 1
            continue
        found.append((i, match))
        i += len(match)
    if len(found) != 1:
        return None
    start, relation = found[0]
    before, after = words[:start], words[start + len(relation):]
    if not before or not after:
        return None
    return after + list(relation) + before


def _fix_articles(words: list[str]) -> list[str]:
    """ "a" / "an" chosen again from the word that follows each."""
    fixed = list(words)
    for i in range(len(fixed) - 1):
        if fixed[i] in _ARTICLES:
            fixed[i] = "an" if fixed[i + 1][:1] in "aeiou" else "a"
    return fixed


def caption_swaps(caption: str, classes: dict[str, int], seed: int | None = None) -> list[str]:
    """Every swapped rewrite of `caption` (attribute swaps, then the object swap), normalised.

    Rewrites equal to the caption's own words are dropped. `seed` shuffles the attribute swaps
    (None keeps their order in the caption).
    """
    words = split_words(caption)
    swaps = _attribute_swaps(words, classes)
    if seed is not None:
        order = np.random.default_rng(seed).permutation(len(swaps))
        swaps = [swaps[i] for i in order]
    objects = _object_swap(words)
    if objects is not None:
        swaps.append(objects)
    texts = []
    for swapped in swaps:
        swapped = _fix_articles(swapped)
        text = " ".join(swapped)
        if swapped != words and text not in texts:
            texts.append(text)
    return texts


def swap_table(captions, width: int = 2, max_document_frequency: float = 0.5,
               seed: int = 0) -> np.ndarray:
    """Per caption, up to `width` swapped rewrites: a str array `[len(captions), width]`.

    Column 0 holds an attribute swap where there is one (the object swap otherwise), column 1
    the object swap or a second attribute swap; "" where there are fewer rewrites.
    """
    captions = list(captions)
    classes = word_classes(captions, max_document_frequency)
    table = np.full((len(captions), width), "", dtype=object)
    rng = np.random.default_rng(seed)
    cache: dict[str, list[str]] = {}
    for row, caption in enumerate(captions):
        if caption not in cache:
            swaps = caption_swaps(caption, classes, seed=int(rng.integers(2**31)))
            objects = _object_swap(split_words(caption))
            objects = " ".join(_fix_articles(objects)) if objects is not None else None
            attributes = [t for t in swaps if t != objects]
            objects = [objects] if objects in swaps else []
            # One attribute swap and the object swap where both exist; the rest fills up.
            picked = attributes[:1] + objects + attributes[1:]
            cache[caption] = picked[:width]
        for column, text in enumerate(cache[caption]):
            table[row, column] = text
    return table
