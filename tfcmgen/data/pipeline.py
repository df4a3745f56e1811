"""From `CaptionedImages` to a `tf.data` pipeline of images, caption ids and mismatched caption ids.

Images are decoded once (OpenCV, thread pool) and kept in memory as uint8; everything after that
runs in TensorFlow on whole batches: pick one caption per image (a new random choice every epoch),
pick a mismatched caption from another image (with different attributes when attributes are known),
augment images together with their captions, tokenise, scale images to [-1, 1].

Example:

>>> from tfcmgen.data import load_shapes
>>> data = load_shapes(num_images=32, image_size=32)
>>> def tokenizer(strings):  # any callable tf.string [B] -> int32 [B, L]; normally CaptionTokenizer
...     words = tf.strings.split(strings).to_tensor(shape=[None, 8])
...     return tf.strings.to_hash_bucket_fast(words, 100)
>>> ds = make_dataset(data, tokenizer, image_size=32, batch_size=8)
>>> batch = next(iter(ds))
>>> batch["image"].shape, batch["token_ids"].shape
(TensorShape([8, 32, 32, 3]), TensorShape([8, 8]))
"""

from __future__ import annotations

import logging
import os
from typing import Callable, Sequence

import numpy as np
import tensorflow as tf

from tfcmgen.data.augmentation import (
    AUGMENTATIONS,
    Augmentation,
    decide_augmentation,
    flippable_captions,
)
from tfcmgen.data.captioned_images import CaptionedImages
from tfcmgen.data.errors import DatasetError
from tfcmgen.data.folders import decode_images, load_folder
from tfcmgen.data.shapes import load_shapes

logger = logging.getLogger(__name__)


def _load_shapes_dataset(image_size: int = 64, **kwargs) -> CaptionedImages:
    return load_shapes(image_size=image_size, **kwargs)


def _load_two_object_shapes_dataset(image_size: int = 64, **kwargs) -> CaptionedImages:
    from tfcmgen.data.two_object_shapes import load_two_object_shapes

    kwargs.pop("captions_per_image", None)  # one caption per phrasing that fits the image
    return load_two_object_shapes(image_size=image_size, **kwargs)


# Built-in datasets by name; anything else given to load_dataset is a folder or caption file.
DATASETS: dict[str, Callable[..., CaptionedImages]] = {
    "shapes": _load_shapes_dataset,
    "shapes2": _load_two_object_shapes_dataset,
}


def load_dataset(name_or_path: str, format: str | None = None, image_size: int = 64,
                 **kwargs) -> CaptionedImages:
    """Loads a built-in dataset by name (`DATASETS`) or a folder dataset, decoded into memory.

    A registered name wins over a folder of the same name; write "./shapes" for the folder.

    Args:
        name_or_path: str. "shapes", "shapes2" (two objects and a relation, see
            `two_object_shapes`), or a dataset folder / caption file (see `load_folder`).
        format: None, "csv", "jsonl" or "cub". Folder datasets only. Defaults to None (detect).
        image_size: int. Side of the square images. Defaults to 64.
        **kwargs: passed on: `num_images`, `seed`, `held_out`, `captions_per_image`, `split` for
            shapes; `strict`, `max_pixels`, `workers` for folders.

    Example:

    >>> load_dataset("shapes", image_size=32, num_images=4).images.shape
    (4, 32, 32, 3)
    """
    name_or_path = os.fspath(name_or_path)
    if name_or_path in DATASETS:
        if format is not None:
            raise ValueError(f"format applies to folder datasets, not to {name_or_path!r}; "
                             f"received format={format!r}")
        return DATASETS[name_or_path](image_size=image_size, **kwargs)
    return load_folder(name_or_path, format=format, image_size=image_size, **kwargs)


def _group_ids(keys) -> np.ndarray:
    """int64 id per key, equal keys alike, numbered in order of first appearance."""
    index: dict[tuple, int] = {}
    return np.array([index.setdefault(key, len(index)) for key in keys], np.int64)


def _attribute_keys(data: CaptionedImages, mismatch_on: Sequence[str] | None):
    """Per image, the tuple of its `mismatch_on` attribute values (None: all); None without
    attributes."""
    if data.attributes is None:
        return None
    names = sorted({k for a in data.attributes for k in a}) if mismatch_on is None \
        else list(mismatch_on)
    return [tuple(a.get(k) for k in names) for a in data.attributes]


def _mismatch_tables(data: CaptionedImages, mismatch_on: Sequence[str] | None):
    """Images sorted by group (same attributes, or each image alone), and each image's group span.

    Drawing k uniformly from [0, N - group size) and skipping over the image's own group span in
    the sorted order gives a uniform draw among the images of other groups, in-graph and exact.
    """
    n = len(data)
    keys = _attribute_keys(data, mismatch_on)
    groups = np.arange(n, dtype=np.int64) if keys is None else _group_ids(keys)
    order = np.argsort(groups, kind="stable")
    counts = np.bincount(groups)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    if counts.max() == n:
        raise DatasetError(
            f"{data.name}: mismatched captions need images with different attributes; all {n} "
            "image(s) share the same attributes" if data.attributes is not None else
            f"{data.name}: mismatched captions need at least 2 images; received {n}"
        )
    return order, starts[groups], counts[groups]


def _near_miss_tables(data: CaptionedImages, mismatch_on: Sequence[str] | None):
    """Tables for drawing, for image i and attribute a, an image equal to i in every attribute
    of `mismatch_on` except a, and different in a ("near misses"); None without attributes.

    For each attribute a the images are sorted by (all attributes but a, all attributes), so the
    images agreeing with i on all but a form one span and i's own group a sub-span of it; a
    uniform draw from the span with i's sub-span skipped is a uniform near miss. Returns int64
    arrays [A, N]: `order`, and per image `span_start`, `span_size`, `own_start`, `own_size`.
    """
    keys = _attribute_keys(data, mismatch_on)
    if keys is None:
        return None
    full = _group_ids(keys)
    own_size = np.bincount(full)[full]
    tables = {name: [] for name in ("order", "span_start", "span_size", "own_start", "own_size")}
    for position in range(len(keys[0])):
        rest = _group_ids(key[:position] + key[position + 1:] for key in keys)
        order = np.lexsort((full, rest))  # by rest, then by full group
        inverse = np.empty_like(order)
        inverse[order] = np.arange(len(order))
        rest_counts = np.bincount(rest)
        span_start = np.concatenate([[0], np.cumsum(rest_counts)[:-1]])[rest]
        # The first sorted position of i's own group: its lowest position among equal groups.
        first = np.full(full.max() + 1, len(order), np.int64)
        np.minimum.at(first, full, inverse)
        tables["order"].append(order)
        tables["span_start"].append(span_start)
        tables["span_size"].append(rest_counts[rest])
        tables["own_start"].append(first[full])
        tables["own_size"].append(own_size)
    return {name: np.stack(rows).astype(np.int64) for name, rows in tables.items()}


def _resolve_augmentation(augment, data=None, seed=0) -> Augmentation | None:
    if augment is None or isinstance(augment, Augmentation):
        return augment
    if isinstance(augment, str) and augment in AUGMENTATIONS:
        return AUGMENTATIONS[augment]
    if augment == "auto" and data is not None:
        decision = decide_augmentation(data.images, data.captions, seed=seed)
        logger.warning("%s: %s", data.name, decision)
        return AUGMENTATIONS[decision.augment]
    raise ValueError(f"augment must be None, an Augmentation, 'auto' or one of "
                     f"{list(AUGMENTATIONS)}; received augment={augment!r}")


def make_dataset(
    data: CaptionedImages,
    tokenizer: Callable[[tf.Tensor], tf.Tensor],
    image_size: int = 64,
    batch_size: int = 64,
    shuffle: bool = True,
    augment: str | Augmentation | None = None,
    seed: int = 0,
    deterministic: bool = False,
    drop_remainder: bool = True,
    repeat: bool = False,
    mismatch_on: Sequence[str] | None = None,
    near_miss: float = 0.0,
    include_captions: bool = False,
    swap_negatives: float = 0.0,
    word_dropout: float = 0.0,
    caption_near_miss: bool = False,
) -> tf.data.Dataset:
    """Builds the training (or evaluation) `tf.data.Dataset`.

    Yields dicts `{"image": float32 [B, S, S, 3] in [-1, 1], "token_ids": int32 [B, L],
    "mismatched_token_ids": int32 [B, L]}`. Each epoch draws a new caption for every image, and a
    mismatched caption from another image; the matching-aware discriminator needs both.

    Args:
        data: `CaptionedImages`. Paths are decoded now (skipping unusable images with a warning);
            pixels of another size are centre-cropped and resized.
        tokenizer: callable from tf.string `[B]` to int32 `[B, L]`, usually a `CaptionTokenizer`.
        image_size: int. Side of the square images. Defaults to 64.
        batch_size: int >= 1. Defaults to 64.
        shuffle: bool. Reshuffle the images every epoch. Defaults to True.
        augment: None, an `Augmentation`, a name of `AUGMENTATIONS` ("none", "flip", "rotate",
            "flip+rotate") or "auto". Flips swap "left"/"right" in the caption and never touch
            an image whose chosen caption a mirror image makes false ("a red circle and a blue
            square": `flippable_captions`, decided once from all training captions); rotation
            and crop touch only images whose caption names no position. "auto" decides from the
            images and captions (`decide_augmentation`: no flip where a small classifier tells
            images from their mirror images or no caption may be flipped, no rotation likewise)
            and logs the decision; resolve it once with `decide_augmentation` when building
            datasets repeatedly. Defaults to None.
        seed: int. Seed of shuffling, caption choice and augmentation. Defaults to 0.
        deterministic: bool. Same batches in the same order on every run (for tests); otherwise
            parallel map may reorder batches for speed. Defaults to False.
        drop_remainder: bool. Drop the last partial batch, so every batch has a static size (as
            `tf.distribute` needs). Defaults to True.
        repeat: bool. Repeat forever (one shuffle per pass). Defaults to False.
        mismatch_on: sequence of attribute names or None. A mismatched caption comes from an image
            differing in at least one of these; None means all attributes. Ignored without
            attributes (then any other image). Defaults to None.
        near_miss: float in [0, 1]. Share of mismatched captions drawn as near misses: from an
            image that differs in exactly one attribute of `mismatch_on` (chosen uniformly) and
            agrees on the others, e.g. "a red star" for "a red circle". Random mismatches mostly
            differ in the attributes that are easiest to see, so the discriminator can ignore
            the hard ones (shape); near misses make every attribute count. Where no image
            differs in just the chosen attribute, the mismatch is drawn as usual. Needs
            attributes; ignored without them. Defaults to 0 (uniform mismatches only).
        include_captions: bool. Also yield the chosen strings as "caption" and
            "mismatched_caption" (after augmentation), for inspection. Defaults to False.
        swap_negatives: float in [0, 1]. Share of mismatched captions replaced by the image's
            own caption with two words of one kind exchanged ("a blue circle left of a red
            square" for "a red circle left of a blue square") or the two sides of a relation
            exchanged (`tfcmgen.data.caption_swaps`): hard negatives that only a text encoder
            binding attributes to objects tells apart. Derived from the caption text, so it works
            without attributes; captions with no such rewrite keep their usual mismatch.
            Defaults to 0.
        word_dropout: float in [0, 1). Chance that each word of the matching caption becomes
            `[UNK]` (id 1): the model learns that a caption missing a word (the text encoder masks
            `[UNK]`) still describes the image, as user captions with unknown words do. `[PAD]`
            stays. Defaults to 0.
        caption_near_miss: bool. For data without attributes, draw the `near_miss` share of
            mismatched captions as other images' captions that differ from the chosen caption
            in exactly one word (`tfcmgen.data.caption_near_misses`). Defaults to False.
    """
    if not isinstance(data, CaptionedImages):
        raise ValueError(f"data must be CaptionedImages; received {type(data).__name__}")
    if not callable(tokenizer):
        raise ValueError(f"tokenizer must be callable (e.g. a CaptionTokenizer); "
                         f"received {type(tokenizer).__name__}")
    for name, value in (("image_size", image_size), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be an int >= 1; received {name}={value!r}")
    if isinstance(near_miss, bool) or not isinstance(near_miss, (int, float, np.floating)) \
            or not 0.0 <= near_miss <= 1.0:
        raise ValueError(f"near_miss must be a float in [0, 1]; received near_miss={near_miss!r}")
    if isinstance(swap_negatives, bool) \
            or not isinstance(swap_negatives, (int, float, np.floating)) \
            or not 0.0 <= swap_negatives <= 1.0:
        raise ValueError("swap_negatives must be a float in [0, 1]; "
                         f"received swap_negatives={swap_negatives!r}")
    if isinstance(word_dropout, bool) or not isinstance(word_dropout, (int, float, np.floating)) \
            or not 0.0 <= word_dropout < 1.0:
        raise ValueError(f"word_dropout must be a float in [0, 1); "
                         f"received word_dropout={word_dropout!r}")
    _resolve_augmentation(None if augment == "auto" else augment)  # a bad name fails early
    data = decode_images(data, image_size)
    augmentation = _resolve_augmentation(augment, data, seed)
    n = len(data)
    if drop_remainder and n < batch_size:
        fits = 1 << max(0, (n // 2).bit_length() - 1) if n >= 2 else 1
        raise DatasetError(f"{data.name} has {n} training images, fewer than batch_size="
                           f"{batch_size}, so no full batch can be drawn; use a batch size of at "
                           f"most {n} (e.g. --batch-size {fits}) or add images")
    order, group_start, group_size = _mismatch_tables(data, mismatch_on)
    if data.attributes is None and len(set(data.all_captions())) == 1:
        logger.warning("%s: all %d captions are the same text, so no mismatched caption can "
                       "differ from the right one: the model will learn to ignore the text",
                       data.name, len(data.all_captions()))
    near = _near_miss_tables(data, mismatch_on) if near_miss > 0.0 else None
    caption_near = None
    if caption_near_miss and near is None and near_miss > 0.0:
        from tfcmgen.data.caption_near_misses import near_miss_table

        caption_near = near_miss_table(data.captions, seed=seed)

    counts = np.array([len(c) for c in data.captions], np.int64)
    caption_start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    tables = {
        "images": tf.constant(data.images),
        "captions": tf.constant(data.all_captions(), tf.string),
        "caption_start": tf.constant(caption_start),
        "caption_count": tf.constant(counts),
        "order": tf.constant(order, tf.int64),
        "group_start": tf.constant(group_start, tf.int64),
        "group_size": tf.constant(group_size, tf.int64),
    }
    if near is not None:
        tables.update({f"near_{name}": tf.constant(value) for name, value in near.items()})
        near_attributes = near["order"].shape[0]
    if caption_near is not None:
        tables["caption_near"] = tf.constant(caption_near)
        tables["caption_near_count"] = tf.constant((caption_near >= 0).sum(axis=1))
    if augmentation is not None and augmentation.flip_probability > 0.0:
        flippable = flippable_captions(data.all_captions())
        if not flippable.all():
            # Per caption (indexed like "captions"): a mirror image keeps it true.
            tables["flippable"] = tf.constant(flippable)
            logger.info("%s: %d of %d captions (%.0f%%) may be flipped; the others name two "
                        "things whose sides only the word order gives", data.name,
                        flippable.sum(), len(flippable), 100.0 * flippable.mean())
    if swap_negatives > 0.0:
        from tfcmgen.data.caption_swaps import swap_table

        tables["swaps"] = tf.constant(swap_table(data.all_captions(), seed=seed).tolist(),
                                      tf.string)

    def caption_index(indices, uniform):
        count = tf.gather(tables["caption_count"], indices)
        k = tf.minimum(tf.cast(uniform * tf.cast(count, tf.float32), tf.int64), count - 1)
        return tf.gather(tables["caption_start"], indices) + k

    def pick_caption(indices, uniform):
        return tf.gather(tables["captions"], caption_index(indices, uniform))

    def swapped_captions(caption_ids, mismatched, seed_pair):
        """The caption's swapped rewrite (a random one of its two) for a `swap_negatives` share."""
        draws = tf.random.stateless_uniform([2, tf.shape(caption_ids)[0]],
                                            seed=seed_pair + tf.constant([0, 5], tf.int64))
        options = tf.gather(tables["swaps"], caption_ids)  # [B, 2], "" where there is none
        column = tf.cast(draws[1] < 0.5, tf.int32)
        chosen = tf.gather(options, column, batch_dims=1)
        chosen = tf.where(chosen == "", tf.gather(options, 1 - column, batch_dims=1), chosen)
        return tf.where((draws[0] < swap_negatives) & (chosen != ""), chosen, mismatched)

    def near_misses(indices, attribute_draw, draw, fallback):
        """One near miss per image (see `_near_miss_tables`), `fallback` where there is none."""
        attribute = tf.minimum(tf.cast(attribute_draw * near_attributes, tf.int64),
                               near_attributes - 1)
        at = tf.stack([attribute, indices], axis=1)
        span_start, span_size, own_start, own_size = (
            tf.gather_nd(tables[f"near_{name}"], at)
            for name in ("span_start", "span_size", "own_start", "own_size"))
        available = span_size - own_size
        k = tf.minimum(tf.cast(draw * tf.cast(available, tf.float32), tf.int64),
                       tf.maximum(available - 1, 0))
        position = span_start + tf.where(k >= own_start - span_start, k + own_size, k)
        position = tf.minimum(position, n - 1)  # in range even where there is no near miss
        picked = tf.gather_nd(tables["near_order"], tf.stack([attribute, position], axis=1))
        return tf.where(available > 0, picked, fallback)

    def build_batch(indices, batch_seed):
        seed_pair = tf.stack([batch_seed, tf.constant(seed, tf.int64)])
        draws = tf.random.stateless_uniform([6, tf.shape(indices)[0]], seed=seed_pair)
        caption_ids = caption_index(indices, draws[0])
        captions = tf.gather(tables["captions"], caption_ids)
        # Uniform among images of other groups: skip over this image's own group span.
        size = tf.gather(tables["group_size"], indices)
        start = tf.gather(tables["group_start"], indices)
        available = n - size
        k = tf.minimum(tf.cast(draws[1] * tf.cast(available, tf.float32), tf.int64), available - 1)
        others = tf.gather(tables["order"], tf.where(k >= start, k + size, k))
        if near is not None:
            others = tf.where(draws[3] < near_miss, near_misses(indices, draws[4], draws[5], others),
                              others)
        mismatched = pick_caption(others, draws[2])
        if caption_near is not None:
            # One of the chosen caption's near misses (uniform among those it has).
            count = tf.gather(tables["caption_near_count"], caption_ids)
            column = tf.minimum(tf.cast(draws[4] * tf.cast(count, tf.float32), tf.int64),
                                tf.maximum(count - 1, 0))
            picked = tf.gather(tables["caption_near"], caption_ids)
            picked = tf.gather(picked, column, batch_dims=1)
            use = (draws[3] < near_miss) & (count > 0)
            mismatched = tf.where(use, tf.gather(tables["captions"], tf.maximum(picked, 0)),
                                  mismatched)
        if swap_negatives > 0.0:
            mismatched = swapped_captions(caption_ids, mismatched, seed_pair)

        # Augmented as uint8: a quarter of the memory traffic of float32.
        images = tf.gather(tables["images"], indices)
        if augmentation is not None:
            # The mismatched caption flips with the image: a near miss stays a near miss. (A
            # drawn mismatch naming, by word order alone, exactly the mirrored image would become
            # true: as rare as a random mismatch that is true of the unflipped image.)
            may_flip = tf.gather(tables["flippable"], caption_ids) \
                if "flippable" in tables else None
            images, captions, mismatched = augmentation(
                images, captions, seed_pair + tf.constant([0, 1], tf.int64), mismatched,
                flippable=may_flip)
        batch_shape = [batch_size if drop_remainder else None]
        token_ids = tf.cast(tokenizer(captions), tf.int32)
        if word_dropout > 0.0:
            drop = tf.random.stateless_uniform(
                tf.shape(token_ids), seed=seed_pair + tf.constant([0, 2], tf.int64))
            # Only words (ids >= 2) drop; [PAD] (0) and [UNK] (1) stay as they are.
            token_ids = tf.where((drop < word_dropout) & (token_ids > 1), 1, token_ids)
        batch = {
            "image": tf.ensure_shape(tf.cast(images, tf.float32) / 127.5 - 1.0,
                                     batch_shape + [image_size, image_size, 3]),
            "token_ids": tf.ensure_shape(token_ids, batch_shape + [None]),
            "mismatched_token_ids": tf.ensure_shape(tf.cast(tokenizer(mismatched), tf.int32),
                                                    batch_shape + [None]),
        }
        if include_captions:
            batch["caption"] = captions
            batch["mismatched_caption"] = mismatched
        return batch

    dataset = tf.data.Dataset.range(n)
    if shuffle:
        dataset = dataset.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        dataset = dataset.repeat()
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    # One int64 per batch seeds all its random draws; new draws every epoch, same for a given seed.
    batch_seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
    dataset = tf.data.Dataset.zip(dataset, batch_seeds)
    dataset = dataset.map(build_batch, num_parallel_calls=tf.data.AUTOTUNE,
                          deterministic=deterministic)
    options = tf.data.Options()
    options.deterministic = bool(deterministic)
    return dataset.with_options(options).prefetch(tf.data.AUTOTUNE)
