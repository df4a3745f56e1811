"""DiffAugment: caption-preserving translation and cutout, pure functions of their random draws."""

import numpy as np
import pytest
import tensorflow as tf

from tfcmgen.models.diff_augment import (
    AUGMENTATIONS,
    check_policy,
    cutout,
    diff_augment,
    translation,
)

IMAGES = np.random.default_rng(0).uniform(-1, 1, (3, 32, 32, 3)).astype("float32")


def test_only_caption_preserving_augmentations_exist():
    assert sorted(AUGMENTATIONS) == ["cutout", "translation"]
    for name in ("flip", "color", "colour", "saturation"):
        with pytest.raises(ValueError, match=rf"received diff_augment=.*'{name}'"):
            check_policy(("translation", name))
    assert check_policy("translation,cutout") == ("translation", "cutout")
    assert check_policy(None) == ()


def test_translation_by_the_middle_draw_is_the_identity():
    # With limit 2 px (1/16 of 32) the draw 0.5 maps to shift 0 on both axes.
    out = translation(IMAGES, tf.fill([3, 2], 0.5), 1.0 / 16.0)
    np.testing.assert_array_equal(out, IMAGES)


def test_translation_shifts_by_at_most_a_few_pixels_and_replicates_edges():
    # Draw 0.0 shifts by -2 rows and -2 columns: out[y, x] = in[max(y - 2, 0), max(x - 2, 0)].
    out = np.asarray(translation(IMAGES, tf.zeros([3, 2]), 1.0 / 16.0))
    np.testing.assert_array_equal(out[:, 2:, 2:], IMAGES[:, :-2, :-2])
    np.testing.assert_array_equal(out[:, 0, 0], IMAGES[:, 0, 0])
    np.testing.assert_array_equal(out[:, 1, 5], IMAGES[:, 0, 3])
    # Draws just below 1 shift the other way by the same limit.
    out = np.asarray(translation(IMAGES, tf.fill([3, 2], 0.999), 1.0 / 16.0))
    np.testing.assert_array_equal(out[:, :-2, :-2], IMAGES[:, 2:, 2:])


def test_cutout_greys_one_square_of_a_quarter_side():
    out = np.asarray(cutout(IMAGES, tf.fill([3, 2], 0.5), 0.25))
    zeroed = np.all(out == 0, axis=-1)
    assert zeroed.sum(axis=(1, 2)).tolist() == [64, 64, 64]  # 8 x 8 at the centre
    assert zeroed[:, 12:20, 12:20].all()
    np.testing.assert_array_equal(out[~zeroed], IMAGES[~zeroed])


def test_augmentations_pass_gradients_to_the_images():
    images = tf.constant(IMAGES)
    uniform = tf.random.stateless_uniform([3, 4], seed=[1, 2])
    with tf.GradientTape() as tape:
        tape.watch(images)
        out = diff_augment(images, ("translation", "cutout"), uniform)
    gradient = tape.gradient(out, images)
    assert gradient is not None and float(tf.reduce_sum(gradient)) > 0
