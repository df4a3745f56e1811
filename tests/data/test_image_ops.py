"""OpenCV image reading: formats, channel and depth conversion, hostile files, square crops."""

import struct
import zlib

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tfcmgen.data import ImageError
from tfcmgen.data.image_ops import (
    center_square,
    decode_image,
    flip_horizontal,
    image_header,
    read_image,
    swap_left_right,
    to_float,
    to_uint8,
)

# BGR as OpenCV writes it: pure red in RGB.
RED_BGR = (0, 0, 255)


def write(path, image, params=()):
    assert cv2.imwrite(str(path), image, list(params))
    return str(path)


def png_with_size(width, height):
    """A valid-looking PNG header (correct CRC) claiming a huge size, with a tiny IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    data = zlib.compress(b"\0" * 16)
    idat = b"IDAT" + data
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk
            + struct.pack(">I", zlib.crc32(chunk)) + struct.pack(">I", len(data)) + idat
            + struct.pack(">I", zlib.crc32(idat)) + b"\0\0\0\0IEND"
            + struct.pack(">I", zlib.crc32(b"IEND")))


@pytest.mark.parametrize("ext,params,tolerance", [
    (".png", (), 0),
    (".bmp", (), 0),
    (".webp", (cv2.IMWRITE_WEBP_QUALITY, 101), 0),  # lossless
    (".webp", (cv2.IMWRITE_WEBP_QUALITY, 90), 12),
    (".jpg", (cv2.IMWRITE_JPEG_QUALITY, 95), 12),
    (".JPEG", (), 12),
])
def test_formats_decode_to_rgb(tmp_path, ext, params, tolerance):
    image = np.zeros((24, 40, 3), np.uint8)
    image[:, :20] = RED_BGR
    image[:, 20:] = (255, 0, 0)  # blue in BGR
    out = read_image(write(tmp_path / f"x{ext}", image, params))
    assert out.shape == (24, 40, 3) and out.dtype == np.uint8
    np.testing.assert_allclose(out[12, 5], [255, 0, 0], atol=tolerance)
    np.testing.assert_allclose(out[12, 35], [0, 0, 255], atol=tolerance)


def test_headers_give_format_and_size(tmp_path):
    image = np.zeros((30, 50, 3), np.uint8)
    for ext, fmt, params in [(".png", "png", ()), (".jpg", "jpeg", ()), (".bmp", "bmp", ()),
                             (".webp", "webp", (cv2.IMWRITE_WEBP_QUALITY, 101)),
                             (".webp", "webp", (cv2.IMWRITE_WEBP_QUALITY, 50))]:
        ok, encoded = cv2.imencode(ext, image, list(params))
        assert image_header(encoded.tobytes()) == (fmt, 50, 30), ext
    assert image_header(b"GIF89a....") is None
    assert image_header(b"") is None


def test_grey_becomes_three_equal_channels(tmp_path):
    grey = np.tile(np.arange(0, 250, 10, dtype=np.uint8), (5, 1))
    out = read_image(write(tmp_path / "g.png", grey))
    assert out.shape == (5, 25, 3)
    np.testing.assert_array_equal(out[..., 0], grey)
    np.testing.assert_array_equal(out[..., 0], out[..., 2])


def test_rgba_is_composited_over_white(tmp_path):
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., :3] = RED_BGR
    rgba[:2, :, 3] = 255  # opaque red rows
    rgba[2:, :, 3] = 0  # transparent rows
    out = read_image(write(tmp_path / "a.png", rgba))
    np.testing.assert_array_equal(out[0, 0], [255, 0, 0])
    np.testing.assert_array_equal(out[3, 3], [255, 255, 255])


def test_sixteen_bit_becomes_eight_bit(tmp_path):
    deep = np.zeros((2, 3, 3), np.uint16)
    deep[0, 0] = (0, 0, 65535)
    deep[0, 1] = (32896, 32896, 32896)
    out = read_image(write(tmp_path / "d.png", deep))
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out[0, 0], [255, 0, 0])
    np.testing.assert_array_equal(out[0, 1], [128, 128, 128])
    grey16 = np.full((2, 2), 65535, np.uint16)
    np.testing.assert_array_equal(read_image(write(tmp_path / "g16.png", grey16)), 255)


def test_decompression_bomb_is_refused_from_the_header(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(png_with_size(100_000, 100_000))
    with pytest.raises(ImageError, match="100000x100000.*max_pixels") as info:
        read_image(str(path))
    assert info.value.path == str(path)


def test_pixel_limit_is_configurable(tmp_path):
    path = write(tmp_path / "big.png", np.zeros((120, 100, 3), np.uint8))
    with pytest.raises(ImageError, match="12000 pixels exceeds max_pixels=10000"):
        read_image(path, max_pixels=10_000)
    assert read_image(path, max_pixels=12_000).shape == (120, 100, 3)


@pytest.mark.parametrize("content,reason", [
    (b"", "empty file"),
    (b"this is not an image at all" * 5, "unrecognised header"),
    (b"GIF89a" + b"\0" * 100, "unrecognised header"),
])
def test_unusable_files_raise_image_error(tmp_path, content, reason):
    path = tmp_path / "bad.jpg"
    path.write_bytes(content)
    with pytest.raises(ImageError, match=reason):
        read_image(str(path))


@pytest.mark.parametrize("ext", [".png", ".jpg", ".webp", ".bmp"])
def test_truncated_files_raise_image_error(tmp_path, ext):
    rng = np.random.default_rng(0)
    ok, encoded = cv2.imencode(ext, rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
    data = encoded.tobytes()
    path = tmp_path / f"cut{ext}"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="corrupt or truncated|could not decode"):
        read_image(str(path))


def test_missing_file_raises_image_error(tmp_path):
    with pytest.raises(ImageError, match="cannot read file"):
        read_image(str(tmp_path / "nope.png"))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prefix=st.sampled_from([b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"BM", b"RIFF"]),
       body=st.binary(max_size=300))
def test_random_bytes_never_escape_as_other_errors(prefix, body):
    try:
        out = decode_image(prefix + body, "fuzz.jpg", max_pixels=1_000_000)
    except ImageError as error:
        assert error.path == "fuzz.jpg"
    else:  # a few random bytes could be a valid BMP: then it must be a proper RGB image
        assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3


def test_reduced_jpeg_decoding_keeps_the_picture(tmp_path):
    yy, xx = np.mgrid[0:512, 0:768]
    image = np.stack([xx % 256, yy % 256, (xx + yy) % 256], -1).astype(np.uint8)
    path = write(tmp_path / "large.jpg", cv2.GaussianBlur(image, (31, 31), 8))
    full = center_square(read_image(path), 64)
    reduced_raw = read_image(path, min_side=64)
    assert 64 <= min(reduced_raw.shape[:2]) < 512  # decoded at a reduced scale
    reduced = center_square(reduced_raw, 64)
    assert np.abs(full.astype(int) - reduced.astype(int)).mean() < 4


def test_center_square_crops_the_middle_without_stretching():
    image = np.zeros((40, 80, 3), np.uint8)
    image[:, :20] = 255  # left quarter: cropped away
    image[:, 20:60] = 100  # the centred square
    image[:, 60:] = 50  # right quarter: cropped away
    out = center_square(image, 20)
    assert out.shape == (20, 20, 3)
    np.testing.assert_array_equal(out, 100)
    tall = np.zeros((90, 30, 3), np.uint8)
    tall[30:60] = 7
    np.testing.assert_array_equal(center_square(tall, 30), 7)
    assert center_square(np.zeros((8, 12, 3), np.uint8), 32).shape == (32, 32, 3)
    with pytest.raises(ValueError, match="size"):
        center_square(image, 0)


def test_float_range_round_trip():
    image = np.array([[[0, 128, 255]]], np.uint8)
    x = to_float(image)
    assert x.dtype == np.float32 and x.min() == -1.0 and x.max() == 1.0
    np.testing.assert_array_equal(to_uint8(x), image)
    np.testing.assert_array_equal(to_uint8(np.array([-3.0, 5.0])), [0, 255])


def test_flip_and_caption_swap():
    image = np.arange(6, dtype=np.uint8).reshape(1, 2, 3)
    np.testing.assert_array_equal(flip_horizontal(image), image[:, ::-1])
    assert swap_left_right("top left and lower right, Left-most") == \
        "top right and lower left, right-most"
    assert swap_left_right("leftover bright") == "leftover bright"
