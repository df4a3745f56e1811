"""`decide_augmentation`: flips and rotations only where the data looks the same mirrored/turned."""

import numpy as np
import pytest

from tfcmgen.data.augmentation import (
    AUGMENTATIONS,
    MIN_DECISION_IMAGES,
    TELLS_APART,
    decide_augmentation,
)


def _glyphs(n, mirror_symmetric, seed=0):
    """n 16x16 images of one bar and a blob: an 'L'-like glyph (handed) or a 'T' (symmetric)."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, 16, 16, 3), np.uint8)
    for image in images:
        top, left = rng.integers(2, 5, size=2)
        height = rng.integers(8, 11)
        colour = rng.integers(120, 256, size=3)
        if mirror_symmetric:
            middle = 8 + rng.integers(-1, 2)
            image[top:top + 2, middle - 4:middle + 4] = colour  # T: bar on top...
            image[top:top + height, middle - 1:middle + 1] = colour  # ...and a centred stem
        else:
            image[top:top + height, left:left + 2] = colour  # L: stem on the left...
            image[top + height - 2:top + height, left:left + 7] = colour  # ...foot to the right
    return images


@pytest.mark.parametrize("symmetric, expected_flip", [(True, True), (False, False)])
def test_flip_only_where_a_classifier_cannot_tell_mirror_images(symmetric, expected_flip):
    captions = ["a glyph at the top"] * 256  # names a position: rotation is not even tested
    decision = decide_augmentation(_glyphs(256, symmetric), captions, seed=0, size=16)
    assert decision.rotate_accuracy is None
    assert (decision.flip_accuracy <= TELLS_APART) == expected_flip, decision
    assert decision.augment == ("flip" if expected_flip else "none")
    assert decision.augment in AUGMENTATIONS and "accuracy" in str(decision)


def test_rotation_is_tested_for_captions_without_positions():
    decision = decide_augmentation(_glyphs(256, False), ["a glyph"] * 256, seed=0, size=16)
    assert decision.rotate_accuracy is not None
    assert decision.augment in ("none", "rotate")


def test_too_few_images_get_no_augmentation_and_bad_shapes_are_refused():
    decision = decide_augmentation(_glyphs(MIN_DECISION_IMAGES - 1, True))
    assert decision.augment == "none" and decision.flip_accuracy is None
    assert "too few images" in str(decision)
    with pytest.raises(ValueError, match=r"\[N, H, W, 3\]"):
        decide_augmentation(np.zeros((300, 8, 8), np.uint8))
