"""`prepare_source_images` in the graph: uint8 RGB images of any size -> the editor's square input.

The SavedModel of an edit model takes images of any height and width and converts them as
`tfcmgen.editing.prepare_source_images` (OpenCV's `center_square`) does in Python: the centred
square is cropped (top and left offsets rounded down) and resized to `size x size` with
*area* interpolation when shrinking and *bicubic* (Keys, a = -0.75, edge pixels repeated) when
enlarging, then rounded back to uint8.

`tf.image.resize` is not used: its bicubic kernel is Keys with a = -0.5 (OpenCV's is a = -0.75),
which moves edge pixels by several levels. Both resizes are written here as one weight matrix per
axis, `out = M @ square @ M^T`, that reproduces OpenCV's sampling positions and weights. Measured
against `center_square` on random and smooth images from 1x1 to 500x333: identical, except where
OpenCV's integer-factor area paths (4x, 8x) round a sum that ends in exactly .5 to even, where this
rounds up (1 level on ~3 % of pixels); OpenCV's 2x path rounds up too, and agrees exactly.

Example:

>>> squares = center_square(tf.zeros([2, 40, 60, 3], tf.uint8), 32)  # doctest: +SKIP
>>> squares.shape, squares.dtype  # doctest: +SKIP
(TensorShape([2, 32, 32, 3]), tf.uint8)
"""

from __future__ import annotations

import tensorflow as tf

# OpenCV's INTER_CUBIC coefficient (imgproc/src/resize.cpp, interpolateCubic).
CUBIC_A = -0.75


def area_weights(side, size: int):
    """float64 [size, side]: output pixel i averages input [i s, (i + 1) s), s = side / size.

    Exact overlap fractions, as OpenCV's INTER_AREA computes them when shrinking (side >= size;
    side == size gives the identity).
    """
    scale = tf.cast(side, tf.float64) / size
    low = tf.range(size, dtype=tf.float64)[:, None] * scale
    pixel = tf.range(side, dtype=tf.float64)[None, :]
    overlap = tf.minimum(low + scale, pixel + 1.0) - tf.maximum(low, pixel)
    return tf.maximum(overlap, 0.0) / scale


def cubic_weights(side, size: int):
    """float64 [size, side]: OpenCV's INTER_CUBIC taps for enlarging `side` pixels to `size`.

    Output pixel i samples at `x = (i + 0.5) side / size - 0.5` (pixel centres aligned) from the
    four input pixels around it; indices beyond the edge repeat the edge pixel.
    """
    a = CUBIC_A
    x = (tf.range(size, dtype=tf.float64) + 0.5) * (tf.cast(side, tf.float64) / size) - 0.5
    start = tf.floor(x)
    t = x - start
    coefficients = [
        ((a * (t + 1.0) - 5.0 * a) * (t + 1.0) + 8.0 * a) * (t + 1.0) - 4.0 * a,
        ((a + 2.0) * t - (a + 3.0)) * t * t + 1.0,
        ((a + 2.0) * (1.0 - t) - (a + 3.0)) * (1.0 - t) * (1.0 - t) + 1.0,
    ]
    coefficients.append(1.0 - coefficients[0] - coefficients[1] - coefficients[2])
    start = tf.cast(start, tf.int32)
    weights = tf.zeros([size, side], tf.float64)
    for offset, coefficient in zip(range(-1, 3), coefficients):
        index = tf.clip_by_value(start + offset, 0, side - 1)
        weights += tf.one_hot(index, side, dtype=tf.float64) * coefficient[:, None]
    return weights


def center_square(images, size: int):
    """uint8 [N, H, W, 3] of any H, W >= 1 -> uint8 [N, size, size, 3], as `center_square` does.

    Args:
        images: uint8 tensor [N, H, W, C].
        size: int. Side of the output.

    Returns:
        uint8 tensor [N, size, size, C].
    """
    height, width = tf.shape(images)[1], tf.shape(images)[2]
    side = tf.minimum(height, width)
    tf.debugging.assert_positive(side, message="images must be at least 1x1 pixels")
    top, left = (height - side) // 2, (width - side) // 2
    square = tf.cast(images[:, top : top + side, left : left + side, :], tf.float32)
    weights = tf.cast(
        tf.cond(side >= size, lambda: area_weights(side, size), lambda: cubic_weights(side, size)),
        tf.float32,
    )
    resized = tf.einsum("ih,nhwc,jw->nijc", weights, square, weights)
    # Half up, as OpenCV's 2x area path (the most common shrink); cubic overshoot is clipped.
    return tf.cast(tf.clip_by_value(tf.floor(resized + 0.5), 0.0, 255.0), tf.uint8)
