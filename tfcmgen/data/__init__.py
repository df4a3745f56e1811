"""Datasets for tfcmgen: the built-in shapes, users' caption folders, OpenCV image ops, tf.data.

Everything except the `tf.data` pipeline (`make_dataset`, `load_dataset`, `Augmentation`, ...)
works without importing TensorFlow; those names load TensorFlow on first use.
"""

from tfcmgen.data.captioned_images import CaptionedImages
from tfcmgen.data.errors import DatasetError, DatasetWarning, ImageError
from tfcmgen.data.folders import FORMATS, decode_images, detect_format, load_folder
from tfcmgen.data.image_ops import (
    DEFAULT_MAX_PIXELS,
    SUPPORTED_EXTENSIONS,
    center_square,
    decode_image,
    flip_horizontal,
    image_header,
    read_image,
    swap_left_right,
    to_float,
    to_rgb8,
    to_uint8,
)
from tfcmgen.data.preview import caption_grid, write_preview_grid
from tfcmgen.data.shapes import (
    ATTRIBUTE_NAMES,
    ATTRIBUTE_VALUES,
    BACKGROUNDS,
    CAPTIONED_ATTRIBUTES,
    COLOURS,
    DEFAULT_HELD_OUT,
    MIRRORED_POSITIONS,
    POSITIONS,
    SHAPES,
    SIZES,
    caption_for,
    load_shapes,
    make_captions,
    render_shape,
)

# name -> module holding it, imported on first access (PEP 562) because it imports TensorFlow.
_LAZY = {
    "AUGMENTATIONS": "tfcmgen.data.augmentation",
    "Augmentation": "tfcmgen.data.augmentation",
    "DATASETS": "tfcmgen.data.pipeline",
    "load_dataset": "tfcmgen.data.pipeline",
    "make_dataset": "tfcmgen.data.pipeline",
}

__all__ = sorted([
    "ATTRIBUTE_NAMES", "ATTRIBUTE_VALUES", "BACKGROUNDS", "CAPTIONED_ATTRIBUTES", "COLOURS",
    "DEFAULT_HELD_OUT", "DEFAULT_MAX_PIXELS", "FORMATS", "MIRRORED_POSITIONS", "POSITIONS",
    "SHAPES", "SIZES",
    "SUPPORTED_EXTENSIONS", "CaptionedImages", "DatasetError", "DatasetWarning", "ImageError",
    "caption_for", "caption_grid", "center_square", "decode_image", "decode_images",
    "detect_format", "flip_horizontal", "image_header", "load_folder", "load_shapes",
    "make_captions", "read_image", "render_shape", "swap_left_right", "to_float", "to_rgb8",
    "to_uint8", "write_preview_grid", *_LAZY,
])


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
