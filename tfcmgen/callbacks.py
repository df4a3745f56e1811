"""Training callbacks for `CrossModalGAN.fit`: sample grids, TensorBoard images, a time budget.

The generator EMA is not a callback: `CrossModalGAN.train_step` updates it after every generator
step (inside the compiled step, so it is cheap and follows the distribution strategy), and the
model's `call`/`generate` use it.

Example:

>>> import os, tempfile, numpy as np, keras
>>> from tfcmgen.callbacks import SampleGrid, TimeBudget
>>> from tfcmgen.models import CrossModalGAN
>>> gan = CrossModalGAN(vocabulary_size=20, max_length=4, image_size=32, embedding_dim=8,
...                     condition_dim=8, noise_dim=8, generator_width=4, discriminator_width=4)
>>> folder = tempfile.mkdtemp()
>>> grid = SampleGrid(np.ones((2, 4), "int32"), ["a red circle", "a blue square"], folder)
>>> grid.set_model(gan)
>>> grid.on_epoch_end(0)
>>> sorted(os.listdir(folder))
['epoch_0001.png']
"""

from __future__ import annotations

import os
import time

import keras
import numpy as np
import tensorflow as tf

from tfcmgen.data.preview import caption_grid


def _check_samples(token_ids, captions, samples_per_caption, every_n_epochs):
    token_ids = np.asarray(token_ids)
    if token_ids.ndim != 2 or len(token_ids) == 0 or not np.issubdtype(token_ids.dtype, np.integer):
        raise ValueError(
            "token_ids must be an integer array [num_captions, max_length] with at least one row; "
            f"received an array of shape {token_ids.shape} and dtype {token_ids.dtype}"
        )
    captions = [str(c) for c in captions]
    if len(captions) != len(token_ids):
        raise ValueError(
            f"captions must hold one string per row of token_ids ({len(token_ids)}); "
            f"received {len(captions)} captions"
        )
    for name, value in (("samples_per_caption", samples_per_caption),
                        ("every_n_epochs", every_n_epochs)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1; received {name}={value!r}")
    return token_ids.astype("int32"), captions


def sample_grid(model, token_ids, captions, seed=0, samples_per_caption=1, path=None):
    """Captioned grid (uint8 RGB) of `model.generate` for fixed captions and fixed noise.

    One column per caption, one row per sample; the noise is fixed by `seed`, so grids from
    successive epochs show the same noise through a changing generator. Written to `path`
    (atomically) when given.
    """
    token_ids = np.tile(np.asarray(token_ids, "int32"), (samples_per_caption, 1))
    images = model.generate(token_ids, seed=seed)
    images = np.asarray(images)
    labels = list(captions) * samples_per_caption
    return caption_grid(images, labels, path, cols=len(captions))


class SampleGrid(keras.callbacks.Callback):
    """Writes a PNG grid of generated samples for fixed captions and noise every few epochs or steps.

    Files are `directory/epoch_0001.png`, ... (1-based epochs), with each caption printed under
    its images (`tfcmgen.data.preview.caption_grid`, written atomically). The images come from
    `model.generate`, i.e. the EMA generator. With `every_n_steps`, a grid due in the middle of
    an epoch is `epoch_0003-step_00001234.png` (epoch 3, after global step 1234), which sorts
    between `epoch_0002.png` and `epoch_0003.png`.

    Args:
        token_ids: int array [num_captions, max_length]. The captions, tokenized.
        captions: list of str. The caption text printed under each column.
        directory: str. Folder for the PNG files (created if needed).
        seed: int. Noise seed; the same every epoch. Defaults to 0.
        samples_per_caption: int. Rows of samples, each with its own noise. Defaults to 1.
        every_n_epochs: int. Write every n-th epoch (the last epoch of a run stopped by
            `TimeBudget` is written too). Defaults to 1.
        every_n_steps: int or None. Instead of `every_n_epochs`: write after every n-th step,
            counted by `step` (global steps done; `tfcmgen.train` sets it from the run's backup
            before each `fit`), and at the end of the last epoch of each `fit` or of a stopped
            run. The runner sets it from `TrainConfig.sample_every_steps`, so the number of
            grids does not depend on the dataset's size. Defaults to None.

    Example:

    >>> callback = SampleGrid(np.ones((1, 4), "int32"), ["a red circle"], "samples")
    >>> callback.every_n_epochs
    1
    """

    def __init__(self, token_ids, captions, directory, seed=0, samples_per_caption=1,
                 every_n_epochs=1, every_n_steps=None):
        super().__init__()
        self.token_ids, self.captions = _check_samples(
            token_ids, captions, samples_per_caption, every_n_epochs
        )
        if every_n_steps is not None and (isinstance(every_n_steps, bool) or not isinstance(
                every_n_steps, int) or every_n_steps < 1):
            raise ValueError(f"every_n_steps must be an integer >= 1 or None; received "
                             f"every_n_steps={every_n_steps!r}")
        self.directory = os.fspath(directory)
        self.seed = seed
        self.samples_per_caption = samples_per_caption
        self.every_n_epochs = every_n_epochs
        self.every_n_steps = every_n_steps
        self.step = 0
        self.written = []
        self._epoch = 0
        # The step whose grid is due; written at the epoch's end if that step ended it, else
        # before the next step changes the model (only then is it known to be mid-epoch).
        self._due = None

    def path_for(self, epoch: int, step: int | None = None) -> str:
        """File written at the end of 0-based `epoch`, or after global `step` within it."""
        name = f"epoch_{epoch + 1:04d}" + ("" if step is None else f"-step_{step:08d}")
        return os.path.join(self.directory, name + ".png")

    def _write(self, path):
        sample_grid(
            self.model, self.token_ids, self.captions, self.seed, self.samples_per_caption, path
        )
        self.written.append(path)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if self._due is not None:
            self._write(self.path_for(self._epoch, self._due))
            self._due = None

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        if self.every_n_steps and self.step % self.every_n_steps == 0:
            self._due = self.step

    def on_epoch_end(self, epoch, logs=None):
        if self.every_n_steps is None:
            if (epoch + 1) % self.every_n_epochs and not self.model.stop_training:
                return
        else:
            last = epoch + 1 == (self.params or {}).get("epochs")
            if self._due is None and not self.model.stop_training and not last:
                return
            self._due = None
        self._write(self.path_for(epoch))


def write_image_summary(tag, image, step):
    """Writes one uint8 RGB image [H, W, 3] as a TensorBoard image summary (`tf.summary.image`,
    from the `tensorboard` package)."""
    return tf.summary.image(tag, np.asarray(image, np.uint8)[None], step=step)


class TensorBoardImages(keras.callbacks.Callback):
    """Logs the captioned sample grid as a TensorBoard image every few epochs.

    Use beside `keras.callbacks.TensorBoard(log_dir)` (which logs the loss scalars): the images go
    to `log_dir/samples`, under the tag `"samples"`, step = 1-based epoch.

    Args:
        log_dir: str. The TensorBoard log folder.
        token_ids: int array [num_captions, max_length].
        captions: list of str.
        seed: int. Noise seed, the same every epoch. Defaults to 0.
        samples_per_caption: int. Defaults to 1.
        every_n_epochs: int. Defaults to 1.

    Example:

    >>> callback = TensorBoardImages("logs", np.ones((1, 4), "int32"), ["a red circle"])
    >>> callback.tag
    'samples'
    """

    tag = "samples"

    def __init__(self, log_dir, token_ids, captions, seed=0, samples_per_caption=1,
                 every_n_epochs=1):
        super().__init__()
        self.token_ids, self.captions = _check_samples(
            token_ids, captions, samples_per_caption, every_n_epochs
        )
        self.log_dir = os.fspath(log_dir)
        self.seed = seed
        self.samples_per_caption = samples_per_caption
        self.every_n_epochs = every_n_epochs
        self._writer = None

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every_n_epochs and not self.model.stop_training:
            return
        grid = sample_grid(
            self.model, self.token_ids, self.captions, self.seed, self.samples_per_caption
        )
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(os.path.join(self.log_dir, "samples"))
        with self._writer.as_default():
            write_image_summary(self.tag, grid, step=epoch + 1)
        self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class EpochCadence(keras.callbacks.Callback):
    """Runs another callback's `on_epoch_end` only every n-th epoch; its other hooks always.

    For sample callbacks that write at every epoch end: `tfcmgen.train` wraps a task's own ones
    (those that are not a `SampleGrid`) so that every task's samples follow
    `TrainConfig.sample_every_steps`. The last epoch of each `fit`, and an epoch cut short by
    `stop_training` (a time budget), still reach it.

    Args:
        callback: keras.callbacks.Callback. The callback to pace.
        every_n_epochs: int >= 1.

    Example:

    >>> paced = EpochCadence(keras.callbacks.Callback(), every_n_epochs=5)
    >>> paced.every_n_epochs
    5
    """

    def __init__(self, callback, every_n_epochs: int):
        super().__init__()
        if isinstance(every_n_epochs, bool) or not isinstance(every_n_epochs, int) \
                or every_n_epochs < 1:
            raise ValueError(f"every_n_epochs must be an integer >= 1; received "
                             f"every_n_epochs={every_n_epochs!r}")
        self.callback = callback
        self.every_n_epochs = every_n_epochs

    def set_model(self, model):
        super().set_model(model)
        self.callback.set_model(model)

    def set_params(self, params):
        super().set_params(params)
        self.callback.set_params(params)

    def on_train_begin(self, logs=None):
        self.callback.on_train_begin(logs)

    def on_train_end(self, logs=None):
        self.callback.on_train_end(logs)

    def on_epoch_begin(self, epoch, logs=None):
        self.callback.on_epoch_begin(epoch, logs)

    def on_train_batch_begin(self, batch, logs=None):
        self.callback.on_train_batch_begin(batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self.callback.on_train_batch_end(batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        last = epoch + 1 == (self.params or {}).get("epochs")
        if (epoch + 1) % self.every_n_epochs == 0 or self.model.stop_training or last:
            self.callback.on_epoch_end(epoch, logs)


class TimeBudget(keras.callbacks.Callback):
    """Stops training at the end of the step during which `minutes` of wall-clock time run out.

    The clock starts when training starts. The step that crosses the budget completes (weights stay
    consistent), then `fit` ends the epoch normally (epoch-end callbacks such as `SampleGrid` and
    checkpoints still run) and returns, so the caller can save the model.

    Args:
        minutes: float > 0. The budget.
        clock: callable returning seconds. Defaults to `time.monotonic`.

    Example:

    >>> budget = TimeBudget(minutes=15)
    >>> budget.seconds
    900.0
    """

    def __init__(self, minutes, clock=time.monotonic):
        super().__init__()
        if isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or not minutes > 0:
            raise ValueError(f"minutes must be a number > 0; received minutes={minutes!r}")
        self.minutes = float(minutes)
        self.seconds = 60.0 * self.minutes
        self.clock = clock
        self.start = None
        self.stopped = False
        self.steps = 0

    @property
    def elapsed(self) -> float:
        """Seconds since training started (0 before it starts)."""
        return 0.0 if self.start is None else self.clock() - self.start

    def on_train_begin(self, logs=None):
        self.start = self.clock()
        self.stopped = False
        self.steps = 0

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if self.elapsed >= self.seconds:
            self.stopped = True
            self.model.stop_training = True
