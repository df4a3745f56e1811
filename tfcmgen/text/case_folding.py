"""NFKC_Casefold as two lookup tables, so the serving graph needs core TensorFlow ops only.

tensorflow-text's `case_fold_utf8` (ICU's NFKC_Casefold) is an op that TensorFlow's own tools,
TF Java, the C API and TF Serving builds without TF Text do not know ("Op type not registered
'CaseFoldUTF8'"). Core TensorFlow has no Unicode normalisation op, and `tf.strings.lower` is not a
substitute (it keeps "ß", fullwidth letters, ligatures and the soft hyphen). The same result is
computed here from two tables that core hash-table ops can look up:

1. `case_map()`: each character -> its NFKC_Casefold mapping (the Unicode NFKC_CF property), for
   the characters whose mapping is not themselves (upper case, compatibility forms, ignorables).
2. `composition_pairs()`: (first, second) code points -> their canonical composite, for every
   primary composite of Unicode and the Hangul syllables.

`fold(text)` maps every character (table 1), then applies `COMPOSITION_PASSES` passes that each
compose adjacent pairs (table 2), left to right, skipping a pair whose first character was just
consumed. `CaptionTokenizer` runs exactly these steps in the graph and `split_words` calls `fold`,
so the two tokenizers agree character for character (tested).

Where it differs from ICU's NFKC_Casefold (measured in tests/text/test_core_casefold.py): ICU
brings the mapped string to NFC, which also reorders combining marks into canonical order and
composes a mark with a base character across other marks of a different class. `fold` composes
adjacent pairs only, so where combining marks are stacked (a mark right after a mark) it can give
other words: "a\\u0301\\u0323" gives "á\\u0323" (ICU "\\u1ea1\\u0301"), "a\\u0327\\u0301" stays
(ICU "á\\u0327"), and "Zalgo" text differs. Every assigned character, every letter with one
combining mark, and decomposed text such as "cafe\\u0301", Vietnamese or Hangul give ICU's result.

This module imports neither TensorFlow nor tensorflow-text.
"""

from __future__ import annotations

import functools
import unicodedata

# Pairs composed per caption: a letter with up to this many combining marks composes fully.
COMPOSITION_PASSES = 3
# Pair keys are first * PAIR_BASE + second (code points are below 0x110000).
PAIR_BASE = 0x110000

_HANGUL_S, _HANGUL_L, _HANGUL_V, _HANGUL_T = 0xAC00, 0x1100, 0x1161, 0x11A7
_HANGUL_LCOUNT, _HANGUL_VCOUNT, _HANGUL_TCOUNT = 19, 21, 28


@functools.lru_cache(maxsize=1)
def case_map() -> dict:
    """{code point: NFKC_Casefold mapping as str} for the kept characters the mapping changes.

    Characters outside `normalize.KEPT_RANGES` never reach the mapping (they become spaces first).
    """
    from tfcmgen.text.normalize import KEPT_RANGES, _casefold_char

    table = {}
    for start, end in KEPT_RANGES:
        for code_point in range(start, end + 1):
            char = chr(code_point)
            if 0xD800 <= code_point <= 0xDFFF:
                continue
            mapped = _casefold_char(char)
            if mapped != char:
                table[code_point] = mapped
    return table


@functools.lru_cache(maxsize=1)
def composition_pairs() -> dict:
    """{first * PAIR_BASE + second: composite code point} of Unicode's canonical compositions."""
    pairs = {}
    for code_point in range(PAIR_BASE):
        if 0xD800 <= code_point <= 0xDFFF:
            continue
        decomposition = unicodedata.decomposition(chr(code_point))
        if not decomposition or decomposition.startswith("<"):
            continue
        parts = [int(part, 16) for part in decomposition.split()]
        # Primary composites only: NFC rebuilds them (composition exclusions and singletons not).
        if len(parts) == 2 and unicodedata.normalize("NFC", chr(parts[0]) + chr(parts[1])) == chr(
            code_point
        ):
            pairs[parts[0] * PAIR_BASE + parts[1]] = code_point
    # Hangul syllables are composed by arithmetic, not listed in the Unicode data.
    for lead in range(_HANGUL_LCOUNT):
        for vowel in range(_HANGUL_VCOUNT):
            syllable = _HANGUL_S + (lead * _HANGUL_VCOUNT + vowel) * _HANGUL_TCOUNT
            pairs[(_HANGUL_L + lead) * PAIR_BASE + _HANGUL_V + vowel] = syllable
            for trail in range(1, _HANGUL_TCOUNT):
                pairs[syllable * PAIR_BASE + _HANGUL_T + trail] = syllable + trail
    return pairs


def compose_pass(code_points: list) -> list:
    """One composition pass: each adjacent pair with a composite becomes it, left to right; a
    pair whose first character is the second of a pair found just before is left for the next
    pass (the graph decides every position at once, so it cannot chain within a pass)."""
    pairs = composition_pairs()
    count = len(code_points)
    found = [
        index + 1 < count
        and code_points[index] * PAIR_BASE + code_points[index + 1] in pairs
        for index in range(count)
    ]
    result = []
    skip = False
    for index, code_point in enumerate(code_points):
        if skip:
            skip = False
            continue
        if found[index] and not (index > 0 and found[index - 1]):
            result.append(pairs[code_point * PAIR_BASE + code_points[index + 1]])
            skip = True
        else:
            result.append(code_point)
    return result


def fold(text: str) -> str:
    """NFKC_Casefold of `text` by the table method of the module docstring.

    Args:
        text: str whose characters are all in `normalize.KEPT_RANGES` (apply rule 1 first).

    Returns:
        The folded str; equal to ICU's NFKC_Casefold except as the module docstring says.

    Example:
        >>> fold("Straße ＲＥＤ ﬁsh cafe\\u0301")
        'strasse red fish café'
    """
    if text.isascii():
        return text.lower()
    table = case_map()
    mapped = "".join(table.get(ord(char), char) for char in text)
    code_points = [ord(char) for char in mapped]
    for _ in range(COMPOSITION_PASSES):
        code_points = compose_pass(code_points)
    return "".join(map(chr, code_points))
