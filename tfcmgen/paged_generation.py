"""Generating any number of images in bounded memory: batches of images, pages of grids.

`tfcmgen generate` with 10,000 captions and `-n 8` asks for 80,000 images. Drawn in one pass they
need gigabytes, and their grid is taller than OpenCV's PNG encoder accepts (2^20 pixels a side,
2^30 in all). Here the images are drawn `batch_size` at a time, and the grid is cut into pages of
at most `PAGE_PIXELS` (`grid.png` for one page, else `grid-0001.png`, `grid-0002.png`, ...), each
written as soon as its images exist: memory stays that of one page, whatever the count.

Example:

>>> grid_pages(10, 8, 64)
[range(0, 10)]
>>> page_paths("out/grid.png", 2)
['out/grid-0001.png', 'out/grid-0002.png']
"""

from __future__ import annotations

import logging
import os

import numpy as np

logger = logging.getLogger(__name__)

# Images per forward pass.
GENERATE_BATCH = 64
# A page holds at most this many pixels (~50 MB as RGB), well inside OpenCV's encoder limits.
PAGE_PIXELS = 1 << 24
# Grid labels are cut to this many characters (a tile shows at most five lines of text anyway).
LABEL_CHARS = 300
# The grid enlarges tiles to at least this many pixels (`caption_grid`'s min_tile).
_MIN_TILE = 128
# Room under a tile for five caption lines, and between tiles (`caption_grid`'s layout).
_TEXT_HEIGHT, _GAP = 100, 4


def keras_batches(generator, captions, num_per_caption: int, seed: int,
                  batch_size: int = GENERATE_BATCH):
    """Yields the uint8 images of a Keras text2image model, `batch_size` at a time, in order.

    They equal `CrossModalGAN.generate(ids repeated num_per_caption times, seed)` in one call: the
    noise `stateless_normal([N, noise_dim], seed=[seed, 0])` is drawn once (4 * noise_dim bytes
    per image) and sliced per batch.

    Args:
        generator: `tfcmgen.jobs.generate.TextToImageGenerator` (`model`, `token_ids`).
        captions: list of str.
        num_per_caption: int >= 1.
        seed: int >= 0.
        batch_size: int >= 1. Images per forward pass. Defaults to `GENERATE_BATCH`.
    """
    import tensorflow as tf

    from tfcmgen.runtime.images import to_uint8

    if not captions:
        return
    ids = np.asarray(generator.token_ids(captions))
    for caption, row in zip(captions, ids):
        if not np.any(row > 1):  # ids 0 and 1 are [PAD] and [UNK]
            logger.warning(
                "caption %r has no word the model knows: it is drawn from [UNK] tokens only",
                caption,
            )
    total = len(ids) * num_per_caption
    noise = tf.random.stateless_normal(
        [total, generator.model.noise_dim], seed=[seed, 0], dtype=tf.float32
    )
    for start in range(0, total, batch_size):
        rows = np.arange(start, min(start + batch_size, total)) // num_per_caption
        images = generator.model(
            {"token_ids": tf.constant(ids[rows], tf.int32),
             "noise": noise[start : start + len(rows)]},
            training=False,
        )
        yield to_uint8(np.asarray(images))


def check_output_path(path: str) -> None:
    """Refuses, before any work, an `-o` that cannot be written as an image file."""
    from tfcmgen.data.image_ops import SUPPORTED_EXTENSIONS

    if not isinstance(path, str) or not path:
        raise ValueError(f"-o must be an image file name such as grid.png; received {path!r}")
    if os.path.isdir(path):
        raise ValueError(f"-o {path!r} is a folder; give an image file name such as grid.png")
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise ValueError(f"-o {path!r}: {parent!r} is a file, not a folder")
    ext = os.path.splitext(path)[1].lower()
    if ext not in SUPPORTED_EXTENSIONS:
        raise ValueError(
            f"-o {path!r}: cannot encode an image as {ext or 'a file without extension'}; use "
            f"one of {list(SUPPORTED_EXTENSIONS)}"
        )


def grid_pages(num_captions: int, num_per_caption: int, image_size: int) -> list[range]:
    """Caption ranges, one per page of at most `PAGE_PIXELS` (one caption row at least).

    A row is `num_per_caption` tiles (enlarged to >= 128 pixels) with up to five caption lines;
    with `num_per_caption` <= 1024 and images <= 256 pixels a single row always fits.
    """
    tile = image_size * max(1, -(-_MIN_TILE // image_size))
    row_pixels = num_per_caption * (tile + _GAP) * (tile + _TEXT_HEIGHT)
    per_page = max(1, PAGE_PIXELS // row_pixels)
    return [range(s, min(s + per_page, num_captions)) for s in range(0, num_captions, per_page)]


def page_paths(out: str, pages: int) -> list[str]:
    """`out` for one page, else `stem-0001.ext`, `stem-0002.ext`, ... beside it."""
    if pages == 1:
        return [out]
    stem, ext = os.path.splitext(out)
    width = max(4, len(str(pages)))
    return [f"{stem}-{i + 1:0{width}d}{ext}" for i in range(pages)]


def write_paged_grid(batches, captions, num_per_caption: int, image_size: int,
                     out: str) -> list[str]:
    """Writes the images `batches` yields (in caption order) as captioned grid pages.

    Args:
        batches: iterator of uint8 [b, S, S, 3] arrays, `len(captions) * num_per_caption`
            images in all, each caption's in a row.
        captions: list of str. One grid row each.
        num_per_caption: int. Images per caption (the columns).
        image_size: int. S.
        out: str. The grid path (one page) or the stem of the page paths.

    Returns:
        The paths written.
    """
    from tfcmgen.data import caption_grid

    pages = grid_pages(len(captions), num_per_caption, image_size)
    paths = page_paths(out, len(pages))
    pending, held = [], 0
    for page, path in zip(pages, paths):
        needed = len(page) * num_per_caption
        while held < needed:
            batch = next(batches)
            pending.append(batch)
            held += len(batch)
        joined = np.concatenate(pending)
        images, rest = joined[:needed], joined[needed:]
        pending, held = ([rest] if len(rest) else []), len(rest)
        labels = [c[:LABEL_CHARS] for c in captions[page.start:page.stop]
                  for _ in range(num_per_caption)]
        caption_grid(images, labels, path, cols=num_per_caption)
        del images, joined
    return paths


def generate_pages(generator, config) -> str:
    """`tfcmgen generate` for a text2image model: bounded batches, grid pages; returns what to
    print (the path, or "N pages: FIRST ... LAST")."""
    captions = list(config.captions)
    if hasattr(generator, "generate_batches"):
        batches = generator.generate_batches(captions, config.num_per_caption, config.seed)
    else:
        if getattr(generator, "task", "text2image") != "text2image":
            generator.generate(captions[:1], 1, config.seed)  # raises its own task message
        batches = keras_batches(generator, captions, config.num_per_caption, config.seed)
    paths = write_paged_grid(batches, captions, config.num_per_caption, generator.image_size,
                             config.out)
    if len(paths) == 1:
        return paths[0]
    return f"{len(paths)} pages: {paths[0]} ... {paths[-1]}"
