"""Issue 11's "errors that are tracebacks or say the wrong thing": each is one line, rightly worded.

(The `-n 0` cap and export-as-`--model` cases are in tests/test_hostile_inputs.py and
test_ownership.py.)
"""

from __future__ import annotations

import json
import os
import shutil

import cv2
import numpy as np
import pytest

from tfcmgen.cli import main
from tfcmgen.config import ConfigError, TrainConfig


def _one_line(argv, capsys) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    assert code in (1, 2), err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


def test_output_naming_a_folder(tiny_run, tmp_path, capsys):
    err = _one_line(["generate", "a red circle", "--model", tiny_run.path, "-o", str(tmp_path)],
                    capsys)
    assert "is a folder; give an image file name" in err


def test_output_under_a_file(tiny_run, tmp_path, capsys):
    (tmp_path / "file.txt").write_bytes(b"keep")
    err = _one_line(["generate", "a red circle", "--model", tiny_run.path,
                     "-o", str(tmp_path / "file.txt" / "x.png")], capsys)
    assert "file.txt' is a file, not a folder" in err
    assert (tmp_path / "file.txt").read_bytes() == b"keep"


def test_output_with_an_unknown_extension(tiny_run, tmp_path, capsys):
    err = _one_line(["generate", "a red circle", "--model", tiny_run.path,
                     "-o", str(tmp_path / "grid.txt")], capsys)
    assert "cannot encode an image as .txt" in err


def test_a_keras_file_as_model(tiny_run, capsys):
    err = _one_line(["generate", "a red circle", "--model",
                     os.path.join(tiny_run.path, "model.keras")], capsys)
    assert "is a .keras file; --model takes a run folder" in err


def test_a_plain_keras_model_in_a_run_folder(tiny_run, tmp_path, capsys):
    import keras

    run = tmp_path / "run"
    shutil.copytree(tiny_run.path, run)
    plain = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    os.remove(run / "model.keras")
    plain.save(run / "model.keras")
    err = _one_line(["generate", "a red circle", "--model", str(run), "-o",
                     str(tmp_path / "g.png")], capsys)
    assert "holds a Keras Sequential, not a tfcmgen model" in err


def test_a_truncated_keras_file_is_not_reported_missing(tiny_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(tiny_run.path, run)
    data = (run / "model.keras").read_bytes()
    (run / "model.keras").write_bytes(data[: len(data) // 2])
    err = _one_line(["generate", "a red circle", "--model", str(run), "-o",
                     str(tmp_path / "g.png")], capsys)
    assert "truncated or damaged" in err and "model.keras" in err
    assert "not found" not in err.lower()


@pytest.mark.parametrize("field, value, words", [
    ("jit", "no", "jit must be true or false (a JSON boolean, not a string); received jit='no'"),
    ("strict", 1, "strict must be true or false"),
    ("out", 42, "out must be a string; received out=42"),
    ("data", ["shapes"], "data must be a string"),
    ("batch_size", 2.0, "batch_size must be an integer; received batch_size=2.0"),
    ("minutes", "5", "minutes must be a number or null"),
    ("word_vectors", 3, "word_vectors must be a string or null"),
    ("held_out", "red circle", "held_out must be a list or null"),
])
def test_config_field_types_are_checked(tmp_path, capsys, field, value, words):
    values = TrainConfig(out=str(tmp_path / "run")).to_dict()
    values[field] = value
    path = tmp_path / "config.json"
    path.write_text(json.dumps(values), encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        TrainConfig.load(str(path))
    assert words in str(raised.value)
    err = _one_line(["train", "--config", str(path), "--dry-run"], capsys)
    assert words in err


def test_export_and_generate_config_types(tmp_path):
    from tfcmgen.config import ExportConfig, GenerateConfig

    with pytest.raises(ConfigError, match="overwrite must be true or false"):
        ExportConfig(model="r", out="o", overwrite="yes")
    with pytest.raises(ConfigError, match="version must be between 1"):
        ExportConfig(model="r", out="o", version=0)
    with pytest.raises(ConfigError, match="out must be a string"):
        GenerateConfig(captions=("a",), out=7)
    with pytest.raises(ConfigError, match="captions must be strings"):
        GenerateConfig(captions=("a", 3))


def test_caption_file_symlinked_out_is_refused_without_echo(tmp_path, capsys):
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0:TOP-SECRET-LINE\n", encoding="utf-8")
    data = tmp_path / "data"
    data.mkdir()
    cv2.imwrite(str(data / "a.png"), np.zeros((8, 8, 3), np.uint8))
    os.symlink(secret, data / "captions.csv")
    err = _one_line(["data", "preview", "--data", str(data), "-o", str(tmp_path / "p.png")],
                    capsys)
    assert "resolves outside the dataset folder" in err and "TOP-SECRET" not in err
    # A caption file that is not a header, inside the folder: named, its content not shown.
    os.remove(data / "captions.csv")
    (data / "captions.csv").write_text("TOP-SECRET-LINE,x\n", encoding="utf-8")
    err = _one_line(["data", "preview", "--data", str(data), "-o", str(tmp_path / "p.png")],
                    capsys)
    assert "line 1 must be a header" in err and "TOP-SECRET" not in err


def test_cub_text_file_symlinked_out_is_refused(tmp_path):
    from tfcmgen.data import load_folder
    from tfcmgen.data.errors import DatasetError

    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-LINE\n", encoding="utf-8")
    root = tmp_path / "cub"
    (root / "images" / "c").mkdir(parents=True)
    cv2.imwrite(str(root / "images" / "c" / "x.jpg"), np.zeros((8, 8, 3), np.uint8))
    (root / "text" / "c").mkdir(parents=True)
    os.symlink(secret, root / "text" / "c" / "x.txt")
    with pytest.raises(DatasetError, match="resolves outside the dataset folder") as raised:
        load_folder(str(root))
    assert "TOP-SECRET" not in str(raised.value)
