"""Captioned preview grids: layout, legible text, atomic writes."""

import os

import cv2
import numpy as np
import pytest

from tfcmgen.data import CaptionedImages, load_shapes
from tfcmgen.data.preview import caption_grid, wrap_text, write_preview_grid


def text_rows(grid, top, bottom):
    """Rows of the grid between top and bottom that hold dark (text) pixels."""
    return np.nonzero((grid[top:bottom] < 128).any(axis=(1, 2)))[0]


def test_grid_layout_upscales_small_tiles_and_writes_text(tmp_path):
    images = np.stack([np.full((32, 32, 3), 40 * i, np.uint8) for i in range(1, 6)])
    path = tmp_path / "grid.png"
    grid = caption_grid(images, [f"caption number {i}" for i in range(5)], str(path), cols=3)
    # 32-px tiles are enlarged 4x to 128 px; 3 columns, 2 rows.
    assert grid.shape[1] == 3 * 128 + 2 * 4
    tile_plus_text = grid.shape[0] // 2
    np.testing.assert_array_equal(grid[:128, :128], 40)
    np.testing.assert_array_equal(grid[:128, 132:260], 80)
    assert len(text_rows(grid, 128, tile_plus_text)) > 5  # caption drawn under the tile
    written = cv2.imread(str(path))[:, :, ::-1]
    np.testing.assert_array_equal(written, grid)
    assert os.listdir(tmp_path) == ["grid.png"]  # no temporary file left behind


def test_long_captions_wrap_within_the_tile():
    caption = "a very long caption " * 6 + "supercalifragilisticexpialidociousword"
    lines = wrap_text(caption, 120, max_lines=50)
    assert len(lines) > 3
    for line in lines:
        assert cv2.getTextSize(line, cv2.FONT_HERSHEY_SIMPLEX, 0.4, 1)[0][0] <= 120
    assert " ".join(lines).replace(" ", "") .startswith("averylongcaption")
    short = wrap_text(caption, 120, max_lines=2)
    assert len(short) == 2 and short[-1].endswith("...")
    grid = caption_grid(np.zeros((1, 64, 64, 3), np.uint8), [caption])
    assert grid.shape[1] == 128  # text never widens the grid


def test_non_ascii_and_float_images():
    grid = caption_grid(np.zeros((2, 8, 8, 3), np.float32) - 1.0, ["café ☃", "ok"], cols=2)
    assert grid.dtype == np.uint8 and grid[0, 0, 0] == 0
    assert wrap_text("café ☃", 200) == ["caf? ?"]


def test_bad_arguments_are_named(tmp_path):
    images = np.zeros((2, 8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="2 images but 1 captions"):
        caption_grid(images, ["one"])
    with pytest.raises(ValueError, match="cols"):
        caption_grid(images, ["a", "b"], cols=0)
    with pytest.raises(ValueError, match="\\[N, H, W, 3\\]"):
        caption_grid(np.zeros((2, 8, 8), np.uint8), ["a", "b"])
    with pytest.raises(ValueError, match="uint8 or float"):
        caption_grid(images.astype(np.int64), ["a", "b"])


def test_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "grid.xyz"
    path.write_bytes(b"old")
    with pytest.raises(ValueError, match="cannot encode"):
        caption_grid(np.zeros((1, 8, 8, 3), np.uint8), ["a"], str(path))
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["grid.xyz"]


def test_write_preview_grid_for_shapes_and_folders(tmp_path):
    data = load_shapes(num_images=20, image_size=64)
    grid = write_preview_grid(data, str(tmp_path / "shapes.png"), n=16, cols=4)
    assert os.path.getsize(tmp_path / "shapes.png") > 1000
    assert grid.shape[1] == 4 * 128 + 3 * 4
    np.testing.assert_array_equal(grid[:128:2, :128:2], data.images[0])
    paths = []
    for i in range(3):
        paths.append(str(tmp_path / f"{i}.png"))
        cv2.imwrite(paths[-1], np.full((50, 70, 3), 50 * i, np.uint8))
    folder = CaptionedImages(paths, [["x"], ["y"], ["z"]], root=str(tmp_path))
    grid = write_preview_grid(folder, str(tmp_path / "out" / "folder.png"), n=16, cols=4)
    assert grid.shape[1] == 3 * 128 + 2 * 4 and (tmp_path / "out" / "folder.png").exists()
