"""Checks of what callers hand to the loaded exports, shared by the SavedModel and ONNX helpers.

No TensorFlow here: `OnnxGenerator` uses these too.
"""

from __future__ import annotations

import logging

import numpy as np

from tfcmgen.export.export_metadata import ExportError

logger = logging.getLogger("tfcmgen.export")

MAX_SEED = 2**63 - 1

# task -> the call of the runtime helpers that runs its exports (named in task mismatch errors).
TASK_CALLS = {"text2image": "generate(captions)", "edit": "edit(images, captions)"}


def check_task(path: str, task: str, wanted: str) -> None:
    """Raises ExportError unless the export at `path`, made for `task`, is of task `wanted`."""
    if task != wanted:
        instead = f" (call {TASK_CALLS[task]} on it)" if task in TASK_CALLS else ""
        raise ExportError(
            f"the export at {path!r} was made for task {task!r}{instead}; "
            f"{TASK_CALLS[wanted]} needs an export of task {wanted!r}"
        )


def check_captions(captions) -> list:
    """`captions` as a list of str; raises ValueError naming the first item that is not text."""
    if isinstance(captions, (str, bytes)):
        raise ValueError(
            f"captions must be a list of str, not a single str; received {captions!r:.80} "
            "(wrap it in a list)"
        )
    if isinstance(captions, np.ndarray):
        captions = captions.tolist()
    try:
        captions = list(captions)
    except TypeError:
        raise ValueError(
            f"captions must be a list of str; received {type(captions).__name__}: {captions!r:.80}"
        ) from None
    for index, caption in enumerate(captions):
        if not isinstance(caption, (str, bytes)):
            raise ValueError(
                f"captions must be strings; received {type(caption).__name__} {caption!r:.40} "
                f"at index {index}"
            )
    return [c.decode("utf-8", errors="replace") if isinstance(c, bytes) else c for c in captions]


def check_seed(seed) -> int:
    if (
        isinstance(seed, bool)
        or not isinstance(seed, (int, np.integer))
        or not 0 <= seed <= MAX_SEED
    ):
        raise ValueError(f"seed must be an int from 0 to 2**63 - 1; received seed={seed!r}")
    return int(seed)


def check_num_per_caption(num_per_caption) -> int:
    if (
        isinstance(num_per_caption, bool)
        or not isinstance(num_per_caption, (int, np.integer))
        or num_per_caption < 1
    ):
        raise ValueError(
            f"num_per_caption must be an int >= 1; received num_per_caption={num_per_caption!r}"
        )
    return int(num_per_caption)


def check_token_ids(token_ids, max_length: int, vocabulary_size: int) -> np.ndarray:
    """int32 [batch, max_length] ids in [0, vocabulary_size); raises ValueError otherwise."""
    ids = np.asarray(token_ids)
    if ids.dtype.kind not in "iu":
        raise ValueError(
            f"token_ids must be integers; received dtype {ids.dtype} with shape {ids.shape}"
        )
    if ids.ndim != 2 or ids.shape[1] != max_length:
        raise ValueError(
            f"token_ids must have shape [batch, max_length={max_length}]; "
            f"received shape {ids.shape}"
        )
    if ids.size and (ids.min() < 0 or ids.max() >= vocabulary_size):
        raise ValueError(
            f"token ids must be in [0, {vocabulary_size}); received ids from {ids.min()} to "
            f"{ids.max()}"
        )
    return ids.astype(np.int32)


def check_source_images(images, batch: int, image_size: int) -> np.ndarray:
    """float32 [batch, S, S, 3] in [-1, 1] (S = image_size); raises ValueError otherwise."""
    images = np.asarray(images)
    expected = (batch, image_size, image_size, 3)
    if images.dtype.kind != "f" or images.shape != expected:
        raise ValueError(
            f"images must be float [batch={batch}, {image_size}, {image_size}, 3] in [-1, 1] "
            f"(uint8 / 127.5 - 1); received dtype {images.dtype} with shape {images.shape}"
        )
    if images.size and not (np.all(np.isfinite(images)) and -1.0 <= images.min()
                            and images.max() <= 1.0):
        raise ValueError(
            f"images must be in [-1, 1] (uint8 / 127.5 - 1); received values from "
            f"{images.min()} to {images.max()}"
        )
    return images.astype(np.float32)


def check_noise(noise, batch: int, noise_dim: int) -> np.ndarray:
    noise = np.asarray(noise)
    if noise.dtype.kind != "f" or noise.shape != (batch, noise_dim):
        raise ValueError(
            f"noise must be float [batch={batch}, noise_dim={noise_dim}]; received dtype "
            f"{noise.dtype} with shape {noise.shape}"
        )
    return noise.astype(np.float32)


def warn_unknown_only(captions, token_ids) -> None:
    """Logs a warning for each caption whose words are all unknown (drawn from [UNK] only)."""
    for caption, row in zip(captions, np.asarray(token_ids)):
        if not np.any(row > 1):
            logger.warning(
                "caption %r has no word the model knows: it is drawn from [UNK] tokens only",
                caption,
            )
