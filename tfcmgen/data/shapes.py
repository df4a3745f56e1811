"""The built-in `shapes` dataset: one coloured shape per image, drawn with OpenCV, with captions.

Every image is a pure function of its attributes and a render seed: the seed only moves the shape
a little, scales and turns it slightly, shades its colour and draws the background texture, always
with the same random draws whatever the attributes are. So `render_shape` with one attribute changed
and the same seed draws the exact edit target (same place, same size, same background).

Attribute values are listed in constants (`COLOURS`, `SHAPES`, ...) whose order is the class order
metrics use. The shape colours are saturated and bright, the backgrounds dark, so every colour stays
distinguishable from every background.

Example:

>>> data = load_shapes(num_images=8, image_size=32, seed=0)
>>> data.images.shape, len(data.captions[0])
((8, 32, 32, 3), 5)
>>> caption_for({"colour": "red", "shape": "circle", "size": "small", "position": "top left",
...              "background": "black"})
'a small red circle in the top left'
"""

from __future__ import annotations

from typing import Iterable, Sequence

import cv2
import numpy as np

from tfcmgen.data.captioned_images import CaptionedImages
from tfcmgen.data.errors import DatasetError

# RGB; hue steps of at least ~30 degrees between neighbours, all bright (see module docstring).
COLOUR_RGB = {
    "red": (222, 32, 32),
    "orange": (255, 140, 0),
    "yellow": (245, 225, 30),
    "green": (40, 190, 60),
    "cyan": (30, 210, 220),
    "blue": (45, 95, 250),
    "magenta": (220, 40, 210),
    "white": (240, 240, 240),
}
COLOURS = tuple(COLOUR_RGB)
SHAPES = ("circle", "square", "triangle", "diamond", "cross", "star")
SIZES = ("small", "large")
# Centre of each position as a fraction of the image side (x, y).
POSITION_CENTRES = {
    "top left": (0.28, 0.28),
    "top right": (0.72, 0.28),
    "bottom left": (0.28, 0.72),
    "bottom right": (0.72, 0.72),
    "center": (0.5, 0.5),
}
POSITIONS = tuple(POSITION_CENTRES)
# Plain backgrounds are dark so that every shape colour (value >= 200) stands out; "textured" is a
# dark grey noise drawn from the render seed.
BACKGROUND_RGB = {
    "black": (0, 0, 0),
    "grey": (62, 62, 62),
    "navy": (16, 22, 70),
    "brown": (72, 44, 22),
    "textured": None,
}
BACKGROUNDS = tuple(BACKGROUND_RGB)

ATTRIBUTE_VALUES = {
    "colour": COLOURS,
    "shape": SHAPES,
    "size": SIZES,
    "position": POSITIONS,
    "background": BACKGROUNDS,
}
ATTRIBUTE_NAMES = tuple(ATTRIBUTE_VALUES)
# The attributes every caption names (the background only sometimes): an image that differs only
# in its background can carry a caption that is true of this one, so it is no mismatch.
CAPTIONED_ATTRIBUTES = ("colour", "shape", "size", "position")

# What a horizontal flip does to a position (used to check flipped captions against images).
MIRRORED_POSITIONS = {
    "top left": "top right",
    "top right": "top left",
    "bottom left": "bottom right",
    "bottom right": "bottom left",
    "center": "center",
}

# Colour + shape pairs that never appear in the "train" split (composition test, issue 2).
DEFAULT_HELD_OUT = (("green", "triangle"), ("blue", "circle"), ("yellow", "star"))

SPLITS = ("train", "held_out", "all")

# Shape radius as a fraction of the image side. Small and large stay apart after the seeded
# scale jitter (0.13 * 1.07 < 0.2 * 0.93), and the largest extent (a star or triangle point,
# 1.15 * 0.2 * 1.07 = 0.246) of a shape in a corner stays inside the image (0.28 - 0.025 = 0.255).
_RADIUS = {"small": 0.13, "large": 0.2}
_SCALE_JITTER = (0.93, 1.07)
_CENTRE_JITTER = 0.025
_ANGLE_JITTER = 10.0
_SHADE_JITTER = (0.9, 1.0)
_SHIFT = 4  # OpenCV sub-pixel bits: coordinates are drawn at 1/16 pixel precision.

_COLOUR_WORDS = {
    "red": ["red"],
    "orange": ["orange"],
    "yellow": ["yellow"],
    "green": ["green"],
    "cyan": ["cyan", "aqua", "turquoise"],
    "blue": ["blue"],
    "magenta": ["magenta", "fuchsia"],
    "white": ["white"],
}
_SHAPE_WORDS = {
    "circle": ["circle", "disc", "round shape", "dot"],
    "square": ["square", "box", "block"],
    "triangle": ["triangle", "three-sided shape"],
    "diamond": ["diamond", "rhombus", "lozenge"],
    "cross": ["cross", "plus sign", "plus"],
    "star": ["star", "five-pointed star"],
}
_SIZE_WORDS = {"small": ["small", "little", "tiny"], "large": ["large", "big", "huge"]}
# Bare position phrases; each corner phrase names "left" or "right" so flips can swap it.
_POSITION_WORDS = {
    "top left": ["top left", "upper left", "top-left"],
    "top right": ["top right", "upper right", "top-right"],
    "bottom left": ["bottom left", "lower left", "bottom-left"],
    "bottom right": ["bottom right", "lower right", "bottom-right"],
    "center": ["center", "middle", "centre"],
}
_BACKGROUND_WORDS = {
    "black": ["black"],
    "grey": ["grey", "gray", "dark grey"],
    "navy": ["navy", "navy coloured"],
    "brown": ["brown", "dark brown"],
    "textured": ["textured", "noisy", "speckled"],
}
# {a} is the article, decided from the word that follows it.
_TEMPLATES = (
    "{a} {size} {colour} {shape} {where}",
    "{place}: {a} {size} {colour} {shape}",
    "there is {a} {size} {colour} {shape} {where}",
    "{a} {colour} {shape}, {size}, {where}",
    "{a} {size} {shape} coloured {colour}, {where}",
    "{size} {colour} {shape} {where} {on_background}",
    "the image shows {a} {size} {colour} {shape} {where} {on_background}",
    "{a} {size} {colour} {shape} sits {where}",
    "{where} there is {a} {size} {colour} {shape}",
    "{a} {colour} {shape} of {size} size {where}",
    "{on_background}, {a} {size} {colour} {shape} {where}",
    "{a} {size} {colour} {shape} {on_background} {where}",
    "{place} of the picture: {a} {size} {colour} {shape}",
    "one {size} {colour} {shape} placed {where}",
)


def _check_attributes(attrs: dict, names=ATTRIBUTE_NAMES) -> None:
    if not isinstance(attrs, dict):
        raise ValueError(f"attrs must be a dict of attributes; received {type(attrs).__name__}")
    for name in names:
        values = ATTRIBUTE_VALUES[name]
        if attrs.get(name) not in values:
            raise ValueError(
                f"attrs[{name!r}] must be one of {list(values)}; received {attrs.get(name)!r}"
            )


def _regular_polygon(n: int, radius: float, start: float) -> np.ndarray:
    angles = start + np.arange(n) * 2.0 * np.pi / n
    return np.stack([np.cos(angles), np.sin(angles)], axis=1) * radius


def _outline(shape: str, r: float) -> np.ndarray:
    """Polygon of `shape` around (0, 0), y pointing down, before rotation."""
    if shape == "square":
        h = 0.88 * r
        return np.array([[-h, -h], [h, -h], [h, h], [-h, h]])
    if shape == "triangle":
        # Equilateral, point up, centred on its centroid; larger than r to match the others' area.
        return _regular_polygon(3, 1.15 * r, -np.pi / 2)
    if shape == "diamond":
        return np.array([[0.0, -1.12 * r], [0.85 * r, 0.0], [0.0, 1.12 * r], [-0.85 * r, 0.0]])
    if shape == "cross":
        a, w = r, 0.34 * r
        return np.array([[-w, -a], [w, -a], [w, -w], [a, -w], [a, w], [w, w], [w, a], [-w, a],
                         [-w, w], [-a, w], [-a, -w], [-w, -w]])
    if shape == "star":
        outer = _regular_polygon(5, 1.15 * r, -np.pi / 2)
        inner = _regular_polygon(5, 0.5 * r, -np.pi / 2 + np.pi / 5)
        return np.stack([outer, inner], axis=1).reshape(10, 2)
    raise ValueError(f"no outline for shape {shape!r}")


def _background(name: str, size: int, rng: np.random.Generator) -> np.ndarray:
    rgb = BACKGROUND_RGB[name]
    if rgb is not None:
        return np.broadcast_to(np.asarray(rgb, np.uint8), (size, size, 3)).copy()
    # Dark grey noise at two scales; values stay within [10, 80], well below any shape colour.
    coarse = rng.uniform(0.0, 1.0, (max(2, size // 8), max(2, size // 8))).astype(np.float32)
    fine = rng.uniform(0.0, 1.0, (size, size)).astype(np.float32)
    noise = 0.6 * cv2.resize(coarse, (size, size), interpolation=cv2.INTER_LINEAR) + 0.4 * fine
    grey = (10.0 + 70.0 * noise).astype(np.uint8)
    return np.repeat(grey[:, :, None], 3, axis=2)


def render_shape(attrs: dict, image_size: int = 64, seed: int = 0) -> np.ndarray:
    """Draws one shapes image from its attributes.

    A pure function of `(attrs, image_size, seed)`: the seed fixes the small jitter of position,
    scale, angle and shade and the background texture, and these draws do not depend on `attrs`;
    so changing one attribute with the same seed draws the exact edit target.

    Args:
        attrs: dict with keys "colour", "shape", "size", "position", "background", values from
            `COLOURS`, `SHAPES`, `SIZES`, `POSITIONS`, `BACKGROUNDS`. Other keys are ignored.
        image_size: int >= 16. Side of the square image. Defaults to 64.
        seed: int >= 0. Render seed. Defaults to 0.

    Returns:
        `np.ndarray` uint8 `[image_size, image_size, 3]`, RGB.

    Example:

    >>> attrs = {"colour": "red", "shape": "star", "size": "large", "position": "center",
    ...          "background": "textured"}
    >>> image = render_shape(attrs, 32, seed=3)
    >>> image.shape, image.dtype.name
    ((32, 32, 3), 'uint8')
    >>> target = render_shape({**attrs, "colour": "blue"}, 32, seed=3)  # same star, now blue
    """
    _check_attributes(attrs)
    size = check_render_arguments(image_size, seed)
    # Two independent streams: geometry draws never shift when the background changes.
    image = _background(attrs["background"], size, np.random.default_rng([int(seed), 1]))
    return draw_jittered_shape(
        image, np.random.default_rng([int(seed), 0]), attrs["shape"], attrs["colour"],
        POSITION_CENTRES[attrs["position"]], _RADIUS[attrs["size"]], _CENTRE_JITTER,
    )


def check_render_arguments(image_size, seed) -> int:
    """The image side as an int; ValueError unless `image_size` is an int >= 16 and `seed` an
    int >= 0 (the render functions' arguments)."""
    if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)) \
            or image_size < 16:
        raise ValueError(f"image_size must be an int >= 16; received {image_size!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an int >= 0; received {seed!r}")
    return int(image_size)


def draw_jittered_shape(image: np.ndarray, rng: np.random.Generator, shape: str, colour: str,
                        centre, radius: float, centre_jitter: float) -> np.ndarray:
    """Draws one shape onto `image` (uint8 `[S, S, 3]`, in place) with the render seed's jitter.

    Four draws from `rng`, always the same ones whatever the attributes: the centre's shift
    (up to `centre_jitter` of the side each way), the scale, the angle and the colour's shade.

    Args:
        image: `np.ndarray` uint8 `[S, S, 3]`, drawn on in place and returned.
        rng: `np.random.Generator`. The render seed's geometry stream.
        shape: one of `SHAPES`.
        colour: one of `COLOURS`.
        centre: (x, y). The nominal centre as fractions of the image side.
        radius: float. The nominal radius as a fraction of the image side.
        centre_jitter: float. The largest shift of the centre, as a fraction of the side.
    """
    size = image.shape[0]
    dx, dy = rng.uniform(-centre_jitter, centre_jitter, 2) * size
    scale = rng.uniform(*_SCALE_JITTER)
    angle = np.deg2rad(rng.uniform(-_ANGLE_JITTER, _ANGLE_JITTER))
    shade = rng.uniform(*_SHADE_JITTER)
    fx, fy = centre
    rgb = tuple(int(round(c * shade)) for c in COLOUR_RGB[colour])
    return draw_shape(image, shape, rgb, (fx * size + dx, fy * size + dy), radius * scale * size,
                      angle)


def draw_shape(image: np.ndarray, shape: str, rgb, centre, radius: float,
               angle: float = 0.0) -> np.ndarray:
    """Draws one filled, anti-aliased shape onto `image` (uint8 `[S, S, 3]`, in place).

    The drawing step of `draw_jittered_shape`, without the jitter.

    Args:
        image: `np.ndarray` uint8 `[S, S, 3]`, drawn on in place and returned.
        shape: one of `SHAPES`.
        rgb: three ints in [0, 255].
        centre: (x, y) in pixels.
        radius: float. In pixels (see `_outline` for each shape's extent).
        angle: float. Rotation in radians. Defaults to 0.
    """
    if shape not in SHAPES:
        raise ValueError(f"shape must be one of {list(SHAPES)}; received shape={shape!r}")
    centre = np.asarray(centre, np.float64)
    one = 1 << _SHIFT
    if shape == "circle":
        cv2.circle(image, tuple(int(v) for v in np.round(centre * one)), int(round(radius * one)),
                   tuple(rgb), -1, cv2.LINE_AA, _SHIFT)
    else:
        c, s = np.cos(angle), np.sin(angle)
        points = _outline(shape, radius) @ np.array([[c, s], [-s, c]]) + centre
        cv2.fillPoly(image, [np.round(points * one).astype(np.int32)], tuple(rgb), cv2.LINE_AA,
                     _SHIFT)
    return image


def _with_article(text: str) -> str:
    # "a" / "an" from the first letter of the word after each "{a}" marker.
    words = text.split(" ")
    for i, word in enumerate(words[:-1]):
        if word == "\0":
            words[i] = "an" if words[i + 1][:1].lower() in "aeiou" else "a"
    return " ".join(words)


def _where_phrase(position: str, word: str, rng: np.random.Generator) -> str:
    if position == "center":
        return str(rng.choice([f"in the {word}", f"at the {word}", f"in the {word} of the image"]))
    return str(rng.choice([f"in the {word}", f"in the {word} corner", f"at the {word}"]))


def _one_caption(attrs: dict, rng: np.random.Generator) -> str:
    def pick(options):
        return str(options[int(rng.integers(len(options)))])

    position_word = pick(_POSITION_WORDS[attrs["position"]])
    background = pick(_BACKGROUND_WORDS[attrs["background"]])
    fields = {
        "a": "\0",
        "size": pick(_SIZE_WORDS[attrs["size"]]),
        "colour": pick(_COLOUR_WORDS[attrs["colour"]]),
        "shape": pick(_SHAPE_WORDS[attrs["shape"]]),
        "where": _where_phrase(attrs["position"], position_word, rng),
        "place": position_word if attrs["position"] != "center" else f"the {position_word}",
        "on_background": pick([f"on a {background} background", f"on {background}",
                               f"against a {background} background"]),
    }
    text = _with_article(pick(_TEMPLATES).format(**fields))
    text = text.replace("on a \0", "on a").replace("\0", "a")
    # Some surface variety: capitalised first letter, final full stop.
    if rng.random() < 0.3:
        text = text[0].upper() + text[1:]
    if rng.random() < 0.3:
        text += "."
    return text


def make_captions(attrs: dict, rng: np.random.Generator | int | None = None,
                  n: int = 5) -> list[str]:
    """Describes one shapes image in `n` different ways (templates and synonyms).

    Every caption names the colour, shape, size and position; some also name the background.
    Corner positions always contain the word "left" or "right", so a flip can swap them.

    Args:
        attrs: dict of attributes (see `render_shape`).
        rng: `np.random.Generator` or int seed. Defaults to None (seed 0).
        n: int >= 1. Number of captions; distinct when the templates allow. Defaults to 5.

    Example:

    >>> attrs = {"colour": "red", "shape": "circle", "size": "small", "position": "top left",
    ...          "background": "black"}
    >>> len(make_captions(attrs, 0, n=3))
    3
    """
    _check_attributes(attrs)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be an int >= 1; received {n!r}")
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(0 if rng is None else rng)
    captions: list[str] = []
    for _ in range(20 * n):
        caption = _one_caption(attrs, rng)
        if caption not in captions:
            captions.append(caption)
            if len(captions) == n:
                break
    while len(captions) < n:
        captions.append(_one_caption(attrs, rng))
    return captions


def caption_for(attrs: dict) -> str:
    """The one canonical caption of some attributes: "a small red circle in the top left".

    Needs colour, shape, size and position (`CAPTIONED_ATTRIBUTES`); the background, which the
    canonical caption does not name, may be absent.
    """
    _check_attributes(attrs, CAPTIONED_ATTRIBUTES)
    return f"a {attrs['size']} {attrs['colour']} {attrs['shape']} in the {attrs['position']}"


def check_held_out(held_out: Iterable[Sequence[str]]) -> tuple[tuple[str, str], ...]:
    """The distinct (colour, shape) pairs of `held_out`; ValueError naming any other item."""
    pairs = []
    for pair in held_out or ():
        if isinstance(pair, str) or len(pair) != 2 or pair[0] not in COLOURS \
                or pair[1] not in SHAPES:
            raise ValueError(
                "held_out must be (colour, shape) pairs with colour in "
                f"{list(COLOURS)} and shape in {list(SHAPES)}; received {pair!r}"
            )
        pairs.append((str(pair[0]), str(pair[1])))
    return tuple(dict.fromkeys(pairs))


def check_load_arguments(num_images, seed, split) -> None:
    """ValueError unless `num_images` is an int >= 1, `seed` an int >= 0 and `split` one of
    `SPLITS` (the dataset loaders' arguments)."""
    if isinstance(num_images, bool) or not isinstance(num_images, (int, np.integer)) \
            or num_images < 1:
        raise ValueError(f"num_images must be an int >= 1; received {num_images!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an int >= 0; received {seed!r}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {list(SPLITS)}; received split={split!r}")


def load_shapes(
    num_images: int = 2000,
    image_size: int = 64,
    seed: int = 0,
    held_out: Iterable[Sequence[str]] = DEFAULT_HELD_OUT,
    captions_per_image: int = 5,
    split: str = "train",
) -> CaptionedImages:
    """Renders the built-in shapes dataset.

    Attributes are drawn uniformly (colour and shape as a pair from the pairs the split allows),
    then each image is rendered from its attributes and its own render seed, and captioned.
    The same arguments always give the same images and captions.

    Args:
        num_images: int >= 1. Number of images. Defaults to 2000.
        image_size: int >= 16. Side of the square images (32, 64, 128, 256 all work). Defaults
            to 64.
        seed: int >= 0. Seed of attributes, render seeds and captions. Defaults to 0.
        held_out: iterable of (colour, shape) pairs. Never in split "train"; the only pairs in
            split "held_out". Defaults to `DEFAULT_HELD_OUT`.
        captions_per_image: int >= 1. Defaults to 5.
        split: "train", "held_out" or "all". Defaults to "train".

    Returns:
        `CaptionedImages` with `images` uint8 `[N, S, S, 3]`, `attributes` and `render_seeds`.

    Example:

    >>> data = load_shapes(num_images=16, image_size=32, split="held_out")
    >>> sorted({(a["colour"], a["shape"]) for a in data.attributes}) <= sorted(DEFAULT_HELD_OUT)
    True
    """
    check_load_arguments(num_images, seed, split)
    held = check_held_out(held_out)
    all_pairs = [(c, s) for c in COLOURS for s in SHAPES]
    pairs = {
        "train": [p for p in all_pairs if p not in held],
        "held_out": list(held),
        "all": all_pairs,
    }[split]
    if not pairs:
        raise DatasetError(f"split={split!r} has no colour+shape pairs with held_out={held!r}")

    # One stream per split, so "train" and "held_out" with the same seed are different images.
    rng = np.random.default_rng([int(seed), SPLITS.index(split)])
    n = int(num_images)
    pair_ids = rng.integers(len(pairs), size=n)
    others = {name: rng.integers(len(ATTRIBUTE_VALUES[name]), size=n)
              for name in ("size", "position", "background")}
    render_seeds = rng.integers(0, 2**31 - 1, size=n)
    attributes = []
    for i in range(n):
        colour, shape = pairs[pair_ids[i]]
        attrs = {"colour": colour, "shape": shape}
        attrs.update({name: ATTRIBUTE_VALUES[name][ids[i]] for name, ids in others.items()})
        attributes.append({name: attrs[name] for name in ATTRIBUTE_NAMES})
    images = np.empty((n, image_size, image_size, 3), np.uint8)
    for i, attrs in enumerate(attributes):
        images[i] = render_shape(attrs, image_size, int(render_seeds[i]))
    captions = [make_captions(attrs, rng, captions_per_image) for attrs in attributes]
    return CaptionedImages(images, captions, attributes, None, f"shapes[{split}]",
                           [int(s) for s in render_seeds])
