"""Captioned image grids as PNG files: dataset previews, sample grids during training, generations.

Small tiles are enlarged (nearest neighbour, so pixels stay visible) to at least `min_tile` pixels,
and each caption is wrapped under its tile in OpenCV's Hershey font (ASCII only: other characters
are shown as "?"). Files are written atomically: a temporary file in the same folder, then
`os.replace`, so a reader never sees half a PNG.

Example:

>>> import os, tempfile, numpy as np
>>> path = os.path.join(tempfile.mkdtemp(), "grid.png")
>>> grid = caption_grid(np.zeros((3, 32, 32, 3), np.uint8), ["a", "b", "c"], path, cols=2)
>>> grid.shape[1], os.path.exists(path)
(260, True)
"""

from __future__ import annotations

import os

import cv2
import numpy as np

from tfcmgen.atomic import write_bytes_atomic
from tfcmgen.data.captioned_images import CaptionedImages
from tfcmgen.data.image_ops import SUPPORTED_EXTENSIONS, to_uint8

_FONT = cv2.FONT_HERSHEY_SIMPLEX
# Scale 0.4 at thickness 1 is the smallest Hershey text that stays legible; ~7 px per character.
_FONT_SCALE = 0.4
_PAD = 4
_MAX_LINES = 5


def _ascii(text: str) -> str:
    return "".join(c if 32 <= ord(c) < 127 else "?" for c in " ".join(str(text).split()))


def _text_width(text: str) -> int:
    return cv2.getTextSize(text, _FONT, _FONT_SCALE, 1)[0][0]


def wrap_text(text: str, width: int, max_lines: int = _MAX_LINES) -> list[str]:
    """Splits `text` into lines at most `width` pixels wide in the grid font (long words are cut);
    more than `max_lines` lines end in "..."."""
    lines: list[str] = []
    current = ""
    for word in _ascii(text).split(" "):
        while _text_width(word) > width and len(word) > 1:  # a word wider than the tile
            cut = len(word)
            while cut > 1 and _text_width(word[:cut]) > width:
                cut -= 1
            if current:
                lines.append(current)
                current = ""
            lines.append(word[:cut])
            word = word[cut:]
        candidate = f"{current} {word}" if current else word
        if _text_width(candidate) <= width:
            current = candidate
        else:
            lines.append(current)
            current = word
    if current:
        lines.append(current)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        last = lines[-1]
        while last and _text_width(last + "...") > width:
            last = last[:-1]
        lines[-1] = last + "..."
    return lines


def _extension(path: str) -> str:
    ext = os.path.splitext(path)[1].lower() or ".png"
    if ext not in SUPPORTED_EXTENSIONS:
        raise ValueError(f"cannot encode an image as {ext!r} for {path}; use one of "
                         f"{list(SUPPORTED_EXTENSIONS)}")
    return ext


def _write_atomic(path: str, image_rgb: np.ndarray) -> None:
    ext = _extension(path)
    ok, encoded = cv2.imencode(ext, cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError(f"OpenCV could not encode the grid as {ext} for {path}")
    write_bytes_atomic(path, encoded.tobytes())


def caption_grid(
    images,
    captions: list[str],
    path: str | None = None,
    cols: int = 4,
    min_tile: int = 128,
) -> np.ndarray:
    """Lays images out in a grid with each caption wrapped under its tile, optionally saved.

    Args:
        images: uint8 `[N, H, W, 3]` RGB (float images in [-1, 1], as models produce, are
            converted).
        captions: list of N str.
        path: str or None. Where to write the grid (.png or .jpg), atomically. Defaults to None
            (only return it).
        cols: int >= 1. Tiles per row. Defaults to 4.
        min_tile: int >= 16. Tiles narrower than this are enlarged by an integer factor until they
            reach it, so 64-pixel samples get legible captions. Defaults to 128.

    Returns:
        The grid, uint8 `[rows * cell height, cols * cell width, 3]` RGB.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8:
        if not np.issubdtype(images.dtype, np.floating):
            raise ValueError(f"images must be uint8 or float in [-1, 1]; received {images.dtype}")
        images = to_uint8(images)
    if images.ndim != 4 or images.shape[-1] != 3 or len(images) == 0:
        raise ValueError(f"images must be [N, H, W, 3] with N >= 1; received {images.shape}")
    if len(captions) != len(images):
        raise ValueError(f"got {len(images)} images but {len(captions)} captions")
    if isinstance(cols, bool) or not isinstance(cols, (int, np.integer)) or cols < 1:
        raise ValueError(f"cols must be an int >= 1; received cols={cols!r}")
    if isinstance(min_tile, bool) or not isinstance(min_tile, (int, np.integer)) or min_tile < 16:
        raise ValueError(f"min_tile must be an int >= 16; received min_tile={min_tile!r}")
    if path is not None:
        _extension(os.fspath(path))  # fail before drawing
    n, height, width = images.shape[:3]
    factor = max(1, -(-min_tile // width))
    tile_h, tile_w = height * factor, width * factor
    (_, text_h), baseline = cv2.getTextSize("Ag", _FONT, _FONT_SCALE, 1)
    line_h = text_h + baseline + 3
    wrapped = [wrap_text(c, tile_w - 2 * _PAD) for c in captions]
    text_area = max(len(w) for w in wrapped) * line_h + 2 * _PAD
    cell_h, cell_w = tile_h + text_area, tile_w + _PAD
    cols = min(cols, n)
    rows = -(-n // cols)
    grid = np.full((rows * cell_h, cols * cell_w - _PAD, 3), 255, np.uint8)
    for i, (image, lines) in enumerate(zip(images, wrapped)):
        top, left = (i // cols) * cell_h, (i % cols) * cell_w
        tile = image if factor == 1 else cv2.resize(image, (tile_w, tile_h),
                                                    interpolation=cv2.INTER_NEAREST)
        grid[top:top + tile_h, left:left + tile_w] = tile
        for j, line in enumerate(lines):
            y = top + tile_h + _PAD + (j + 1) * line_h - baseline - 2
            cv2.putText(grid, line, (left + _PAD, y), _FONT, _FONT_SCALE, (0, 0, 0), 1, cv2.LINE_AA)
    if path is not None:
        _write_atomic(os.fspath(path), grid)
    return grid


def write_preview_grid(data: CaptionedImages, path: str, n: int = 16, cols: int = 4,
                       image_size: int = 128) -> np.ndarray:
    """Writes a captioned grid of the first `n` images of a dataset (first caption of each).

    Args:
        data: `CaptionedImages`, in memory or as paths (only the shown images are decoded).
        path: str. Output .png (or .jpg), written atomically.
        n: int >= 1. Number of images (fewer if the dataset is smaller). Defaults to 16.
        cols: int >= 1. Tiles per row. Defaults to 4.
        image_size: int. Side of decoded tiles for datasets given as paths. Defaults to 128.

    Example:

    >>> import os, tempfile
    >>> from tfcmgen.data import load_shapes
    >>> path = os.path.join(tempfile.mkdtemp(), "preview.png")
    >>> _ = write_preview_grid(load_shapes(num_images=8, image_size=32), path, n=8)
    >>> os.path.getsize(path) > 0
    True
    """
    from tfcmgen.data.folders import decode_images  # folders imports much more than a preview needs

    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be an int >= 1; received n={n!r}")
    shown = data.subset(range(min(int(n), len(data))))
    if not shown.in_memory:
        shown = decode_images(shown, image_size)
    return caption_grid(shown.images, [c[0] for c in shown.captions], path, cols=cols)
