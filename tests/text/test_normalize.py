"""split_words: the reference normalisation (pure Python; no TensorFlow here)."""

import re
import unicodedata

import pytest

from tfcmgen.text.normalize import (
    IGNORABLE_RANGES,
    KEPT_RANGES,
    WORD_RANGES,
    nfkc_casefold,
    re2_patterns,
    split_words,
)


@pytest.mark.parametrize(
    "caption, words",
    [
        ("a small red circle in the top", ["a", "small", "red", "circle", "in", "the", "top"]),
        ("Top-left: a LITTLE red disc.", ["top", "left", "a", "little", "red", "disc"]),
        ("", []),
        ("  \t\n !!! ... ", []),
        # Composed and decomposed accents give the same word (NFKC).
        ("café", ["café"]),
        ("cafe\u0301", ["café"]),
        # Compatibility forms: fullwidth letters and ideographic space, ligatures, superscripts.
        ("ＲＥＤ\u3000ＣＩＲＣＬＥ", ["red", "circle"]),
        ("ﬁne ﬂower ﬀ", ["fine", "flower", "ff"]),
        ("x² ½", ["x2", "1", "2"]),
        # Full case folding.
        ("Straße STRASSE ẞ", ["strasse", "strasse", "ss"]),
        ("İstanbul", ["i\u0307stanbul"]),
        ("ΟΔΥΣΣΕΥΣ Ὀδυσσεύς", ["οδυσσευσ", "ὀδυσσεύσ"]),
        # Symbols, emoji and their joiners separate words.
        ("red🔴circle 👍🏽 ok", ["red", "circle", "ok"]),
        ("👨\u200d👩\u200d👧family", ["family"]),
        # Default ignorables are removed (words stay whole), except zero width space, a word break.
        ("co\u00adoperate", ["cooperate"]),
        ("red\u200dcircle", ["redcircle"]),
        ("red\u200bcircle", ["red", "circle"]),
        ("\ufeffred", ["red"]),
        # Controls, tabs, newlines and no-break spaces separate.
        ("red\x00circle\x07big\x1b[0m", ["red", "circle", "big", "0m"]),
        ("red\tcircle\nbig\u00a0blue\r\nsquare", ["red", "circle", "big", "blue", "square"]),
        # Scripts without case, right-to-left text, combining marks.
        ("赤い丸", ["赤い丸"]),
        ("빨간 원", ["빨간", "원"]),
        ("\u1108\u1161\u11af", ["빨"]),
        ("دائرة حمراء", ["دائرة", "حمراء"]),
        ("עיגול אדום", ["עיגול", "אדום"]),
        ("\u202eevil\u202c", ["evil"]),
        ("लाल वृत्त", ["लाल", "वृत्त"]),
        # Ypogegrammeni folds to iota; ICU keeps it next to its base letter.
        ("ᾼ\uaab2", ["αι\uaab2"]),
        # Not assigned in Unicode 12.1 (U+0378 never, U+A7C7 from 13.0): separators.
        ("red\u0378circle", ["red", "circle"]),
        ("x\ua7c7y \ua7ba", ["x", "y", "\ua7bb"]),
        # Private use and noncharacters are separators.
        ("red\ue000circle\uffffbig", ["red", "circle", "big"]),
        (b"red\xffcircle\xe2\x82big", ["red", "circle", "big"]),
    ],
)
def test_split_words(caption, words):
    assert split_words(caption) == words


def test_split_words_refuses_non_strings():
    with pytest.raises(ValueError, match="caption must be a str.*received int"):
        split_words(3)


def test_nfkc_casefold_is_idempotent_on_awkward_text():
    text = "Ǆ ᾼ\u0345\u0301 ﬃ ΣΑΣ İ \u1e9e \u0130\u0307 ㍿"
    once = nfkc_casefold(text)
    assert nfkc_casefold(once) == once


def test_tables_are_sorted_disjoint_ranges():
    for ranges in (KEPT_RANGES, IGNORABLE_RANGES, WORD_RANGES):
        for (start, end), (next_start, _) in zip(ranges, ranges[1:]):
            assert start <= end < next_start
    assert (0x0378, 0x0378) not in KEPT_RANGES


def test_word_table_matches_general_categories_for_common_scripts():
    # Stable, long-assigned letters, digits and marks are word characters; the rest separates.
    words = re.compile("[^" + "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in WORD_RANGES) + "]")
    code_points = [*range(0x20, 0x250), *range(0x370, 0x530), *range(0x4E00, 0x4E80)]
    for code_point in code_points:
        char = chr(code_point)
        is_word = unicodedata.category(char)[0] in "LMN"
        assert (words.fullmatch(char) is None) == is_word, hex(code_point)


def test_re2_patterns_cover_the_same_ranges_as_python():
    not_kept, separators = re2_patterns()
    assert not_kept.count("\\x{") == 2 * len(KEPT_RANGES)
    assert separators.count("\\x{") == 2 * len(WORD_RANGES)
    assert separators.endswith("]+")
