"""Judging two-object images object by object: is each shape, its colour and its side right?

The judge is an `AttributeClassifier` with a colour and a shape head, trained on the regions of
real two-object renders (`two_object_shapes.object_regions`): one object per region, of every
colour+shape pair, held-out ones included (they are held out of the generator's training only).
A generated image is read region by region from its caption's layout, so an image whose colours
landed on the wrong object, or whose objects swapped sides, is wrong on both objects.

Example:

>>> judge = train_object_judge(image_size=32, num_images=64, epochs=1, verbose=0)  # doctest: +SKIP
>>> judge_two_objects(judge, images, attributes)["both"].mean()  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

from tfcmgen.metrics.attribute_classifier import AttributeClassifier

OBJECT_ATTRIBUTES = ("colour", "shape")


def _object_labels(attributes: Sequence[dict]) -> list[dict]:
    """Per image, the labels of object a then object b: 2N dicts, a's first."""
    return [{"colour": a[f"colour_{k}"], "shape": a[f"shape_{k}"]}
            for k in "ab" for a in attributes]


def train_object_judge(image_size: int = 64, num_images: int = 6000, epochs: int = 4,
                       seed: int = 1, minutes: float | None = None, verbose="auto",
                       **kwargs) -> AttributeClassifier:
    """Trains the per-object judge on real two-object renders of every colour+shape pair.

    Args:
        image_size: int. Side of the images to judge; the judge reads regions of half that side.
            Defaults to 64.
        num_images: int. Rendered images (two regions each). Defaults to 6000.
        epochs: int. Defaults to 4.
        seed: int. Rendering and training seed; keep it apart from the generator's data seed.
            Defaults to 1.
        minutes: float or None. Wall-clock budget. Defaults to None.
        verbose: passed to `fit`.
        **kwargs: `AttributeClassifier` arguments (`width`, `feature_dim`, `noise_stddev`).

    Returns:
        an `AttributeClassifier` over `{"colour": COLOURS, "shape": SHAPES}` at `image_size // 2`.
    """
    from tfcmgen.data.shapes import COLOURS, SHAPES
    from tfcmgen.data.two_object_shapes import crop_objects, load_two_object_shapes

    keras.utils.set_random_seed(seed)
    data = load_two_object_shapes(num_images, image_size, seed=seed, split="all")
    first, second = crop_objects(data.images, [a["layout"] for a in data.attributes])
    judge = AttributeClassifier({"colour": list(COLOURS), "shape": list(SHAPES)},
                                image_size=image_size // 2, **{"width": 16, **kwargs})
    judge.fit_attributes(np.concatenate([first, second]), _object_labels(data.attributes),
                         epochs=epochs, minutes=minutes, seed=seed, verbose=verbose)
    return judge


def judge_two_objects(judge: AttributeClassifier, images, attributes: Sequence[dict]) -> dict:
    """Reads both objects of each image and compares them with `attributes`.

    Args:
        judge: a classifier from `train_object_judge`.
        images: `[N, S, S, 3]` uint8 or float in [-1, 1].
        attributes: N two-object attribute dicts (what the captions asked for).

    Returns:
        dict of bool arrays `[N]`: `"colour_a"`, `"shape_a"`, `"colour_b"`, `"shape_b"`,
        `"object_a"`, `"object_b"` (colour and shape right) and `"both"` (both objects right,
        each on its own side).
    """
    from tfcmgen.data.two_object_shapes import crop_objects

    images = np.asarray(images)
    if len(images) != len(attributes):
        raise ValueError(f"images and attributes must have the same length; received "
                         f"{len(images)} images and {len(attributes)} attribute dicts")
    first, second = crop_objects(images, [a["layout"] for a in attributes])
    predicted = judge.predict_attributes(np.concatenate([first, second]))
    n = len(attributes)
    result = {}
    for k, offset in (("a", 0), ("b", n)):
        for name in OBJECT_ATTRIBUTES:
            result[f"{name}_{k}"] = np.array(
                [predicted[name][offset + i] == attrs[f"{name}_{k}"]
                 for i, attrs in enumerate(attributes)])
        result[f"object_{k}"] = result[f"colour_{k}"] & result[f"shape_{k}"]
    result["both"] = result["object_a"] & result["object_b"]
    return result
