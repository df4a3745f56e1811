"""Sizes that suit the dataset: batch, steps per epoch, sample and backup cadence are resolved
from the training set's size where the user gives none (issue 12), shown by --dry-run, written
into config.json, never replacing a value the user gave, kept when a run resumes."""

import json
import os

import cv2
import keras
import numpy as np
import pytest

from tfcmgen.cli import main
from tfcmgen.config import (
    RESOLVED_FIELDS,
    ConfigError,
    TrainConfig,
    auto_backup_every_steps,
    auto_batch_size,
    auto_sample_every_steps,
    resolve_for_dataset,
)

# 42 images: the 5% validation split keeps round(2.1) = 2, so 40 train.
FOLDER_IMAGES, TRAIN_IMAGES = 42, 40
TINY = dict(image_size=32, base_width=4, noise_dim=8, embedding_dim=8, word2vec_epochs=1,
            max_length=8, augment="none", text_pooling="mean", seed=0)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A captions.csv folder of 42 rendered shapes, written here (no attributes reach training)."""
    from tfcmgen.data.shapes import make_captions, render_shape

    root = tmp_path_factory.mktemp("tiny_folder")
    rows = ["image,caption"]
    pairs = [("red", "circle"), ("blue", "square"), ("green", "triangle")]
    for i in range(FOLDER_IMAGES):
        colour, shape = pairs[i % len(pairs)]
        attrs = {"colour": colour, "shape": shape, "size": "large", "position": "center",
                 "background": "black"}
        cv2.imwrite(str(root / f"{i}.png"), render_shape(attrs, 32, seed=i)[..., ::-1])
        rows += [f"{i}.png,{c}" for c in make_captions(attrs, i, n=1)]
    (root / "captions.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return str(root)


# ---- The rules, pinned ----

@pytest.mark.parametrize("images, batch", [
    (10**6, 32), (3800, 32), (128, 32), (127, 16), (40, 8), (16, 4), (15, 4), (5, 4), (3, 3),
])
def test_batch_is_32_unless_the_dataset_is_small(images, batch):
    assert auto_batch_size(images) == batch
    assert batch <= images
    assert auto_batch_size(10**6, default=16) == 16  # the edit task's batch for large data
    assert auto_batch_size(40, replicas=3) == 6  # a multiple of the replicas


def test_epochs_are_passes_and_minutes_alone_epochs_are_at_least_100_steps():
    # --epochs (or the default epochs): one pass per epoch, as asked.
    assert resolve_for_dataset(TrainConfig(epochs=7), TRAIN_IMAGES).steps_per_epoch == 5
    assert resolve_for_dataset(TrainConfig(), TRAIN_IMAGES).steps_per_epoch == 5
    # --minutes alone: whole passes of at least 100 steps (20 passes of 5).
    assert resolve_for_dataset(TrainConfig(minutes=10), TRAIN_IMAGES).steps_per_epoch == 100
    assert resolve_for_dataset(TrainConfig(minutes=10), 15).steps_per_epoch == 102  # 34 x 3
    assert resolve_for_dataset(TrainConfig(minutes=10), 3800).steps_per_epoch == 118


@pytest.mark.parametrize("steps_per_epoch, epochs, every", [
    (100, None, 500),    # minutes alone, small data: every 5 epochs of 100 steps
    (118, None, 590),    # the default shapes: whole epochs
    (5, 1000, 250),      # 1,000 short epochs: 20 grids, not 1,000
    (3, 4, 3),           # a 4-epoch run still gets a grid each epoch
    (118, 20, 118),      # 20 epochs: 20 grids, as before
    (31250, 20, 500),    # a 1M-image epoch: grids in its middle
])
def test_sample_cadence_does_not_depend_on_the_dataset_size(steps_per_epoch, epochs, every):
    assert auto_sample_every_steps(steps_per_epoch, epochs) == every


def test_backups_every_few_minutes_of_work():
    assert auto_backup_every_steps(32, 64) == 2000  # 3.1 min measured on 2 cores
    assert auto_backup_every_steps(32, 32) == 5000  # capped: 5 min measured
    assert auto_backup_every_steps(32, 128) == 500
    assert auto_backup_every_steps(64, 256) == 100  # at least 100 steps


def test_values_the_user_gave_are_never_replaced():
    given = dict(batch_size=4, steps_per_epoch=7, sample_every_steps=3, backup_every_steps=11)
    for epochs, minutes in ((None, 10.0), (2, None), (2, 5.0)):
        config = TrainConfig(epochs=epochs, minutes=minutes, **given)
        resolved = resolve_for_dataset(config, 10**6)
        assert {name: getattr(resolved, name) for name in given} == given
        assert resolve_for_dataset(resolved, 40) == resolved  # resolving twice changes nothing
    assert set(RESOLVED_FIELDS) == set(given)


def test_a_given_batch_larger_than_the_data_is_refused():
    with pytest.raises(ConfigError, match=r"batch_size=64 is larger than the 40 training "
                                          r"images.*--batch-size 8"):
        resolve_for_dataset(TrainConfig(batch_size=64), 40)


def test_null_means_resolved_and_other_types_are_named(tmp_path):
    values = TrainConfig(out=str(tmp_path / "r")).to_dict()
    assert all(values[name] is None for name in RESOLVED_FIELDS)
    values["steps_per_epoch"] = "100"
    path = tmp_path / "config.json"
    path.write_text(json.dumps(values), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"steps_per_epoch must be an integer; received "
                                          r"steps_per_epoch='100' \(or null: resolved"):
        TrainConfig.load(str(path))


def test_built_in_dataset_names_agree_with_the_loaders():
    from tfcmgen import registry
    from tfcmgen.data import DATASETS

    assert set(registry.DATASETS) == set(DATASETS)


# ---- --dry-run counts the dataset without decoding it ----

def _dry_run(capsys, *flags):
    assert main(["train", *flags, "--dry-run"]) == 0
    captured = capsys.readouterr()
    return json.loads(captured.out), captured.err


def test_dry_run_resolves_a_tiny_folder_without_decoding_it(folder, tmp_path, capsys,
                                                            monkeypatch):
    import tfcmgen.data.folders

    def no_decoding(*args, **kwargs):
        raise AssertionError("--dry-run decoded the images")

    monkeypatch.setattr(tfcmgen.data.folders, "decode_images", no_decoding)
    printed, err = _dry_run(capsys, "--data", folder, "--minutes", "10", "--image-size", "32",
                            "--out", str(tmp_path / "run"))
    assert (printed["batch_size"], printed["steps_per_epoch"], printed["sample_every_steps"],
            printed["backup_every_steps"]) == (8, 100, 500, 5000)
    assert ("batch 8 (dataset of 40 training images), 100 steps per epoch (20 passes), samples "
            "every 500 steps, backup every 5000 steps") in err
    # Given values stay, and say so.
    printed, err = _dry_run(capsys, "--data", folder, "--epochs", "3", "--batch-size", "4",
                            "--out", str(tmp_path / "run"))
    assert (printed["batch_size"], printed["steps_per_epoch"]) == (4, 10)
    assert "batch 4 (given, dataset of 40 training images), 10 steps per epoch (1 pass)" in err


def test_dry_run_refuses_a_batch_larger_than_the_folder(folder, tmp_path, capsys):
    assert main(["train", "--data", folder, "--batch-size", "64", "--out",
                 str(tmp_path / "run"), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "batch_size=64 is larger than the 40 training images" in err
    assert len(err.strip().splitlines()) == 1


def test_the_edit_task_batch_is_resolved_not_given(folder, tmp_path, capsys):
    printed, _ = _dry_run(capsys, "--task", "edit", "--out", str(tmp_path / "run"))
    assert printed["batch_size"] == 16  # the edit task's batch, on 3,800 shapes
    printed, _ = _dry_run(capsys, "--task", "edit", "--data", folder, "--out",
                          str(tmp_path / "run"))
    assert printed["batch_size"] == 8  # not refused as a given 16 > 40 / 4


# ---- Sample pacing in a fit ----

class _Count(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs = []

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append(epoch)


def test_step_paced_grids_fall_mid_epoch_and_at_the_end(tmp_path):
    import tensorflow as tf

    from tfcmgen.callbacks import EpochCadence, SampleGrid
    from tfcmgen.models import CrossModalGAN

    keras.utils.set_random_seed(0)
    gan = CrossModalGAN(vocabulary_size=20, max_length=6, image_size=32, embedding_dim=8,
                        condition_dim=8, noise_dim=8, generator_width=4, discriminator_width=4)
    gan.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3))
    rng = np.random.default_rng(0)
    data = tf.data.Dataset.from_tensor_slices({
        "image": rng.uniform(-1, 1, (8, 32, 32, 3)).astype("float32"),
        "token_ids": rng.integers(1, 20, (8, 6)).astype("int32"),
        "mismatched_token_ids": rng.integers(1, 20, (8, 6)).astype("int32"),
    }).batch(4, drop_remainder=True).repeat()
    grid = SampleGrid(np.ones((1, 6), "int32"), ["a red circle"], tmp_path, every_n_steps=3)
    count = _Count()
    # 4 epochs of 2 steps: grids after step 3 (mid epoch 2) and 6 (end of epoch 3), and the
    # last epoch.
    gan.fit(data, epochs=4, steps_per_epoch=2, verbose=0,
            callbacks=[grid, EpochCadence(count, every_n_epochs=3)])
    assert sorted(os.listdir(tmp_path)) == [
        "epoch_0002-step_00000003.png", "epoch_0003.png", "epoch_0004.png"]
    assert grid.step == 8
    assert count.epochs == [2, 3]  # every 3rd epoch, and the last


# ---- Training: config.json holds the resolved values; grids stay few; resume keeps them ----

def test_a_run_on_a_tiny_folder_resolves_paces_and_resumes(folder, tmp_path, capsys):
    from tfcmgen.jobs.runner import train

    out = tmp_path / "run"
    config = TrainConfig(data=folder, out=str(out), epochs=40, **TINY)
    printed, _ = _dry_run(capsys, "--config", _save(config, tmp_path / "given.json"))
    result = train(config, verbose=0)
    saved = json.loads((out / "config.json").read_text(encoding="utf-8"))
    sizes = {name: saved[name] for name in RESOLVED_FIELDS}
    assert sizes == {name: printed[name] for name in RESOLVED_FIELDS}  # --dry-run told the truth
    # 40 training images: batch 8, one pass of 5 steps per epoch (40 epochs asked for); 20
    # grids, every 2 epochs (every epoch wrote 40).
    assert sizes == {"batch_size": 8, "steps_per_epoch": 5, "sample_every_steps": 10,
                     "backup_every_steps": 5000}
    assert result.steps == 200 and result.config.batch_size == 8
    grids = sorted(os.listdir(out / "samples"))
    assert len(grids) == 20 and grids[0] == "epoch_0002.png" and grids[-1] == "epoch_0040.png"

    # Resumed with more epochs: a fresh resolution would pace 44 epochs every 3 (15 steps);
    # the run keeps its saved 10.
    assert resolve_for_dataset(config.replace(epochs=44), TRAIN_IMAGES).sample_every_steps == 15
    printed, _ = _dry_run(capsys, "--config", _save(config.replace(epochs=44),
                                                    tmp_path / "more.json"))
    assert printed["sample_every_steps"] == 10  # --dry-run shows what the resumed run uses
    resumed = train(config.replace(epochs=44), verbose=0)
    saved = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert {name: saved[name] for name in RESOLVED_FIELDS} == sizes
    assert resumed.steps == 220
    assert sorted(os.listdir(out / "samples"))[20:] == ["epoch_0042.png", "epoch_0044.png"]
    # A value given on resuming is used (cadence only: it does not change what is trained).
    train(config.replace(epochs=46, sample_every_steps=5), verbose=0)
    assert json.loads((out / "config.json").read_text())["sample_every_steps"] == 5
    # Sizes that change what is trained are refused, as any other differing field.
    with pytest.raises(ConfigError, match="batch_size"):
        train(config.replace(epochs=48, batch_size=4), verbose=0)


class _StepClock:
    """A clock that advances one second per reading: the budget ends after a fixed number of
    steps, whatever the machine's load."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        self.now += 1.0
        return self.now


def test_minutes_alone_on_a_tiny_folder_writes_few_grids(folder, tmp_path, monkeypatch):
    from tfcmgen.callbacks import TimeBudget
    from tfcmgen.jobs import runner

    monkeypatch.setattr(runner, "time_budget",
                        lambda config: TimeBudget(config.minutes, clock=_StepClock()))
    config = TrainConfig(data=folder, out=str(tmp_path / "run"), minutes=1.0, **TINY)
    result = runner.train(config, verbose=0)
    assert result.ended_by == "minutes"
    assert result.config.steps_per_epoch == 100 and result.config.sample_every_steps == 500
    # One grid at the end (the next is due at step 500); epochs of one pass (5 steps) wrote
    # one every 5 steps.
    assert result.steps == 60
    assert os.listdir(tmp_path / "run" / "samples") == ["epoch_0001.png"]


def _save(config, path):
    config.save(str(path))
    return str(path)
