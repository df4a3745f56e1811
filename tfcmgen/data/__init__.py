"""Datasets for tfcmgen: the built-in shapes, users' caption folders, OpenCV image ops, tf.data."""

from tfcmgen.data.captioned_images import CaptionedImages
from tfcmgen.data.errors import DatasetError, ImageError
from tfcmgen.data.shapes import (
    ATTRIBUTE_NAMES,
    ATTRIBUTE_VALUES,
    BACKGROUNDS,
    COLOURS,
    DEFAULT_HELD_OUT,
    POSITIONS,
    SHAPES,
    SIZES,
    caption_for,
    load_shapes,
    make_captions,
    render_shape,
)
