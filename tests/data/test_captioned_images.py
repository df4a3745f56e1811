"""CaptionedImages: validation, split by image, captions, summary."""

import numpy as np
import pytest

from tfcmgen.data import CaptionedImages, DatasetError, load_shapes


def make(n=10):
    images = np.arange(n, dtype=np.uint8)[:, None, None, None] * np.ones((1, 4, 4, 3), np.uint8)
    captions = [[f"image {i} caption {j}" for j in range(1 + i % 3)] for i in range(n)]
    attributes = [{"colour": str(i % 2)} for i in range(n)]
    return CaptionedImages(images, captions, attributes, name="toy", render_seeds=list(range(n)))


def test_split_is_by_image_and_keeps_everything_together():
    data = make(20)
    train, val = data.split(0.25, seed=1)
    assert (len(train), len(val)) == (15, 5)
    train_ids = {int(img[0, 0, 0]) for img in train.images}
    val_ids = {int(img[0, 0, 0]) for img in val.images}
    assert train_ids.isdisjoint(val_ids) and train_ids | val_ids == set(range(20))
    for part in (train, val):
        for image, captions, attrs, seed in zip(part.images, part.captions, part.attributes,
                                                part.render_seeds):
            i = int(image[0, 0, 0])
            assert captions == data.captions[i] and attrs == data.attributes[i] and seed == i
    # Every caption of an image lands on the same side.
    assert set(train.all_captions()).isdisjoint(val.all_captions())


def test_split_is_seeded():
    data = make(30)
    a, _ = data.split(0.2, seed=3)
    b, _ = data.split(0.2, seed=3)
    c, _ = data.split(0.2, seed=4)
    np.testing.assert_array_equal(a.images, b.images)
    assert not np.array_equal(a.images, c.images)


def test_split_of_paths_and_tiny_fractions():
    data = CaptionedImages(["/d/a.png", "/d/b.png", "/d/c.png"], [["a"], ["b"], ["c"]], root="/d")
    train, val = data.split(0.01)
    assert len(val) == 1 and len(train) == 2 and train.root == "/d"
    assert sorted(train.images + val.images) == data.images


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5])
def test_split_rejects_bad_fractions(fraction):
    with pytest.raises(DatasetError, match="validation_fraction"):
        make().split(fraction)


def test_split_needs_two_images():
    with pytest.raises(DatasetError, match="cannot split"):
        make(1).split(0.5)


def test_validation_errors_say_what_was_received():
    images = np.zeros((2, 4, 4, 3), np.uint8)
    with pytest.raises(DatasetError, match="2 images but 1 caption lists"):
        CaptionedImages(images, [["a"]])
    with pytest.raises(DatasetError, match="captions\\[1\\]"):
        CaptionedImages(images, [["a"], []])
    with pytest.raises(DatasetError, match="captions\\[0\\]"):
        CaptionedImages(images, ["a plain string", ["b"]])
    with pytest.raises(DatasetError, match="dtype=float32"):
        CaptionedImages(images.astype(np.float32), [["a"], ["b"]])
    with pytest.raises(DatasetError, match="1 attributes"):
        CaptionedImages(images, [["a"], ["b"]], attributes=[{}])
    assert issubclass(DatasetError, ValueError)


def test_all_captions_and_summary():
    data = make(4)
    assert data.all_captions() == [c for caps in data.captions for c in caps]
    assert len(data) == 4
    text = load_shapes(num_images=12, image_size=32).summary()
    assert "12 images" in text and "60 captions" not in text.split("\n")[0]
    assert "captions: 60" in text and "colour (" in text and "32x32" in text
