"""The names every option may take, one registry per option kind: the single source of truth.

The CLI's `choices` and help, `TrainConfig`'s validation and the models' argument checks all
read these. Each registry maps a name to a one-line description, except `TASKS`, which maps a
task name to its `Task` class by import path (`"module:attribute"`, resolved on first use). This
module imports nothing, so every layer may import it.

The implementations are keyed by the same names (`tfcmgen.losses.LOSSES`,
`tfcmgen.layers.feature_fusion.FUSION_MODES`, `tfcmgen.layers.text_encoder.POOLINGS`,
`tfcmgen.models.text_image_editor.OUTPUTS`, `tfcmgen.data.folders.FORMATS`,
`tfcmgen.data.DATASETS`);
tests/test_registry.py checks that they agree.

A new task is one module under `tfcmgen/tasks/` plus one entry in `TASKS`.

Example:

>>> from tfcmgen.registry import LOSSES, TASKS, resolve
>>> sorted(TASKS)
['edit', 'text2image']
>>> "wgan-gp" in LOSSES
True
>>> resolve(TASKS["edit"]).name  # doctest: +SKIP
'edit'
"""

from __future__ import annotations

import importlib

# Task name -> the Task subclass that trains it (see `tfcmgen.tasks.Task`).
TASKS = {
    "text2image": "tfcmgen.tasks.text2image:TextToImageTask",
    "edit": "tfcmgen.tasks.edit:EditTask",
}

# Adversarial losses (`tfcmgen.losses`); both models take every one.
LOSSES = {
    "hinge": "hinge loss (SAGAN, BigGAN)",
    "bce": "non-saturating binary cross-entropy (the original GAN loss)",
    "wgan": "Wasserstein loss without a penalty",
    "wgan-gp": "Wasserstein loss plus the WGAN-GP gradient penalty (weight gp_weight)",
}

# How the text condition enters the image features (`tfcmgen.layers.FeatureFusion`).
FUSIONS = {
    "film": "feature-wise affine transform from the text (FiLM)",
    "add": "add a projection of the text",
    "multiply": "multiply by a projection of the text",
    "concat": "concatenate the text, tiled over the image",
    "gated": "a text-computed gate between features and text projection",
}

# How a caption's word vectors become one sentence vector (`tfcmgen.layers.TextEncoder`).
TEXT_POOLINGS = {
    "mean": "mean of the word vectors",
    "bigru": "bidirectional GRU, last states",
    "attention": "learned attention weights over the words",
    "transformer": "a one-block Transformer encoder over words and positions, then the mean",
}

# How the edit model turns its features into the edited image (`TextImageEditor`).
OUTPUT_MODES = {
    "residual": "source plus a predicted change",
    "masked_residual": "source plus a predicted change where a predicted mask allows it",
    "blend": "a predicted mask blends the source with a predicted image",
    "direct": "the predicted image itself",
}

# Built-in, rendered datasets (`tfcmgen.data.DATASETS`): `--data NAME` instead of a folder.
DATASETS = {
    "shapes": "one coloured shape per image (colour, shape, size, position)",
    "shapes2": "two shapes and their relation (left of, above, ...)",
}

# Caption folder layouts (`tfcmgen.data.load_folder`).
DATASET_FORMATS = {
    "csv": "captions.csv: image path and caption columns",
    "jsonl": "captions.jsonl: one JSON object per line",
    "cub": "the CUB-200 / Oxford-102 layout (images/ and text/ folders)",
}


def resolve(path: str):
    """Imports `"package.module:attribute"` and returns the attribute."""
    module, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module), attribute)


def check_choice(kind: str, value, registry) -> None:
    """Raises ValueError naming `kind`, the choices and `value` unless `value` is in `registry`."""
    if value not in registry:
        shown = ", ".join(repr(c) for c in registry)
        raise ValueError(f"{kind} must be one of {shown}; received {kind}={value!r}")
