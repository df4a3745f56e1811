"""`tfcmgen export`: a run folder's generator to a SavedModel and/or ONNX, in one folder.

Layout of `--out OUT` (`--format all`; `savedmodel` or `onnx` write only their part)::

    OUT/tfcmgen_export.json      marker: task, sizes, where each format lives
    OUT/vocab.txt                the vocabulary
    OUT/saved_model/             SavedModel for TF Serving (copy it to MODEL_BASE/1/), with its
                                 own vocab.txt and marker
    OUT/onnx/generator.onnx      token ids + noise (edit models: + source images) -> images,
                                 opset 17+
    OUT/onnx/vocab.txt, tokenizer.json, tfcmgen_export.json

Everything is written into a temporary folder beside OUT and renamed at the end, so a failed export
leaves nothing; an existing OUT is replaced only with `overwrite`.

Example:

>>> from tfcmgen.config import ExportConfig
>>> export_run(ExportConfig(model="runs/demo", out="exports/demo", format="all"))  # doctest: +SKIP
['/abs/exports/demo/saved_model', '/abs/exports/demo/onnx/generator.onnx', ...]
"""

from __future__ import annotations

import os

from tfcmgen.export.export_metadata import METADATA_FILE, VOCABULARY_FILE
from tfcmgen.export.staging import check_destination, staged_folder


def _savedmodel_writer():
    from tfcmgen.export.savedmodel_export import write_savedmodel

    return write_savedmodel


def _onnx_writer():
    from tfcmgen.export.onnx_export import write_onnx

    return write_onnx


# format -> (subfolder of OUT, the function that writes it). "all" is every entry.
FORMAT_WRITERS = {
    "savedmodel": ("saved_model", _savedmodel_writer),
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


def export_run(config) -> list[str]:
    """Exports the EMA generator (or the editor) of the run `config.model` into `config.out`.

    Args:
        config: ExportConfig. `model` (run folder; empty for the bundled pretrained model),
            `out`, `format` (`"savedmodel"`, `"onnx"` or `"all"`), `overwrite`, `opset`.

    Returns:
        Absolute paths of what was written: the SavedModel folder, the `.onnx` file, the marker.

    Raises:
        ExportExistsError: `out` exists and `config.overwrite` is False (checked before loading);
            a FileExistsError and a ValueError.
        tfcmgen.runs.RunFolderError: `config.model` is not a finished run.
    """
    from tfcmgen.generation import load_generator

    formats = export_formats(config.format)
    out = os.path.abspath(config.out)
    check_destination(out, config.overwrite)
    if "onnx" in formats:
        from tfcmgen.export.onnx_export import check_opset

        check_opset(config.opset)
    generator = load_generator(config.model or None)
    model, vocabulary = generator.model, generator.tokenizer.vocabulary
    source = os.path.abspath(generator.source) if generator.source else ""

    written, parts = [], []
    with staged_folder(out, config.overwrite) as staging:
        for name in formats:
            subfolder, writer = FORMAT_WRITERS[name]
            folder = os.path.join(staging, subfolder)
            os.makedirs(folder)
            options = {"opset": config.opset} if name == "onnx" else {}
            metadata = writer()(model, vocabulary, folder, source=source, **options)
            parts.append(metadata)
            artifact = os.path.normpath(os.path.join(subfolder, metadata.files[name]))
            written.append(os.path.join(out, artifact))
        root = parts[0].replace(
            files={
                name: os.path.normpath(os.path.join(FORMAT_WRITERS[name][0], part.files[name]))
                for name, part in zip(formats, parts)
            },
            signatures=next((p.signatures for p in parts if p.signatures), ()),
            serving_text_ops=next((p.serving_text_ops for p in parts if p.serving_text_ops), ()),
            onnx_opset=next((p.onnx_opset for p in parts if p.onnx_opset), None),
        )
        vocabulary.save(os.path.join(staging, VOCABULARY_FILE))
        root.save(staging)
    written.append(os.path.join(out, METADATA_FILE))
    return written
