"""OpenCV image reading and preprocessing: any supported file to an 8-bit RGB square, and back.

Files are checked before they are decoded: the header gives the format and the pixel count, so an
image over the pixel limit (a decompression bomb: a small file that decodes to gigabytes) is refused
without allocating it. JPEG, PNG, BMP and WebP are read; grey, grey+alpha, RGBA and 16-bit images
become 8-bit RGB (OpenCV decodes to BGR; we convert), transparent pixels are composited over white.

Example:

>>> import numpy as np
>>> image = center_square(np.zeros((40, 60, 3), np.uint8), 32)
>>> image.shape
(32, 32, 3)
>>> float(to_float(image).min())
-1.0
"""

from __future__ import annotations

import os
import re
import struct

import cv2
import numpy as np

from tfcmgen.data.errors import ImageError
from tfcmgen.runtime.images import center_square, to_float, to_uint8  # noqa: F401  (re-exported)

# 50 megapixels: a 7000x7000 photo still loads; decoding it takes ~200 MB as 8-bit RGBA.
DEFAULT_MAX_PIXELS = 50_000_000
SUPPORTED_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers carry the dimensions; C4 (DHT), C8 (JPG) and CC (DAC) do not.
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _png_size(head: bytes):
    if len(head) < 24 or head[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", head[16:24])


def _jpeg_size(head: bytes):
    i = 2
    while i + 4 <= len(head):
        if head[i] != 0xFF:
            return None
        marker = head[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:  # markers without a length
            i += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image / start of scan before any frame header
            return None
        (length,) = struct.unpack(">H", head[i + 2:i + 4])
        if marker in _JPEG_SOF:
            if i + 9 > len(head):
                return None
            height, width = struct.unpack(">HH", head[i + 5:i + 9])
            return width, height
        i += 2 + length
    return None


def _bmp_size(head: bytes):
    if len(head) < 26:
        return None
    (header_size,) = struct.unpack("<I", head[14:18])
    if header_size == 12:  # OS/2 BITMAPCOREHEADER: 16-bit sizes
        width, height = struct.unpack("<HH", head[18:22])
    else:
        width, height = struct.unpack("<ii", head[18:26])
    return abs(width), abs(height)  # negative height: rows stored top-down


def _webp_size(head: bytes):
    if len(head) < 30 or head[8:12] != b"WEBP":
        return None
    chunk = head[12:16]
    if chunk == b"VP8 ":
        if head[23:26] != b"\x9d\x01\x2a":
            return None
        width, height = struct.unpack("<HH", head[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L":
        if head[20] != 0x2F:
            return None
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        width = int.from_bytes(head[24:27], "little") + 1
        height = int.from_bytes(head[27:30], "little") + 1
        return width, height
    return None


def image_header(head: bytes) -> tuple[str, int, int] | None:
    """Format and dimensions from the first bytes of an image file, without decoding it.

    Hand-written because Pillow does not do this job (measured with Pillow 13): `Image.open`
    refuses a 100000x100000 PNG header with UnidentifiedImageError (its decompression-bomb check
    runs before it reports a size, so our own pixel limit could not name the size), and its PNG
    reader needs the chunks after IHDR (SyntaxError on the 33-byte header alone); `imagesize`
    is not a dependency.

    Args:
        head: bytes. The file, or enough of its start to hold the header (JPEG frame headers can
            follow large EXIF and ICC segments, so pass the whole file when in doubt).

    Returns:
        `(format, width, height)` with format one of "png", "jpeg", "bmp", "webp"; or None when
        the bytes are not a header of a supported format.
    """
    if head.startswith(_PNG_SIGNATURE):
        fmt, size = "png", _png_size(head)
    elif head.startswith(b"\xff\xd8\xff"):
        fmt, size = "jpeg", _jpeg_size(head)
    elif head.startswith(b"BM"):
        fmt, size = "bmp", _bmp_size(head)
    elif head.startswith(b"RIFF"):
        fmt, size = "webp", _webp_size(head)
    else:
        return None
    if size is None:
        return None
    return fmt, int(size[0]), int(size[1])


def to_rgb8(image: np.ndarray) -> np.ndarray:
    """Converts an OpenCV-decoded image (grey, grey+alpha, BGR or BGRA; 8 or 16 bit) to RGB uint8.

    Transparent pixels are composited over white (PNG icons and WebP cut-outs mostly assume it).
    """
    if image.dtype == np.uint16:
        # Exact rounding of v * 255 / 65535; `>> 8` would be biased low.
        image = ((image.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise ValueError(f"image must be uint8 or uint16; received dtype={image.dtype}")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    channels = image.shape[2]
    if channels == 1:
        return cv2.cvtColor(image[:, :, 0], cv2.COLOR_GRAY2RGB)
    if channels == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if channels in (2, 4):
        colour = image[:, :, :-1].astype(np.float32)
        alpha = image[:, :, -1:].astype(np.float32) / 255.0
        blended = colour * alpha + 255.0 * (1.0 - alpha)
        blended = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
        if channels == 2:
            return cv2.cvtColor(blended[:, :, 0], cv2.COLOR_GRAY2RGB)
        return cv2.cvtColor(blended, cv2.COLOR_BGR2RGB)
    raise ValueError(f"image must have 1 to 4 channels; received shape={image.shape}")


def decode_image(
    data: bytes,
    path: str = "<bytes>",
    max_pixels: int = DEFAULT_MAX_PIXELS,
    min_side: int | None = None,
) -> np.ndarray:
    """Decodes an encoded image to RGB uint8 after checking its header.

    Args:
        data: bytes. The whole file.
        path: str. Named in errors. Defaults to "<bytes>".
        max_pixels: int. Images with more pixels (width * height, from the header) are refused
            before decoding. Defaults to `DEFAULT_MAX_PIXELS`.
        min_side: int or None. When the caller will shrink the image to this shorter side anyway,
            JPEGs are decoded at 1/2, 1/4 or 1/8 scale (much faster) as long as the shorter side
            stays at least this long. Defaults to None (full size).

    Raises:
        ImageError: empty, unrecognised, over the pixel limit, corrupt or truncated.
    """
    if not data:
        raise ImageError(path, "empty file (0 bytes)")
    header = image_header(bytes(data))
    if header is None:
        raise ImageError(path, "not a JPEG, PNG, BMP or WebP image (unrecognised header)")
    fmt, width, height = header
    if width <= 0 or height <= 0:
        raise ImageError(path, f"{fmt} header gives an empty size {width}x{height}")
    if width * height > max_pixels:
        raise ImageError(
            path, f"{width}x{height} = {width * height} pixels exceeds max_pixels={max_pixels} "
            "(possible decompression bomb); raise max_pixels if the file is trusted"
        )
    flags = cv2.IMREAD_UNCHANGED
    if fmt == "jpeg":
        # IMREAD_COLOR applies the EXIF orientation; JPEG has no alpha to keep.
        flags = cv2.IMREAD_COLOR
        if min_side:
            for factor, reduced in ((8, cv2.IMREAD_REDUCED_COLOR_8),
                                    (4, cv2.IMREAD_REDUCED_COLOR_4),
                                    (2, cv2.IMREAD_REDUCED_COLOR_2)):
                if min(width, height) // factor >= min_side:
                    flags = reduced
                    break
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    except cv2.error as error:
        raise ImageError(path, f"OpenCV could not decode the {fmt} data: {error}") from None
    if image is None or image.size == 0:
        raise ImageError(path, f"corrupt or truncated {fmt} data")
    return to_rgb8(image)


def read_image(
    path: str, max_pixels: int = DEFAULT_MAX_PIXELS, min_side: int | None = None
) -> np.ndarray:
    """Reads an image file as RGB uint8 `[H, W, 3]` (see `decode_image` for the checks).

    Example:

    >>> import os, tempfile, cv2, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "red.png")
    >>> _ = cv2.imwrite(path, np.full((4, 4, 3), (0, 0, 255), np.uint8))  # BGR red
    >>> read_image(path)[0, 0].tolist()
    [255, 0, 0]
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as error:
        raise ImageError(str(path), f"cannot read file: {error.strerror or error}") from None
    return decode_image(data, str(path), max_pixels, min_side)


def flip_horizontal(image: np.ndarray) -> np.ndarray:
    """Mirrors an image left to right (pair it with `swap_left_right` on its caption)."""
    return np.ascontiguousarray(image[:, ::-1])


# Word-bounded, case-insensitive; the graph version in pipeline.py uses the same pattern.
LEFT_RIGHT_PATTERN = r"(?i)\b(left|right)\b"


def swap_left_right(caption: str) -> str:
    """Swaps the words "left" and "right" in a caption (what a horizontal flip does to it).

    >>> swap_left_right("a red star in the top-left, a box on the Right")
    'a red star in the top-right, a box on the left'
    """
    return re.sub(LEFT_RIGHT_PATTERN, lambda m: "right" if m.group(1).lower() == "left" else "left",
                  caption)


def is_image_path(path: str) -> bool:
    """True when the file name ends with a supported image extension (case-insensitive)."""
    return os.path.splitext(path)[1].lower() in SUPPORTED_EXTENSIONS
