"""Swapped-attribute captions from the caption text, and their use as mismatches in make_dataset."""

import numpy as np
import pytest
import tensorflow as tf

from tfcmgen.data import CaptionedImages
from tfcmgen.data.caption_swaps import caption_swaps, swap_table, word_classes
from tfcmgen.data.pipeline import make_dataset
from tfcmgen.data.two_object_shapes import caption_in, load_two_object_shapes, swap_colours
from tfcmgen.text.normalize import split_words


@pytest.fixture(scope="module")
def two_objects():
    return load_two_object_shapes(200, 32, seed=0)


def _kinds(classes):
    kinds = {}
    for word, kind in classes.items():
        kinds.setdefault(kind, set()).add(word)
    return sorted(map(sorted, kinds.values()))


def test_word_kinds_are_learnt_from_the_captions(two_objects):
    kinds = _kinds(word_classes(two_objects.all_captions()))
    colours = ["blue", "cyan", "green", "magenta", "orange", "red", "white", "yellow"]
    shapes = ["circle", "cross", "diamond", "square", "star", "triangle"]
    assert colours in kinds and shapes in kinds and ["left", "right"] in kinds
    # Articles and other frequent words are no kind ("an orange" and "a red" still are one slot).
    for frequent in ("a", "an", "the", "to", "of"):
        assert all(frequent not in kind for kind in kinds)


def test_frequency_limit_is_checked():
    with pytest.raises(ValueError, match="max_document_frequency"):
        word_classes(["a b"], max_document_frequency=0.0)
    assert word_classes([]) == {}


def test_swaps_exchange_one_kind_or_the_sides_of_a_relation(two_objects):
    classes = word_classes(two_objects.all_captions())
    attrs = {"colour_a": "orange", "shape_a": "circle", "colour_b": "blue", "shape_b": "square",
             "layout": "horizontal"}
    swaps = caption_swaps(caption_in(attrs, "left_of"), classes)
    assert swaps == ["a blue circle to the left of an orange square",  # colours, articles fixed
                     "an orange square to the left of a blue circle",  # shapes
                     "a blue square to the left of an orange circle"]  # the objects
    # The colour swap of a caption is the caption of the colour-swapped attributes.
    for phrasing in ("and", "right_of"):
        assert " ".join(split_words(caption_in(swap_colours(attrs), phrasing))) in \
            caption_swaps(caption_in(attrs, phrasing), classes)
    # Naming each side: exchanging "left" and "right" exchanges the objects; never every kind
    # at once (that would say the same thing again).
    sides = caption_swaps(caption_in(attrs, "sides"), classes)
    assert "an orange circle on the right a blue square on the left" in sides
    assert "a blue square on the right an orange circle on the left" not in sides
    # "and" is no ordered relation in general: no object swap around it.
    assert all("and" not in s.split()[:2] for s in caption_swaps("red ball and a cat", classes))


def test_swap_table_has_two_rewrites_per_two_object_caption(two_objects):
    captions = two_objects.all_captions()
    table = swap_table(captions, seed=0)
    assert table.shape == (len(captions), 2)
    assert (table[:, 0] != "").all()
    for caption, row in zip(captions, table):
        words = split_words(caption)
        for rewrite in row:
            if rewrite:
                assert rewrite.split() != words
                # The same words (up to "a" / "an"), in another order.
                assert sorted("a" if w == "an" else w for w in rewrite.split()) == \
                    sorted("a" if w == "an" else w for w in words)


def _tokenizer(strings):
    words = tf.strings.split(strings).to_tensor(shape=[None, 16])
    return tf.strings.to_hash_bucket_fast(words, 1000)


def _pairs(data, batch_size=20, **kwargs):
    ds = make_dataset(data, _tokenizer, image_size=32, batch_size=batch_size, include_captions=True,
                      deterministic=True, seed=3, **kwargs)
    pairs = []
    for batch in ds:
        pairs += [(c.decode(), m.decode()) for c, m in
                  zip(batch["caption"].numpy(), batch["mismatched_caption"].numpy())]
    return pairs


def test_make_dataset_uses_swaps_as_mismatches_in_the_given_share(two_objects):
    data = CaptionedImages(two_objects.images, two_objects.captions)  # a folder: no attributes
    table = swap_table(data.all_captions(), seed=3)
    rewrites = {c: set(r) - {""} for c, r in zip(data.all_captions(), table)}
    everything = _pairs(data, swap_negatives=1.0)
    assert all(m in rewrites[c] for c, m in everything)
    assert len({m for _, m in everything}) > 0.8 * len(everything)
    half = _pairs(data, swap_negatives=0.5)
    share = np.mean([m in rewrites[c] for c, m in half])
    assert 0.35 < share < 0.65
    # Off by default: the usual mismatches, unchanged.
    assert _pairs(data) == _pairs(data, swap_negatives=0.0)
    assert not any(m in rewrites[c] for c, m in _pairs(data))


def test_captions_without_a_swap_keep_their_usual_mismatch():
    images = np.zeros((8, 32, 32, 3), np.uint8)
    captions = [[f"a {c} thing"] for c in ("red", "blue", "green", "pink", "grey", "gold", "tan",
                                            "teal")]
    # Colours are one kind here, but no caption holds two of them.
    assert len(set(word_classes(sum(captions, [])).values())) == 1
    pairs = _pairs(CaptionedImages(images, captions), batch_size=4, swap_negatives=1.0)
    assert len(pairs) == 8
    assert all(m != c and [m] in captions for c, m in pairs)


@pytest.mark.parametrize("value", [-0.1, 1.5, True, "half"])
def test_swap_share_is_checked(two_objects, value):
    with pytest.raises(ValueError, match="swap_negatives must be a float in"):
        make_dataset(two_objects, _tokenizer, image_size=32, batch_size=4, swap_negatives=value)
