"""`ExportFolder`: what every loader of a tfcmgen export folder shares.

`SavedModelGenerator`, `OnnxGenerator` and the serve backends each read an export's marker, build
its tokenizer and its unknown-word mapper, and answer the sizes the marker records. This module
imports no TensorFlow: the ONNX path uses it.
"""

from __future__ import annotations

from tfcmgen.runtime.export_metadata import ExportMetadata
from tfcmgen.text.word_mapping import mapper_for_folder


class ExportFolder:
    """Base of the export loaders: `metadata` (the folder's marker), the sizes it records, and
    `tokenizer` / `word_mapper` once `_load_text(path)` has run.

    Subclasses set `self.metadata` (`ExportMetadata.load(path)`) before they use anything here.
    """

    metadata: ExportMetadata

    def _load_text(self, path: str) -> None:
        self.tokenizer = self.metadata.tokenizer(path)
        # Unknown words: spelling and word-vector neighbours, mapped in Python before the model
        # (a SavedModel's graph maps only the neighbours itself; see tfcmgen.text.word_mapping).
        self.word_mapper = mapper_for_folder(path, self.tokenizer.vocabulary)

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
