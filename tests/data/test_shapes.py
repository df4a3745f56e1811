"""The built-in shapes dataset: rendering, captions, splits, speed."""

import re

import numpy as np
import pytest

from tfcmgen.data import shapes
from tfcmgen.data.shapes import (
    ATTRIBUTE_NAMES,
    ATTRIBUTE_VALUES,
    BACKGROUNDS,
    COLOURS,
    DEFAULT_HELD_OUT,
    MIRRORED_POSITIONS,
    POSITIONS,
    SHAPES,
    SIZES,
    caption_for,
    load_shapes,
    make_captions,
    render_shape,
)

ATTRS = {"colour": "red", "shape": "star", "size": "large", "position": "top left",
         "background": "textured"}


def mask(image):
    """Shape pixels of an image on the black background."""
    return image.max(axis=-1) > 100


def test_attribute_vocabulary_sizes_and_names():
    assert len(COLOURS) >= 8 and len(SHAPES) >= 6 and len(POSITIONS) >= 5
    assert SIZES == ("small", "large")
    assert len(BACKGROUNDS) >= 4 and "black" in BACKGROUNDS and "textured" in BACKGROUNDS
    assert ATTRIBUTE_NAMES == ("colour", "shape", "size", "position", "background")
    assert ATTRIBUTE_VALUES["position"] == POSITIONS
    for values in ATTRIBUTE_VALUES.values():
        assert len(set(values)) == len(values)
    assert set(MIRRORED_POSITIONS) == set(POSITIONS)
    assert all(c in COLOURS and s in SHAPES for c, s in DEFAULT_HELD_OUT)


@pytest.mark.parametrize("size", [32, 64, 128, 256])
def test_render_shape_sizes(size):
    image = render_shape(ATTRS, size, seed=1)
    assert image.shape == (size, size, 3) and image.dtype == np.uint8


def test_render_is_pure_function_of_attributes_and_seed():
    np.testing.assert_array_equal(render_shape(ATTRS, 64, 5), render_shape(dict(ATTRS), 64, 5))
    assert not np.array_equal(render_shape(ATTRS, 64, 5), render_shape(ATTRS, 64, 6))


@pytest.mark.parametrize("background", BACKGROUNDS)
def test_colour_edit_target_keeps_geometry_and_background(background):
    attrs = {**ATTRS, "background": background}
    red = render_shape(attrs, 64, 11)
    blue = render_shape({**attrs, "colour": "blue"}, 64, 11)
    changed = (red != blue).any(axis=-1)
    # The pixels that change are the shape (plus its anti-aliased rim): shape-sized, not more.
    area = changed.sum()
    assert 0.02 * 64 * 64 < area < 0.2 * 64 * 64
    # Everything else, including the texture, is identical.
    ys, xs = np.nonzero(changed)
    assert xs.mean() < 32 and ys.mean() < 32  # still top left
    outside = ~changed
    np.testing.assert_array_equal(red[outside], blue[outside])


def test_shape_and_position_edit_targets_keep_the_rest():
    attrs = {**ATTRS, "background": "black"}
    base = mask(render_shape(attrs, 64, 3))
    moved = mask(render_shape({**attrs, "position": "bottom right"}, 64, 3))
    circle = mask(render_shape({**attrs, "shape": "circle"}, 64, 3))
    # Moving keeps the same shape: same area, shifted by the distance between the two centres.
    assert abs(int(base.sum()) - int(moved.sum())) <= 0.03 * base.sum()
    shift = np.array(np.nonzero(moved)).mean(1) - np.array(np.nonzero(base)).mean(1)
    np.testing.assert_allclose(shift, [0.44 * 64, 0.44 * 64], atol=0.6)
    # A new shape at the same place and size: centroid within a pixel and a half.
    np.testing.assert_allclose(np.array(np.nonzero(circle)).mean(1),
                               np.array(np.nonzero(base)).mean(1), atol=1.5)
    # A new background leaves the fully covered shape pixels as they were.
    on_black = render_shape(attrs, 64, 3)
    inner = (on_black == on_black.max(axis=(0, 1))).all(axis=-1)
    assert inner.sum() > 0.5 * base.sum()
    np.testing.assert_array_equal(on_black[inner], render_shape(ATTRS, 64, 3)[inner])


@pytest.mark.parametrize("position", POSITIONS)
def test_position_lands_in_its_region(position):
    attrs = {**ATTRS, "position": position, "background": "black", "size": "small"}
    image = render_shape(attrs, 32, 4)
    ys, xs = np.nonzero(image.max(-1) > 100)
    x, y = xs.mean() / 32, ys.mean() / 32
    want_x = 0.5 if position == "center" else (0.25 if "left" in position else 0.75)
    want_y = 0.5 if position == "center" else (0.25 if "top" in position else 0.75)
    assert abs(x - want_x) < 0.1 and abs(y - want_y) < 0.1, (x, y)


def test_every_colour_stands_out_from_every_background():
    for background in BACKGROUNDS:
        for colour in COLOURS:
            attrs = {**ATTRS, "colour": colour, "background": background, "shape": "square",
                     "position": "center"}
            image = render_shape(attrs, 64, 0).astype(np.float32)
            shape_rgb = image[28:36, 28:36].reshape(-1, 3).mean(0)
            background_rgb = image[:8, :8].reshape(-1, 3).mean(0)
            assert np.linalg.norm(shape_rgb - background_rgb) > 100, (colour, background)


def test_colours_are_distinct_from_each_other():
    means = [render_shape({**ATTRS, "colour": c, "shape": "square", "position": "center"}, 64, 0)
             [28:36, 28:36].reshape(-1, 3).mean(0) for c in COLOURS]
    for i in range(len(means)):
        for j in range(i + 1, len(means)):
            assert np.linalg.norm(means[i] - means[j]) > 60, (COLOURS[i], COLOURS[j])


@pytest.mark.parametrize("size", [32, 64])
def test_shapes_and_sizes_are_told_apart_at_low_resolution(size):
    masks = {}
    for shape in SHAPES:
        for s in SIZES:
            attrs = {**ATTRS, "shape": shape, "size": s, "position": "center",
                     "background": "black"}
            masks[shape, s] = render_shape(attrs, size, 0).max(-1) > 110
    for s in SIZES:
        for i, a in enumerate(SHAPES):
            for b in SHAPES[i + 1:]:
                differing = (masks[a, s] != masks[b, s]).sum()
                assert differing >= 0.15 * min(masks[a, s].sum(), masks[b, s].sum()), (a, b, s)
    for shape in SHAPES:
        assert masks[shape, "large"].sum() > 1.8 * masks[shape, "small"].sum()


def test_invalid_attributes_and_arguments_are_named():
    with pytest.raises(ValueError, match="attrs\\['colour'\\].*received 'mauve'"):
        render_shape({**ATTRS, "colour": "mauve"})
    with pytest.raises(ValueError, match="image_size"):
        render_shape(ATTRS, 8)
    with pytest.raises(ValueError, match="seed"):
        render_shape(ATTRS, 32, -1)
    with pytest.raises(ValueError, match="num_images"):
        load_shapes(num_images=0)
    with pytest.raises(ValueError, match="split"):
        load_shapes(num_images=4, split="test")
    with pytest.raises(ValueError, match="held_out"):
        load_shapes(num_images=4, held_out=[("green", "hexagon")])


def test_load_shapes_is_deterministic_and_seeded():
    a = load_shapes(num_images=20, image_size=32, seed=3)
    b = load_shapes(num_images=20, image_size=32, seed=3)
    c = load_shapes(num_images=20, image_size=32, seed=4)
    np.testing.assert_array_equal(a.images, b.images)
    assert a.captions == b.captions and a.attributes == b.attributes
    assert not np.array_equal(a.images, c.images)


def test_render_seeds_redraw_every_image():
    data = load_shapes(num_images=10, image_size=32, seed=2)
    assert len(data.render_seeds) == 10
    for image, attrs, seed in zip(data.images, data.attributes, data.render_seeds):
        np.testing.assert_array_equal(image, render_shape(attrs, 32, seed))


def test_held_out_pairs_never_in_train_only_in_held_out():
    train = load_shapes(num_images=600, image_size=16 * 2, seed=0, captions_per_image=1)
    pairs = {(a["colour"], a["shape"]) for a in train.attributes}
    assert not pairs & set(DEFAULT_HELD_OUT)
    assert len(pairs) > 30  # every other pair shows up
    held = load_shapes(num_images=60, image_size=32, split="held_out", captions_per_image=1)
    assert {(a["colour"], a["shape"]) for a in held.attributes} == set(DEFAULT_HELD_OUT)
    everything = load_shapes(num_images=800, image_size=32, split="all", captions_per_image=1)
    assert set(DEFAULT_HELD_OUT) <= {(a["colour"], a["shape"]) for a in everything.attributes}


def test_custom_held_out_pairs():
    custom = [("red", "cross")]
    train = load_shapes(num_images=400, image_size=32, held_out=custom, captions_per_image=1)
    pairs = {(a["colour"], a["shape"]) for a in train.attributes}
    assert ("red", "cross") not in pairs and ("green", "triangle") in pairs
    held = load_shapes(num_images=10, image_size=32, held_out=custom, split="held_out")
    assert {(a["colour"], a["shape"]) for a in held.attributes} == {("red", "cross")}
    with pytest.raises(ValueError, match="no colour\\+shape pairs"):
        load_shapes(num_images=4, held_out=(), split="held_out")


def test_every_attribute_value_appears():
    data = load_shapes(num_images=500, image_size=32, split="all", captions_per_image=1)
    for name, values in ATTRIBUTE_VALUES.items():
        assert {a[name] for a in data.attributes} == set(values)


def _mentions(caption, words):
    return any(re.search(rf"\b{re.escape(w)}\b", caption.lower()) for w in words)


def test_captions_name_every_attribute_in_varied_words():
    data = load_shapes(num_images=300, image_size=32, captions_per_image=5)
    for attrs, captions in zip(data.attributes, data.captions):
        assert len(captions) == 5 and len(set(captions)) == 5
        for caption in captions:
            assert _mentions(caption, shapes._COLOUR_WORDS[attrs["colour"]])
            assert _mentions(caption, shapes._SHAPE_WORDS[attrs["shape"]])
            assert _mentions(caption, shapes._SIZE_WORDS[attrs["size"]])
            position = attrs["position"]
            if position == "center":
                assert _mentions(caption, ["center", "centre", "middle"])
                assert not _mentions(caption, ["left", "right"])
            else:
                side, other = ("left", "right") if "left" in position else ("right", "left")
                assert _mentions(caption, [side]) and not _mentions(caption, [other])
                assert _mentions(caption, ["top", "upper"] if "top" in position
                                 else ["bottom", "lower"])
    words = {w for c in data.all_captions() for w in re.findall(r"[a-z]+", c.lower())}
    for synonym in ["disc", "box", "little", "tiny", "big", "upper", "middle", "centre"]:
        assert synonym in words
    skeletons = {re.sub(r"\b(a|an)\b", "", c.lower()) for c in data.all_captions()}
    assert len(skeletons) > 1000  # many templates x synonyms, not a handful of sentences


def test_articles_agree():
    attrs = {**ATTRS, "colour": "orange", "size": "large"}
    captions = make_captions(attrs, np.random.default_rng(0), n=40)
    assert not any(re.search(r"\ba orange\b", c.lower()) for c in captions)
    assert any(re.search(r"\ban orange\b", c.lower()) for c in captions)


def test_make_captions_is_seeded():
    assert make_captions(ATTRS, 1, 4) == make_captions(ATTRS, 1, 4)
    assert make_captions(ATTRS, 1, 4) != make_captions(ATTRS, 2, 4)
    with pytest.raises(ValueError, match="n must be"):
        make_captions(ATTRS, 0, 0)


def test_canonical_caption():
    assert caption_for({**ATTRS, "size": "small", "shape": "circle"}) == \
        "a small red circle in the top left"
    assert caption_for({**ATTRS, "position": "center"}) == "a large red star in the center"
    # The background is not in the caption, so it is not needed (the demo passes none).
    no_background = {k: v for k, v in ATTRS.items() if k != "background"}
    assert caption_for(no_background) == caption_for(ATTRS)
    with pytest.raises(ValueError, match=r"attrs\['shape'\] must be one of"):
        caption_for({**no_background, "shape": "hexagon"})


def test_loading_2000_images_at_64_gives_2000_distinct_images():
    # Its speed (about 0.7 s) is a figure for bench/, not an assertion here.
    data = load_shapes(num_images=2000, image_size=64)
    assert data.images.shape == (2000, 64, 64, 3)
    assert len({img.tobytes() for img in data.images}) == 2000
