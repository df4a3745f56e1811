"""Training backups a killed run resumes from exactly, even in the middle of an epoch.

A backup is one file, `RUN/backup/state.weights.h5`: the model's weights and both optimizers'
state (Keras `save_weights`), the state of every `keras.random.SeedGenerator` (noise, DiffAugment,
Conditioning Augmentation; `save_weights` leaves these out, and without them a resumed run draws
other random numbers than an uninterrupted one), and the global step count as an HDF5 attribute.
It is written to a temporary name and renamed, so a kill at any moment leaves the previous backup
whole. `train` feeds the data as one endless deterministic stream and skips the steps a backup has
already taken, so a resumed run sees the batches the killed one would have seen next.

Keras' own `BackupAndRestore` is not used: it writes in place (a kill during a save leaves a
half-written file), it does not save the seed generators, and it resumes at the start of the
interrupted epoch while its weights are from the middle of it.

Example:

>>> import os, tempfile, numpy as np, keras
>>> from tfcmgen.backup import TrainingBackup
>>> from tfcmgen.models import CrossModalGAN
>>> gan = CrossModalGAN(vocabulary_size=20, max_length=4, image_size=32, embedding_dim=8,
...                     condition_dim=8, noise_dim=8, generator_width=4, discriminator_width=4)
>>> gan.compile(keras.optimizers.Adam(2e-4), keras.optimizers.Adam(4e-4))
>>> backup = TrainingBackup(tempfile.mkdtemp(), steps_per_epoch=10)
>>> backup.restore(gan)  # nothing to restore yet
0
>>> backup.set_model(gan); backup.step = 12; backup.save()
>>> TrainingBackup(backup.directory, steps_per_epoch=10).restore(gan)
12
"""

from __future__ import annotations

import os
import shutil
import tempfile

import keras
import numpy as np

from tfcmgen.atomic import atomic_path
from tfcmgen.runs import RunFolderError

BACKUP_FILE = "state.weights.h5"
_STEP_ATTRIBUTE = "tfcmgen_step"
_SEED_GROUP = "tfcmgen_seed_generator_states"


def _seed_states(model) -> list:
    """The state variables of the model's SeedGenerators, in the model's (fixed) variable order."""
    return [v for v in model.variables if v.name == "seed_generator_state"]


class TrainingBackup(keras.callbacks.Callback):
    """Backs up the whole training state every `every_steps` steps and at the end of training.

    Without `every_steps` it backs up at each epoch end instead. With it, epoch ends add no
    backups: a backup resumes from any step, and epoch-end saves would make their number depend
    on the dataset's size (a 200-image folder's epochs are a few steps each).

    Under `MultiWorkerMirroredStrategy` every worker saves (as Keras' fault-tolerance guide asks,
    in case reading a variable needs the other workers), but only the chief into `directory`;
    the others write into a temporary folder that `close()` removes. Every worker restores from
    `directory`, so a multi-machine run resumes only where all workers can read the run folder.

    Args:
        directory: str. The backup folder (`RunFolder.backup_dir`).
        steps_per_epoch: int >= 1. Turns the global step count into (epoch, step in epoch).
        every_steps: int >= 1 or None. Back up every this many steps. Defaults to None
            (epoch ends instead).
        chief: bool. Whether this process writes `directory`. Defaults to True.
    """

    def __init__(self, directory, steps_per_epoch: int, every_steps: int | None = None,
                 chief: bool = True):
        super().__init__()
        for name, value in (("steps_per_epoch", steps_per_epoch), ("every_steps", every_steps)):
            if value is None and name == "every_steps":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1; received {name}={value!r}")
        self.directory = os.fspath(directory)
        self.steps_per_epoch = steps_per_epoch
        self.every_steps = every_steps
        self.chief = bool(chief)
        self.step = 0
        self._saved_step = None
        self._scratch = None

    @property
    def path(self) -> str:
        """The backup file every worker restores from."""
        return os.path.join(self.directory, BACKUP_FILE)

    @property
    def epoch(self) -> int:
        """The 0-based epoch the next step belongs to."""
        return self.step // self.steps_per_epoch

    @property
    def step_in_epoch(self) -> int:
        """Steps of the current epoch already taken."""
        return self.step % self.steps_per_epoch

    def restore(self, model) -> int:
        """Loads the backup into `model` (built and compiled); returns its global step, 0 if none.

        Raises:
            RunFolderError: naming the file, when a backup exists but cannot be read. A damaged
                backup is never skipped silently: that would restart a long run from step 0.
        """
        import h5py

        self.step = self._saved_step = 0
        if not os.path.exists(self.path):
            return 0
        seeds = _seed_states(model)
        try:
            model.load_weights(self.path)
            with h5py.File(self.path, "r") as stored:
                step = int(stored.attrs[_STEP_ATTRIBUTE])
                group = stored[_SEED_GROUP]
                states = [np.asarray(group[str(i)]) for i in range(len(group))]
        except Exception as e:  # h5py and Keras raise many types for a damaged file
            raise RunFolderError(
                f"the training backup {self.path} is damaged and cannot be restored "
                f"({type(e).__name__}: {e}); delete it to train this run again from the start, "
                "or train into a new --out"
            ) from e
        if len(states) != len(seeds):
            raise RunFolderError(
                f"the training backup {self.path} holds {len(states)} random-generator states but "
                f"the model has {len(seeds)}: it was written by another model"
            )
        for variable, state in zip(seeds, states):
            variable.assign(state)
        self.step = self._saved_step = step
        return step

    def save(self) -> None:
        """Writes the backup now (atomically); does nothing if this step is already saved."""
        import h5py

        if self.step == self._saved_step:
            return
        if self.chief:
            folder = self.directory
        else:
            if self._scratch is None:
                self._scratch = tempfile.mkdtemp(prefix="tfcmgen-worker-backup-")
            folder = self._scratch
        with atomic_path(os.path.join(folder, BACKUP_FILE), suffix=".weights.h5") as temporary:
            self.model.save_weights(temporary)
            with h5py.File(temporary, "a") as stored:
                stored.attrs[_STEP_ATTRIBUTE] = self.step
                group = stored.create_group(_SEED_GROUP)
                for i, variable in enumerate(_seed_states(self.model)):
                    group[str(i)] = keras.ops.convert_to_numpy(variable)
        self._saved_step = self.step

    def close(self) -> None:
        """Removes a non-chief worker's temporary backup folder."""
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        if self.every_steps and self.step % self.every_steps == 0:
            self.save()

    def on_epoch_end(self, epoch, logs=None):
        if not self.every_steps:
            self.save()

    def on_train_end(self, logs=None):
        # A run stopped by its time budget resumes from the step where it stopped.
        self.save()
