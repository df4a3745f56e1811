"""Hostile input the other test areas leave open: checked at the command line, end to end.

Covered elsewhere, not repeated here: the tokenizer on arbitrary Unicode, bytes, control characters
and very long text against the pure-Python tokenizer (tests/text/test_tokenizer_agreement.py);
the dataset loaders' functions on every kind of bad file (tests/data); damaged export markers
(tests/export/test_export_metadata.py); a few CLI flags (tests/test_cli.py).

Here: every numeric flag out of range; hostile dataset folders through `tfcmgen data preview`
and `tfcmgen train`; truncated files of a run folder and of an export through `tfcmgen generate`,
`tfcmgen train` and the loaders. Each gets a one-line message naming the flag or file (exit code 1
or 2; argparse prints its usage above it), or the documented skip with a warning; never a
traceback.
"""

import json
import os
import shutil
import struct
import zlib

import numpy as np
import pytest

from tfcmgen.cli import main

# ---- Numeric flags ----

RUN_FLAGS = ["train", "--out", "r", "--dry-run"]


@pytest.mark.parametrize(
    "argv, words",
    [
        (RUN_FLAGS + ["--epochs", "10000000000"], "epochs must be between 1 and 1000000"),
        (RUN_FLAGS + ["--batch-size", "-8"], "batch_size must be between 1 and 65536"),
        (RUN_FLAGS + ["--batch-size", "99999999999"], "batch_size must be between 1 and 65536"),
        (RUN_FLAGS + ["--num-images", "0"], "num_images must be between 2"),
        (RUN_FLAGS + ["--num-images", "1"], "num_images must be between 2"),
        (RUN_FLAGS + ["--steps-per-epoch", "0"], "steps_per_epoch must be between 1"),
        (RUN_FLAGS + ["--embedding-dim", "1"], "embedding_dim must be between 2 and 4096"),
        (RUN_FLAGS + ["--embedding-dim", "100000"], "embedding_dim must be between 2 and 4096"),
        (RUN_FLAGS + ["--base-width", "0"], "base_width must be between 1 and 1024"),
        (RUN_FLAGS + ["--noise-dim", "-3"], "noise_dim must be between 1 and 4096"),
        (RUN_FLAGS + ["--replicas", "0"], "replicas must be between 1 and 4096"),
        (RUN_FLAGS + ["--seed", "-1"], "seed must be between 0 and 2147483647"),
        (RUN_FLAGS + ["--seed", "4294967296"], "seed must be between 0 and 2147483647"),
        (RUN_FLAGS + ["--minutes", "0"], "minutes must be greater than 0"),
        (RUN_FLAGS + ["--minutes", "nan"], "minutes must be greater than 0"),
        (RUN_FLAGS + ["--minutes", "inf"], "minutes must be greater than 0"),
        (RUN_FLAGS + ["--g-learning-rate", "0"], "g_learning_rate must be greater than 0"),
        (RUN_FLAGS + ["--g-learning-rate", "nan"], "g_learning_rate must be greater than 0"),
        (RUN_FLAGS + ["--d-learning-rate", "1e300"], "d_learning_rate must be greater than 0"),
        (RUN_FLAGS + ["--d-learning-rate=-inf"], "d_learning_rate must be greater than 0"),
        (RUN_FLAGS + ["--epochs", "1.5"], "argument --epochs: invalid int value: '1.5'"),
        (RUN_FLAGS + ["--image-size", "48"], "argument --image-size: invalid choice: 48"),
        # The real cap (GenerateConfig.num_per_caption <= 1024), not a larger one.
        (["generate", "a", "-n", "0", "--dry-run"], "-n must be between 1 and 1024"),
        (["generate", "a", "-n", "100000", "--dry-run"], "-n must be between 1 and 1024"),
        (["generate", "a", "--seed", "-1", "--dry-run"], "seed must be between 0"),
        (["export", "--model", "m", "--out", "o", "--opset", "99", "--dry-run"],
         "opset must be between 17 and 18"),
        (["evaluate", "--model", "m", "--num-images", "0"], "--num-images must be between 1 and 100000"),
        (["data", "preview", "-n", "-2"], "-n must be between 1 and 100000"),
        (["data", "preview", "--cols", "0"], "--cols must be between 1 and 100000"),
    ],
)
def test_numeric_flags_out_of_range_get_one_line(argv, words, capsys):
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse's own checks print the usage first
        code = exit_.code
    assert code in (1, 2)
    err = capsys.readouterr().err
    assert words in err.strip().splitlines()[-1], err
    assert "Traceback" not in err


def test_backup_frequency_out_of_range_in_a_config_file(tmp_path, capsys):
    config = tmp_path / "config.json"
    main(["train", "--out", str(tmp_path / "run"), "--dry-run"])
    values = json.loads(capsys.readouterr().out)
    values["backup_every_steps"] = 0
    config.write_text(json.dumps(values))
    assert main(["train", "--config", str(config), "--dry-run"]) == 2
    assert "backup_every_steps must be between 1" in capsys.readouterr().err


# ---- Hostile dataset folders through the CLI ----


def _png(rng, size=64):
    import cv2

    return cv2.imencode(".png", rng.integers(0, 255, (size, size, 3), dtype=np.uint8))[1].tobytes()


def _bomb(png):
    """A PNG whose header claims 100000 x 100000 pixels (valid CRC), the rest a small image's."""
    header = bytearray(png[:33])
    header[16:24] = struct.pack(">II", 100_000, 100_000)
    header[29:33] = struct.pack(">I", zlib.crc32(bytes(header[12:29])))
    return bytes(header) + png[33:]


def _dataset_folder(root, case):
    rng = np.random.default_rng(0)
    good = _png(rng)
    csv = "image,caption\n"
    files = {
        "zero_byte_images": {"a.jpg": b"", "b.jpg": b"",
                             "captions.csv": csv + "a.jpg,a red one\nb.jpg,a blue one\n"},
        "decompression_bomb": {"a.png": _bomb(good), "captions.csv": csv + "a.png,x\n"},
        "path_out_with_dotdot": {"a.png": good, "captions.csv": csv + "../a.png,x\na.png,y\n"},
        "absolute_path": {"a.png": good, "captions.csv": csv + "/etc/hostname,x\na.png,y\n"},
        "missing_column": {"a.png": good, "captions.csv": "image\na.png\n"},
        "wrong_type_jsonl": {"a.png": good,
                             "captions.jsonl": '{"image": "a.png", "caption": 5}\n'},
        "truncated_image_strict": {"a.png": good[: len(good) // 2], "b.png": good,
                                   "captions.csv": csv + "a.png,x\nb.png,y\n"},
        "no_caption_file": {"a.png": good},
    }[case]
    folder = root / case
    folder.mkdir()
    for name, content in files.items():
        (folder / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    return folder


DATASET_CASES = [
    ("zero_byte_images", "b.jpg (empty file (0 bytes))"),
    ("decompression_bomb", "possible decompression bomb"),
    ("path_out_with_dotdot", "resolve outside the dataset folder"),
    ("absolute_path", "'/etc/hostname'"),
    ("missing_column", "captions.csv: line 1 must be a header"),
    ("wrong_type_jsonl", "captions.jsonl:1: 'caption' must be a string; found int"),
    ("truncated_image_strict", "a.png (corrupt or truncated png data)"),
    ("no_caption_file", "found no dataset"),
]


@pytest.mark.parametrize(
    "case, words, command",
    [(case, words, command) for case, words in DATASET_CASES for command in ("preview", "train")
     # preview has no --strict: it skips unusable images with a warning (next test).
     if (case, command) != ("truncated_image_strict", "preview")],
)
def test_hostile_dataset_folders_get_one_line(tmp_path, case, words, command, capsys):
    folder = _dataset_folder(tmp_path, case)
    if command == "preview":
        argv = ["data", "preview", "--data", str(folder), "--image-size", "32", "-n", "2",
                "-o", str(tmp_path / "grid.png")]
    else:
        argv = ["train", "--data", str(folder), "--out", str(tmp_path / "run"), "--image-size",
                "32", "--batch-size", "2", "--epochs", "1", "--base-width", "4", "--strict"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert words in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert not os.path.exists(tmp_path / "grid.png")


def test_unusable_images_are_skipped_and_reported(tmp_path, capsys):
    from tfcmgen.data import DatasetWarning

    rng = np.random.default_rng(1)
    folder = tmp_path / "data"
    folder.mkdir()
    good = _png(rng)
    (folder / "random.jpg").write_bytes(rng.integers(0, 256, 500, dtype=np.uint8).tobytes())
    (folder / "half.png").write_bytes(good[: len(good) // 2])
    (folder / "b.png").write_bytes(good)
    (folder / "c.png").write_bytes(_png(rng))
    (folder / "captions.csv").write_text(
        "image,caption\nrandom.jpg,x\nhalf.png,y\nb.png,a red one\nc.png,a blue one\n"
    )
    with pytest.warns(DatasetWarning, match="skipped 2 of 4 image") as record:
        assert main(["data", "preview", "--data", str(folder), "--image-size", "32", "-n", "2",
                     "-o", str(tmp_path / "grid.png")]) == 0
    message = str(record[0].message)
    assert "random.jpg" in message and "half.png" in message
    assert os.path.isfile(tmp_path / "grid.png")


# ---- Truncated files of a run folder and of an export ----


def _truncate(path, keep):
    with open(path, "r+b") as stream:
        stream.truncate(int(os.path.getsize(path) * keep))


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A run folder as `tfcmgen train` leaves it (untrained model; the files are what matters)."""
    from tfcmgen.config import TrainConfig
    from tfcmgen.data import load_shapes
    from tfcmgen.models import CrossModalGAN
    from tfcmgen.text import Vocabulary, save_embedding_matrix

    root = tmp_path_factory.mktemp("hostile") / "run"
    config = TrainConfig(data="shapes", out=str(root), image_size=32, num_images=48,
                         batch_size=8, epochs=1, steps_per_epoch=1, base_width=4, noise_dim=8,
                         embedding_dim=8, max_length=8, seed=1)
    os.makedirs(root)
    config.save(str(root / "config.json"))
    vocabulary = Vocabulary.build(load_shapes(num_images=48, image_size=32).all_captions())
    vocabulary.save(str(root / "vocab.txt"))
    matrix = np.random.default_rng(0).normal(size=(len(vocabulary), 8)).astype("float32")
    save_embedding_matrix(str(root / "embeddings.npy"), matrix)
    model = CrossModalGAN(vocabulary_size=len(vocabulary), max_length=8, image_size=32,
                          embedding_dim=8, condition_dim=8, noise_dim=8, generator_width=4,
                          discriminator_width=4)
    model.save(str(root / "model.keras"))
    return root


@pytest.fixture
def damaged_run(tiny_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(tiny_run, copy)
    values = json.loads((copy / "config.json").read_text())
    values["out"] = str(copy)
    (copy / "config.json").write_text(json.dumps(values))
    return copy


def _cli(argv, capsys):
    code = main(argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return code, err


@pytest.mark.parametrize(
    "name, keep, command, code, words",
    [
        ("config.json", 0.0, "generate", 2, "config.json is not valid JSON (line 1)"),
        ("config.json", 0.5, "train", 2, "config.json is not valid JSON"),
        ("vocab.txt", 0.0, "generate", 1, "vocab.txt, line 1: file ends before"),
        ("vocab.txt", 0.5, "generate", 1, "the vocabulary does not belong to this model"),
        ("vocab.txt", 0.5, "train", 1, "rows: one of them is damaged or from another run"),
        ("embeddings.npy", 0.0, "train", 1, "embeddings.npy: not a readable .npy"),
        ("embeddings.npy", 0.5, "train", 1, "embeddings.npy: not a readable .npy"),
        ("model.keras", 0.5, "generate", 1, "cannot load model"),
    ],
)
def test_truncated_run_files_are_named(damaged_run, name, keep, command, code, words, capsys):
    _truncate(damaged_run / name, keep)
    if command == "generate":
        argv = ["generate", "--model", str(damaged_run), "a red circle", "-n", "1",
                "-o", str(damaged_run / "grid.png")]
    else:
        argv = ["train", "--config", str(damaged_run / "config.json"), "--epochs", "2"]
    got, err = _cli(argv, capsys)
    assert got == code and words in err, err
    assert name in err


@pytest.fixture(scope="module")
def export_folder(tiny_run, tmp_path_factory):
    from tfcmgen.config import ExportConfig
    from tfcmgen.export import export_run

    out = tmp_path_factory.mktemp("export") / "export"
    export_run(ExportConfig(model=str(tiny_run), out=str(out), format="all"))
    return out


@pytest.fixture
def damaged_export(export_folder, tmp_path):
    copy = tmp_path / "export"
    shutil.copytree(export_folder, copy)
    return copy


@pytest.mark.parametrize("keep", [0.0, 0.5])
@pytest.mark.parametrize(
    "name, words",
    [
        ("1/saved_model.pb", "cannot load the SavedModel in"),
        ("1/variables/variables.data-00000-of-00001", "cannot load the SavedModel in"),
        ("1/variables/variables.index", "cannot load the SavedModel in"),
        ("tfcmgen_export.json", "tfcmgen_export.json is damaged"),
    ],
)
def test_truncated_savedmodel_export_is_named(damaged_export, name, keep, words, capsys):
    from tfcmgen.export import ExportError
    from tfcmgen.generation import load_generator

    _truncate(damaged_export / name, keep)
    with pytest.raises(ExportError, match=words):
        load_generator(str(damaged_export))
    code, err = _cli(["generate", "--model", str(damaged_export), "a red circle",
                      "-o", str(damaged_export / "grid.png")], capsys)
    assert code == 1 and words in err


@pytest.mark.parametrize("keep", [0.0, 0.5])
def test_truncated_onnx_model_is_named(damaged_export, keep):
    from tfcmgen.export import ExportError, OnnxGenerator

    _truncate(damaged_export / "onnx" / "generator.onnx", keep)
    with pytest.raises(ExportError, match="cannot load .*generator.onnx"):
        OnnxGenerator(str(damaged_export / "onnx"))


def test_empty_export_vocabulary_is_named(damaged_export):
    from tfcmgen.export import OnnxGenerator

    _truncate(damaged_export / "onnx" / "vocab.txt", 0.0)
    with pytest.raises(ValueError, match="vocab.txt, line 1: file ends before"):
        OnnxGenerator(str(damaged_export / "onnx"))


@pytest.mark.parametrize("part", ["onnx", "1"])
def test_truncated_export_vocabulary_is_refused(damaged_export, part):
    from tfcmgen.export import ExportError, OnnxGenerator, load_savedmodel

    _truncate(damaged_export / part / "vocab.txt", 0.5)
    load = OnnxGenerator if part == "onnx" else load_savedmodel
    with pytest.raises(ExportError, match=r"vocab.txt has \d+ tokens but the export was made"):
        load(str(damaged_export / part))
