"""The tf.data pipeline: batches, caption choice, mismatched captions, caption-safe augmentation."""

import os

import cv2
import numpy as np
import pytest
import tensorflow as tf

from tfcmgen.data import (
    MIRRORED_POSITIONS,
    CaptionedImages,
    DatasetError,
    load_folder,
    load_shapes,
    render_shape,
    swap_left_right,
)
from tfcmgen.data.augmentation import Augmentation, names_position, swap_left_right_graph
from tfcmgen.data.pipeline import load_dataset, make_dataset
from tfcmgen.text import CaptionTokenizer, Vocabulary


@pytest.fixture(scope="module")
def shapes32():
    return load_shapes(num_images=48, image_size=32, seed=1)


@pytest.fixture(scope="module")
def tokenizer(shapes32):
    captions = shapes32.all_captions() + ["a red thing", "a blue thing", "a green thing"]
    return CaptionTokenizer(Vocabulary.build(captions), max_length=16)


def batches(ds):
    return [{k: v.numpy() for k, v in batch.items()} for batch in ds]


def decoded(batch, key="caption"):
    return [c.decode() for c in np.asarray(batch[key])]


def test_batches_have_the_contracted_keys_shapes_dtypes_and_range(shapes32, tokenizer):
    ds = make_dataset(shapes32, tokenizer, image_size=32, batch_size=16)
    spec = ds.element_spec
    assert set(spec) == {"image", "token_ids", "mismatched_token_ids"}
    assert spec["image"].shape == (16, 32, 32, 3) and spec["image"].dtype == tf.float32
    assert spec["token_ids"].shape == (16, 16) and spec["token_ids"].dtype == tf.int32
    assert spec["mismatched_token_ids"].shape == (16, 16)
    out = batches(ds)
    assert len(out) == 3
    for batch in out:
        assert batch["image"].min() >= -1.0 and batch["image"].max() <= 1.0
        assert batch["image"].min() == -1.0  # black background pixels map to -1


def test_token_ids_are_the_tokenized_caption_of_that_image(shapes32, tokenizer):
    ds = make_dataset(shapes32, tokenizer, image_size=32, batch_size=16, shuffle=False,
                      deterministic=True, include_captions=True)
    batch = next(iter(batches(ds)))
    expected_images = shapes32.images[:16].astype(np.float32) / 127.5 - 1.0
    np.testing.assert_allclose(batch["image"], expected_images, atol=1e-6)
    for i, caption in enumerate(decoded(batch)):
        assert caption in shapes32.captions[i]
    np.testing.assert_array_equal(batch["token_ids"],
                                  tokenizer(tf.constant(batch["caption"])).numpy())
    np.testing.assert_array_equal(batch["mismatched_token_ids"],
                                  tokenizer(tf.constant(batch["mismatched_caption"])).numpy())


def test_a_new_random_caption_each_epoch(shapes32, tokenizer):
    ds = make_dataset(shapes32, tokenizer, image_size=32, batch_size=48, shuffle=False,
                      deterministic=True, include_captions=True)
    epochs = [decoded(batches(ds)[0]) for _ in range(4)]
    changed = sum(a != b for a, b in zip(epochs[0], epochs[1]))
    assert changed > 20  # 5 captions per image: ~80% change between two epochs
    used = {c for epoch in epochs for c in epoch}
    assert len(used) > 100  # more than one caption per image gets used


def test_mismatched_caption_comes_from_an_image_with_other_attributes(shapes32, tokenizer):
    owners = {}
    for i, captions in enumerate(shapes32.captions):
        for caption in captions:
            owners.setdefault(caption, set()).add(i)
    ds = make_dataset(shapes32, tokenizer, image_size=32, batch_size=16, shuffle=True,
                      deterministic=True, include_captions=True, repeat=True)
    seen_sources = set()
    for batch in batches(ds.take(6)):
        for image, caption, wrong in zip(batch["image"], decoded(batch),
                                         decoded(batch, "mismatched_caption")):
            (i,) = [j for j in owners[caption]
                    if np.allclose(shapes32.images[j] / 127.5 - 1.0, image, atol=1e-6)]
            for j in owners[wrong]:
                assert shapes32.attributes[j] != shapes32.attributes[i]
                seen_sources.add(j)
    assert len(seen_sources) > 30  # drawn across the dataset, not from a few images


def test_mismatch_without_attributes_uses_another_image(tokenizer):
    images = np.stack([np.full((8, 8, 3), i, np.uint8) for i in range(6)])
    captions = [[f"a red thing {i}"] for i in range(6)]
    data = CaptionedImages(images, captions)
    ds = make_dataset(data, tokenizer, image_size=8, batch_size=6, include_captions=True,
                      repeat=True, deterministic=True)
    for batch in batches(ds.take(10)):
        for image, wrong in zip(batch["image"], decoded(batch, "mismatched_caption")):
            own = round((image[0, 0, 0] + 1.0) * 127.5)
            assert wrong != f"a red thing {own}"


def test_mismatch_needs_different_attributes(tokenizer):
    same = [{"colour": "red"}] * 4
    data = CaptionedImages(np.zeros((4, 8, 8, 3), np.uint8), [["x"]] * 4, attributes=same)
    with pytest.raises(DatasetError, match="all 4 image\\(s\\) share the same attributes"):
        make_dataset(data, tokenizer, image_size=8, batch_size=2)
    # mismatch_on picks the attributes that must differ.
    data.attributes = [{"colour": "red", "n": str(i)} for i in range(4)]
    make_dataset(data, tokenizer, image_size=8, batch_size=2)
    with pytest.raises(DatasetError, match="share the same attributes"):
        make_dataset(data, tokenizer, image_size=8, batch_size=2, mismatch_on=["colour"])


def grid_data(repeats=2, skip=()):
    """Every colour x shape x size combination (minus `skip`), `repeats` images each, one
    distinct caption per image that names all three attributes."""
    attributes, captions = [], []
    for colour in ("red", "green", "blue"):
        for shape in ("circle", "square"):
            for size in ("small", "large"):
                if (colour, shape, size) in skip:
                    continue
                for r in range(repeats):
                    attributes.append({"colour": colour, "shape": shape, "size": size})
                    captions.append([f"a {size} {colour} {shape} number {len(captions)}"])
    images = np.stack([np.full((8, 8, 3), i, np.uint8) for i in range(len(captions))])
    return CaptionedImages(images, captions, attributes)


def mismatch_pairs(data, tokenizer, batches_taken=12, **kwargs):
    """(attributes of the image, attributes of its mismatched caption's image) over some batches."""
    owner = {c[0]: i for i, c in enumerate(data.captions)}
    ds = make_dataset(data, tokenizer, image_size=8, batch_size=len(data), include_captions=True,
                      repeat=True, deterministic=True, **kwargs)
    pairs = []
    for batch in batches(ds.take(batches_taken)):
        for caption, wrong in zip(decoded(batch), decoded(batch, "mismatched_caption")):
            pairs.append((data.attributes[owner[caption]], data.attributes[owner[wrong]]))
    return pairs


def differing(a, b):
    return sorted(k for k in a if a[k] != b[k])


def test_near_misses_differ_in_exactly_one_attribute_each_attribute_in_turn(tokenizer):
    data = grid_data()
    pairs = mismatch_pairs(data, tokenizer, near_miss=1.0)
    counts = {}
    for mine, wrong in pairs:
        (name,) = differing(mine, wrong)  # exactly one attribute differs
        counts[name] = counts.get(name, 0) + 1
    # The attribute to change is drawn uniformly: 24 images x 12 batches = 288 draws.
    assert set(counts) == {"colour", "shape", "size"}
    assert min(counts.values()) > 288 / 3 * 0.7, counts


def test_near_miss_share_and_uniform_mismatches_without_it(tokenizer):
    data = grid_data()
    uniform = [len(differing(a, b)) for a, b in mismatch_pairs(data, tokenizer)]
    # Uniform among the 22 images of other groups: 8 of 22 (0.36) differ in one attribute only.
    assert 0.26 < np.mean([n == 1 for n in uniform]) < 0.46
    assert min(uniform) >= 1
    half = [len(differing(a, b)) for a, b in mismatch_pairs(data, tokenizer, near_miss=0.5)]
    assert 0.58 < np.mean([n == 1 for n in half]) < 0.78  # 0.5 + 0.5 * 0.36 expected
    assert min(half) >= 1


def test_near_miss_falls_back_to_a_uniform_mismatch_where_there_is_none(tokenizer):
    # The only green image: no image differs from it in colour or shape or size alone ... except
    # the ones that share two of its attributes; drop those so it has no near miss at all.
    skip = {("green", s, z) for s in ("circle", "square") for z in ("small", "large")} - \
        {("green", "circle", "small")}
    skip |= {("red", "circle", "small"), ("blue", "circle", "small")}
    data = grid_data(skip=skip)
    lonely = {"colour": "green", "shape": "circle", "size": "small"}
    seen = [wrong for mine, wrong in mismatch_pairs(data, tokenizer, near_miss=1.0)
            if mine == lonely]
    assert seen and all(len(differing(lonely, wrong)) >= 2 for wrong in seen)


def test_near_miss_uses_only_the_mismatch_on_attributes(tokenizer):
    data = grid_data()
    pairs = mismatch_pairs(data, tokenizer, near_miss=1.0, mismatch_on=["colour", "shape"])
    for mine, wrong in pairs:
        assert len(differing({k: mine[k] for k in ("colour", "shape")},
                             {k: wrong[k] for k in ("colour", "shape")})) == 1


@pytest.mark.parametrize("value", [-0.1, 1.5, "half", True])
def test_near_miss_must_be_a_share(shapes32, tokenizer, value):
    with pytest.raises(ValueError, match="near_miss must be a float in \\[0, 1\\]"):
        make_dataset(shapes32, tokenizer, image_size=32, batch_size=8, near_miss=value)


def test_flip_swaps_left_right_in_the_mismatched_caption_too():
    aug = Augmentation(flip_probability=1.0)
    images = tf.zeros([2, 4, 4, 3], tf.uint8)
    _, captions, others = aug(images, tf.constant(["a star at the left", "a dot"]), [0, 0],
                              tf.constant(["a cross at the top left", "a square on the right"]))
    assert captions.numpy().tolist() == [b"a star at the right", b"a dot"]
    assert others.numpy().tolist() == [b"a cross at the top right", b"a square on the left"]
    half = Augmentation(flip_probability=0.5)
    many = tf.zeros([64, 4, 4, 3], tf.uint8)
    _, captions, others = half(many, tf.fill([64], "left"), [3, 4], tf.fill([64], "left"))
    np.testing.assert_array_equal(captions.numpy(), others.numpy())  # flipped together
    assert 10 < (captions.numpy() == b"right").sum() < 54


def centroid_position(image):
    """Which shapes position the bright pixels of an image in [-1, 1] are at."""
    ys, xs = np.nonzero(image.max(-1) > 0.3)
    x, y = xs.mean() / image.shape[1], ys.mean() / image.shape[0]
    if abs(x - 0.5) < 0.12 and abs(y - 0.5) < 0.12:
        return "center"
    return ("top " if y < 0.5 else "bottom ") + ("left" if x < 0.5 else "right")


def test_flip_mirrors_the_image_and_swaps_left_right_in_the_caption(tokenizer):
    shapes = load_shapes(num_images=32, image_size=32, seed=5)
    # Black backgrounds, so that the shape's centroid is easy to read.
    attributes = [{**a, "background": "black"} for a in shapes.attributes]
    images = np.stack([render_shape(a, 32, s) for a, s in zip(attributes, shapes.render_seeds)])
    data = CaptionedImages(images, shapes.captions, attributes)
    ds = make_dataset(data, tokenizer, image_size=32, batch_size=32, shuffle=False,
                      deterministic=True, include_captions=True,
                      augment=Augmentation(flip_probability=1.0))
    batch = batches(ds)[0]
    for i, (image, caption) in enumerate(zip(batch["image"], decoded(batch))):
        original = data.images[i].astype(np.float32) / 127.5 - 1.0
        np.testing.assert_allclose(image, original[:, ::-1], atol=1e-6)
        assert caption in [swap_left_right(c) for c in data.captions[i]]
        position = data.attributes[i]["position"]
        assert centroid_position(image) == MIRRORED_POSITIONS[position]
        if position != "center":  # the caption now names the side the shape is on
            side = "left" if "left" in MIRRORED_POSITIONS[position] else "right"
            assert side in caption.lower() and ({"left", "right"} - {side}).pop() not in caption


def test_flip_probability_zero_and_half(shapes32, tokenizer):
    ds = make_dataset(shapes32, tokenizer, image_size=32, batch_size=48, shuffle=False,
                      deterministic=True, augment="flip")
    images = batches(ds)[0]["image"]
    original = shapes32.images.astype(np.float32) / 127.5 - 1.0
    same = [np.allclose(a, b, atol=1e-6) for a, b in zip(images, original)]
    mirrored = [np.allclose(a, b[:, ::-1], atol=1e-6) for a, b in zip(images, original)]
    assert all(s or m for s, m in zip(same, mirrored))
    assert 10 < sum(mirrored) < 38


def test_rotation_and_crop_are_off_for_captions_that_name_positions(shapes32, tokenizer):
    moving = Augmentation(flip_probability=0.0, max_rotation_degrees=30.0, min_crop_fraction=0.6)
    original = shapes32.images.astype(np.float32) / 127.5 - 1.0
    ds = make_dataset(shapes32, tokenizer, image_size=32, batch_size=48, shuffle=False,
                      deterministic=True, augment=moving)
    np.testing.assert_allclose(batches(ds)[0]["image"], original, atol=1e-6)
    # The same images with captions that name no position do get rotated and cropped ...
    plain = CaptionedImages(shapes32.images, [["a red thing"]] * 48, shapes32.attributes)
    ds = make_dataset(plain, tokenizer, image_size=32, batch_size=48, shuffle=False,
                      deterministic=True, augment=moving)
    changed = [not np.allclose(a, b, atol=1e-3) for a, b in zip(batches(ds)[0]["image"], original)]
    assert sum(changed) > 40
    # ... and so do positional captions when the safety is switched off.
    unsafe = Augmentation(0.0, 30.0, 0.6, position_safe=False)
    ds = make_dataset(shapes32, tokenizer, image_size=32, batch_size=48, shuffle=False,
                      deterministic=True, augment=unsafe)
    assert not np.allclose(batches(ds)[0]["image"], original, atol=1e-3)


def test_auto_augmentation_on_shapes_only_flips(shapes32, tokenizer):
    ds = make_dataset(shapes32, tokenizer, image_size=32, batch_size=48, shuffle=False,
                      deterministic=True, augment="flip+rotate", include_captions=True)
    batch = batches(ds)[0]
    original = shapes32.images.astype(np.float32) / 127.5 - 1.0
    for i, (image, caption) in enumerate(zip(batch["image"], decoded(batch))):
        if np.allclose(image, original[i], atol=1e-6):
            assert caption in shapes32.captions[i]
        else:
            np.testing.assert_allclose(image, original[i][:, ::-1], atol=1e-6)
            assert caption in [swap_left_right(c) for c in shapes32.captions[i]]


def test_crop_is_a_zoom_inside_the_image():
    # On a horizontal ramp 0..7, a crop of side s scaled back up is a ramp with step s that stays
    # within [0, 7]: no reflection, no stretching of one axis only.
    images = tf.reshape(tf.tile(tf.range(8, dtype=tf.float32), [8]), [1, 8, 8, 1])
    aug = Augmentation(flip_probability=0.0, min_crop_fraction=0.5, position_safe=False)
    for seed in range(5):
        out = aug._transform(images, tf.constant([False]), seed=tf.constant([seed, 0], tf.int64))
        out = out.numpy()[0, :, :, 0]
        steps = np.diff(out, axis=1)
        assert 0.5 - 1e-4 <= steps.min() and steps.max() <= 1.0 + 1e-4
        np.testing.assert_allclose(steps, steps[0, 0], atol=1e-4)
        np.testing.assert_allclose(out, np.repeat(out[:1], 8, axis=0), atol=1e-4)  # rows equal
        assert out.min() >= -1e-4 and out.max() <= 7 + 1e-4


def test_graph_caption_swap_matches_python():
    captions = ["top left", "Upper RIGHT corner", "left-right", "leftover rightful", "centre"]
    swapped = swap_left_right_graph(tf.constant(captions)).numpy()
    assert [s.decode() for s in swapped] == [swap_left_right(c) for c in captions]
    assert names_position(tf.constant(captions)).numpy().tolist() == [True, True, True, False,
                                                                       True]


def test_deterministic_mode_repeats_exactly_and_epochs_differ(shapes32, tokenizer):
    def run():
        ds = make_dataset(shapes32, tokenizer, image_size=32, batch_size=16, augment="flip+rotate",
                          deterministic=True, seed=7, include_captions=True)
        return [batches(ds) for _ in range(2)]

    first, second = run(), run()
    for epoch_a, epoch_b in zip(first, second):
        for a, b in zip(epoch_a, epoch_b):
            for key in a:
                np.testing.assert_array_equal(a[key], b[key])
    assert any(not np.array_equal(a["caption"], b["caption"])
               for a, b in zip(first[0], first[1]))


def test_drop_remainder_and_repeat(shapes32, tokenizer):
    data = shapes32.subset(range(10))
    assert [len(b["image"]) for b in batches(make_dataset(data, tokenizer, 32, 4))] == [4, 4]
    kept = make_dataset(data, tokenizer, 32, 4, drop_remainder=False, deterministic=True)
    assert [len(b["image"]) for b in batches(kept)] == [4, 4, 2]
    assert kept.element_spec["image"].shape[0] is None
    many = make_dataset(data, tokenizer, 32, 4, repeat=True).take(7)
    assert len(batches(many)) == 7
    with pytest.raises(DatasetError,
                       match="10 training images, fewer than batch_size=16.*--batch-size 4"):
        make_dataset(data, tokenizer, 32, 16)


def test_images_of_another_size_are_resized(shapes32, tokenizer):
    ds = make_dataset(shapes32, tokenizer, image_size=16, batch_size=8)
    assert ds.element_spec["image"].shape == (8, 16, 16, 3)


def test_folder_paths_are_decoded_by_the_pipeline(tmp_path, tokenizer):
    lines = ["image,caption"]
    for i in range(6):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.full((20, 30, 3), 40 * i, np.uint8))
        lines.append(f"{i}.png,a red thing number {i}")
    (tmp_path / "captions.csv").write_text("\n".join(lines) + "\n")
    data = load_folder(str(tmp_path))
    assert not data.in_memory
    batch = batches(make_dataset(data, tokenizer, image_size=8, batch_size=6, shuffle=False,
                                 deterministic=True))[0]
    np.testing.assert_allclose(batch["image"][:, 0, 0, 0], [40 * i / 127.5 - 1 for i in range(6)],
                               atol=1e-5)


def test_load_dataset_dispatches_names_and_folders(tmp_path):
    shapes = load_dataset("shapes", image_size=32, num_images=5, seed=2)
    assert shapes.images.shape == (5, 32, 32, 3) and shapes.attributes is not None
    os.makedirs(tmp_path / "d")
    cv2.imwrite(str(tmp_path / "d" / "a.png"), np.zeros((10, 10, 3), np.uint8))
    (tmp_path / "d" / "captions.jsonl").write_text('{"image": "a.png", "caption": "dark"}\n')
    folder = load_dataset(str(tmp_path / "d"), image_size=8)
    assert folder.images.shape == (1, 8, 8, 3)
    with pytest.raises(ValueError, match="format applies to folder datasets"):
        load_dataset("shapes", format="csv")
    with pytest.raises(DatasetError, match="no such dataset"):
        load_dataset(str(tmp_path / "nothing"))


def test_bad_arguments_are_named(shapes32, tokenizer):
    with pytest.raises(ValueError, match="augment must be.*received augment='spin'"):
        make_dataset(shapes32, tokenizer, augment="spin")
    with pytest.raises(ValueError, match="batch_size"):
        make_dataset(shapes32, tokenizer, batch_size=0)
    with pytest.raises(ValueError, match="tokenizer must be callable"):
        make_dataset(shapes32, "not a tokenizer")
    with pytest.raises(ValueError, match="flip_probability"):
        Augmentation(flip_probability=2.0)
    with pytest.raises(ValueError, match="min_crop_fraction"):
        Augmentation(min_crop_fraction=0.0)


def test_word_dropout_turns_only_words_into_unknown_at_about_its_rate(shapes32, tokenizer):
    def ids(rate):
        ds = make_dataset(shapes32, tokenizer, image_size=32, batch_size=48, shuffle=False,
                          deterministic=True, word_dropout=rate)
        batch = batches(ds)[0]
        return batch["token_ids"], batch["mismatched_token_ids"]

    plain, plain_mismatched = ids(0.0)
    dropped, mismatched = ids(0.3)
    changed = plain != dropped
    assert np.all(dropped[changed] == 1) and np.all(plain[changed] > 1)  # words -> [UNK] only
    np.testing.assert_array_equal(dropped == 0, plain == 0)  # padding stays
    rate = changed.sum() / (plain > 1).sum()
    assert 0.2 < rate < 0.4
    np.testing.assert_array_equal(mismatched, plain_mismatched)  # mismatched captions untouched
    with pytest.raises(ValueError, match="word_dropout must be a float in \\[0, 1\\)"):
        make_dataset(shapes32, tokenizer, word_dropout=1.0)


def test_identical_captions_are_reported(tokenizer, caplog):
    from tfcmgen.data import CaptionedImages

    images = np.zeros((8, 32, 32, 3), np.uint8)
    data = CaptionedImages(images, [["a red circle"]] * 8, name="same")
    make_dataset(data, tokenizer, image_size=32, batch_size=4)
    assert "all 8 captions are the same text" in caplog.text


def test_caption_near_misses_differ_in_one_word_for_folders_without_attributes(tokenizer):
    from tfcmgen.data import CaptionedImages
    from tfcmgen.data.caption_near_misses import near_miss_table

    colours, shapes = ["red", "blue", "green"], ["circle", "square"]
    captions = [[f"a {c} {s}", f"the {s} is {c}"] for c in colours for s in shapes] * 2
    data = CaptionedImages(np.zeros((len(captions), 32, 32, 3), np.uint8), captions, name="f")
    ds = make_dataset(data, tokenizer, image_size=32, batch_size=12, near_miss=1.0,
                      caption_near_miss=True, include_captions=True, deterministic=True)
    batch = batches(ds)[0]
    for right, wrong in zip(batch["caption"], batch["mismatched_caption"]):
        right, wrong = right.decode().split(), wrong.decode().split()
        assert len(right) == len(wrong) and sum(a != b for a, b in zip(right, wrong)) == 1
    # Words that describe one image together are compatible, never a near miss of each other.
    table = near_miss_table([["a small circle", "a little circle"], ["a large circle"],
                             ["a little square"], ["a small square"]])
    found = [set(row[row >= 0].tolist()) for row in table]
    assert found[0] == {2, 4} and found[1] == {2, 3}  # "a small square" is a near miss of 0...
    assert found[3] == {1} and found[4] == {0}  # ...but "little" / "small" never contrast
