"""Presets: a model and its vocabulary in one folder, loaded by name or path (keras-hub's
`from_preset` / `save_to_preset`).

A preset folder holds `model.keras` and `vocab.txt`. Every finished run folder is one, and so is
the bundled model (`"shapes64"`, in `tfcmgen/pretrained/`). A model loaded from a preset owns its
tokenizer, so `CrossModalGAN.generate` takes caption strings and `TextImageEditor.edit` takes
uint8 images and strings, both returning uint8 images.

Example:

>>> from tfcmgen.models import CrossModalGAN
>>> gan = CrossModalGAN.from_preset("shapes64")  # doctest: +SKIP
>>> gan.generate(["a small red circle in the top left"], seed=0).shape  # doctest: +SKIP
(1, 64, 64, 3)
>>> gan.save_to_preset("my_preset")  # doctest: +SKIP
"""

from __future__ import annotations

import os

import numpy as np

from tfcmgen.atomic import atomic_path

MODEL_FILE = "model.keras"
VOCABULARY_FILE = "vocab.txt"
# Preset name -> folder; any other preset argument is a folder path.
PRESETS = {
    "shapes64": os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pretrained", "shapes64"
    ),
}


def is_text(values) -> bool:
    """True for a caption or a sequence / array of captions (not token ids)."""
    if isinstance(values, str):
        return True
    if isinstance(values, np.ndarray):
        return values.dtype.kind in "USO"
    return isinstance(values, (list, tuple)) and len(values) > 0 and all(
        isinstance(v, str) for v in values
    )


class PresetMixin:
    """`from_preset`, `save_to_preset` and the tokenizer a model owns (see the module docstring).

    The tokenizer is not part of the `.keras` file (it has no weights; its vocabulary is
    `vocab.txt` beside it) and is not tracked by Keras.
    """

    @classmethod
    def from_preset(cls, preset: str):
        """Loads the model of a preset name (`"shapes64"`) or folder, with its tokenizer."""
        import keras

        from tfcmgen.text import Vocabulary

        folder = PRESETS.get(preset, preset)
        if not isinstance(folder, str) or not os.path.isdir(folder):
            raise ValueError(
                f"preset must be one of {sorted(PRESETS)} or a preset folder (model.keras, "
                f"vocab.txt); received preset={preset!r}"
            )
        missing = [name for name in (MODEL_FILE, VOCABULARY_FILE)
                   if not os.path.isfile(os.path.join(folder, name))]
        if missing:
            raise ValueError(f"{folder!r} is not a preset folder: missing {', '.join(missing)}")
        model = keras.saving.load_model(os.path.join(folder, MODEL_FILE))
        if not isinstance(model, cls):
            raise ValueError(
                f"{folder!r} holds a {type(model).__name__} (task "
                f"{getattr(model, 'task', 'text2image')!r}); {cls.__name__}.from_preset needs a "
                f"{cls.__name__}"
            )
        model.attach_tokenizer(Vocabulary.load(os.path.join(folder, VOCABULARY_FILE)))
        return model

    def save_to_preset(self, folder: str) -> None:
        """Writes `folder/model.keras` and `folder/vocab.txt`; `folder` must be new or empty."""
        if os.path.exists(folder) and (not os.path.isdir(folder) or os.listdir(folder)):
            raise ValueError(
                f"save_to_preset writes into a new or empty folder; {folder!r} is not empty "
                "(nothing was written)"
            )
        vocabulary = self.preprocessor.vocabulary
        os.makedirs(folder, exist_ok=True)
        vocabulary.save(os.path.join(folder, VOCABULARY_FILE))
        with atomic_path(os.path.join(folder, MODEL_FILE), suffix=".keras") as temporary:
            self.save(temporary)

    def attach_tokenizer(self, vocabulary) -> None:
        """Gives the model a `CaptionTokenizer` for `vocabulary` (a Vocabulary, token list or
        vocab.txt path), so it takes caption strings."""
        from tfcmgen.text import CaptionTokenizer

        tokenizer = CaptionTokenizer(vocabulary, max_length=self.max_length)
        if len(tokenizer.vocabulary) != self.vocabulary_size:
            raise ValueError(
                f"the vocabulary has {len(tokenizer.vocabulary)} tokens but the model was built "
                f"for vocabulary_size={self.vocabulary_size}"
            )
        # Set past Keras' attribute tracking: the tokenizer is not saved in the .keras file.
        object.__setattr__(self, "_preprocessor", tokenizer)

    @property
    def preprocessor(self):
        """The model's `CaptionTokenizer` (set by `from_preset` or `attach_tokenizer`)."""
        tokenizer = self.__dict__.get("_preprocessor")
        if tokenizer is None:
            raise ValueError(
                f"this {type(self).__name__} has no tokenizer: load it with "
                f"{type(self).__name__}.from_preset(...) or call attach_tokenizer(vocabulary)"
            )
        return tokenizer

    def caption_ids(self, captions) -> np.ndarray:
        """int32 [N, max_length] token ids of a caption or list of captions."""
        import tensorflow as tf

        captions = [captions] if isinstance(captions, str) else [str(c) for c in captions]
        return self.preprocessor(tf.constant(captions, dtype=tf.string)).numpy().astype(np.int32)
