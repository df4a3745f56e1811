"""Never delete or overwrite a user's file (issue 11): every reported case, then a property test.

Each case builds a folder with "user files" (bytes tfcmgen did not write) and checks that they
survive byte for byte whatever tfcmgen is asked to do, and that the refusal is one line naming
what is there. The property test runs random sequences of exports, overwrites and training starts
over random layouts of user files, through the ownership layer with a fast fake model (a real
export takes seconds); the cases above go through the real CLI and the real export.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import types

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tfcmgen.atomic import stale_temporaries
from tfcmgen.cli import main
from tfcmgen.config import ExportConfig, TrainConfig
from tfcmgen.export import ExportMetadata, export_run
from tfcmgen.export import run_export as run_export_module
from tfcmgen.export.export_metadata import METADATA_FILE
from tfcmgen.ownership import (
    LOCK_FILE,
    ConcurrentWriterError,
    writer_lock,
)
from tfcmgen.runs import RunFolder


def _snapshot(root) -> dict:
    """{relative path: bytes} of every file under `root` (the lock file aside)."""
    files = {}
    for parent, _, names in os.walk(root):
        for name in names:
            if name != LOCK_FILE:
                path = os.path.join(parent, name)
                with open(path, "rb") as stream:
                    files[os.path.relpath(path, root)] = stream.read()
    return files


def _cli_error(argv, capsys) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    assert code in (1, 2), err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


# ---- The reported cases, through the CLI ----


def test_export_into_a_project_holding_the_run_deletes_nothing(tiny_run, tmp_path, capsys):
    project = tmp_path / "proj"
    shutil.copytree(tiny_run.path, project / "run")
    (project / "thesis.tex").write_bytes(b"\\documentclass{article}\n")
    (project / METADATA_FILE).write_bytes(b"")  # an empty marker proves nothing
    before = _snapshot(project)
    err = _cli_error(["export", "--model", str(project / "run"), "--out", str(project),
                      "--overwrite"], capsys)
    assert "neither a tfcmgen run nor an export" in err and "thesis.tex" in err and "run/" in err
    assert _snapshot(project) == before


def test_export_out_inside_the_run_is_refused(tiny_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(tiny_run.path, run)
    before = _snapshot(run)
    err = _cli_error(["export", "--model", str(run), "--out", str(run / "export")], capsys)
    assert "inside the run being exported" in err
    assert _snapshot(run) == before


def test_export_overwrite_keeps_notes_and_data_through_the_cli(exported, tiny_run, tmp_path,
                                                                capsys):
    out = tmp_path / "export"
    shutil.copytree(exported.out, out)
    (out / "NOTES.md").write_bytes(b"# my notes\n")
    (out / "mydata").mkdir()
    (out / "mydata" / "x.bin").write_bytes(bytes(range(256)))
    users = {k: v for k, v in _snapshot(out).items() if k.startswith(("NOTES", "mydata"))}
    assert main(["export", "--model", tiny_run.path, "--out", str(out), "--overwrite"]) == 0
    after = _snapshot(out)
    assert all(after[name] == data for name, data in users.items())
    assert sorted(ExportMetadata.load(str(out)).files) == ["onnx", "savedmodel"]
    assert ExportMetadata.load(str(out)).files["savedmodel"] == "2"
    # Both versions load (TF Serving's base path holds 1/ and 2/).
    from tfcmgen.export import load_savedmodel

    assert load_savedmodel(str(out / "1")).generate(["a red circle"]).shape == (1, 32, 32, 3)


def test_export_folder_as_export_model_is_one_line(exported, tmp_path, capsys, monkeypatch):
    import tensorflow as tf

    def no_load(*args, **kwargs):
        raise AssertionError("tf.saved_model.load ran: an export's code ran while exporting")

    monkeypatch.setattr(tf.saved_model, "load", no_load)
    err = _cli_error(["export", "--model", exported.out, "--out", str(tmp_path / "o")], capsys)
    assert "is a tfcmgen export, not a training run folder" in err
    assert not (tmp_path / "o").exists()


def test_export_out_that_is_a_file_is_refused(tiny_run, tmp_path, capsys):
    target = tmp_path / "out.txt"
    target.write_bytes(b"keep")
    err = _cli_error(["export", "--model", tiny_run.path, "--out", str(target), "--overwrite"],
                     capsys)
    assert "is a file, not a folder" in err and target.read_bytes() == b"keep"


def test_a_symlinked_out_is_refused(exported, tiny_run, tmp_path, capsys):
    real = tmp_path / "real"
    shutil.copytree(exported.out, real)
    os.symlink(real, tmp_path / "link")
    before = _snapshot(real)
    err = _cli_error(["export", "--model", tiny_run.path, "--out", str(tmp_path / "link"),
                      "--overwrite"], capsys)
    assert "is a symlink" in err and _snapshot(real) == before


def test_train_into_a_folder_that_is_not_a_run_is_refused(tmp_path, capsys):
    out = tmp_path / "home"
    out.mkdir()
    (out / "vocab.txt").write_bytes(b"my own vocabulary\n")
    (out / "notes.txt").write_bytes(b"notes")
    (out / ".profile.abcdefgh-tmp-user").write_bytes(b"export PATH=...")
    before = _snapshot(out)
    err = _cli_error(["train", "--out", str(out), "--image-size", "32", "--num-images", "16",
                      "--epochs", "1", "--steps-per-epoch", "1", "--base-width", "4"], capsys)
    assert "neither a tfcmgen run nor an export" in err
    assert "vocab.txt" in err and "notes.txt" in err
    assert _snapshot(out) == before


def test_train_into_an_export_is_refused(exported, tmp_path, capsys):
    out = tmp_path / "export"
    shutil.copytree(exported.out, out)
    before = _snapshot(out)
    err = _cli_error(["train", "--out", str(out), "--image-size", "32"], capsys)
    assert "it is a tfcmgen export" in err
    assert _snapshot(out) == before


def test_stale_temporary_pattern_is_anchored(tmp_path):
    for name in (".profile.abcdefgh-tmp-user", ".profile.abcdefgh-tmp.bak", "x.abcdefgh-tmp",
                 ".config.json.abcdefg-tmp"):
        (tmp_path / name).write_bytes(b"user")
    ours = [".config.json.abc_e7gh-tmp", ".model.keras.a1b2c3d4-tmp.keras",
            ".state.weights.h5.zzzzzzzz-tmp.weights.h5"]
    for name in ours:
        (tmp_path / name).write_bytes(b"half")
    assert stale_temporaries(tmp_path) == sorted(str(tmp_path / n) for n in ours)


def test_failed_data_leaves_no_config_and_the_corrected_retry_trains(tmp_path, capsys):
    out = tmp_path / "run"
    config = tmp_path / "config.json"
    values = TrainConfig(data=str(tmp_path / "no-such-data"), out=str(out), image_size=32,
                         num_images=16, epochs=1, steps_per_epoch=1, batch_size=8, base_width=4,
                         embedding_dim=8, word2vec_epochs=1, noise_dim=8, max_length=8).to_dict()
    config.write_text(json.dumps(values), encoding="utf-8")
    err = _cli_error(["train", "--config", str(config)], capsys)
    assert "no-such-data" in err
    assert not (out / "config.json").exists()
    values["data"] = "shapes"
    config.write_text(json.dumps(values), encoding="utf-8")
    assert main(["train", "--config", str(config)]) == 0
    assert TrainConfig.load(str(out / "config.json")).data == "shapes"


# ---- Concurrent writers ----


def test_a_second_writer_gets_a_clear_error(exported, tiny_run, tmp_path):
    out = tmp_path / "export"
    shutil.copytree(exported.out, out)
    before = _snapshot(out)
    with writer_lock(str(out)):
        with pytest.raises(ConcurrentWriterError, match="another export is writing here"):
            export_run(ExportConfig(model=tiny_run.path, out=str(out), overwrite=True))
    assert _snapshot(out) == before


def test_out_never_disappears_during_an_overwrite(exported, tiny_run, tmp_path):
    out = tmp_path / "export"
    shutil.copytree(exported.out, out)
    missing, done = [], threading.Event()

    def watch():
        while not done.is_set():
            if not os.path.isfile(out / METADATA_FILE):
                missing.append("marker")
            if not os.path.isdir(out):
                missing.append("out")

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        for _ in range(2):
            export_run(ExportConfig(model=tiny_run.path, out=str(out), format="onnx",
                                    overwrite=True))
    finally:
        done.set()
        watcher.join()
    assert missing == []


def test_two_overwrites_at_once_end_cleanly(exported, tiny_run, tmp_path):
    import subprocess
    import sys

    out = tmp_path / "export"
    shutil.copytree(exported.out, out)
    (out / "NOTES.md").write_bytes(b"mine")
    argv = [sys.executable, "-m", "tfcmgen.cli", "export", "--model", tiny_run.path,
            "--out", str(out), "--overwrite", "--format", "savedmodel"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    runs = [subprocess.Popen(argv, stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    results = [(run.wait(timeout=300), run.stderr.read()) for run in runs]
    for code, err in results:
        assert "Traceback" not in err, err
        assert code == 0 or (code == 1 and "another export" in err.strip().splitlines()[-1]), err
    assert any(code == 0 for code, _ in results)
    assert (out / "NOTES.md").read_bytes() == b"mine"
    marker = ExportMetadata.load(str(out))
    assert marker.files["savedmodel"] in os.listdir(out)


# ---- Property: random layouts and sequences never change a user's file ----


class _FakeVocabulary:
    tokens = ["[PAD]", "[UNK]", "red", "circle"]

    def save(self, path):
        with open(path, "w", encoding="utf-8") as stream:
            stream.write("\n".join(self.tokens) + "\n")


def _fake_generator(path=None, allow_export=True):
    """What `export_run` needs from a loaded run, without TensorFlow: writes in milliseconds."""
    return types.SimpleNamespace(
        model=None, source="", tokenizer=types.SimpleNamespace(vocabulary=_FakeVocabulary()),
        word_mapper=types.SimpleNamespace(neighbours={}, save=_FakeVocabulary().save),
    )


def _fake_writer(export_format):
    def write(model, vocabulary, folder, source="", **options):
        artifact = "saved_model.pb" if export_format == "savedmodel" else "generator.onnx"
        os.makedirs(os.path.join(folder, "variables"), exist_ok=True)
        with open(os.path.join(folder, artifact), "wb") as stream:
            stream.write(os.urandom(16))
        with open(os.path.join(folder, "variables", "v.bin"), "wb") as stream:
            stream.write(os.urandom(8))
        vocabulary.save(os.path.join(folder, "vocab.txt"))
        metadata = ExportMetadata(
            task="text2image", image_size=32, max_length=6, vocabulary_size=4, noise_dim=8,
            files={export_format: "." if export_format == "savedmodel" else artifact},
        )
        metadata.save(folder)
        return metadata

    return lambda: write


# Where user files go: inside --out (some with tfcmgen's own names), and beside it.
USER_PLACES = st.sampled_from([
    "out/NOTES.md", "out/mydata/table.csv", "out/vocab.txt", "out/1/saved_model.pb",
    "out/onnx/mine.txt", "out/2", "out/.tfcmgen-staging-abcdefgh/x", "out/tfcmgen_export.json",
    "out/.vocab.txt.abcdefgh-tmp-user", "out/config.json", "thesis.tex", "out.partial/keep",
    ".out.partial-abcdefgh/keep", "run/model.keras",
])
OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("export"), st.sampled_from(["all", "savedmodel", "onnx"]),
                  st.booleans(), st.sampled_from([None, 1, 2, 3])),
        st.tuples(st.just("user"), USER_PLACES),
        st.tuples(st.just("edit-ours"), st.sampled_from(["vocab.txt", "onnx/vocab.txt",
                                                          "1/variables/v.bin"])),
        st.tuples(st.just("train")),
    ),
    min_size=1, max_size=8,
)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(initial=st.lists(USER_PLACES, max_size=4), operations=OPERATIONS)
def test_no_sequence_of_exports_and_trainings_changes_a_user_file(
    tmp_path_factory, monkeypatch, initial, operations
):
    monkeypatch.setattr("tfcmgen.generation.load_generator", _fake_generator)
    for export_format in ("savedmodel", "onnx"):
        subfolder = run_export_module.FORMAT_WRITERS[export_format][0]
        monkeypatch.setitem(run_export_module.FORMAT_WRITERS, export_format,
                            (subfolder, _fake_writer(export_format)))
    root = tmp_path_factory.mktemp("layout")
    out = root / "out"
    users = {}  # absolute path -> bytes the user wrote

    def add_user_file(place):
        path = root / place
        parent = path.parent
        while parent != root:
            if parent.is_file():
                return  # a parent is a file: the user cannot put a file there
            parent = parent.parent
        if path.is_dir() or (path.exists() and str(path) not in users):
            return  # a folder, or a file of tfcmgen's that "edit-ours" covers
        path.parent.mkdir(parents=True, exist_ok=True)
        data = f"user data for {place}\n".encode() + os.urandom(4)
        path.write_bytes(data)
        users[str(path)] = data

    for place in initial:
        add_user_file(place)
    for operation in operations:
        kind = operation[0]
        if kind == "export":
            _, export_format, overwrite, version = operation
            config = ExportConfig(model=str(root / "run"), out=str(out), format=export_format,
                                  overwrite=overwrite, version=version)
            try:
                export_run(config)
            except (ValueError, FileExistsError):
                pass  # a refusal; what matters is that nothing of the user's changed
        elif kind == "user":
            add_user_file(operation[1])
        elif kind == "edit-ours":
            path = out / operation[1]
            if path.is_file() and str(path) not in users:
                data = b"edited by the user"
                path.write_bytes(data)
                users[str(path)] = data
        else:
            try:
                RunFolder(str(out)).create()
            except ValueError:
                pass
        for path, data in users.items():
            assert os.path.isfile(path), f"{path} was deleted by {operation}"
            with open(path, "rb") as stream:
                assert stream.read() == data, f"{path} was changed by {operation}"
