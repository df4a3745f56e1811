"""`export_run` (what `tfcmgen export` calls): TF Serving's version layout, no overwrite by default,
all-or-nothing, and an --overwrite that replaces only the export's own files."""

import json
import os
import shutil

import pytest

from tfcmgen.config import ExportConfig
from tfcmgen.export import ExportError, ExportMetadata, export_run
from tfcmgen.export import run_export as run_export_module
from tfcmgen.export.staging import staged_folder
from tfcmgen.ownership import LOCK_FILE, OwnershipError, sha256_file


def _leftovers(parent):
    return sorted(name for name in os.listdir(parent) if name.startswith(".") and name != LOCK_FILE)


def test_layout_and_written_paths(exported, tiny_run):
    out = exported.out
    assert exported.written == [
        os.path.join(out, "1"),
        os.path.join(out, "onnx", "generator.onnx"),
        os.path.join(out, "tfcmgen_export.json"),
    ]
    for path in exported.written:
        assert os.path.exists(path), path
    assert os.path.isfile(os.path.join(out, "1", "saved_model.pb"))  # TF Serving's layout
    for folder in (out, os.path.join(out, "1"), os.path.join(out, "onnx")):
        assert os.path.isfile(os.path.join(folder, "vocab.txt"))
        assert os.path.isfile(os.path.join(folder, "tfcmgen_export.json"))
    with open(os.path.join(out, "vocab.txt"), encoding="utf-8") as stream:
        assert stream.read().split("\n")[:-1] == tiny_run.vocabulary.tokens

    root = ExportMetadata.load(out)
    assert root.task == "text2image"
    assert (root.image_size, root.max_length, root.noise_dim) == (32, 6, 8)
    assert root.vocabulary_size == len(tiny_run.vocabulary)
    onnx_file = os.path.join("onnx", "generator.onnx")
    assert root.files == {"savedmodel": "1", "onnx": onnx_file}
    assert root.format_version == 2
    # The manifest lists every file but the marker, with its checksum.
    on_disk = sorted(
        os.path.relpath(os.path.join(parent, name), out).replace(os.sep, "/")
        for parent, _, names in os.walk(out) for name in names
    )
    assert sorted(root.manifest) == [n for n in on_disk if n != "tfcmgen_export.json"]
    assert all(root.manifest[n] == sha256_file(os.path.join(out, n)) for n in root.manifest)
    assert root.signatures == ("serving_default", "generate_from_tokens")
    assert root.serving_text_ops == ()  # core TensorFlow ops only
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


def test_overwrite_adds_a_version_and_keeps_the_users_files(exported, tiny_run, tmp_path):
    out = tmp_path / "export"
    shutil.copytree(exported.out, out)
    (out / "NOTES.md").write_bytes(b"my notes\n")
    (out / "mydata").mkdir()
    (out / "mydata" / "table.csv").write_bytes(b"a,b\n1,2\n")
    written = export_run(ExportConfig(model=tiny_run.path, out=str(out), format="savedmodel",
                                      overwrite=True))
    assert written == [str(out / "2"), str(out / "tfcmgen_export.json")]
    assert (out / "NOTES.md").read_bytes() == b"my notes\n"
    assert (out / "mydata" / "table.csv").read_bytes() == b"a,b\n1,2\n"
    marker = ExportMetadata.load(str(out))
    ours = {name.split("/")[0] for name in marker.manifest}
    assert {"1", "2", "vocab.txt"} <= ours and "onnx" not in ours  # savedmodel only: onnx/ went
    assert set(os.listdir(out)) == ours | {LOCK_FILE, "NOTES.md", "mydata", "tfcmgen_export.json"}
    assert marker.files == {"savedmodel": "2"}
    # Version 1 stays, still proven ours; the user's files are not in the manifest.
    assert "1/saved_model.pb" in marker.manifest and "2/saved_model.pb" in marker.manifest
    assert not any(n.startswith(("NOTES", "mydata")) for n in marker.manifest)
    # --version names the folder; an existing version of ours is replaced.
    export_run(ExportConfig(model=tiny_run.path, out=str(out), format="savedmodel",
                            overwrite=True, version=1))
    assert ExportMetadata.load(str(out)).files == {"savedmodel": "1"}
    assert _leftovers(str(out)) == [] and _leftovers(str(tmp_path)) == []


def test_overwrite_refuses_files_it_cannot_prove(exported, tiny_run, tmp_path):
    out = tmp_path / "export"
    shutil.copytree(exported.out, out)
    (out / "onnx" / "mine.txt").write_bytes(b"user file inside our folder")
    with pytest.raises(OwnershipError, match="onnx/mine.txt \\(not written by tfcmgen\\)"):
        export_run(ExportConfig(model=tiny_run.path, out=str(out), overwrite=True))
    os.remove(out / "onnx" / "mine.txt")
    with open(out / "vocab.txt", "ab") as stream:
        stream.write(b"edited\n")
    before = {n: sha256_file(str(out / n)) for n in ("vocab.txt", "onnx/generator.onnx")}
    with pytest.raises(OwnershipError, match="vocab.txt \\(changed since tfcmgen wrote it\\)"):
        export_run(ExportConfig(model=tiny_run.path, out=str(out), overwrite=True))
    assert {n: sha256_file(str(out / n)) for n in before} == before
    assert not (out / "2").exists() and _leftovers(str(out)) == []


def test_overwrite_never_deletes_a_folder_that_is_not_an_export(tiny_run, tmp_path):
    precious = tmp_path / "photos"
    precious.mkdir()
    (precious / "holiday.png").write_bytes(b"png")
    with pytest.raises(OwnershipError, match="neither a tfcmgen run nor an export .*holiday.png"):
        export_run(ExportConfig(model=tiny_run.path, out=str(precious), overwrite=True))
    assert os.listdir(precious) == ["holiday.png"]


def test_a_marker_without_manifest_is_never_overwritten(tiny_run, tmp_path):
    out = tmp_path / "export"
    out.mkdir()
    (out / "tfcmgen_export.json").write_text(json.dumps(
        {"task": "text2image", "image_size": 32, "max_length": 6, "vocabulary_size": 9,
         "format_version": 1}), encoding="utf-8")
    (out / "thesis.tex").write_bytes(b"\\documentclass{article}")
    with pytest.raises(OwnershipError, match="lists no files with checksums"):
        export_run(ExportConfig(model=tiny_run.path, out=str(out), overwrite=True))
    assert sorted(os.listdir(out)) == ["tfcmgen_export.json", "thesis.tex"]


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


def test_failure_keeps_the_previous_export(exported, tmp_path):
    out = tmp_path / "export"
    out.mkdir()
    shutil.copy(os.path.join(exported.out, "tfcmgen_export.json"), out)
    marker = ExportMetadata.load(str(out))
    marker.replace(manifest={"vocab.txt": "0" * 64}).save(str(out))
    with pytest.raises(KeyboardInterrupt):
        with staged_folder(str(out), overwrite=True) as folder:
            open(os.path.join(folder, "partial"), "w").close()
            raise KeyboardInterrupt
    assert sorted(os.listdir(out)) == [LOCK_FILE, "tfcmgen_export.json"]
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
