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
