"""Running a tfcmgen ONNX export with onnxruntime and without TensorFlow: uint8 images out.

This module and everything it imports must not import TensorFlow (tested): it is the deployment
path for machines without it. Captions are tokenized by `PurePythonTokenizer` (the same ids as the
in-graph tokenizer) and the noise for a seed is drawn by `philox_noise.stateless_normal` (the same
values as `tf.random.stateless_normal`), so a seed gives the SavedModel's images. Source images of
an edit export are cropped and resized by `tfcmgen.runtime.images.prepare_source_images` (OpenCV), whose
result the SavedModel's in-graph resize reproduces.

Example:

>>> generator = OnnxGenerator("exports/demo")  # doctest: +SKIP
>>> generator.generate(["a small red circle in the top left"], seed=0).shape  # doctest: +SKIP
(1, 64, 64, 3)
"""

from __future__ import annotations

import os

import numpy as np

from tfcmgen.export.export_folder import ExportFolder
from tfcmgen.export.runtime_inputs import (
    check_captions,
    check_noise,
    check_num_per_caption,
    check_seed,
    check_source_images,
    check_task,
    check_token_ids,
    warn_unknown_only,
)
from tfcmgen.runtime.export_metadata import ExportError, ExportMetadata
from tfcmgen.runtime.images import to_uint8  # noqa: F401  (float [-1, 1] -> uint8, half to even)
from tfcmgen.runtime.philox_noise import stateless_normal
from tfcmgen.text.word_mapping import map_and_report

# task -> the inputs of its ONNX model (see `export_tasks.EXPORT_TASKS`), sorted.
ONNX_INPUTS = {"text2image": ["noise", "token_ids"], "edit": ["source_images", "token_ids"]}


def session_options(threads: int | None = None):
    """onnxruntime settings for the generators, measured with bench/serving_latency.py.

    Every graph optimisation (ORT_ENABLE_ALL: conv + activation fusions, constant folding),
    sequential execution of the graph, and intra-op threads that sleep instead of spinning
    while they wait: on the 2-core CPU, spinning threads spent 0.54 ms of CPU per image at batch 32
    against 0.29 ms without, and lost the core to any other work (a web server's event loop).

    Args:
        threads: int or None. Intra-op threads; None lets onnxruntime choose (one per core).
    """
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads is not None:
        options.intra_op_num_threads = int(threads)
    return options


class OnnxGenerator(ExportFolder):
    """A tfcmgen ONNX export run by onnxruntime.

    Same `generate` and `edit` as `tfcmgen.generation.TextToImageGenerator`, each for exports of
    its task (`generate`: text2image, `edit`: edit); `run` gives a text2image model's raw float
    output.

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
        if self.metadata.task not in ONNX_INPUTS:
            known = ", ".join(repr(task) for task in ONNX_INPUTS)
            raise ExportError(
                f"the export at {path!r} was made for task {self.metadata.task!r}; OnnxGenerator "
                f"runs exports of tasks {known}"
            )
        try:
            self.session = onnxruntime.InferenceSession(
                self.model_path, session_options(threads), providers=list(providers)
            )
        except Exception as error:  # onnxruntime raises its own exception types
            raise ExportError(f"cannot load {self.model_path!r}: {error}") from error
        names = [node.name for node in self.session.get_inputs()]
        expected = ONNX_INPUTS[self.task]
        if sorted(names) != expected:
            raise ExportError(
                f"{self.model_path!r} takes inputs {names}; a tfcmgen {self.task} export takes "
                f"{' and '.join(expected)}"
            )
        self._load_text(path)

    def noise(self, batch: int, seed: int = 0) -> np.ndarray:
        """The noise `CrossModalGAN.generate` uses for `seed`: float32 [batch, noise_dim]."""
        check_task(self.path, self.task, "text2image")
        return stateless_normal((batch, self.noise_dim), seed=(check_seed(seed), 0))

    def run(self, token_ids, noise) -> np.ndarray:
        """Raw model output: float32 [B, S, S, 3] in [-1, 1] for token ids and noise."""
        check_task(self.path, self.task, "text2image")
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
        check_task(self.path, self.task, "text2image")
        captions = check_captions(captions)
        num_per_caption = check_num_per_caption(num_per_caption)
        seed = check_seed(seed)
        captions = map_and_report(self.word_mapper, captions)
        captions = [c for c in captions for _ in range(num_per_caption)]
        ids = self.tokenizer.encode(captions)
        warn_unknown_only(captions, ids)
        return self.generate_from_tokens(ids, self.noise(len(ids), seed))

    def edit_from_tokens(self, images, token_ids) -> np.ndarray:
        """uint8 edits of float images [B, S, S, 3] in [-1, 1] towards token ids [B, max_length]."""
        check_task(self.path, self.task, "edit")
        ids = check_token_ids(token_ids, self.max_length, self.metadata.vocabulary_size)
        images = check_source_images(images, len(ids), self.image_size)
        if not len(ids):
            return np.zeros((0, self.image_size, self.image_size, 3), np.uint8)
        inputs = {"source_images": images, "token_ids": ids}
        return to_uint8(self.session.run(["images"], inputs)[0])

    def edit(self, images, captions) -> np.ndarray:
        """Edits uint8 `images` towards `captions`: uint8 [N, S, S, 3].

        Args:
            images: uint8 `[H, W]`, `[H, W, C]` or `[N, H, W, C]` of any size, C = 1, 3 or 4;
                converted by `tfcmgen.runtime.images.prepare_source_images` (OpenCV, no TensorFlow).
            captions: list of str. One per image, one for all images, or many for one image.
        """
        from tfcmgen.runtime.images import pair_captions, prepare_source_images

        check_task(self.path, self.task, "edit")
        images, captions = pair_captions(
            prepare_source_images(images, self.image_size), check_captions(captions)
        )
        ids = self.tokenizer.encode(map_and_report(self.word_mapper, captions))
        warn_unknown_only(captions, ids)
        return self.edit_from_tokens(np.asarray(images, np.float32) / 127.5 - 1.0, ids)
