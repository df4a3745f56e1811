"""A killed `tfcmgen train` resumes exactly; every file it writes survives a kill; damage is named.

Every training run here is a fresh `python -m tfcmgen.cli train --config ...` process (SIGKILL
needs a process of its own), bounded by a timeout and killed in a `finally`. The tiny config
trains 4 epochs of 3 steps with a backup every 2 steps, so backups fall at steps 2, 3 (epoch end),
4, 6, ... and a kill after step 5 resumes mid-epoch, from step 4.

Tolerance for "the same weights as an uninterrupted run": 1e-6 absolute on every variable,
weights and optimizer slots (measured: 0, the runs are bit-identical on one machine; the bound
leaves room for thread-order differences of float32 sums). The learning rates are 4e-4 / 8e-4 and
Adam's first steps move each weight by about the learning rate, so a resumed run that repeats or
skips a batch, restarts its random numbers or loses its optimizer slots misses it by ~4e-4.

Damaged backup: decided to refuse with a RunFolderError naming the file, never to restart
silently (that would throw away a long run's progress without a word). Writes are atomic, so
only outside damage (disk, copying) produces one.
"""

import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from tfcmgen.config import TrainConfig
from tfcmgen.runs import RunFolder, RunFolderError

TOLERANCE = 1e-6
TIMEOUT_SECONDS = 300
EPOCHS, STEPS_PER_EPOCH, BACKUP_EVERY = 4, 3, 2

# Runs `tfcmgen train` and SIGKILLs itself as step KILL_AFTER + 1 begins: KILL_AFTER steps are done,
# the last backup is older.
KILLED_TRAIN = textwrap.dedent(
    """
    import os, signal, sys
    from tfcmgen.backup import TrainingBackup
    from tfcmgen.cli import main

    KILL_AFTER = int(sys.argv[1])

    def on_train_batch_begin(self, batch, logs=None):
        if self.step == KILL_AFTER:
            os.kill(os.getpid(), signal.SIGKILL)

    TrainingBackup.on_train_batch_begin = on_train_batch_begin
    sys.exit(main(sys.argv[2:]))
    """
)


def tiny_config(out, **changes):
    values = {"data": "shapes", "out": str(out), "image_size": 32, "num_images": 48,
              "batch_size": 8, "epochs": EPOCHS, "steps_per_epoch": STEPS_PER_EPOCH,
              "backup_every_steps": BACKUP_EVERY, "base_width": 4, "noise_dim": 8,
              "embedding_dim": 8, "word2vec_epochs": 1, "max_length": 12, "seed": 3}
    values.update(changes)
    return TrainConfig(**values)


def start(args, **kwargs):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.Popen([sys.executable, *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, **kwargs)


def finish(process, timeout=TIMEOUT_SECONDS):
    """(returncode, stdout, stderr); the process group is killed if it outlives `timeout`."""
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return process.returncode, stdout, stderr


def train_command(config_path):
    return ["-m", "tfcmgen.cli", "train", "--config", str(config_path)]


def new_run(folder, **changes):
    """Writes the run's config.json (as `tfcmgen train` would) and returns its path."""
    config = tiny_config(folder, **changes)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "config.json")
    config.save(path)
    return path


def backup_step(run_folder):
    import h5py

    with h5py.File(os.path.join(run_folder, "backup", "state.weights.h5"), "r") as stored:
        return int(stored.attrs["tfcmgen_step"])


def load_model(path):
    import keras

    import tfcmgen.models  # noqa: F401  (registers CrossModalGAN for loading)

    return keras.saving.load_model(path)


def everything(gan):
    return gan.variables + gan.g_optimizer.variables + gan.d_optimizer.variables


def max_difference(a, b):
    """(largest absolute difference, variable path) over weights and optimizer state."""
    assert [v.path for v in everything(a)] == [v.path for v in everything(b)]
    return max(
        (float(np.max(np.abs(np.asarray(x.numpy(), "float64")
                             - np.asarray(y.numpy(), "float64")), initial=0.0)), x.path)
        for x, y in zip(everything(a), everything(b))
    )


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("fault")
    (root / "killed_train.py").write_text(KILLED_TRAIN)
    return root


@pytest.fixture(scope="module")
def first_runs(workspace):
    """Side by side: an uninterrupted run, and one SIGKILLed as step 6 begins (5 steps done)."""
    reference = start(train_command(new_run(workspace / "reference")))
    killed = start([str(workspace / "killed_train.py"), "5",
                    *train_command(new_run(workspace / "killed"))[2:]])
    killed_code, _, _ = finish(killed)
    code, _, stderr = finish(reference)
    assert code == 0, stderr[-4000:]
    return killed_code


@pytest.fixture(scope="module")
def reference(workspace, first_runs):
    """The uninterrupted run's model.keras path."""
    return str(workspace / "reference" / "model.keras")


@pytest.fixture(scope="module")
def killed_and_resumed(workspace, first_runs):
    """The killed run's state after the kill, then the same command again."""
    folder = workspace / "killed"
    config_path = folder / "config.json"
    killed = {
        "code": first_runs,
        "backup_step": backup_step(folder),
        "samples": sorted(os.listdir(folder / "samples")),
        "model_exists": os.path.exists(folder / "model.keras"),
    }
    code, _, stderr = finish(start(train_command(config_path)))
    assert code == 0, stderr[-4000:]
    return folder, killed, stderr


def test_sigkill_mid_epoch_leaves_the_last_backup(killed_and_resumed):
    _, killed, _ = killed_and_resumed
    assert killed["code"] == -signal.SIGKILL
    # 5 steps were done; the backup every 2 steps holds step 4: epoch 2, 1 of its 3 steps done.
    assert killed["backup_step"] == 4
    assert killed["samples"] == ["epoch_0001.png"]
    assert not killed["model_exists"]


def test_rerun_resumes_at_the_same_epoch_and_step(killed_and_resumed):
    folder, _, stderr = killed_and_resumed
    assert "from its backup at epoch 2, step 1 of 3 (4 steps done)" in stderr
    assert sorted(os.listdir(folder / "samples")) == [
        f"epoch_{epoch:04d}.png" for epoch in range(1, EPOCHS + 1)]
    assert backup_step(folder) == EPOCHS * STEPS_PER_EPOCH
    gan = load_model(str(folder / "model.keras"))
    # Both optimizers took every step exactly once: none repeated, none lost.
    assert int(gan.g_optimizer.iterations.numpy()) == EPOCHS * STEPS_PER_EPOCH
    assert int(gan.d_optimizer.iterations.numpy()) == EPOCHS * STEPS_PER_EPOCH


def test_resumed_run_matches_an_uninterrupted_one(killed_and_resumed, reference):
    folder, _, _ = killed_and_resumed
    difference, worst = max_difference(load_model(reference), load_model(str(folder / "model.keras")))
    assert difference < TOLERANCE, (worst, difference)


# ---- Kills at random moments: the previous good copy of every file stays readable ----

RANDOM_KILLS = 3


def check_every_file_is_readable(folder):
    """Opens every file tfcmgen wrote in `folder`, fully; returns their names."""
    import cv2
    import h5py

    from tfcmgen.text import Vocabulary, load_embedding_matrix

    run = RunFolder(str(folder))
    seen = []
    if os.path.exists(run.config_path):
        TrainConfig.load(run.config_path)
        seen.append("config.json")
    if os.path.exists(run.vocab_path):
        Vocabulary.load(run.vocab_path)
        seen.append("vocab.txt")
    if os.path.exists(run.embeddings_path):
        assert np.isfinite(load_embedding_matrix(run.embeddings_path)).all()
        seen.append("embeddings.npy")
    if os.path.isdir(run.samples_dir):
        for name in os.listdir(run.samples_dir):
            if not name.startswith("."):
                image = cv2.imread(os.path.join(run.samples_dir, name), cv2.IMREAD_UNCHANGED)
                assert image is not None and image.size, name
                seen.append(name)
    backup = os.path.join(run.backup_dir, "state.weights.h5")
    if os.path.exists(backup):
        with h5py.File(backup, "r") as stored:
            stored.visititems(lambda _, item: item[()] if isinstance(item, h5py.Dataset) else None)
            assert int(stored.attrs["tfcmgen_step"]) > 0
        seen.append("state.weights.h5")
    if os.path.exists(run.model_path):
        load_model(run.model_path)
        seen.append("model.keras")
    return seen


def backup_mtime(folder):
    path = os.path.join(folder, "backup", "state.weights.h5")
    return os.stat(path).st_mtime_ns if os.path.exists(path) else None


def kill_at_a_random_moment(process, folder, rng, during_start_up):
    """SIGKILLs `process` at a random moment: of its start-up, or of its training steps.

    Start-up writes config, vocabulary and word vectors once; training writes the backup every
    step, a sample grid every epoch and the model at the end, so most kills there land during
    or between writes.
    """
    if during_start_up:
        deadline = time.monotonic() + rng.uniform(1.0, 8.0)
    else:
        # Wait for this process's first backup: training has started; then up to 0.5 s more
        # (a few steps: the run must not finish before the kills are spent).
        before, deadline = backup_mtime(folder), None
        give_up = time.monotonic() + TIMEOUT_SECONDS
        while process.poll() is None and time.monotonic() < give_up:
            if backup_mtime(folder) != before:
                deadline = time.monotonic() + rng.uniform(0.0, 0.5)
                break
            time.sleep(0.02)
    while deadline is not None and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)


def test_kills_at_random_moments_leave_every_file_readable(workspace, reference):
    folder = workspace / "random"
    # A backup every step (which trains nothing differently): many writes to catch half-done.
    config_path = new_run(folder, backup_every_steps=1)
    rng = random.Random(20240601)
    outcomes = []
    for kill in range(RANDOM_KILLS):
        process = start(train_command(config_path))
        try:
            kill_at_a_random_moment(process, folder, rng, during_start_up=kill == 0)
        finally:
            code, _, stderr = finish(process)
        assert code in (0, -signal.SIGKILL), stderr[-4000:]
        outcomes.append((code, check_every_file_is_readable(folder)))
    code, _, stderr = finish(start(train_command(config_path)))
    assert code == 0, (outcomes, stderr[-4000:])
    assert "model.keras" in check_every_file_is_readable(folder)
    assert any(code == -signal.SIGKILL for code, _ in outcomes), outcomes
    # Temporary files of killed writers are gone: the next run removed them.
    for sub in ("", "samples", "backup"):
        assert not [n for n in os.listdir(folder / sub) if n.startswith(".")], sub
    # And the run still trained exactly as an uninterrupted one.
    difference, worst = max_difference(load_model(reference), load_model(str(folder / "model.keras")))
    assert difference < TOLERANCE, (worst, difference)


# ---- Damaged files give a clear error naming them ----


def truncate(path, keep=0.5):
    size = os.path.getsize(path)
    with open(path, "r+b") as stream:
        stream.truncate(int(size * keep))


@pytest.fixture
def finished_copy(killed_and_resumed, tmp_path):
    """A copy of a finished run folder, to damage."""
    folder, _, _ = killed_and_resumed
    copy = tmp_path / "run"
    shutil.copytree(folder, copy)
    return copy


@pytest.mark.parametrize("keep", [0.0, 0.5])
def test_truncated_backup_is_refused_naming_the_file(finished_copy, keep, capsys):
    from tfcmgen.cli import main
    from tfcmgen.training import train

    backup = str(finished_copy / "backup" / "state.weights.h5")
    truncate(backup, keep)
    config = TrainConfig.load(str(finished_copy / "config.json")).replace(
        out=str(finished_copy), epochs=EPOCHS + 1
    )
    config.save(str(finished_copy / "config.json"))
    with pytest.raises(RunFolderError, match="training backup .*state.weights.h5 is damaged"):
        train(config, verbose=0)
    # The CLI prints it as one line, no traceback.
    assert main(["train", "--config", str(finished_copy / "config.json")]) == 1
    err = capsys.readouterr().err
    assert "state.weights.h5 is damaged" in err and "delete it" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("keep", [0.0, 0.5, 0.99])
def test_truncated_model_is_refused_naming_the_file(finished_copy, keep):
    from tfcmgen.generation import load_generator

    truncate(finished_copy / "model.keras", keep)
    with pytest.raises(RunFolderError, match="cannot load model .*model.keras"):
        load_generator(str(finished_copy))
