"""The marker file that makes a folder a tfcmgen export, read back with errors that say why not.

Every export folder holds `tfcmgen_export.json` (and `vocab.txt`): the export root written by
`tfcmgen export`, and each format folder inside it, so `OUT/`, `OUT/1/` (a SavedModel version;
`OUT/saved_model/` in exports of format_version 1) and `OUT/onnx/` can each be handed to a loader
on their own. The marker's paths are checked to stay inside its folder. This module imports neither TensorFlow nor
onnxruntime.

Example:

>>> metadata = ExportMetadata(task="text2image", image_size=64, max_length=16,
...                           vocabulary_size=120, noise_dim=64, files={"onnx": "generator.onnx"})
>>> metadata.save("exports/demo/onnx")  # doctest: +SKIP
>>> ExportMetadata.load("exports/demo/onnx").path_of("exports/demo/onnx", "onnx")  # doctest: +SKIP
'exports/demo/onnx/generator.onnx'
"""

from __future__ import annotations

import dataclasses
import json
import os
import re

from tfcmgen.config import write_text_atomic
from tfcmgen.ownership import OwnershipError, check_relative_path, inside, validate_manifest

METADATA_FILE = "tfcmgen_export.json"
VOCABULARY_FILE = "vocab.txt"
# Raised when the layout or meaning of an export changes; loaders refuse newer versions.
# 1: OUT/saved_model/, no manifest. 2: OUT/<version>/ (TF Serving's layout) and a manifest.
FORMAT_VERSION = 2
EXPORT_FORMATS = ("savedmodel", "onnx")
# TF Serving's version folders: a positive integer, ASCII digits only.
_VERSION_NAME = re.compile(r"^[0-9]{1,18}$")


class ExportError(ValueError):
    """A folder is not a tfcmgen export, or not of the kind asked for; the message says why."""


@dataclasses.dataclass(frozen=True)
class ExportMetadata:
    """What a tfcmgen export holds, saved as `tfcmgen_export.json` beside it.

    Args:
        task: str. The model task, e.g. `"text2image"`.
        image_size: int. Height and width of the generated images.
        max_length: int. Token ids per caption (the tokenizer pads or truncates to it).
        vocabulary_size: int. Number of tokens in `vocabulary`, `[PAD]` and `[UNK]` included.
        noise_dim: int or None. Noise vector size of a generator (None when the task has none).
        files: dict. Format (`"savedmodel"`, `"onnx"`) -> path of its artifact relative to the
            folder holding this file (`"."` for a SavedModel folder itself).
        vocabulary: str. Vocabulary file, relative to the same folder. Defaults to `"vocab.txt"`.
        signatures: tuple of str. SavedModel signature names. Defaults to ().
        serving_text_ops: tuple of str. Op types the SavedModel uses beyond core TensorFlow.
        onnx_opset: int or None. ONNX opset of the `.onnx` file.
        source: str. The run folder that was exported.
        tfcmgen_version: str. The tfcmgen version that wrote the export.
        format_version: int. Version of this layout. Defaults to `FORMAT_VERSION`.
        manifest: dict. Every file of the export (relative path -> SHA-256) but this marker:
            what `tfcmgen export --overwrite` may replace (see `tfcmgen.ownership`). Defaults to
            {} (exports of format_version 1 have none, and are never overwritten).
    """

    task: str
    image_size: int
    max_length: int
    vocabulary_size: int
    noise_dim: int | None = None
    files: dict = dataclasses.field(default_factory=dict)
    vocabulary: str = VOCABULARY_FILE
    signatures: tuple = ()
    serving_text_ops: tuple = ()
    onnx_opset: int | None = None
    source: str = ""
    tfcmgen_version: str = ""
    format_version: int = FORMAT_VERSION
    manifest: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        unknown = sorted(set(self.files) - set(EXPORT_FORMATS))
        if unknown:
            raise ValueError(
                f"files must map formats among {EXPORT_FORMATS} to paths; received {unknown}"
            )
        # A marker is data from a file: its paths must stay inside the export folder.
        try:
            for name, relative in self.files.items():
                check_relative_path(relative, f"files[{name!r}]")
            check_relative_path(self.vocabulary, "vocabulary")
            validate_manifest(self.manifest, "manifest")
        except OwnershipError as error:
            raise ValueError(str(error)) from None

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    def save(self, folder: str) -> str:
        """Writes `folder/tfcmgen_export.json` atomically; returns its path."""
        path = os.path.join(folder, METADATA_FILE)
        write_text_atomic(path, self.to_json() + "\n")
        return path

    def replace(self, **changes) -> ExportMetadata:
        return dataclasses.replace(self, **changes)

    def path_of(self, folder: str, export_format: str) -> str:
        """Path of the `export_format` artifact of the export in `folder`.

        Raises:
            ExportError: when this export does not hold that format.
        """
        if export_format not in self.files:
            held = ", ".join(sorted(self.files)) or "no model"
            raise ExportError(
                f"the export in {folder!r} holds {held}, not {export_format}; "
                f"re-export with `tfcmgen export --format {export_format}` (or `--format all`)"
            )
        return _inside(folder, self.files[export_format], f"files[{export_format!r}]")

    def vocabulary_path(self, folder: str) -> str:
        return _inside(folder, self.vocabulary, "vocabulary")

    def tokenizer(self, folder: str):
        """The export's `PurePythonTokenizer`; raises ExportError if its vocabulary is not the
        one the model was exported with (a truncated or swapped vocab.txt would otherwise map
        words to [UNK] without a word)."""
        from tfcmgen.text.pure_tokenizer import PurePythonTokenizer

        path = self.vocabulary_path(folder)
        tokenizer = PurePythonTokenizer(path, max_length=self.max_length)
        if tokenizer.vocabulary_size != self.vocabulary_size:
            raise ExportError(
                f"{path} has {tokenizer.vocabulary_size} tokens but the export was made with "
                f"vocabulary_size={self.vocabulary_size}: the file is damaged or from another "
                "model; re-export it"
            )
        return tokenizer

    @classmethod
    def load(cls, folder: str) -> ExportMetadata:
        """Reads the marker of the export in `folder`.

        Raises:
            ExportError: naming the folder and what it holds instead, when it is not a tfcmgen
                export (missing folder, no marker, a run folder, a foreign SavedModel, a damaged
                or newer marker).
        """
        folder = os.fspath(folder)
        if not os.path.exists(folder):
            raise ExportError(f"export folder {folder!r} does not exist")
        if not os.path.isdir(folder):
            raise ExportError(
                f"{folder!r} is a file; a tfcmgen export is a folder made by `tfcmgen export`"
            )
        path = os.path.join(folder, METADATA_FILE)
        if not os.path.isfile(path):
            raise ExportError(f"{folder!r} is not a tfcmgen export: {_what_it_holds(folder)}")
        try:
            with open(path, encoding="utf-8") as stream:
                values = json.load(stream)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ExportError(f"{path} is damaged, cannot read it: {error}") from error
        if not isinstance(values, dict):
            raise ExportError(f"{path} must hold a JSON object; found {type(values).__name__}")
        version = values.get("format_version")
        if not isinstance(version, int) or isinstance(version, bool):
            raise ExportError(
                f"{path} has no integer format_version; it was not written by tfcmgen"
            )
        if version > FORMAT_VERSION:
            raise ExportError(
                f"{path} was written by a newer tfcmgen (format_version={version}; this one "
                f"reads up to {FORMAT_VERSION}); upgrade tfcmgen to load it"
            )
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ExportError(
                f"{path} has unknown fields {unknown}; expected some of {sorted(known)}"
            )
        for key in ("signatures", "serving_text_ops"):
            if isinstance(values.get(key), list):
                values[key] = tuple(values[key])
        try:
            return cls(**values)
        except (TypeError, ValueError) as error:
            raise ExportError(f"{path} is not a valid tfcmgen export marker: {error}") from error


def _inside(folder: str, relative: str, field: str) -> str:
    """`folder/relative` (normalised), refused when a symlink takes it outside `folder`."""
    try:
        inside(folder, relative, f"{os.path.join(folder, METADATA_FILE)}: {field}")
    except OwnershipError as error:
        raise ExportError(str(error)) from None
    return os.path.normpath(os.path.join(folder, relative))


def savedmodel_versions(folder: str) -> dict:
    """`{version: path}` of the numbered SavedModel folders (TF Serving's layout) in `folder`."""
    versions = {}
    if os.path.isdir(folder):
        for name in os.listdir(folder):
            path = os.path.join(folder, name)
            if _VERSION_NAME.match(name) and int(name) > 0 and os.path.isfile(
                os.path.join(path, "saved_model.pb")
            ):
                versions[int(name)] = path
    return dict(sorted(versions.items()))


def _what_it_holds(folder: str) -> str:
    """A hint for a folder without the marker: what it looks like instead."""
    names = set(os.listdir(folder))
    if {"config.json", "model.keras"} <= names:
        return (
            "it is a training run folder; export it with `tfcmgen export --model RUN_DIR --out DIR`"
            " or load it with `tfcmgen.load_generator(RUN_DIR)`"
        )
    if "saved_model.pb" in names:
        return (
            f"it holds a SavedModel that `tfcmgen export` did not write (no {METADATA_FILE}); "
            "load foreign SavedModels with tf.saved_model.load"
        )
    if any(name.endswith(".onnx") for name in names):
        return f"it holds an .onnx file without {METADATA_FILE} and tokenizer settings"
    if not names:
        return "the folder is empty"
    return f"no {METADATA_FILE} (make an export with `tfcmgen export --model RUN_DIR --out DIR`)"
