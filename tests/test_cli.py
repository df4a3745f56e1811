"""The CLI: flags become a config, bad flags a one-line error, --dry-run prints the config."""

import json
import subprocess
import sys

import pytest

from tfcmgen.cli import main


def test_train_dry_run_prints_resolved_config(capsys, tmp_path):
    code = main(["train", "--data", "shapes", "--image-size", "32", "--epochs", "2",
                 "--fusion", "gated", "--near-miss", "0.25", "--out", str(tmp_path / "run"),
                 "--dry-run"])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["image_size"] == 32
    assert printed["epochs"] == 2
    assert printed["fusion"] == "gated"
    assert printed["near_miss"] == 0.25
    assert printed["loss"] == "hinge"  # default filled in


def test_config_file_is_the_base_and_flags_override(capsys, tmp_path):
    main(["train", "--out", str(tmp_path / "run"), "--epochs", "7", "--dry-run"])
    path = tmp_path / "config.json"
    path.write_text(capsys.readouterr().out)
    assert main(["train", "--config", str(path), "--batch-size", "32", "--dry-run"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["epochs"] == 7 and printed["batch_size"] == 32


def test_edit_task_starts_from_its_own_defaults_and_flags_still_win(capsys, tmp_path):
    from tfcmgen.config import TrainConfig
    from tfcmgen.tasks import task_class

    TASK_DEFAULTS = {"edit": task_class("edit").defaults}

    main(["train", "--task", "edit", "--out", str(tmp_path / "run"), "--dry-run"])
    printed = json.loads(capsys.readouterr().out)
    assert {key: printed[key] for key in TASK_DEFAULTS["edit"]} == TASK_DEFAULTS["edit"]
    assert TASK_DEFAULTS["edit"]["batch_size"] != TrainConfig().batch_size
    main(["train", "--task", "edit", "--batch-size", "8", "--out", str(tmp_path / "run"),
          "--dry-run"])
    assert json.loads(capsys.readouterr().out)["batch_size"] == 8


@pytest.mark.parametrize(
    "argv, words",
    [
        (["train", "--out", "r", "--epochs", "-1", "--dry-run"], "epochs must be between 1"),
        (["train", "--out", "r", "--batch-size", "0", "--dry-run"], "batch_size must be between"),
        (["train", "--out", "r", "--minutes", "-5", "--dry-run"], "minutes must be greater than 0"),
        (["train", "--out", "r", "--replicas", "4", "--batch-size", "2", "--dry-run"],
         "at least the number of replicas"),
        (["train", "--dry-run"], "train needs --out"),
    ],
)
def test_out_of_range_flags_get_a_clear_message(argv, words, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert words in err
    assert "Traceback" not in err


def test_argparse_rejects_unknown_choices(capsys):
    with pytest.raises(SystemExit) as info:
        main(["train", "--out", "r", "--fusion", "sum"])
    assert info.value.code == 2
    assert "invalid choice: 'sum'" in capsys.readouterr().err


def test_console_script_help_lists_commands_and_examples():
    out = subprocess.run([sys.executable, "-m", "tfcmgen.cli", "--help"], capture_output=True,
                         text=True, check=True).stdout
    for command in ("train", "generate", "demo", "evaluate", "export", "data"):
        assert command in out
    assert "tfcmgen generate --model" in out


def test_data_preview_writes_a_grid_and_prints_a_summary(tmp_path, capsys):
    import cv2

    out = tmp_path / "grid.png"
    assert main(["data", "preview", "--data", "shapes", "--image-size", "32", "-n", "6",
                 "--cols", "3", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "shapes[train]" in printed and "colour (8)" in printed
    grid = cv2.imread(str(out))
    assert grid is not None and grid.shape[1] >= 3 * 32


def test_missing_dataset_folder_is_a_one_line_error(tmp_path, capsys):
    assert main(["data", "preview", "--data", str(tmp_path / "nope"), "-o",
                 str(tmp_path / "g.png")]) == 1
    err = capsys.readouterr().err
    assert "nope" in err and "Traceback" not in err


@pytest.mark.parametrize("argv", [
    ["data", "preview", "-n", "9999999999"],
    ["data", "preview", "-n", "0"],
    ["generate", "a red circle", "-n", "-2"],
    ["evaluate", "--model", "run", "--num-images", "99999999999"],
])
def test_counts_out_of_range_are_refused_before_any_work(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert "must be between 1 and" in capsys.readouterr().err
