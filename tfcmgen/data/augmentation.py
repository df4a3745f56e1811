"""`Augmentation`: training-time image augmentation that keeps captions true, in-graph on batches.

A horizontal flip mirrors the image and swaps "left" and "right" in its caption (the caption is
augmented before it is tokenised). Rotation and random crop would move things across the image, so
by default (`position_safe=True`) they are skipped for every caption that names a position ("top",
"left", "corner", "middle", ...); such captions only ever get the flip.

Example:

>>> import tensorflow as tf
>>> aug = Augmentation(flip_probability=1.0)
>>> images = tf.reshape(tf.range(8, dtype=tf.float32), [1, 2, 4, 1])
>>> flipped, captions = aug(images, tf.constant(["a star at the top left"]), seed=[0, 0])
>>> flipped[0, 0, :, 0].numpy().tolist(), captions.numpy().tolist()
([3.0, 2.0, 1.0, 0.0], [b'a star at the top right'])
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import tensorflow as tf

from tfcmgen.data.image_ops import LEFT_RIGHT_PATTERN

# Words that place something in the image; a caption holding one gets no rotation or crop.
POSITION_PATTERN = (r"(?is).*\b(left|right|top|bottom|upper|lower|center|centre|middle|corner|"
                    r"corners|above|below|side|edge)\b.*")
# A private-use character cannot occur in normalised captions' words, so it can hold "left" while
# "right" becomes "left" (RE2 has no callback replacement).
_PLACEHOLDER = "\ue000"


def swap_left_right_graph(captions: tf.Tensor) -> tf.Tensor:
    """In-graph twin of `image_ops.swap_left_right` for a tf.string tensor of any shape."""
    left, right = LEFT_RIGHT_PATTERN.replace("left|right", "left"), \
        LEFT_RIGHT_PATTERN.replace("left|right", "right")
    swapped = tf.strings.regex_replace(captions, left, _PLACEHOLDER)
    swapped = tf.strings.regex_replace(swapped, right, "left")
    return tf.strings.regex_replace(swapped, _PLACEHOLDER, "right")


def names_position(captions: tf.Tensor) -> tf.Tensor:
    """bool tensor: which captions name a position (see `POSITION_PATTERN`)."""
    return tf.strings.regex_full_match(captions, POSITION_PATTERN)


def _flip_where(images: tf.Tensor, flip: tf.Tensor) -> tf.Tensor:
    """Mirrors the images where `flip` is True. Partition + stitch reverses only those images and
    measured 5x faster than a broadcast `tf.where` (1.6 vs 9 ms for 64 uint8 images of 64x64)."""
    flip = tf.cast(flip, tf.int32)
    kept, flipped = tf.dynamic_partition(images, flip, 2)
    kept_at, flipped_at = tf.dynamic_partition(tf.range(tf.shape(images)[0]), flip, 2)
    result = tf.dynamic_stitch([kept_at, flipped_at], [kept, tf.reverse(flipped, axis=[2])])
    result.set_shape(images.shape)  # stitch loses the static batch size drop_remainder gave
    return result


@dataclass(frozen=True)
class Augmentation:
    """Random flip, rotation and crop for batches of images, with their captions.

    Args:
        flip_probability: float in [0, 1]. Chance of a horizontal flip (the caption's "left" and
            "right" are swapped with it). Defaults to 0.5.
        max_rotation_degrees: float >= 0. Rotation angle drawn from [-max, max]; the corners
            are filled by reflection. Defaults to 0.
        min_crop_fraction: float in (0, 1]. Side of the random square crop, as a fraction of the
            image side, drawn from [min, 1]; the crop is scaled back to full size. 1 disables
            cropping. Defaults to 1.
        position_safe: bool. Skip rotation and crop for captions that name a position.
            Defaults to True.

    Example:

    >>> aug = AUGMENTATIONS["auto"]
    >>> aug.flip_probability, aug.position_safe
    (0.5, True)
    """

    flip_probability: float = 0.5
    max_rotation_degrees: float = 0.0
    min_crop_fraction: float = 1.0
    position_safe: bool = True

    def __post_init__(self):
        if not 0.0 <= self.flip_probability <= 1.0:
            raise ValueError(
                f"flip_probability must be in [0, 1]; received {self.flip_probability!r}"
            )
        if not 0.0 <= self.max_rotation_degrees <= 180.0:
            raise ValueError(
                f"max_rotation_degrees must be in [0, 180]; received {self.max_rotation_degrees!r}"
            )
        if not 0.0 < self.min_crop_fraction <= 1.0:
            raise ValueError(
                f"min_crop_fraction must be in (0, 1]; received {self.min_crop_fraction!r}"
            )

    @property
    def moves_content(self) -> bool:
        """True when rotation or crop is on (changes that can falsify position captions)."""
        return self.max_rotation_degrees > 0.0 or self.min_crop_fraction < 1.0

    def __call__(self, images: tf.Tensor, captions: tf.Tensor, seed, other_captions=None):
        """Augments a batch: images `[B, H, W, C]` (uint8 or float), captions tf.string `[B]`, seed
        int `[2]`. Returns `(images, captions)`.

        `other_captions` (tf.string `[B]`, e.g. the mismatched captions) are flipped with their
        image too, so a mismatch stays the same mismatch; then `(images, captions,
        other_captions)` is returned. Deterministic for a given seed (stateless random ops).
        """
        seed = tf.cast(seed, tf.int64)
        batch = tf.shape(images)[0]
        if self.flip_probability > 0.0:
            flip = tf.random.stateless_uniform([batch], seed=seed) < self.flip_probability
            images = _flip_where(images, flip)
            captions = tf.where(flip, swap_left_right_graph(captions), captions)
            if other_captions is not None:
                other_captions = tf.where(flip, swap_left_right_graph(other_captions),
                                          other_captions)
        if self.moves_content:
            images = self._rotate_and_crop(images, captions, seed + tf.constant([0, 1], tf.int64))
        if other_captions is not None:
            return images, captions, other_captions
        return images, captions

    def _rotate_and_crop(self, images, captions, seed):
        if not self.position_safe:
            return self._transform(images, tf.zeros(tf.shape(captions), tf.bool), seed)
        keep = names_position(captions)
        # Datasets whose captions all name positions (shapes) skip the resampling entirely.
        return tf.cond(tf.reduce_all(keep), lambda: images,
                       lambda: self._transform(images, keep, seed))

    def _transform(self, images, keep, seed):
        batch = tf.shape(images)[0]
        height = tf.cast(tf.shape(images)[1], tf.float32)
        width = tf.cast(tf.shape(images)[2], tf.float32)
        draws = tf.random.stateless_uniform([4, batch], seed=seed)
        angle = (2.0 * draws[0] - 1.0) * (self.max_rotation_degrees * math.pi / 180.0)
        scale = self.min_crop_fraction + (1.0 - self.min_crop_fraction) * draws[1]
        # The crop moves anywhere inside the image: offsets up to the margin it leaves.
        tx = (2.0 * draws[2] - 1.0) * (1.0 - scale) * width / 2.0
        ty = (2.0 * draws[3] - 1.0) * (1.0 - scale) * height / 2.0
        angle = tf.where(keep, 0.0, angle)
        scale = tf.where(keep, 1.0, scale)
        tx = tf.where(keep, 0.0, tx)
        ty = tf.where(keep, 0.0, ty)
        # Output pixel (x, y) samples input centre + scale * R(angle) (p - centre) + t.
        cx, cy = (width - 1.0) / 2.0, (height - 1.0) / 2.0
        cos, sin = tf.cos(angle) * scale, tf.sin(angle) * scale
        transforms = tf.stack([
            cos, -sin, cx - cos * cx + sin * cy + tx,
            sin, cos, cy - sin * cx - cos * cy + ty,
            tf.zeros_like(cos), tf.zeros_like(cos),
        ], axis=1)
        return tf.raw_ops.ImageProjectiveTransformV3(
            images=images, transforms=transforms, output_shape=tf.shape(images)[1:3],
            fill_value=0.0, interpolation="BILINEAR", fill_mode="REFLECT",
        )


# augment= names for make_dataset. "auto" is safe for any captions: flips always, and rotates and
# crops only images whose captions do not name a position.
AUGMENTATIONS = {
    "none": None,
    "flip": Augmentation(flip_probability=0.5),
    "auto": Augmentation(flip_probability=0.5, max_rotation_degrees=10.0, min_crop_fraction=0.85),
}
