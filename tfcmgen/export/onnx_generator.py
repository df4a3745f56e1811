"""Running a tfcmgen ONNX export with onnxruntime: captions in, uint8 images out, no TensorFlow.

This module and everything it imports must not import TensorFlow (tested): it is the deployment
path for machines without it. Captions are tokenized by `PurePythonTokenizer` (the same ids as the
in-graph tokenizer) and the noise for a seed is drawn by `philox_noise.stateless_normal` (the same
values as `tf.random.stateless_normal`), so a seed gives the SavedModel's images.

Example:

>>> generator = OnnxGenerator("exports/demo")  # doctest: +SKIP
>>> generator.generate(["a small red circle in the top left"], seed=0).shape  # doctest: +SKIP
(1, 64, 64, 3)
"""

from __future__ import annotations

import os

import numpy as np

from tfcmgen.export.export_metadata import ExportError, ExportMetadata
from tfcmgen.export.philox_noise import stateless_normal
from tfcmgen.export.runtime_inputs import (
    check_captions,
    check_noise,
    check_num_per_caption,
    check_seed,
    check_token_ids,
    warn_unknown_only,
)
from tfcmgen.text.pure_tokenizer import PurePythonTokenizer


def to_uint8(images: np.ndarray) -> np.ndarray:
    """float images in [-1, 1] -> uint8 [0, 255] (round half to even, like the SavedModel)."""
    scaled = (np.asarray(images, np.float32) + np.float32(1.0)) * np.float32(127.5)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


class OnnxGenerator:
    """A tfcmgen ONNX export run by onnxruntime.

    Same `generate` as `tfcmgen.generation.TextToImageGenerator`; `run` gives the raw float output.

    Args:
        path: str. An export folder from `tfcmgen export` (the root or its `onnx/`), or its
            `.onnx` file.
        providers: sequence of str. onnxruntime execution providers. Defaults to CPU.
        threads: int or None. Intra-op threads; None lets onnxruntime choose (one per core).

    Example:

    >>> generator = OnnxGenerator("exports/demo/onnx")  # doctest: +SKIP
    >>> ids = generator.tokenizer.encode(["a red circle"])
    >>> images = generator.run(ids, generator.noise(1, seed=0))  # float32 in [-1, 1]
    """

    def __init__(self, path: str, providers=("CPUExecutionProvider",), threads: int | None = None):
        import onnxruntime

        path = os.fspath(path)
        if path.endswith(".onnx") and os.path.isfile(path):
            path = os.path.dirname(path) or "."
        self.path = path
        self.metadata = ExportMetadata.load(path)
        self.model_path = self.metadata.path_of(path, "onnx")
        if self.metadata.task != "text2image":
            raise ExportError(
                f"the export at {path!r} was made for task {self.metadata.task!r}; OnnxGenerator "
                "runs text2image models"
            )
        options = onnxruntime.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = int(threads)
        try:
            self.session = onnxruntime.InferenceSession(
                self.model_path, options, providers=list(providers)
            )
        except Exception as error:  # onnxruntime raises its own exception types
            raise ExportError(f"cannot load {self.model_path!r}: {error}") from error
        names = [node.name for node in self.session.get_inputs()]
        if sorted(names) != ["noise", "token_ids"]:
            raise ExportError(
                f"{self.model_path!r} takes inputs {names}; a tfcmgen text2image export takes "
                "token_ids and noise"
            )
        self.tokenizer = PurePythonTokenizer(
            self.metadata.vocabulary_path(path), max_length=self.metadata.max_length
        )

    @property
    def task(self) -> str:
        return self.metadata.task

    @property
    def image_size(self) -> int:
        return self.metadata.image_size

    @property
    def max_length(self) -> int:
        return self.metadata.max_length

    @property
    def noise_dim(self) -> int:
        return self.metadata.noise_dim

    def noise(self, batch: int, seed: int = 0) -> np.ndarray:
        """The noise `CrossModalGAN.generate` uses for `seed`: float32 [batch, noise_dim]."""
        return stateless_normal((batch, self.noise_dim), seed=(check_seed(seed), 0))

    def run(self, token_ids, noise) -> np.ndarray:
        """Raw model output: float32 [B, S, S, 3] in [-1, 1] for token ids and noise."""
        ids = check_token_ids(token_ids, self.max_length, self.metadata.vocabulary_size)
        noise = check_noise(noise, len(ids), self.noise_dim)
        if not len(ids):
            return np.zeros((0, self.image_size, self.image_size, 3), np.float32)
        return self.session.run(["images"], {"token_ids": ids, "noise": noise})[0]

    def generate_from_tokens(self, token_ids, noise) -> np.ndarray:
        """uint8 images for token ids int [B, max_length] and noise float [B, noise_dim]."""
        return to_uint8(self.run(token_ids, noise))

    def generate(self, captions, num_per_caption: int = 1, seed: int = 0) -> np.ndarray:
        """uint8 images [len(captions) * num_per_caption, S, S, 3], each caption repeated in a row.

        The same seed gives the same images as the SavedModel and `CrossModalGAN.generate`.
        """
        captions = check_captions(captions)
        num_per_caption = check_num_per_caption(num_per_caption)
        seed = check_seed(seed)
        captions = [c for c in captions for _ in range(num_per_caption)]
        ids = self.tokenizer.encode(captions)
        warn_unknown_only(captions, ids)
        return self.generate_from_tokens(ids, self.noise(len(ids), seed))
