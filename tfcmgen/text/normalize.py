"""Caption normalisation and word splitting: the one definition both tokenizers implement.

`split_words(caption)` is the reference, in pure Python. `CaptionTokenizer` runs the same three
steps in the TensorFlow graph and `PurePythonTokenizer` calls `split_words`; tests check that the
two agree character for character.

The rules, in order:

1. Every code point that was not assigned in Unicode `BASE_UNICODE_VERSION` (12.1), and U+200B ZERO
   WIDTH SPACE, becomes a space. Unassigned code points are where Unicode versions (and so ICU,
   RE2 and Python releases) disagree; U+200B marks word boundaries in scripts written without
   spaces, so it separates words instead of being deleted like the other default ignorables.
2. NFKC_Casefold (Unicode's `toNFKC_Casefold`, what ICU and tensorflow-text's `case_fold_utf8`
   compute): compatibility normalisation (fullwidth letters, ligatures such as "ﬁ", superscripts),
   full case folding ("ß" -> "ss", "İ" -> "i̇", final sigma -> "σ") and removal of the other
   Default_Ignorable_Code_Point characters (soft hyphen, zero width joiner and non-joiner, variation
   selectors, BOM), so "co\\u00adoperate" stays one word.
3. Every character whose general category is not L* (letter), M* (mark) or N* (number) is a
   separator (P*, S*, C*, Z* and so all whitespace, punctuation, symbols, emoji, controls); words
   are the non-empty runs between separators.

Which characters are assigned, ignorable and word characters comes from the frozen tables in
`_unicode_tables.py` (Unicode 12.1 assignments, general categories of Unicode 14), not from the
running library, so ids do not change with the Python, TensorFlow or TF Serving version.
"""

import functools
import re
import unicodedata

from tfcmgen.text import _unicode_tables

BASE_UNICODE_VERSION = _unicode_tables.BASE_UNICODE_VERSION
# U+200B: rule 1 of the module docstring.
WORD_BREAKING_IGNORABLES = (0x200B,)


def _parse_ranges(table):
    ranges = []
    for item in table.split():
        start, end = item.split("-")
        ranges.append((int(start, 16), int(end, 16)))
    return tuple(ranges)


def _without(ranges, code_points):
    """Removes single code points from a tuple of inclusive ranges."""
    result = list(ranges)
    for code_point in code_points:
        updated = []
        for start, end in result:
            if start <= code_point <= end:
                if start < code_point:
                    updated.append((start, code_point - 1))
                if code_point < end:
                    updated.append((code_point + 1, end))
            else:
                updated.append((start, end))
        result = updated
    return tuple(result)


# Characters passed on to NFKC_Casefold (rule 1); everything else becomes a space first.
KEPT_RANGES = _without(_parse_ranges(_unicode_tables.ASSIGNED), WORD_BREAKING_IGNORABLES)
IGNORABLE_RANGES = _without(_parse_ranges(_unicode_tables.IGNORABLE), WORD_BREAKING_IGNORABLES)
WORD_RANGES = _parse_ranges(_unicode_tables.WORD)


def _python_class(ranges):
    return "".join(f"\\U{start:08x}-\\U{end:08x}" for start, end in ranges)


def _re2_class(ranges):
    return "".join(f"\\x{{{start:X}}}-\\x{{{end:X}}}" for start, end in ranges)


def re2_patterns():
    """Returns the RE2 patterns of rules 1 and 3 for `tf.strings.regex_replace`.

    Returns:
        A pair `(not_kept, separators)`: `not_kept` matches one character that rule 1 turns into a
        space, `separators` matches a run of characters that rule 3 turns into one space.
    """
    return f"[^{_re2_class(KEPT_RANGES)}]", f"[^{_re2_class(WORD_RANGES)}]+"


@functools.lru_cache(maxsize=1)
def _python_patterns():
    not_kept = re.compile(f"[^{_python_class(KEPT_RANGES)}]")
    separators = re.compile(f"[^{_python_class(WORD_RANGES)}]+")
    ignorable = frozenset(
        chr(code_point) for start, end in IGNORABLE_RANGES for code_point in range(start, end + 1)
    )
    return not_kept, separators, ignorable


@functools.lru_cache(maxsize=65536)
def _casefold_char(char):
    """NFKC_Casefold mapping of one character (Unicode's NFKC_CF property)."""
    if char in _python_patterns()[2]:
        return ""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", char).casefold())


def nfkc_casefold(text):
    """Unicode `toNFKC_Casefold` of `text`, as ICU computes it (rule 2 of the module docstring).

    ICU maps every input character through its NFKC_CF mapping and then brings the whole string to
    NFC (canonical reordering and composition across the mapped characters). Mapping the string
    as a whole instead (`NFKC(casefold(NFKC(text)))`) differs from ICU where U+0345 COMBINING GREEK
    YPOGEGRAMMENI, which folds to a spacing iota, meets other combining marks.

    Args:
        text: str. Text whose characters are all in `KEPT_RANGES` (apply rule 1 first); other
            characters are mapped with the running Python's Unicode data.

    Returns:
        The normalised, case-folded str.
    """
    # The table method of `case_folding` (what the serving graph computes with core TensorFlow
    # ops); it equals ICU's result except for combining marks stacked out of canonical order.
    from tfcmgen.text.case_folding import fold

    return fold(text)


def split_words(caption):
    """Splits a caption into normalised words (rules 1-3 of the module docstring).

    Args:
        caption: str. Any text; bytes are decoded as UTF-8 with invalid sequences replaced by
            U+FFFD (a separator), as the in-graph tokenizer does.

    Returns:
        list of str, the words in order; empty when the caption has no letters or digits.

    Example:
        >>> split_words("Top-left: a LITTLE red ﬁsh, straße!")
        ['top', 'left', 'a', 'little', 'red', 'fish', 'strasse']
    """
    if isinstance(caption, bytes):
        caption = caption.decode("utf-8", errors="replace")
    if not isinstance(caption, str):
        raise ValueError(
            f"caption must be a str (or UTF-8 bytes); received {type(caption).__name__}: "
            f"{caption!r:.80}"
        )
    not_kept, separators, _ = _python_patterns()
    text = nfkc_casefold(not_kept.sub(" ", caption))
    return [word for word in separators.sub(" ", text).split(" ") if word]
