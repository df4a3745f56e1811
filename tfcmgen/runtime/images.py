"""Image conversion shared by training, generation and every export: NumPy and OpenCV only.

Generated images are float32 in [-1, 1]; users see uint8 RGB in [0, 255]. `to_uint8` rounds half
to even (`np.rint`), as the SavedModel signatures do in-graph (`tf.round`), so every path gives the
same bytes.

Example:

>>> import numpy as np
>>> to_uint8(np.array([-1.0, 0.0, 1.0, 2.0])).tolist()
[0, 128, 255, 255]
>>> prepare_source_images(np.zeros((40, 60, 3), np.uint8), 32).shape
(1, 32, 32, 3)
"""

from __future__ import annotations

import cv2
import numpy as np


def to_uint8(images) -> np.ndarray:
    """float images in [-1, 1] -> uint8 [0, 255], clipping values outside the range."""
    scaled = (np.asarray(images, np.float32) + np.float32(1.0)) * np.float32(127.5)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def to_float(images) -> np.ndarray:
    """uint8 pixels -> float32 in [-1, 1] (0 -> -1, 255 -> 1), the range the generator outputs."""
    return np.asarray(images).astype(np.float32) / 127.5 - 1.0


def center_square(image: np.ndarray, size: int) -> np.ndarray:
    """Crops the centred square and resizes it to `size x size`: the shorter side becomes `size`,
    nothing is stretched.

    Area interpolation when shrinking (no aliasing), bicubic when enlarging.
    """
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size must be an int >= 1; received {size!r}")
    if image.ndim != 3 or image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"image must be [H, W, C] with H, W >= 1; received shape={image.shape}")
    height, width = image.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = image[top:top + side, left:left + side]
    if side == size:
        return np.ascontiguousarray(square)
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_CUBIC
    return cv2.resize(square, (size, size), interpolation=interpolation)


def to_rgb_batch(images) -> np.ndarray:
    """uint8 images of any size as a batch of RGB images, uncropped: uint8 [N, H, W, 3].

    Accepts one image `[H, W]`, `[H, W, C]` or a batch `[N, H, W]`, `[N, H, W, C]` with C = 1
    (grey), 3 (RGB) or 4 (RGBA, composited over white as `read_image` does). NumPy only: the
    SavedModel helper sends the result to the graph, which crops and resizes it.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 RGB in [0, 255]; received dtype {images.dtype}")
    if images.ndim == 2 or (images.ndim == 3 and images.shape[-1] in (1, 3, 4)
                            and images.shape[-1] != images.shape[-2]):
        images = images[None]
    if images.ndim == 3:  # a batch of grey images [N, H, W]
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3, 4):
        raise ValueError(
            "images must be [H, W], [H, W, C] or [N, H, W, C] with C in (1, 3, 4); received "
            f"shape {images.shape}"
        )
    if images.shape[-1] == 1:
        images = np.repeat(images, 3, axis=-1)
    elif images.shape[-1] == 4:
        alpha = images[..., 3:].astype(np.float32) / 255.0
        blended = images[..., :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)
        images = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
    return images


def prepare_source_images(images, image_size: int) -> np.ndarray:
    """uint8 images of any size as an edit model takes them: RGB, centre square, `image_size`.

    Accepts what `to_rgb_batch` accepts, resized like the data pipeline (`center_square`: area
    interpolation when shrinking, bicubic when enlarging). An edit SavedModel does the same in
    its graph (`tfcmgen.export.source_images`).

    Returns:
        uint8 [N, image_size, image_size, 3].
    """
    images = to_rgb_batch(images)
    if not len(images):
        return np.zeros((0, image_size, image_size, 3), np.uint8)
    return np.stack([center_square(image, image_size) for image in images])


def pair_captions(images: np.ndarray, captions: list[str]):
    """Pairs images with captions: equal counts, or one image for many captions, or the reverse."""
    n, m = len(images), len(captions)
    if n == m:
        return images, captions
    if n == 1:
        return np.repeat(images, m, axis=0), captions
    if m == 1:
        return images, captions * n
    raise ValueError(
        f"give one caption per image, one image for all captions, or one caption for all images; "
        f"received {n} images and {m} captions"
    )


def check_edit_model(generator) -> None:
    """Raises ValueError unless `generator` (a loaded run or export) holds an edit model."""
    if generator.task != "edit":
        where = getattr(generator, "source", None) or getattr(generator, "path", "")
        raise ValueError(
            f"the model at {where!r} was trained for task {generator.task!r}; editing an image "
            "needs an edit model (train one with `tfcmgen train --task edit`)"
        )
