"""Moved: generating with a trained model is `tfcmgen.jobs.generate`, image conversion
`tfcmgen.runtime.images`. This module re-exports their names for existing imports."""

from tfcmgen.jobs.generate import (  # noqa: F401
    PRETRAINED_DIR,
    TextToImageGenerator,
    generate_grid,
    load_generator,
)
from tfcmgen.runtime.images import to_uint8  # noqa: F401
