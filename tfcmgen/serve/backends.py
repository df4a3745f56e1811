"""What runs the model behind the server: a SavedModel (TensorFlow) or an ONNX model (no TF).

Both backends answer the same two batched calls, so the server merges requests of any signature
into them:

- `generate(token_ids int32 [B, L], noise float32 [B, noise_dim]) -> uint8 [B, S, S, 3]`
- `edit(images float32 [B, S, S, 3] in [-1, 1], token_ids int32 [B, L]) -> uint8 [B, S, S, 3]`

Captions are tokenized in Python by the export's `PurePythonTokenizer` (the ids of the in-graph
tokenizer, tested), noise is drawn by `philox_noise.stateless_normal` (the values of
`tf.random.stateless_normal`), and edit sources are cropped and resized by OpenCV as
`tfcmgen.editing.prepare_source_images` does (what the SavedModel's graph reproduces). So a merged
batch gives each request the images its own `serving_default` call would.

`OnnxBackend` and this module import no TensorFlow (tested in a process that blocks it).
"""

from __future__ import annotations

import os

import numpy as np

from tfcmgen.export.export_folder import ExportFolder
from tfcmgen.export.onnx_generator import session_options
from tfcmgen.runtime.export_metadata import ExportError, ExportMetadata
from tfcmgen.runtime.images import to_uint8
from tfcmgen.runtime.philox_noise import stateless_normal, stateless_normal_rows
from tfcmgen.serve.signatures import signature_def_json, task_signatures


class Backend(ExportFolder):
    """Shared part: the export's metadata, tokenizer, signatures and noise."""

    name = ""

    def __init__(self, folder: str, metadata: ExportMetadata):
        self.folder = folder
        self.metadata = metadata
        self._load_text(folder)
        self.signatures = task_signatures(
            metadata.task, metadata.image_size, metadata.max_length, metadata.noise_dim
        )

    def tokenize(self, captions) -> np.ndarray:
        """Token ids of captions, unknown words mapped first as the export's Python loaders do
        (`tfcmgen.text.word_mapping`: word-vector neighbours and spelling)."""
        return self.tokenizer.encode(self.word_mapper.map_captions(list(captions))[0])

    def read_word(self, word: str) -> tuple:
        """(how, target) for a normalised word: ("known", word), ("neighbour" or "spelling",
        the vocabulary word it is read as) or ("unknown", None)."""
        target, how = self.word_mapper.map_word(word)
        return how, target

    def noise(self, count: int, seed: int) -> np.ndarray:
        """The noise `serving_default` draws for `count` images and `seed`."""
        return stateless_normal((count, self.metadata.noise_dim), seed=(int(seed), 0))

    def noise_rows(self, seeds, rows) -> np.ndarray:
        """Row `rows[i]` of `noise(.., seeds[i])` for each i, in one vectorised pass."""
        return stateless_normal_rows(seeds, rows, self.metadata.noise_dim)

    def signature_def_json(self) -> dict:
        return signature_def_json(self.signatures)

    def warm_up(self) -> None:
        """One call of each batched entry point, so the first request does not pay for tracing."""
        ids = np.zeros((1, self.metadata.max_length), np.int32)
        size = self.image_size
        if self.task == "edit":
            self.edit(np.zeros((1, size, size, 3), np.float32), ids)
        else:
            self.generate(ids, self.noise(1, 0))

    def close(self) -> None:
        pass


class SavedModelBackend(Backend):
    """Runs the export's SavedModel with `tf.saved_model.load` (core TF ops only since issue 15;
    `tensorflow_text` is imported first so that older exports with CaseFoldUTF8 load too)."""

    name = "savedmodel"

    def __init__(self, folder: str):
        import tensorflow as tf

        try:
            import tensorflow_text  # noqa: F401  (older exports: CaseFoldUTF8)
        except ImportError:
            pass
        metadata = ExportMetadata.load(folder)
        super().__init__(folder, metadata)
        self.model_path = metadata.path_of(folder, "savedmodel")
        try:
            loaded = tf.saved_model.load(self.model_path)
        except Exception as error:  # TF raises many types for a damaged SavedModel
            raise ExportError(
                f"cannot load the SavedModel in {self.model_path!r}: {error}"
            ) from error
        self._loaded = loaded
        self._tf = tf
        names = {"generate": "generate_from_tokens", "edit": "edit_from_tokens"}
        self._functions = {
            call: loaded.signatures[name] for call, name in names.items()
            if name in loaded.signatures
        }

    def signature_def_json(self) -> dict:
        """The SavedModel's own SignatureDefMap, as TF Serving prints it."""
        from google.protobuf import json_format
        from tensorflow.python.tools import saved_model_utils

        meta_graph = saved_model_utils.get_meta_graph_def(self.model_path, "serve")
        options = {"preserving_proto_field_name": True}
        try:
            signatures = {
                name: json_format.MessageToDict(
                    meta_graph.signature_def[name], always_print_fields_with_no_presence=True,
                    **options)
                for name in meta_graph.signature_def if not name.startswith("__")
            }
        except TypeError:  # protobuf < 5.26 names the option differently
            signatures = {
                name: json_format.MessageToDict(
                    meta_graph.signature_def[name], including_default_value_fields=True,
                    **options)
                for name in meta_graph.signature_def if not name.startswith("__")
            }
        return {"signature_def": signatures}

    def generate(self, token_ids, noise) -> np.ndarray:
        tf = self._tf
        outputs = self._functions["generate"](
            token_ids=tf.constant(token_ids, tf.int32), noise=tf.constant(noise, tf.float32)
        )
        return outputs["images"].numpy()

    def edit(self, images, token_ids) -> np.ndarray:
        tf = self._tf
        outputs = self._functions["edit"](
            images=tf.constant(images, tf.float32), token_ids=tf.constant(token_ids, tf.int32)
        )
        return outputs["images"].numpy()


class OnnxBackend(Backend):
    """Runs the export's ONNX model with onnxruntime; no TensorFlow."""

    name = "onnx"

    def __init__(self, folder: str, threads: int | None = None):
        import onnxruntime

        metadata = ExportMetadata.load(folder)
        super().__init__(folder, metadata)
        self.model_path = metadata.path_of(folder, "onnx")
        try:
            self.session = onnxruntime.InferenceSession(
                self.model_path, session_options(threads), providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # onnxruntime raises its own exception types
            raise ExportError(f"cannot load {self.model_path!r}: {error}") from error

    def _run(self, feeds) -> np.ndarray:
        return to_uint8(self.session.run(["images"], feeds)[0])

    def generate(self, token_ids, noise) -> np.ndarray:
        return self._run({"token_ids": np.asarray(token_ids, np.int32),
                          "noise": np.asarray(noise, np.float32)})

    def edit(self, images, token_ids) -> np.ndarray:
        return self._run({"source_images": np.asarray(images, np.float32),
                          "token_ids": np.asarray(token_ids, np.int32)})


BACKENDS = {"savedmodel": SavedModelBackend, "onnx": OnnxBackend}
# backend -> the export format it reads
BACKEND_FORMATS = {"savedmodel": "savedmodel", "onnx": "onnx"}


def load_backend(name: str, folder: str, **options) -> Backend:
    """The backend `name` ("savedmodel" or "onnx") for the export version folder `folder`."""
    if name not in BACKENDS:
        known = ", ".join(repr(key) for key in BACKENDS)
        raise ValueError(f"backend must be one of {known}; received backend={name!r}")
    return BACKENDS[name](os.fspath(folder), **options)
