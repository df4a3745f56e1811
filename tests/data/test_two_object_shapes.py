"""The two-object shapes dataset (`shapes2`): rendering, regions, captions, splits, folder export."""

import csv
import os

import numpy as np
import pytest

from tfcmgen.data import load_dataset, load_folder
from tfcmgen.data.shapes import COLOUR_RGB, DEFAULT_HELD_OUT
from tfcmgen.data.two_object_shapes import (
    ATTRIBUTE_NAMES,
    PHRASINGS,
    caption_in,
    crop_objects,
    load_two_object_shapes,
    object_regions,
    phrasings_for,
    render_two_objects,
    swap_colours,
    write_caption_folder,
)

ATTRS = {"colour_a": "red", "shape_a": "circle", "colour_b": "blue", "shape_b": "square",
         "layout": "horizontal"}


def _colour_pixels(image, colour):
    """Pixels within the render's shading range of `colour` (shade 0.9-1.0, no anti-aliasing)."""
    target = np.asarray(COLOUR_RGB[colour], np.float32)
    return (np.abs(image.astype(np.float32) - 0.95 * target) <= 0.06 * target + 3).all(-1).sum()


@pytest.mark.parametrize("layout", ["horizontal", "vertical"])
def test_each_region_holds_its_own_object_and_nothing_of_the_other(layout):
    attrs = {**ATTRS, "layout": layout}
    for seed in range(20):
        image = render_two_objects(attrs, 64, seed)
        first, second = crop_objects(image[None], [layout])
        assert first.shape == second.shape == (1, 32, 32, 3)
        assert _colour_pixels(first[0], "red") > 40 and _colour_pixels(first[0], "blue") == 0
        assert _colour_pixels(second[0], "blue") > 40 and _colour_pixels(second[0], "red") == 0
        # Everything lit lies inside the two regions.
        lit = image.max(-1) > 30
        inside = np.zeros_like(lit)
        for top, left, h, w in object_regions(layout, 64):
            inside[top:top + h, left:left + w] = True
        assert not (lit & ~inside).any()


def test_render_is_a_pure_function_of_attributes_and_seed():
    a = render_two_objects(ATTRS, 32, seed=5)
    np.testing.assert_array_equal(a, render_two_objects(ATTRS, 32, seed=5))
    assert a.shape == (32, 32, 3) and a.dtype == np.uint8
    assert not np.array_equal(a, render_two_objects(ATTRS, 32, seed=6))
    # Swapped colours: same geometry, so the lit pixels are the same set (up to a few
    # anti-aliased edge pixels, whose brightness depends on the colour).
    b = render_two_objects(swap_colours(ATTRS), 32, seed=5)
    assert ((a.max(-1) > 30) != (b.max(-1) > 30)).sum() <= 4
    assert not np.array_equal(a, b)


def test_captions_in_every_phrasing_name_objects_in_the_right_order():
    assert caption_in(ATTRS, "left_of") == "a red circle to the left of a blue square"
    assert caption_in(ATTRS, "right_of") == "a blue square to the right of a red circle"
    assert caption_in(ATTRS, "and") == "a red circle and a blue square"
    assert caption_in(ATTRS, "sides") == "a red circle on the left, a blue square on the right"
    vertical = {**ATTRS, "layout": "vertical", "colour_a": "orange"}
    assert caption_in(vertical, "above") == "an orange circle above a blue square"
    assert caption_in(vertical, "below") == "a blue square below an orange circle"
    with pytest.raises(ValueError, match="describes the horizontal layout"):
        caption_in(vertical, "and")
    with pytest.raises(ValueError, match="phrasing must be one of"):
        caption_in(ATTRS, "beside")
    assert phrasings_for("vertical") == ["above", "below"]
    assert set(PHRASINGS) == {"left_of", "right_of", "and", "sides", "above", "below"}


def test_bad_attributes_are_named():
    with pytest.raises(ValueError, match=r"attrs\['colour_b'\] must be one of"):
        render_two_objects({**ATTRS, "colour_b": "black"})
    with pytest.raises(ValueError, match="layout"):
        object_regions("diagonal", 64)


def test_splits_keep_held_out_pairs_apart_and_objects_differ():
    held = set(DEFAULT_HELD_OUT)
    train = load_two_object_shapes(300, 32, seed=0)
    held_out = load_two_object_shapes(100, 32, seed=0, split="held_out")
    for attrs in train.attributes:
        assert sorted(attrs) == sorted(ATTRIBUTE_NAMES)
        pairs = {(attrs["colour_a"], attrs["shape_a"]), (attrs["colour_b"], attrs["shape_b"])}
        assert not pairs & held
        assert attrs["colour_a"] != attrs["colour_b"] and attrs["shape_a"] != attrs["shape_b"]
    for attrs in held_out.attributes:
        pairs = {(attrs["colour_a"], attrs["shape_a"]), (attrs["colour_b"], attrs["shape_b"])}
        assert pairs & held
    layouts = [a["layout"] for a in train.attributes]
    assert 0.35 < layouts.count("vertical") / len(layouts) < 0.65
    # One caption per phrasing of the layout; the same arguments give the same data.
    for attrs, captions in zip(train.attributes, train.captions):
        assert captions == [caption_in(attrs, p) for p in phrasings_for(attrs["layout"])]
    again = load_two_object_shapes(300, 32, seed=0)
    np.testing.assert_array_equal(train.images, again.images)


def test_phrasing_selection_limits_layouts():
    data = load_two_object_shapes(40, 32, seed=1, phrasings=("and",))
    assert {a["layout"] for a in data.attributes} == {"horizontal"}
    assert all(len(c) == 1 and " and " in c[0] for c in data.captions)
    with pytest.raises(ValueError, match="phrasings must be"):
        load_two_object_shapes(4, 32, phrasings=("diagonal",))


def test_registered_as_shapes2_in_the_dataset_loader():
    data = load_dataset("shapes2", image_size=32, num_images=6, seed=3)
    expected = load_two_object_shapes(6, 32, seed=3)
    np.testing.assert_array_equal(data.images, expected.images)
    assert data.captions == expected.captions


def test_caption_folder_round_trip_and_no_overwrite(tmp_path):
    data = load_two_object_shapes(5, 32, seed=2)
    root = tmp_path / "two"
    path = write_caption_folder(data, str(root))
    with open(path, encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["image", "caption"]
    assert len(rows) - 1 == sum(len(c) for c in data.captions)
    loaded = load_folder(str(root), image_size=32)
    assert loaded.attributes is None
    np.testing.assert_array_equal(loaded.images, data.images)  # PNG is lossless
    assert sorted(map(sorted, loaded.captions)) == sorted(map(sorted, data.captions))
    before = sorted(os.listdir(root))
    with pytest.raises(FileExistsError, match="not an empty folder"):
        write_caption_folder(data, str(root))
    assert sorted(os.listdir(root)) == before
