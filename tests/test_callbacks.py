"""Callbacks: sample grids every epoch with fixed noise, TensorBoard images, the time budget."""

import glob
import os

import cv2
import keras
import numpy as np
import pytest
import tensorflow as tf

from tfcmgen.callbacks import SampleGrid, TensorBoardImages, TimeBudget
from tfcmgen.models import CrossModalGAN

TINY = {"vocabulary_size": 20, "max_length": 6, "image_size": 32, "embedding_dim": 8, "condition_dim": 8,
            "noise_dim": 8, "generator_width": 4, "discriminator_width": 4}
TOKENS = np.array([[3, 4, 5, 0, 0, 0], [6, 7, 8, 9, 0, 0]], "int32")
CAPTIONS = ["a red circle", "a small blue square on the left"]


def _dataset(n=8, batch_size=4):
    rng = np.random.default_rng(0)
    data = {
        "image": rng.uniform(-1, 1, (n, 32, 32, 3)).astype("float32"),
        "token_ids": rng.integers(1, 20, (n, 6)).astype("int32"),
        "mismatched_token_ids": rng.integers(1, 20, (n, 6)).astype("int32"),
    }
    return tf.data.Dataset.from_tensor_slices(data).batch(batch_size, drop_remainder=True)


@pytest.fixture(scope="module")
def gan():
    model = CrossModalGAN(**TINY)
    model.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3), run_eagerly=True)
    return model


class _FakeClock:
    def __init__(self, step_seconds):
        self.now, self.step_seconds = 0.0, step_seconds

    def __call__(self):
        self.now += self.step_seconds
        return self.now


def test_sample_grid_and_time_budget_during_fit(gan, tmp_path):
    # Each clock reading advances 25 s: 25, 50, 75 s elapsed after steps 1, 2, 3, so the 1-minute
    # budget runs out during step 3, the first step of epoch 2 (2 steps per epoch).
    budget = TimeBudget(minutes=1.0, clock=_FakeClock(25.0))
    grid = SampleGrid(TOKENS, CAPTIONS, tmp_path / "samples", seed=0, samples_per_caption=2)
    steps = []
    record = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs=None: steps.append(batch))
    history = gan.fit(_dataset(8, 4), epochs=5, verbose=0, callbacks=[budget, grid, record])

    assert budget.stopped and budget.steps == 3 and steps == [0, 1, 0]
    assert len(history.history["d_loss"]) == 2  # epoch 2 ended early, normally
    files = sorted(os.listdir(tmp_path / "samples"))
    assert files == ["epoch_0001.png", "epoch_0002.png"]
    image = cv2.imread(str(tmp_path / "samples" / files[0]))
    # 2 columns (captions) x 2 rows (samples), 32 px tiles enlarged to >= 128 px, text below.
    assert image.shape[1] >= 2 * 128 and image.shape[0] > 2 * 128


def test_grids_use_fixed_noise(gan, tmp_path):
    grid = SampleGrid(TOKENS, CAPTIONS, tmp_path, seed=5)
    grid.set_model(gan)
    grid.on_epoch_end(0)
    grid.on_epoch_end(1)
    first, second = (cv2.imread(str(tmp_path / f"epoch_000{i}.png")) for i in (1, 2))
    np.testing.assert_array_equal(first, second)  # same weights, same noise -> same picture
    other = SampleGrid(TOKENS, CAPTIONS, tmp_path / "other", seed=6)
    other.set_model(gan)
    other.on_epoch_end(0)
    assert np.abs(cv2.imread(str(tmp_path / "other" / "epoch_0001.png")).astype(int)
                  - first.astype(int)).max() > 0


def test_every_n_epochs(gan, tmp_path):
    grid = SampleGrid(TOKENS, CAPTIONS, tmp_path, every_n_epochs=2)
    grid.set_model(gan)
    gan.stop_training = False
    for epoch in range(4):
        grid.on_epoch_end(epoch)
    assert sorted(os.listdir(tmp_path)) == ["epoch_0002.png", "epoch_0004.png"]


def test_tensorboard_images_are_written(gan, tmp_path):
    callback = TensorBoardImages(tmp_path, TOKENS, CAPTIONS)
    callback.set_model(gan)
    callback.on_epoch_end(0)
    callback.on_train_end()
    events = glob.glob(str(tmp_path / "samples" / "events.out.tfevents.*"))
    assert len(events) == 1
    values = [
        value
        for record in tf.compat.v1.train.summary_iterator(events[0])
        for value in record.summary.value
    ]
    assert [v.tag for v in values] == ["samples"]
    # The images plugin's format: [width, height, png] with the captioned grid as the PNG.
    assert values[0].metadata.plugin_data.plugin_name == "images"
    width, height, png = tf.make_ndarray(values[0].tensor)
    decoded = tf.io.decode_png(png).numpy()
    assert decoded.shape == (int(height), int(width), 3) and decoded.shape[1] >= 2 * 128


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="minutes must be a number > 0; received minutes=0"):
        TimeBudget(minutes=0)
    with pytest.raises(ValueError, match="one string per row of token_ids"):
        SampleGrid(TOKENS, ["only one"], "samples")
    with pytest.raises(ValueError, match="token_ids must be an integer array"):
        SampleGrid(np.ones((2,), "int32"), CAPTIONS, "samples")
    with pytest.raises(ValueError, match="every_n_epochs must be an integer >= 1"):
        SampleGrid(TOKENS, CAPTIONS, "samples", every_n_epochs=0)
