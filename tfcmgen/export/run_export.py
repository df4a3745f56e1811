"""`tfcmgen export`: a run folder's generator to a SavedModel and/or ONNX, in one folder.

Layout of `--out OUT` (`--format all`; `savedmodel` or `onnx` write only their part)::

    OUT/tfcmgen_export.json      marker: task, sizes, where each format lives, and the manifest
                                 (every file's SHA-256: what a later --overwrite may replace)
    OUT/vocab.txt                the vocabulary
    OUT/1/                       SavedModel version 1, TF Serving's layout: serve OUT with
                                 `--model_base_path=OUT`; with its own vocab.txt and marker
    OUT/onnx/generator.onnx      token ids + noise (edit models: + source images) -> images,
                                 opset 17+
    OUT/onnx/vocab.txt, tokenizer.json, tfcmgen_export.json

The SavedModel goes into version folder `version` (default: 1 in a new folder, the next free
number in an existing export). `--overwrite` on an existing export adds that version beside the
older ones (TF Serving serves the newest) and replaces the marker, `vocab.txt` and `onnx/`; it
touches no file the previous marker's manifest does not prove tfcmgen wrote (see
`tfcmgen.ownership`). Exports of format_version 1 (`OUT/saved_model/`) still load.

Everything is written into a staging folder first and moved into place at the end, so a failed
export leaves `OUT` as it was.

Example:

>>> from tfcmgen.config import ExportConfig
>>> export_run(ExportConfig(model="runs/demo", out="exports/demo", format="all"))  # doctest: +SKIP
['/abs/exports/demo/1', '/abs/exports/demo/onnx/generator.onnx', ...]
"""

from __future__ import annotations

import os
import re

from tfcmgen.export.export_metadata import METADATA_FILE, VOCABULARY_FILE, ExportError
from tfcmgen.export.staging import check_destination, staged_folder, stamp_manifest
from tfcmgen.ownership import check_not_inside
from tfcmgen.runs import RunFolderError
from tfcmgen.text.word_mapping import WORD_MAP_FILE

# TF Serving's version folders: positive integers.
_VERSION_NAME = re.compile(r"^[0-9]{1,18}$")


def _savedmodel_writer():
    from tfcmgen.export.savedmodel_export import write_savedmodel

    return write_savedmodel


def _onnx_writer():
    from tfcmgen.export.onnx_export import write_onnx

    return write_onnx


# format -> (subfolder of OUT, the function that writes it). "all" is every entry. The SavedModel's
# subfolder is its version number, chosen per export (`savedmodel_version`).
FORMAT_WRITERS = {
    "savedmodel": ("{version}", _savedmodel_writer),
    "onnx": ("onnx", _onnx_writer),
}


def export_formats(name: str) -> tuple:
    """The formats `name` stands for (`"all"` is every entry of FORMAT_WRITERS)."""
    if name == "all":
        return tuple(FORMAT_WRITERS)
    if name not in FORMAT_WRITERS:
        shown = ", ".join(repr(f) for f in (*FORMAT_WRITERS, "all"))
        raise ValueError(f"format must be one of {shown}; received format={name!r}")
    return (name,)


def _is_version(name: str) -> bool:
    return bool(_VERSION_NAME.match(name)) and int(name) > 0


def savedmodel_version(out: str, requested: int | None) -> int:
    """The version folder to write: `requested`, else 1 + the highest number in `out` (or 1)."""
    if requested is not None:
        if isinstance(requested, bool) or not isinstance(requested, int) or requested < 1:
            raise ExportError(f"version must be an integer >= 1; received version={requested!r}")
        return requested
    taken = [int(n) for n in os.listdir(out) if _is_version(n)] if os.path.isdir(out) else []
    return max(taken, default=0) + 1


def export_run(config) -> list[str]:
    """Exports the EMA generator (or the editor) of the run `config.model` into `config.out`.

    Args:
        config: ExportConfig. `model` (run folder; empty for the bundled pretrained model),
            `out`, `format` (`"savedmodel"`, `"onnx"` or `"all"`), `overwrite`, `opset`,
            `version` (SavedModel version folder; None for the next free number).

    Returns:
        Absolute paths of what was written: the SavedModel folder, the `.onnx` file, the marker.

    Raises:
        ExportExistsError: `out` exists and `config.overwrite` is False (checked before loading);
            a FileExistsError and a ValueError.
        tfcmgen.ownership.OwnershipError: `out` is not a folder tfcmgen may write (see
            `tfcmgen.ownership`), or lies inside the run being exported.
        tfcmgen.runs.RunFolderError: `config.model` is not a finished run (an export is refused:
            loading it would run its SavedModel code).
    """
    from tfcmgen.generation import PRETRAINED_DIR, load_generator

    formats = export_formats(config.format)
    out = os.path.abspath(config.out)
    check_not_inside(out, config.model or PRETRAINED_DIR, "the run being exported")
    check_destination(out, config.overwrite)
    version = savedmodel_version(out, getattr(config, "version", None))
    if "onnx" in formats:
        from tfcmgen.export.onnx_export import check_opset

        check_opset(config.opset)
    if config.model and os.path.isfile(os.path.join(config.model, METADATA_FILE)):
        # Loading an export would run its SavedModel's code; only run folders are exported.
        raise RunFolderError(
            f"{config.model!r} is a tfcmgen export, not a training run folder; export takes the "
            "run folder the export was made from (config.json, vocab.txt, model.keras)"
        )
    generator = load_generator(config.model or None)
    model, vocabulary = generator.model, generator.tokenizer.vocabulary
    source = os.path.abspath(generator.source) if generator.source else ""

    written, parts, subfolders = [], [], []
    # Older SavedModel versions stay beside the new one (TF Serving serves the newest).
    with staged_folder(out, config.overwrite, keep=_is_version) as staging:
        for name in formats:
            template, writer = FORMAT_WRITERS[name]
            subfolder = template.format(version=version)
            folder = os.path.join(staging, subfolder)
            os.makedirs(folder)
            options = {"opset": config.opset} if name == "onnx" else {}
            if name == "savedmodel":
                # Word-vector neighbours map inside the served graph too (tfcmgen.text.word_mapping).
                options["aliases"] = generator.word_mapper.neighbours
            writer()(model, vocabulary, folder, source=source, **options)
            generator.word_mapper.save(os.path.join(folder, WORD_MAP_FILE))
            metadata = stamp_manifest(folder)
            parts.append(metadata)
            subfolders.append(subfolder)
            artifact = os.path.normpath(os.path.join(subfolder, metadata.files[name]))
            written.append(os.path.join(out, artifact))
        root = parts[0].replace(
            files={
                name: os.path.normpath(os.path.join(subfolder, part.files[name]))
                for name, part, subfolder in zip(formats, parts, subfolders)
            },
            manifest={},
            signatures=next((p.signatures for p in parts if p.signatures), ()),
            serving_text_ops=next((p.serving_text_ops for p in parts if p.serving_text_ops), ()),
            onnx_opset=next((p.onnx_opset for p in parts if p.onnx_opset), None),
        )
        vocabulary.save(os.path.join(staging, VOCABULARY_FILE))
        generator.word_mapper.save(os.path.join(staging, WORD_MAP_FILE))
        root.save(staging)
    written.append(os.path.join(out, METADATA_FILE))
    return written
