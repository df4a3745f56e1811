"""`export_run` (what `tfcmgen export` calls): layout, no overwrite by default, all-or-nothing."""

import json
import os

import pytest

from tfcmgen.config import ExportConfig
from tfcmgen.export import ExportError, ExportMetadata, export_run
from tfcmgen.export import run_export as run_export_module
from tfcmgen.export.staging import staged_folder


def _leftovers(parent):
    return sorted(name for name in os.listdir(parent) if name.startswith("."))


def test_layout_and_written_paths(exported, tiny_run):
    out = exported.out
    assert exported.written == [
        os.path.join(out, "saved_model"),
        os.path.join(out, "onnx", "generator.onnx"),
        os.path.join(out, "tfcmgen_export.json"),
    ]
    for path in exported.written:
        assert os.path.exists(path), path
    for folder in (out, os.path.join(out, "saved_model"), os.path.join(out, "onnx")):
        assert os.path.isfile(os.path.join(folder, "vocab.txt"))
        assert os.path.isfile(os.path.join(folder, "tfcmgen_export.json"))
    with open(os.path.join(out, "vocab.txt"), encoding="utf-8") as stream:
        assert stream.read().split("\n")[:-1] == tiny_run.vocabulary.tokens

    root = ExportMetadata.load(out)
    assert root.task == "text2image"
    assert (root.image_size, root.max_length, root.noise_dim) == (32, 6, 8)
    assert root.vocabulary_size == len(tiny_run.vocabulary)
    onnx_file = os.path.join("onnx", "generator.onnx")
    assert root.files == {"savedmodel": "saved_model", "onnx": onnx_file}
    assert root.signatures == ("serving_default", "generate_from_tokens")
    assert root.serving_text_ops == ("CaseFoldUTF8",)
    assert root.onnx_opset == 17
    assert root.source == os.path.abspath(tiny_run.path)
    assert _leftovers(os.path.dirname(out)) == []


def test_refuses_overwrite_before_loading_the_model(exported, tmp_path):
    before = sorted(os.listdir(exported.out))
    # The run folder does not exist: the refusal must come first, before any loading.
    config = ExportConfig(model=str(tmp_path / "no_run"), out=exported.out, format="onnx")
    with pytest.raises(FileExistsError, match="already exists; pass --overwrite") as raised:
        export_run(config)
    # Also an ExportError (a ValueError), which the CLI reports as a message, not a traceback.
    assert isinstance(raised.value, ExportError)
    assert sorted(os.listdir(exported.out)) == before


def test_overwrite_replaces_a_previous_export(tiny_run, tmp_path):
    out = str(tmp_path / "export")
    os.makedirs(out)
    (tmp_path / "export" / "tfcmgen_export.json").write_text("{}", encoding="utf-8")
    (tmp_path / "export" / "stale.txt").write_text("old", encoding="utf-8")
    written = export_run(ExportConfig(model=tiny_run.path, out=out, format="onnx", overwrite=True))
    assert written == [
        os.path.join(out, "onnx", "generator.onnx"), os.path.join(out, "tfcmgen_export.json")
    ]
    assert sorted(os.listdir(out)) == ["onnx", "tfcmgen_export.json", "vocab.txt"]
    assert ExportMetadata.load(out).files == {"onnx": os.path.join("onnx", "generator.onnx")}
    assert _leftovers(str(tmp_path)) == []


def test_overwrite_never_deletes_a_folder_that_is_not_an_export(tiny_run, tmp_path):
    precious = tmp_path / "photos"
    precious.mkdir()
    (precious / "holiday.png").write_bytes(b"png")
    with pytest.raises(ExportError, match="not a tfcmgen export .* would be deleted"):
        export_run(ExportConfig(model=tiny_run.path, out=str(precious), overwrite=True))
    assert os.listdir(precious) == ["holiday.png"]


def test_failure_mid_export_leaves_nothing(tiny_run, tmp_path, monkeypatch):
    def failing_writer():
        def write(model, vocabulary, folder, source="", opset=17):
            with open(os.path.join(folder, "generator.onnx"), "wb") as stream:
                stream.write(b"half")
            raise RuntimeError("converter crashed")

        return write

    monkeypatch.setitem(run_export_module.FORMAT_WRITERS, "onnx", ("onnx", failing_writer))
    out = tmp_path / "export"
    with pytest.raises(RuntimeError, match="converter crashed"):
        export_run(ExportConfig(model=tiny_run.path, out=str(out), format="all"))
    assert not out.exists()
    assert os.listdir(tmp_path) == []


def test_failure_keeps_the_previous_export(tmp_path):
    out = tmp_path / "export"
    out.mkdir()
    (out / "tfcmgen_export.json").write_text(json.dumps({"old": True}), encoding="utf-8")
    with pytest.raises(KeyboardInterrupt):
        with staged_folder(str(out), overwrite=True) as folder:
            open(os.path.join(folder, "partial"), "w").close()
            raise KeyboardInterrupt
    assert os.listdir(out) == ["tfcmgen_export.json"]
    assert sorted(os.listdir(tmp_path)) == ["export"]


def test_bad_format_and_opset_rejected_before_loading(tmp_path):
    with pytest.raises(ValueError, match="format must be one of"):
        run_export_module.export_formats("tflite")
    # The config refuses it first; export_run itself checks too, for configs built by other means.
    with pytest.raises(ValueError, match="opset must be between 17 and 18; received opset=25"):
        ExportConfig(model=str(tmp_path / "no_run"), out=str(tmp_path / "o"), opset=25)
    config = ExportConfig(model=str(tmp_path / "no_run"), out=str(tmp_path / "o"))
    object.__setattr__(config, "opset", 25)
    with pytest.raises(ValueError, match="opset must be an int from 17 to 18.*received opset=25"):
        export_run(config)
