"""The in-graph CaptionTokenizer and the PurePythonTokenizer give identical words and ids.

Checked on varied captions, the built-in shapes dataset, awkward Unicode, invalid UTF-8, every
Unicode code point, and arbitrary text from hypothesis.
"""

import itertools

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tfcmgen.data.shapes import load_shapes
from tfcmgen.text import CaptionTokenizer, PurePythonTokenizer, Vocabulary, split_words

MAX_LENGTH = 8

COLOURS = ["red", "Crimson", "BLUE", "navy-blue", "green", "yellow", "purple", "orange", "white"]
SHAPES = ["circle", "disc", "square", "triangle", "Star", "diamond", "cross", "hexagon"]
PLACES = ["in the top left", "at the bottom-right", "(center)", "near the top; left side", ""]
TEMPLATES = [
    "a {size} {colour} {shape} {place}",
    "{place}: a {size} {colour} {shape}.",
    "There is a {colour} {shape}, {size}, {place}!",
    "{colour}/{shape} -- {size} -- {place}?",
    '"{shape}" coloured {colour}   ({size})\t{place}\n',
]
HAND_WRITTEN = [
    "",
    " ",
    "...",
    "A photo of 3 small red circles and 12 blue squares.",
    "the bird has a short, pointed beak and bright-yellow wings",
    "this flower's petals are PINK & white; its stamen is long",
    "Café au lait coloured mug on a naïve, Zürich-made table",
    "l'oiseau a des ailes bleues et un bec très court",
    "Der Vogel hat große, weiße Flügel und einen kurzen Schnabel",
    "el pájaro tiene alas azules y un pico muy corto",
    "птица с синими крыльями и коротким клювом",
    "ένα μικρό κόκκινο ΤΡΊΓΩΝΟ στο κέντρο",
    "赤い丸が左上にある",
    "左上角有一个红色的圆",
    "빨간 원이 왼쪽 위에 있다",
    "دائرة حمراء صغيرة في الأعلى",
    "עיגול אדום קטן למעלה משמאל",
    "ऊपर बाईं ओर एक छोटा लाल वृत्त",
    "วงกลมสีแดงเล็กๆ ที่มุมซ้ายบน",
    "e-mail: someone@example.com, url http://x.y/z?a=1&b=2",
    "C++ and C# and 3.14159 and 1,000,000 and 50% and $5",
    "emoji 🔴⭕ red 🟥 square 👍🏽 👨‍👩‍👧 🇫🇷 flag",
    "tabs\tand\nnew\r\nlines\u00a0and\u2003em\u3000spaces",
    "a " * 40,
]


def varied_captions():
    captions = list(HAND_WRITTEN)
    for index, (colour, shape) in enumerate(itertools.product(COLOURS, SHAPES)):
        template = TEMPLATES[index % len(TEMPLATES)]
        size = ["small", "LARGE", "tiny", "Big"][index % 4]
        place = PLACES[index % len(PLACES)]
        captions.append(template.format(size=size, colour=colour, shape=shape, place=place))
    return captions


AWKWARD = [
    # accents, composed and decomposed, and stacked combining marks
    "café", "cafe\u0301", "CAFE\u0301", "ÅNGSTRÖM", "A\u030angstro\u0308m",
    "Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǧ̗͚̚o̙̔ͮ̇͐̇",
    "ᾼ\uaab2", "\u0345", "α\u0345\u0301", "\u037a\u1dec", "\u1fb3\u0340",
    # compatibility forms: fullwidth, ligatures, superscripts, numerals, squared words
    "ＲＥＤ　ＣＩＲＣＬＥ", "ﬁne ﬂower ﬀ ﬃ", "x² H₂O ½ ① Ⅻ", "㍿ ㎏ ™ ℃", "ǅ ǆ Ǆ",
    # case folding specials
    "Straße STRASSE ẞ", "İstanbul ISTANBUL ıi", "ΟΔΥΣΣΕΥΣ ὈΔΥΣΣΕΎΣ ς σ Σ", "ᏣᎳᎩ ꮳꮃꭹ", "ǰ ΐ",
    # emoji, joiners, selectors, ignorables
    "👨\u200d👩\u200d👧", "red\u200dcircle", "red\u200bcircle", "red\u200ccircle", "co\u00adoperate",
    "\ufeffred", "red\ufe0fcircle", "e\U000e0100x", "\u2060word\u2064",
    # control characters, whitespace of all kinds
    "\x00\x01red\x07\x1b[31mcircle\x7f", "\t\n\r\x0b\x0c\u0085\u2028\u2029",
    "a\u00a0b\u2007c\u202fd",
    # scripts and directions
    "赤い丸", "\u1108\u1161\u11af \uac00\u11a8", "دائرة حمراء", "עִיגּוּל", "\u202eevil\u202c",
    "लाल वृत्त", "வட்டம்", "ሰላም", "ᚠᛇᚻ", "𝐁𝐨𝐥𝐝 𝔉𝔯𝔞𝔨", "𠀀𠀁 𪜀",
    # unassigned, private use, noncharacters, the last code point, late additions
    "red\u0378circle", "\ue000\uf8ff", "\ufdd0\ufffe\uffff", "\U0010ffff\U000fffff",
    "\ua7ba\ua7c7\U0001fad0", "\U00030000",
    # long and empty
    "", " " * 100, "word " * 500, "x" * 10_000,
]

INVALID_UTF8 = [
    b"red\xffcircle", b"\xc0\xafslash", b"\xed\xa0\x80surrogate", b"trunc\xe2\x82", b"\xe2\x82big",
    b"\xf4\x90\x80\x80beyond", b"\x80\x80\x80", b"ok\xf0\x9f\x98", b"\xfe\xff",
]


def tf_words(tokenizer, captions):
    return [[word.decode("utf-8") for word in row] for row in tokenizer.split(captions).to_list()]


def assert_agree(captions, vocabulary, max_length=MAX_LENGTH):
    tokenizer = CaptionTokenizer(vocabulary, max_length=max_length)
    pure = PurePythonTokenizer(vocabulary, max_length=max_length)
    strings = tf.constant([c if isinstance(c, bytes) else c.encode("utf-8") for c in captions],
                          dtype=tf.string, shape=[len(captions)])
    assert tf_words(tokenizer, strings) == [split_words(caption) for caption in captions]
    ids = tokenizer(strings).numpy()
    assert ids.shape == (len(captions), max_length) and ids.dtype == np.int32
    np.testing.assert_array_equal(ids, pure.encode(captions))
    return ids


def test_varied_captions_agree():
    captions = varied_captions()
    vocabulary = Vocabulary.build(captions)
    ids = assert_agree(captions, vocabulary)
    assert (ids != 1).all()  # every word is in a vocabulary built from the same captions
    assert_agree(captions, Vocabulary.build(captions, min_count=3), max_length=3)


def test_every_shapes_dataset_caption_agrees():
    captions = load_shapes(num_images=2000, image_size=32, seed=0, split="all").all_captions()
    assert len(captions) >= 2000
    vocabulary = Vocabulary.build(captions, min_count=2)
    assert_agree(captions, vocabulary, max_length=16)


def test_awkward_unicode_agrees():
    vocabulary = Vocabulary.build(AWKWARD)
    assert len(vocabulary) > 50
    assert_agree(AWKWARD, vocabulary)
    assert_agree(AWKWARD, vocabulary, max_length=1)


def test_composed_and_decomposed_spellings_get_the_same_ids():
    vocabulary = Vocabulary.build(["café straße fine"])
    ids = assert_agree(["café Straße ﬁne", "cafe\u0301 STRASSE FINE", "ＣＡＦＥ\u0301 STRAẞE fine"],
                       vocabulary)
    assert (ids == ids[0]).all()
    assert ids[0].tolist()[:3] == [vocabulary.lookup("café"), vocabulary.lookup("strasse"),
                                   vocabulary.lookup("fine")]


def test_invalid_utf8_agrees():
    assert_agree(INVALID_UTF8, Vocabulary.build(["red circle slash big ok beyond"]))


def _code_point_strings(code_points, chunk=256):
    # Each code point between "x" and a space, so it is seen beside a letter and a separator.
    code_points = list(code_points)
    return ["".join(f"x{chr(c)} " for c in code_points[i : i + chunk])
            for i in range(0, len(code_points), chunk)]


def _all_code_points():
    return [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]


def test_every_bmp_and_smp_code_point_agrees():
    strings = _code_point_strings(c for c in range(0x20000) if not 0xD800 <= c <= 0xDFFF)
    assert_agree(strings, ["[PAD]", "[UNK]"])


@pytest.mark.slow
def test_every_code_point_agrees():
    assert_agree(_code_point_strings(_all_code_points()), ["[PAD]", "[UNK]"])


# Words that random text often hits, so property tests compare real ids, not just [UNK]s.
PROPERTY_VOCABULARY = Vocabulary.build(
    list("abcdefghijklmnopqrstuvwxyz0123456789") + ["é", "ss", "σ", "ι", "αι", "i\u0307", "fi"]
)
TRICKY_CHARACTERS = (
    list("aAeEiIsSσΣςαι ,.-") + ["\u0345", "\u0301", "\u0300", "\u0308", "\u0327", "\u0340",
    "\u0307", "ᾳ", "ᾼ", "\uaab2", "\u1dec", "\u037a", "İ", "ß", "ẞ", "ﬁ", "Ｓ", "\u200b", "\u200d",
    "\u00ad", "\ufeff", "\u1100", "\u1161", "\u11a8", "가", "\u0378", "\ua7c7", "\U0001f600",
    "\x00", "\t", "\u00a0", "\u2028", "\ue000", "\uffff"]
)
PROPERTY_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def property_tokenizers():
    tokenizer = CaptionTokenizer(PROPERTY_VOCABULARY, max_length=MAX_LENGTH)

    # One traced graph for all examples: eager op-by-op dispatch would dominate the test's time.
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def words_and_ids(strings):
        return tokenizer.split(strings), tokenizer(strings)

    return words_and_ids, PurePythonTokenizer(PROPERTY_VOCABULARY, max_length=MAX_LENGTH)


def _check_property(tokenizers, captions):
    words_and_ids, pure = tokenizers
    strings = tf.constant([c if isinstance(c, bytes) else c.encode("utf-8") for c in captions],
                          dtype=tf.string, shape=[len(captions)])
    words, ids = words_and_ids(strings)
    ids = ids.numpy()
    assert ids.shape == (len(captions), MAX_LENGTH) and ids.dtype == np.int32
    assert ((ids >= 0) & (ids < len(PROPERTY_VOCABULARY))).all()
    words = [[word.decode("utf-8") for word in row] for row in words.to_list()]
    assert words == [split_words(caption) for caption in captions]
    np.testing.assert_array_equal(ids, pure.encode(captions))


@PROPERTY_SETTINGS
@given(st.lists(st.text(max_size=60), max_size=4))
def test_arbitrary_text_agrees(property_tokenizers, captions):
    _check_property(property_tokenizers, captions)


@PROPERTY_SETTINGS
@given(st.lists(st.text(alphabet=st.sampled_from(TRICKY_CHARACTERS), max_size=40), max_size=4))
def test_tricky_combining_sequences_agree(property_tokenizers, captions):
    _check_property(property_tokenizers, captions)


@PROPERTY_SETTINGS
@given(st.lists(st.binary(max_size=40), max_size=4))
def test_arbitrary_bytes_agree(property_tokenizers, captions):
    _check_property(property_tokenizers, captions)


@settings(max_examples=20, deadline=None, database=None)
@given(st.text(alphabet=st.sampled_from(TRICKY_CHARACTERS), min_size=500, max_size=3000))
def test_very_long_text_agrees(property_tokenizers, caption):
    _check_property(property_tokenizers, [caption])
