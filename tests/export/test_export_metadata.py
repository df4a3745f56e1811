"""The export marker: round trip, and clear reports for folders that are not tfcmgen exports."""

import json
import os

import pytest

from tfcmgen.export.export_metadata import (
    FORMAT_VERSION,
    METADATA_FILE,
    ExportError,
    ExportMetadata,
)


def _metadata(**changes):
    values = dict(
        task="text2image", image_size=32, max_length=6, vocabulary_size=12, noise_dim=8,
        files={"savedmodel": "saved_model", "onnx": "onnx/generator.onnx"},
        signatures=("serving_default", "generate_from_tokens"), serving_text_ops=("CaseFoldUTF8",),
        onnx_opset=17,
    )
    values.update(changes)
    return ExportMetadata(**values)


def test_round_trip_and_paths(tmp_path):
    metadata = _metadata()
    path = metadata.save(str(tmp_path))
    assert path == os.path.join(str(tmp_path), METADATA_FILE)
    loaded = ExportMetadata.load(str(tmp_path))
    assert loaded == metadata
    assert loaded.format_version == FORMAT_VERSION
    onnx_path = os.path.join(str(tmp_path), "onnx", "generator.onnx")
    assert loaded.path_of(str(tmp_path), "onnx") == onnx_path
    assert loaded.path_of(str(tmp_path), "savedmodel") == os.path.join(str(tmp_path), "saved_model")


def test_missing_format_is_named(tmp_path):
    metadata = _metadata(files={"onnx": "generator.onnx"})
    with pytest.raises(ExportError, match="holds onnx, not savedmodel.*--format savedmodel"):
        metadata.path_of(str(tmp_path), "savedmodel")


def test_unknown_format_key_rejected():
    with pytest.raises(ValueError, match="received \\['tflite'\\]"):
        _metadata(files={"tflite": "m.tflite"})


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda d: None, "is not a tfcmgen export: the folder is empty"),
        (
            lambda d: [
                open(os.path.join(d, n), "w").close() for n in ("config.json", "model.keras")
            ],
            "training run folder.*tfcmgen export --model",
        ),
        (
            lambda d: open(os.path.join(d, "saved_model.pb"), "wb").close(),
            "SavedModel that `tfcmgen export` did not write",
        ),
        (lambda d: open(os.path.join(d, "notes.txt"), "w").close(), f"no {METADATA_FILE}"),
    ],
    ids=["empty", "run_folder", "foreign_savedmodel", "other"],
)
def test_not_an_export_is_reported(tmp_path, make, message):
    make(str(tmp_path))
    with pytest.raises(ExportError, match=message):
        ExportMetadata.load(str(tmp_path))


def test_missing_folder_and_file(tmp_path):
    with pytest.raises(ExportError, match="does not exist"):
        ExportMetadata.load(str(tmp_path / "nope"))
    file_path = tmp_path / "model.onnx"
    file_path.write_bytes(b"")
    with pytest.raises(ExportError, match="is a file"):
        ExportMetadata.load(str(file_path))


@pytest.mark.parametrize(
    "text, message",
    [
        ("{not json", "is damaged"),
        ("[1, 2]", "must hold a JSON object; found list"),
        ('{"task": "text2image"}', "no integer format_version"),
        (json.dumps({"format_version": FORMAT_VERSION + 1}), "written by a newer tfcmgen"),
        (json.dumps({"format_version": 1, "colour": "red"}), "unknown fields \\['colour'\\]"),
        (
            json.dumps({"format_version": 1, "task": "text2image"}),
            "not a valid tfcmgen export marker",
        ),
    ],
    ids=["bad_json", "not_object", "no_version", "newer", "unknown_field", "missing_fields"],
)
def test_damaged_marker_is_reported(tmp_path, text, message):
    (tmp_path / METADATA_FILE).write_text(text, encoding="utf-8")
    with pytest.raises(ExportError, match=message):
        ExportMetadata.load(str(tmp_path))
