"""`Augmentation`: training-time image augmentation that keeps captions true, in-graph on batches.

A horizontal flip mirrors the image and swaps "left" and "right" in its caption (the caption is
augmented before it is tokenised). Rotation and random crop would move things across the image, so
by default (`position_safe=True`) they are skipped for every caption that names a position ("top",
"left", "corner", "middle", ...); such captions only ever get the flip.

Some captions no swap of words can keep true in a mirror image: "a red circle and a blue square"
says the circle is on the left only by naming it first. `flippable_captions` finds them from the
training captions (the rule is in its docstring); the pipeline passes the result per example
(`flippable=`), and those images are never flipped.

Example:

>>> import tensorflow as tf
>>> aug = Augmentation(flip_probability=1.0)
>>> images = tf.reshape(tf.range(8, dtype=tf.float32), [1, 2, 4, 1])
>>> flipped, captions = aug(images, tf.constant(["a star at the top left"]), seed=[0, 0])
>>> flipped[0, 0, :, 0].numpy().tolist(), captions.numpy().tolist()
([3.0, 2.0, 1.0, 0.0], [b'a star at the top right'])
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from tfcmgen.data.caption_swaps import kind_positions, word_classes
from tfcmgen.data.image_ops import LEFT_RIGHT_PATTERN
from tfcmgen.text.normalize import split_words

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


# Words that say where things are in a way a horizontal flip keeps true: the sides (the flip swaps
# "left" and "right" in the caption, as `LEFT_RIGHT_PATTERN` finds them), vertical places and
# relations ("above", "on top of", "at the bottom") and depth ("in front of", "behind"), which a
# mirror image leaves as they are.
PLACING_WORDS = frozenset({"left", "right", "above", "below", "over", "under", "beneath",
                           "underneath", "top", "bottom", "upper", "lower", "front", "behind"})
# Articles name no thing: "a" and "the" never count as two words of one kind.
_ARTICLES = frozenset({"a", "an", "the"})


def _keeps_flip(words: list[str], classes: dict[str, int]) -> bool:
    """The rule of `flippable_captions` for one caption's normalised words."""
    # placed[k]: placing words among words[:k]; words[i + 1:j] hold placed[j] - placed[i + 1].
    placed = [0]
    for word in words:
        placed.append(placed[-1] + (word in PLACING_WORDS))
    for positions in kind_positions(words, classes).values():
        named = [i for i in positions if words[i] not in PLACING_WORDS and words[i] not in _ARTICLES]
        for a, i in enumerate(named):
            for j in named[a + 1:]:
                if words[i] != words[j] and j > i + 1 and placed[j] == placed[i + 1]:
                    return False
    return True


def flippable_captions(captions, classes: dict[str, int] | None = None) -> np.ndarray:
    """Which captions stay true when their image is mirrored (with "left"/"right" swapped).

    The rule: a caption is **not** flippable when it holds two different words of one kind
    (two colours, two objects: kinds as `caption_swaps.word_classes` learns them from the
    captions, by substitution), not next to each other, with no placing word between them
    (`PLACING_WORDS`: left/right, which the flip swaps; above/below/over/under/top/bottom/
    upper/lower, front/behind, which a mirror image keeps true). Every other caption is
    flippable.

    Why this holds: two different words of one kind name two things (or two parts) of the image.
    When a placing word stands between them, it says where the second is relative to the first
    ("a red circle to the left of / above a blue square", "a red circle on the left, a blue
    square on the right"), and after the flip the swapped or kept word says it again. When none
    does, the only thing left to say where they are is the order in which they are named ("a red
    circle and a blue square": the circle is on the left), and the mirror image reverses that
    order, so the caption would become false. Two equal words ("a red circle and a red square"
    has one colour) swap nothing, and two adjacent words ("a big red circle", if sizes and colours
    share a kind) describe one thing. Captions of one thing therefore stay flippable.

    What it costs: captions that name two things which word order does not place lose their
    flips although a mirror image keeps them true: "a bird with a red head and black wings",
    "a red circle on a blue background", "to the left of a blue square is a red circle" (the
    placing word is not between the two). That loses flips on those captions, never makes a
    caption false. It does not catch a pair whose kind the captions never show by substitution
    ("a cat and a dog" when no caption has another animal in either place): the rule is as good
    as the kinds learnt, which grow with the number of captions. Every pair of a kind is checked,
    so "a red circle above a blue square and a green star" is caught (nothing places the square
    and the star); but a placing word between two things is taken to place them, so where it
    places a third thing instead ("a red circle under a lamp and a blue square") the pair's
    order is missed.

    Args:
        captions: iterable of str: the training captions (all of them: kinds are learnt from them).
        classes: dict from word to kind id, or None. None learns them from `captions` with
            `word_classes(captions, max_document_frequency=1.0)`: a colour in most captions
            still names a thing, so no word is left out for being common. Defaults to None.

    Returns:
        bool array `[len(captions)]`, True where the caption may be flipped.

    Example:

    >>> flippable_captions(["a red circle and a blue square",
    ...                     "a red circle to the left of a blue square",
    ...                     "a red circle above a blue square",
    ...                     "a red circle", "a blue circle", "a red square"]).tolist()
    [False, True, True, True, True, True]
    """
    captions = list(captions)
    if classes is None:
        # A copy: the cached array is shared by every call with these captions.
        return _flippable_with_learnt_kinds(tuple(captions)).copy()
    return _flippable(captions, classes)


@functools.lru_cache(maxsize=2)
def _flippable_with_learnt_kinds(captions: tuple) -> np.ndarray:
    """`flippable_captions` with kinds learnt from `captions`, computed once per caption set:
    training asks twice for the same captions (`decide_augmentation`, then `make_dataset`), and
    learning the kinds takes seconds on 100,000 captions."""
    return _flippable(list(captions), word_classes(captions, max_document_frequency=1.0))


def _flippable(captions: list, classes: dict[str, int]) -> np.ndarray:
    known: dict[str, bool] = {}
    flags = np.empty(len(captions), bool)
    for row, caption in enumerate(captions):
        if caption not in known:
            known[caption] = _keeps_flip(split_words(caption), classes)
        flags[row] = known[caption]
    return flags


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
            "right" are swapped with it); examples that `__call__`'s `flippable` marks False
            never flip. Defaults to 0.5.
        max_rotation_degrees: float >= 0. Rotation angle drawn from [-max, max]; the corners
            are filled by reflection. Defaults to 0.
        min_crop_fraction: float in (0, 1]. Side of the random square crop, as a fraction of the
            image side, drawn from [min, 1]; the crop is scaled back to full size. 1 disables
            cropping. Defaults to 1.
        position_safe: bool. Skip rotation and crop for captions that name a position.
            Defaults to True.

    Example:

    >>> aug = AUGMENTATIONS["flip+rotate"]
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

    def __call__(self, images: tf.Tensor, captions: tf.Tensor, seed, other_captions=None,
                 flippable=None):
        """Augments a batch: images `[B, H, W, C]` (uint8 or float), captions tf.string `[B]`, seed
        int `[2]`. Returns `(images, captions)`.

        `other_captions` (tf.string `[B]`, e.g. the mismatched captions) are flipped with their
        image too, so a mismatch stays the same mismatch; then `(images, captions,
        other_captions)` is returned. `flippable` (bool `[B]`, from `flippable_captions` of the
        training captions) says which examples may flip; None lets every one. Deterministic for a
        given seed (stateless random ops).
        """
        seed = tf.cast(seed, tf.int64)
        batch = tf.shape(images)[0]
        if self.flip_probability > 0.0:
            flip = tf.random.stateless_uniform([batch], seed=seed) < self.flip_probability
            if flippable is not None:
                flip = flip & tf.cast(flippable, tf.bool)
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


# augment= names for make_dataset and TrainConfig.augment. Flips swap "left"/"right" in the caption;
# rotation and crop touch only images whose captions name no position ("position_safe").
AUGMENTATIONS = {
    "none": None,
    "flip": Augmentation(flip_probability=0.5),
    "rotate": Augmentation(flip_probability=0.0, max_rotation_degrees=10.0,
                           min_crop_fraction=0.85),
    "flip+rotate": Augmentation(flip_probability=0.5, max_rotation_degrees=10.0,
                                min_crop_fraction=0.85),
}
# "auto" is not an augmentation but a decision: `decide_augmentation` picks one of the above.
AUGMENT_CHOICES = ("auto", *AUGMENTATIONS)

# Held-out accuracy above which a small classifier "tells" transformed images from untransformed
# ones: the transform makes images the data does not hold. Chance is 0.5 (standard error 0.02 on the
# 512 held-out images). Measured at 32x32: mirrored MNIST digits 0.96; the built-in shapes, whose
# shading is slightly one-sided, 0.58-0.63 over four seeds; rotated digits (10 degrees) 0.50.
TELLS_APART = 0.75
# Below this many images the held-out half is too small for the test to mean anything: no
# augmentation then.
MIN_DECISION_IMAGES = 128


@dataclass(frozen=True)
class AugmentationDecision:
    """What `decide_augmentation` found: the chosen name, the captions a flip keeps true and the
    two measured accuracies. `str()` says it in one line (the runner logs it).

    Attributes:
        augment: str. One of `AUGMENTATIONS`.
        flip_accuracy: float or None. Held-out accuracy of telling images from their mirror
            images (None: not measured, too few images or no caption may be flipped).
        rotate_accuracy: float or None. The same for rotated images (None: not measured, too few
            images or no caption allows rotation).
        seconds: float. Time the decision took.
        flip_captions: int or None. Captions a mirror image keeps true (`flippable_captions`);
            flips apply to these only. None: no captions were given.
        caption_count: int or None. Captions looked at (all captions of all images).
        too_few_images: bool. Fewer than `MIN_DECISION_IMAGES` images: nothing was tested.
    """

    augment: str
    flip_accuracy: float | None
    rotate_accuracy: float | None
    seconds: float
    flip_captions: int | None = None
    caption_count: int | None = None
    too_few_images: bool = False

    @property
    def flip_share(self) -> float | None:
        """Share of captions a mirror image keeps true (None without captions)."""
        if not self.caption_count:
            return None
        return self.flip_captions / self.caption_count

    def _captions_text(self) -> str:
        share = self.flip_share
        if share is None:
            return ""
        order_only = ("name two things of one kind (two colours, two objects) whose sides only "
                      "the word order gives, as in 'a red circle and a blue square', which a "
                      "mirror image makes false")
        if share == 1.0:
            return f"all {self.caption_count} captions may be flipped (100%); "
        if share == 0.0:
            return (f"no flip at all: none of the {self.caption_count} captions may be flipped "
                    f"(0%), they all {order_only}; ")
        kept = "keep their flips" if "flip" in self.augment else "may be flipped"
        return (f"{self.flip_captions} of {self.caption_count} captions ({share:.0%}) {kept}, "
                f"the other {self.caption_count - self.flip_captions} {order_only}; ")

    def __str__(self):
        captions = self._captions_text()
        if self.too_few_images:
            return (f"augment={self.augment!r}: {captions}too few images to test whether "
                    f"mirroring or rotation keeps them like the data's (at least "
                    f"{MIN_DECISION_IMAGES})")
        told, untested = [], []
        if self.flip_accuracy is None:
            untested.append("mirroring (no caption may be flipped)")
        else:
            told.append(f"their mirror images with accuracy {self.flip_accuracy:.2f}")
        if self.rotate_accuracy is None:
            untested.append("rotation (every caption names a position)")
        else:
            told.append(f"rotated ones with {self.rotate_accuracy:.2f}")
        tests = []
        if told:
            tests.append(f"a small classifier tells images from {' and from '.join(told)} (above "
                         f"{TELLS_APART} means the transform makes images the data does not "
                         f"hold, so it is off)")
        if untested:
            tests.append(f"not tested: {', '.join(untested)}")
        return f"augment={self.augment!r}: {captions}{'; '.join(tests)}"


def _telling_apart_accuracy(originals, transformed, seed, epochs=6):
    """Held-out accuracy of a small CNN told to separate two image sets (uint8 [N, S, S, 3])."""
    import keras
    import numpy as np

    n = len(originals)
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    half = n // 2
    # Each image is in one half only, with its transformed twin: the test is on unseen images.
    train_idx, test_idx = order[:half], order[half:]

    def stack(indices):
        x = np.concatenate([originals[indices], transformed[indices]]).astype("float32") / 127.5 - 1
        y = np.concatenate([np.zeros(len(indices)), np.ones(len(indices))]).astype("float32")
        return x, y

    x_train, y_train = stack(train_idx)
    x_test, y_test = stack(test_idx)
    keras.utils.set_random_seed(int(seed))
    model = keras.Sequential([
        keras.Input(originals.shape[1:]),
        keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu"),
        keras.layers.Conv2D(32, 3, strides=2, padding="same", activation="relu"),
        keras.layers.Conv2D(32, 3, strides=2, padding="same", activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(1),
    ])
    model.compile(keras.optimizers.Adam(2e-3),
                  keras.losses.BinaryCrossentropy(from_logits=True))
    model.fit(x_train, y_train, batch_size=32, epochs=epochs, shuffle=True, verbose=0)
    logits = model.predict(x_test, batch_size=256, verbose=0)[:, 0]
    return float(np.mean((logits > 0) == (y_test > 0.5)))


def decide_augmentation(images, captions=None, seed=0, max_images=1024, size=32):
    """Decides from the data which augmentation keeps images like the data's: `"auto"`.

    A small classifier (three strided convolutions) is trained for a few seconds to tell images
    from their mirror images, then from rotated ones (up to 10 degrees, as `"rotate"` does; both
    sides cropped alike, so resampling blur gives nothing away). If it tells them apart on images
    it did not train on (held-out accuracy above `TELLS_APART`), the transform makes images the
    data does not hold (a mirrored R, a 9 from a 6) and is left out. Symmetric data (shapes,
    birds, faces) keeps both.

    The captions decide too: flips apply only to captions a mirror image keeps true
    (`flippable_captions`), and when none is ("a red circle and a blue square" in every caption)
    there is no flip at all and the mirror test is skipped. The decision says what share of the
    captions keep their flips.

    Args:
        images: uint8 array [N, H, W, 3]. Fewer than `MIN_DECISION_IMAGES` give "none".
        captions: list or None. Per image, its caption (str) or all its captions (list of str).
            Images whose captions all name a position never rotate (`position_safe`), so if all
            do the rotation test is skipped.
        seed: int. Seeds the sample, the transforms and the classifier. Defaults to 0.
        max_images: int. Images used at most. Defaults to 1024.
        size: int. Side the images are resized to for the test. Defaults to 32.

    Returns:
        AugmentationDecision.
    """
    import time

    import numpy as np

    started = time.monotonic()
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"decide_augmentation needs uint8 images [N, H, W, 3]; received "
                         f"shape {images.shape}")
    per_image = None
    flip_captions = caption_count = None
    if captions is not None:
        per_image = [[c] if isinstance(c, (str, bytes)) else list(c) for c in captions]
        if len(per_image) != len(images):
            raise ValueError(f"decide_augmentation needs one caption (or list of captions) per "
                             f"image; received {len(per_image)} for {len(images)} images")
        flags = flippable_captions([c for image_captions in per_image for c in image_captions])
        flip_captions, caption_count = int(flags.sum()), len(flags)
    counts = {"flip_captions": flip_captions, "caption_count": caption_count}
    if len(images) < MIN_DECISION_IMAGES:
        return AugmentationDecision("none", None, None, time.monotonic() - started,
                                    too_few_images=True, **counts)
    rng = np.random.default_rng(seed)
    chosen = rng.permutation(len(images))[:max_images]
    sample = tf.image.resize(tf.constant(images[chosen]), [size, size], antialias=True)
    sample = tf.cast(tf.clip_by_value(tf.round(sample), 0, 255), tf.uint8)
    flip_accuracy = None
    if flip_captions != 0:
        flip_accuracy = _telling_apart_accuracy(sample.numpy(), tf.reverse(sample, [2]).numpy(),
                                                seed)
    rotate_accuracy = None
    if per_image is not None:
        # An image can rotate when one of its captions names no position.
        owner = np.concatenate([np.full(len(per_image[i]), k) for k, i in enumerate(chosen)])
        placed = names_position(tf.constant([c for i in chosen for c in per_image[i]])).numpy()
        moving = np.bincount(owner[~placed], minlength=len(chosen)) > 0
    else:
        moving = np.ones(len(chosen), bool)
    if moving.sum() >= 8:
        pool = tf.boolean_mask(sample, moving)
        crop = Augmentation(flip_probability=0.0, min_crop_fraction=0.85, position_safe=False)
        turn = Augmentation(flip_probability=0.0, max_rotation_degrees=10.0,
                            min_crop_fraction=0.85, position_safe=False)
        keep = tf.zeros([tf.shape(pool)[0]], tf.bool)
        # The same seed gives the same crops; only `turn` also rotates.
        plain = crop._transform(pool, keep, tf.constant([seed, 7], tf.int64))
        turned = turn._transform(pool, keep, tf.constant([seed, 7], tf.int64))
        rotate_accuracy = _telling_apart_accuracy(plain.numpy(), turned.numpy(), seed + 1)
    flip = flip_accuracy is not None and flip_accuracy <= TELLS_APART
    rotate = rotate_accuracy is not None and rotate_accuracy <= TELLS_APART
    augment = {(True, True): "flip+rotate", (True, False): "flip", (False, True): "rotate",
               (False, False): "none"}[(flip, rotate)]
    return AugmentationDecision(augment, flip_accuracy, rotate_accuracy,
                                time.monotonic() - started, **counts)
