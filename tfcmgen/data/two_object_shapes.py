"""The two-object shapes dataset (`shapes2`): two coloured shapes per image and a relation.

Each image holds two shapes side by side (`"horizontal"` layout) or one above the other
(`"vertical"`), drawn with the renderer of the built-in shapes (`shapes.draw_jittered_shape`).
Object `a` is the left one (horizontal) or the top one (vertical), object `b` the other; the two
always differ in both colour and shape, so exchanging their colours, their shapes or the objects
themselves always describes another image. Captions name both objects and their relation in
several phrasings (`PHRASINGS`); `"and"` names it only by word order ("a red circle and a blue
square": the circle is on the left). Colour+shape pairs in `held_out` never appear, as either
object, in split `"train"`.

The ground truth is exact, so a judge can read each object from its own half of the image
(`object_regions`), and the same attributes can be captioned in every phrasing.

Example:

>>> data = load_two_object_shapes(num_images=4, image_size=32, seed=0)
>>> data.images.shape, sorted(data.attributes[0])
((4, 32, 32, 3), ['colour_a', 'colour_b', 'layout', 'shape_a', 'shape_b'])
>>> caption_in({"colour_a": "red", "shape_a": "circle", "colour_b": "blue",
...             "shape_b": "square", "layout": "horizontal"}, "right_of")
'a blue square to the right of a red circle'
"""

from __future__ import annotations

import csv
import os
from typing import Iterable, Sequence

import cv2
import numpy as np

from tfcmgen.data.captioned_images import CaptionedImages
from tfcmgen.data.errors import DatasetError
from tfcmgen.data.shapes import (
    BACKGROUND_RGB,
    COLOURS,
    DEFAULT_HELD_OUT,
    SHAPES,
    SPLITS,
    check_held_out,
    check_load_arguments,
    check_render_arguments,
    draw_jittered_shape,
)

LAYOUTS = ("horizontal", "vertical")
ATTRIBUTE_NAMES = ("colour_a", "shape_a", "colour_b", "shape_b", "layout")
# Phrasing name -> (layout it describes, template). {a} is object a ("a red circle"), {b} object b.
PHRASINGS = {
    "left_of": ("horizontal", "{a} to the left of {b}"),
    "right_of": ("horizontal", "{b} to the right of {a}"),
    # The relation only by word order: the first-named object is on the left.
    "and": ("horizontal", "{a} and {b}"),
    "sides": ("horizontal", "{a} on the left, {b} on the right"),
    "above": ("vertical", "{a} above {b}"),
    "below": ("vertical", "{b} below {a}"),
}
# Object centres as fractions of the image side (x, y), for a and b in each layout.
_CENTRES = {
    "horizontal": ((0.27, 0.5), (0.73, 0.5)),
    "vertical": ((0.5, 0.27), (0.5, 0.73)),
}
# Radius as a fraction of the side. The largest extent (a star point, 1.15 r) with the scale and
# centre jitter (scale up to 1.07: `shapes.draw_jittered_shape`) stays inside the object's half:
# 0.27 + 0.02 + 1.15 * 0.15 * 1.07 = 0.475 < 0.5.
_RADIUS = 0.15
_CENTRE_JITTER = 0.02


def _check_attributes(attrs: dict) -> None:
    if not isinstance(attrs, dict):
        raise ValueError(f"attrs must be a dict of attributes; received {type(attrs).__name__}")
    allowed = {"colour_a": COLOURS, "colour_b": COLOURS, "shape_a": SHAPES, "shape_b": SHAPES,
               "layout": LAYOUTS}
    for name in ATTRIBUTE_NAMES:
        if attrs.get(name) not in allowed[name]:
            raise ValueError(f"attrs[{name!r}] must be one of {list(allowed[name])}; "
                             f"received {attrs.get(name)!r}")


def render_two_objects(attrs: dict, image_size: int = 64, seed: int = 0) -> np.ndarray:
    """Draws one two-object image from its attributes.

    A pure function of `(attrs, image_size, seed)`; the seed's jitter draws (centre, scale, angle,
    shade of each object) do not depend on `attrs`.

    Args:
        attrs: dict with `"colour_a"`, `"shape_a"`, `"colour_b"`, `"shape_b"` (values from
            `COLOURS` and `SHAPES`) and `"layout"` (`"horizontal"` or `"vertical"`).
        image_size: int >= 16. Defaults to 64.
        seed: int >= 0. Render seed. Defaults to 0.

    Returns:
        `np.ndarray` uint8 `[image_size, image_size, 3]`, RGB, on a black background.
    """
    _check_attributes(attrs)
    size = check_render_arguments(image_size, seed)
    rng = np.random.default_rng([int(seed), 2])
    image = np.broadcast_to(np.asarray(BACKGROUND_RGB["black"], np.uint8), (size, size, 3)).copy()
    for key, centre in zip("ab", _CENTRES[attrs["layout"]]):
        draw_jittered_shape(image, rng, attrs[f"shape_{key}"], attrs[f"colour_{key}"], centre,
                            _RADIUS, _CENTRE_JITTER)
    return image


def object_regions(layout: str, image_size: int) -> tuple[tuple[int, int, int, int], ...]:
    """The square region of object a and of object b: two `(top, left, height, width)` boxes.

    Half the image side each, centred on the objects' nominal centres; each holds its whole object
    and nothing of the other (see `_RADIUS`). A judge reads each object from its own region.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {list(LAYOUTS)}; received layout={layout!r}")
    half, quarter = image_size // 2, image_size // 4
    if layout == "horizontal":
        return (quarter, 0, half, half), (quarter, half, half, half)
    return (0, quarter, half, half), (half, quarter, half, half)


def crop_objects(images: np.ndarray, layouts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Crops object a's and object b's regions of each image: two arrays `[N, S/2, S/2, 3]`."""
    images = np.asarray(images)
    if images.ndim != 4 or len(images) != len(layouts):
        raise ValueError(f"images must be [N, S, S, 3] with one layout each; received shape "
                         f"{images.shape} and {len(layouts)} layouts")
    crops = ([], [])
    for image, layout in zip(images, layouts):
        for out, (top, left, h, w) in zip(crops, object_regions(layout, images.shape[1])):
            out.append(image[top:top + h, left:left + w])
    return np.stack(crops[0]), np.stack(crops[1])


def _object_phrase(colour: str, shape: str) -> str:
    article = "an" if colour[0] in "aeiou" else "a"
    return f"{article} {colour} {shape}"


def caption_in(attrs: dict, phrasing: str) -> str:
    """The caption of `attrs` in one phrasing of `PHRASINGS` (which must fit its layout)."""
    _check_attributes(attrs)
    if phrasing not in PHRASINGS:
        raise ValueError(f"phrasing must be one of {list(PHRASINGS)}; received {phrasing!r}")
    layout, template = PHRASINGS[phrasing]
    if attrs["layout"] != layout:
        raise ValueError(f"phrasing {phrasing!r} describes the {layout} layout; received "
                         f"layout={attrs['layout']!r}")
    return template.format(a=_object_phrase(attrs["colour_a"], attrs["shape_a"]),
                           b=_object_phrase(attrs["colour_b"], attrs["shape_b"]))


def phrasings_for(layout: str, phrasings: Iterable[str] = tuple(PHRASINGS)) -> list[str]:
    """The names among `phrasings` that describe `layout`."""
    return [p for p in phrasings if PHRASINGS[p][0] == layout]


def swap_colours(attrs: dict) -> dict:
    """The same attributes with the two objects' colours exchanged ("blue circle ... red square")."""
    return {**attrs, "colour_a": attrs["colour_b"], "colour_b": attrs["colour_a"]}


def sample_attributes(n: int, rng: np.random.Generator, held_out=DEFAULT_HELD_OUT,
                      split: str = "train", layouts: Sequence[str] = LAYOUTS) -> list[dict]:
    """`n` attribute dicts: two objects differing in colour and in shape, layout uniform.

    Split `"train"` uses only pairs outside `held_out`; `"held_out"` has at least one held-out
    object (the other drawn from all pairs); `"all"` draws from all pairs.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {list(SPLITS)}; received split={split!r}")
    held = set(check_held_out(held_out))
    all_pairs = [(c, s) for c in COLOURS for s in SHAPES]
    seen = [p for p in all_pairs if p not in held]
    if split == "held_out" and not held:
        raise DatasetError("split='held_out' needs at least one held-out pair; received none")
    attributes = []
    while len(attributes) < n:
        if split == "held_out":
            first = sorted(held)[int(rng.integers(len(held)))]
            second = all_pairs[int(rng.integers(len(all_pairs)))]
            if rng.random() < 0.5:
                first, second = second, first
        else:
            pool = seen if split == "train" else all_pairs
            first, second = (pool[int(i)] for i in rng.integers(len(pool), size=2))
        if first[0] == second[0] or first[1] == second[1]:
            continue  # the two objects differ in colour and in shape (module docstring)
        attributes.append({"colour_a": first[0], "shape_a": first[1], "colour_b": second[0],
                           "shape_b": second[1],
                           "layout": layouts[int(rng.integers(len(layouts)))]})
    return attributes


def load_two_object_shapes(
    num_images: int = 4000,
    image_size: int = 64,
    seed: int = 0,
    held_out: Iterable[Sequence[str]] = DEFAULT_HELD_OUT,
    split: str = "train",
    phrasings: Iterable[str] = tuple(PHRASINGS),
) -> CaptionedImages:
    """Renders the two-object shapes dataset.

    Every image gets one caption per phrasing that fits its layout (four for side by side, two
    for one above the other, with the default `phrasings`); the same arguments always give the
    same images and captions.

    Args:
        num_images: int >= 1. Defaults to 4000.
        image_size: int >= 16. Defaults to 64.
        seed: int >= 0. Seed of attributes and render seeds. Defaults to 0.
        held_out: iterable of (colour, shape) pairs. Never an object in split "train"; at least
            one object in split "held_out". Defaults to `shapes.DEFAULT_HELD_OUT`.
        split: "train", "held_out" or "all". Defaults to "train".
        phrasings: names from `PHRASINGS`; layouts none of them describes are not drawn.
            Defaults to all.

    Returns:
        `CaptionedImages` with `images` uint8 `[N, S, S, 3]`, `attributes` (see
        `ATTRIBUTE_NAMES`) and `render_seeds`.
    """
    check_load_arguments(num_images, seed, split)
    phrasings = tuple(phrasings)
    unknown = [p for p in phrasings if p not in PHRASINGS]
    if unknown or not phrasings:
        raise ValueError(f"phrasings must be a non-empty selection of {list(PHRASINGS)}; "
                         f"received {list(phrasings)!r}")
    layouts = tuple(layout for layout in LAYOUTS if phrasings_for(layout, phrasings))
    # Its own stream per split (and apart from load_shapes' streams), as in load_shapes.
    rng = np.random.default_rng([int(seed), 100 + SPLITS.index(split)])
    attributes = sample_attributes(int(num_images), rng, held_out, split, layouts)
    render_seeds = [int(s) for s in rng.integers(0, 2**31 - 1, size=len(attributes))]
    images = np.empty((len(attributes), image_size, image_size, 3), np.uint8)
    for i, attrs in enumerate(attributes):
        images[i] = render_two_objects(attrs, image_size, render_seeds[i])
    captions = [[caption_in(a, p) for p in phrasings_for(a["layout"], phrasings)]
                for a in attributes]
    return CaptionedImages(images, captions, attributes, None, f"shapes2[{split}]", render_seeds)


def write_caption_folder(data: CaptionedImages, root: str) -> str:
    """Writes in-memory `CaptionedImages` as a `captions.csv` folder (PNG images); returns the CSV.

    The folder is what `tfcmgen train --data FOLDER` reads: `images/NNNNN.png` and one
    `image,caption` row per caption; no attributes, as a user's folder has none. `root` must not
    exist or be empty: nothing already there is overwritten.
    """
    if not data.in_memory:
        raise ValueError("write_caption_folder needs images in memory (uint8 arrays)")
    if os.path.exists(root) and (not os.path.isdir(root) or os.listdir(root)):
        raise FileExistsError(f"{root} already exists and is not an empty folder; "
                              "choose a new folder")
    os.makedirs(os.path.join(root, "images"), exist_ok=True)
    width = max(5, len(str(len(data) - 1)))
    rows = []
    for i, (image, captions) in enumerate(zip(data.images, data.captions)):
        name = f"images/{i:0{width}d}.png"
        if not cv2.imwrite(os.path.join(root, name), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
            raise OSError(f"could not write {os.path.join(root, name)}")
        rows += [(name, caption) for caption in captions]
    path = os.path.join(root, "captions.csv")
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["image", "caption"])
        writer.writerows(rows)
    return path
