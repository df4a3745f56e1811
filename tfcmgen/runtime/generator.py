"""`Generator`: the one interface of every loaded model, whatever runs it.

A Keras run folder (`tfcmgen.jobs.generate.TextToImageGenerator`), a SavedModel export
(`tfcmgen.export.SavedModelGenerator`) and an ONNX export (`tfcmgen.export.OnnxGenerator`) all
answer the same calls with the same uint8 images, so code that uses a model (the CLI, the server,
the benches) does not care which one it holds. Each refuses the other task's call with a
ValueError that names the task.

Example:

>>> from tfcmgen import load_generator
>>> from tfcmgen.runtime.generator import Generator
>>> isinstance(load_generator(), Generator)  # the bundled model  # doctest: +SKIP
True
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Generator(Protocol):
    """What `tfcmgen.load_generator` returns.

    Attributes:
        task: str. `"text2image"` or `"edit"` (a name in `tfcmgen.registry.TASKS`).
        image_size: int. Side of the images it makes.
    """

    task: str
    image_size: int

    def generate(self, captions, num_per_caption: int = 1, seed: int = 0) -> np.ndarray:
        """uint8 [len(captions) * num_per_caption, S, S, 3]: each caption `num_per_caption`
        times in a row; the same seed gives the same images. Text-to-image models only."""

    def edit(self, images, captions) -> np.ndarray:
        """uint8 [N, S, S, 3]: uint8 `images` (any size; grey, RGB or RGBA) edited towards
        `captions` (one per image, one for all, or many for one image). Edit models only."""
