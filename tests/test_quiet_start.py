"""The quiet start: TensorFlow's C++ start-up lines only with --verbose."""

import os
import subprocess
import sys

import pytest

from tfcmgen import quiet_start


def _noisy_import():
    os.write(2, b"I0000 00:00:1.0 port.cc:153] oneDNN custom operations are on\n")


def test_lines_written_to_fd2_during_the_import_are_hidden(monkeypatch, capfd):
    monkeypatch.setattr(quiet_start, "_import_all", _noisy_import)
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)
    quiet_start.import_tensorflow_quietly()
    os.write(2, b"ours\n")  # fd 2 is back afterwards
    assert capfd.readouterr().err == "ours\n"
    quiet_start.import_tensorflow_quietly(verbose=True)
    assert "oneDNN" in capfd.readouterr().err


def test_a_failing_import_replays_what_it_wrote(monkeypatch, capfd):
    def failing():
        _noisy_import()
        raise ImportError("no tensorflow")

    monkeypatch.setattr(quiet_start, "_import_all", failing)
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)
    with pytest.raises(ImportError, match="no tensorflow"):
        quiet_start.import_tensorflow_quietly()
    assert "oneDNN" in capfd.readouterr().err


@pytest.mark.slow
def test_the_cli_prints_no_tensorflow_start_up_lines(tmp_path):
    def stderr(*flags):
        command = [sys.executable, "-m", "tfcmgen.cli", *flags, "data", "preview", "-n", "2",
                   "-o", str(tmp_path / "p.png")]
        return subprocess.run(command, capture_output=True, text=True, check=True).stderr

    assert "I0000" not in stderr() and "absl::InitializeLog" not in stderr()
    assert "absl::InitializeLog" in stderr("--verbose")  # the lines exist: the test can fail
