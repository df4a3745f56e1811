"""Differentiable augmentations that keep a caption true (DiffAugment, Zhao et al. 2020).

Applied alike to real and generated images before the discriminator, so that a small dataset
does not let the discriminator memorise it. Only augmentations that cannot make a caption false
are offered: a small translation (a few pixels, edges replicated so the background stays the
background and nothing crosses a "left"/"right" boundary) and a small cutout. No flips (they swap
"left" and "right") and no colour jitter (captions name colours).

Each augmentation is a pure function `(images, uniform, ratio) -> images` taking its random numbers
as an argument (`uniform`: float32 [B, 2] in [0, 1)), so a caller can draw them per *global* example
and get identical results on one device and on several replicas.

References:
    Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training".
"""

from __future__ import annotations

import tensorflow as tf


def translation(images, uniform, ratio):
    """Shifts each image by up to `round(ratio * size)` pixels per axis, replicating the edges."""
    size = images.shape[1]
    width = images.shape[2]
    limit = max(1, round(ratio * size))
    shift = tf.cast(tf.floor(uniform * (2 * limit + 1)), tf.int32) - limit
    rows = tf.clip_by_value(tf.range(size)[None, :] + shift[:, 0:1], 0, size - 1)
    cols = tf.clip_by_value(tf.range(width)[None, :] + shift[:, 1:2], 0, width - 1)
    images = tf.gather(images, rows, axis=1, batch_dims=1)
    return tf.gather(images, cols, axis=2, batch_dims=1)


def cutout(images, uniform, ratio):
    """Sets one square of side `round(ratio * size)` per image to 0 (mid grey in [-1, 1])."""
    size = images.shape[1]
    width = images.shape[2]
    half = max(1, round(ratio * size)) / 2.0
    centre_y = uniform[:, 0:1] * size
    centre_x = uniform[:, 1:2] * width
    ys = tf.range(size, dtype=tf.float32)[None, :] + 0.5
    xs = tf.range(width, dtype=tf.float32)[None, :] + 0.5
    inside_y = tf.abs(ys - centre_y) < half
    inside_x = tf.abs(xs - centre_x) < half
    inside = tf.logical_and(inside_y[:, :, None], inside_x[:, None, :])
    keep = tf.cast(tf.logical_not(inside), images.dtype)[:, :, :, None]
    return images * keep


# name -> (function, ratio of the image side it works at). Translation is 1/16 of the side
# (4 px at 64x64); cutout 1/4 (16 px at 64x64), half of DiffAugment's default so a small shape
# is rarely hidden entirely.
AUGMENTATIONS = {
    "translation": (translation, 1.0 / 16.0),
    "cutout": (cutout, 0.25),
}


def check_policy(policy) -> tuple:
    """Returns the policy as a tuple of names, raising a ValueError naming an unknown one."""
    if policy is None:
        return ()
    if isinstance(policy, str):
        policy = tuple(p for p in policy.split(",") if p)
    policy = tuple(policy)
    for name in policy:
        if name not in AUGMENTATIONS:
            shown = ", ".join(repr(k) for k in AUGMENTATIONS)
            raise ValueError(
                f"diff_augment entries must be among {shown} (caption-preserving only); "
                f"received diff_augment={policy!r}"
            )
    return policy


def diff_augment(images, policy, uniform):
    """Applies the augmentations named in `policy` in order.

    Args:
        images: float tensor [B, H, W, C].
        policy: sequence of names from `AUGMENTATIONS`.
        uniform: float32 [B, 2 * len(policy)] of U[0, 1) draws, two per augmentation.
    """
    for i, name in enumerate(policy):
        function, ratio = AUGMENTATIONS[name]
        images = function(images, uniform[:, 2 * i : 2 * i + 2], ratio)
    return images
