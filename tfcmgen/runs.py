"""The run folder: what `tfcmgen train` writes and what `generate`, `evaluate` and `export` read.

Layout of a run folder::

    RUN/config.json        the TrainConfig that made it (`tfcmgen train --config RUN/config.json`)
    RUN/vocab.txt          the vocabulary, one token a line ([PAD], [UNK], then words)
    RUN/embeddings.npy     the Word2Vec (or pretrained) matrix the text encoder started from
    RUN/backup/            atomic training backups: a killed run resumes from here
    RUN/samples/           epoch_001.png ...: fixed captions, fixed noise
    RUN/logs/              TensorBoard scalars and images
    RUN/model.keras        the final model (EMA generator used for generation)

Example:

>>> from tfcmgen.runs import RunFolder
>>> RunFolder("runs/demo").model_path
'runs/demo/model.keras'
"""

from __future__ import annotations

import dataclasses
import os
import zipfile


class RunFolderError(ValueError):
    """A folder is not a tfcmgen run, or is missing a file a run must hold."""


@dataclasses.dataclass(frozen=True)
class RunFolder:
    """Paths of one run folder. See the module docstring for the layout."""

    root: str

    @property
    def config_path(self) -> str:
        return os.path.join(self.root, "config.json")

    @property
    def vocab_path(self) -> str:
        return os.path.join(self.root, "vocab.txt")

    @property
    def embeddings_path(self) -> str:
        return os.path.join(self.root, "embeddings.npy")

    @property
    def backup_dir(self) -> str:
        return os.path.join(self.root, "backup")

    @property
    def samples_dir(self) -> str:
        return os.path.join(self.root, "samples")

    @property
    def logs_dir(self) -> str:
        return os.path.join(self.root, "logs")

    @property
    def model_path(self) -> str:
        return os.path.join(self.root, "model.keras")

    def create(self) -> None:
        """Creates the folder for training, refusing one tfcmgen may not write into.

        Raises:
            tfcmgen.ownership.OwnershipError: the folder is a file, an export, or a non-empty
                folder that is not a run (the message lists what it holds).
        """
        from tfcmgen.ownership import check_out_folder

        check_out_folder(os.path.abspath(self.root), "run")
        os.makedirs(self.root, exist_ok=True)

    def check_complete(self) -> None:
        """Raises RunFolderError naming what is missing if this is not a finished run."""
        if not os.path.isdir(self.root):
            raise RunFolderError(f"run folder {self.root!r} does not exist")
        missing = [
            os.path.basename(p)
            for p in (self.config_path, self.vocab_path, self.model_path)
            if not os.path.isfile(p)
        ]
        if missing:
            raise RunFolderError(
                f"{self.root!r} is not a finished tfcmgen run: missing {', '.join(missing)} "
                "(train one with `tfcmgen train --out RUN_DIR`)"
            )


def check_model_path(path: str) -> None:
    """One-line errors for a `--model` that cannot be a run or export folder."""
    if not isinstance(path, str) or not path:
        raise RunFolderError(f"--model must be a folder path; received {path!r}")
    if os.path.isfile(path):
        kind = "a .keras file" if path.endswith(".keras") else "a file"
        raise RunFolderError(
            f"--model {path!r} is {kind}; --model takes a run folder made by `tfcmgen train` "
            "(config.json, vocab.txt, model.keras) or an export folder made by `tfcmgen export`"
        )


def load_run_model(model_path: str):
    """The tfcmgen model in a run's `model.keras`, loaded with Keras' safe_mode (no code runs).

    Raises:
        RunFolderError: one line naming the file, when it is truncated or damaged, fails to
            load, or holds a Keras model that is not a tfcmgen model.
    """
    import keras

    import tfcmgen.models  # noqa: F401  (registers the model classes for deserialisation)

    if not zipfile.is_zipfile(model_path):
        raise RunFolderError(
            f"cannot load model {model_path}: the file is truncated or damaged (not a complete "
            ".keras zip archive); train the run again or restore the file"
        )
    try:
        model = keras.saving.load_model(model_path)
    except Exception as error:  # Keras raises many types for a damaged or foreign file
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise RunFolderError(f"cannot load model {model_path}: {first_line}") from error
    if not hasattr(model, "max_length") or getattr(model, "task", "text2image") not in (
        "text2image", "edit"
    ):
        raise RunFolderError(
            f"{model_path} holds a Keras {type(model).__name__}, not a tfcmgen model "
            "(CrossModalGAN or TextImageEditor); --model takes a folder made by `tfcmgen train`"
        )
    return model
