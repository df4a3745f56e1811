"""The text-guided editing task: images with captions in, a `TextImageEditor` out.

On the rendered shapes the editor trains *paired* by default: edit pairs (`tfcmgen.data.
edit_pairs`) hold the true edited image, and a pixel loss to it is added. Folder datasets train
*unpaired* (the SISGAN objective: reconstruction with the own caption, a matching-aware
discriminator for the edit caption, a content term), with the mismatched captions of
`make_dataset` as edit captions. `samples/` gets each epoch's source / edited pairs.

The editor learns fastest with larger learning rates than the GAN's defaults (`defaults` below;
`bench/edit_quality.py` measures with them).

Example:

>>> from tfcmgen import TrainConfig, train
>>> config = TrainConfig(task="edit", image_size=32, num_images=64, epochs=1, batch_size=16,
...                      base_width=4, out="/tmp/edit-run")
>>> result = train(config)  # doctest: +SKIP
"""

from __future__ import annotations

import os

import numpy as np

from tfcmgen.config import ConfigError
from tfcmgen.tasks.base import Task

SUPERVISIONS = ("paired", "unpaired")
# Pairs in each epoch's sample grid.
_SAMPLE_COUNT = 8


def build_editor(config, vocabulary_size: int, embedding_matrix: np.ndarray, task=None):
    """A compiled TextImageEditor for `config` (with its `model_options`); call inside the
    strategy scope. `task` is the EditTask of `config` (made here when None).

    The editor's fused feature maps are `2 * base_width` wide, the discriminator `base_width`.
    """
    task = task or EditTask(config)
    return task.build_text_model(
        vocabulary_size, embedding_matrix,
        encoder_weights=config.vgg_weights,
        width=2 * config.base_width,
        discriminator_width=config.base_width,
    )


def _renderable(data) -> bool:
    return data.attributes is not None and getattr(data, "render_seeds", None) is not None


class EditTask(Task):
    """Trains a `TextImageEditor` (`TrainConfig(task="edit")`).

    Args:
        config: TrainConfig with `task="edit"`.
        supervision: `"paired"` (shapes only: adds the pixel loss to the rendered true targets),
            `"unpaired"` (the SISGAN objective only) or None: paired where the data can render
            targets, unpaired otherwise. Defaults to None.
    """

    name = "edit"
    # The editor learns from a reconstruction target, so it takes a smaller batch and larger
    # learning rates than the GAN (`bench/edit_quality.py` measures it with these).
    defaults = {"batch_size": 16, "g_learning_rate": 1e-3, "d_learning_rate": 2e-3,
                "base_width": 32}
    model_class = "tfcmgen.models.text_image_editor:TextImageEditor"
    config_arguments = ("vocabulary_size", "max_length", "image_size", "embedding_dim",
                        "embedding_matrix", "text_pooling", "fusion", "encoder_weights", "width",
                        "discriminator_width", "seed")

    def __init__(self, config, supervision: str | None = None):
        if supervision is not None and supervision not in SUPERVISIONS:
            shown = ", ".join(repr(s) for s in SUPERVISIONS)
            raise ConfigError(
                f"supervision must be one of {shown} or None; received {supervision!r}"
            )
        self.supervision = supervision
        self._pairs = None
        super().__init__(config)

    def _edit_pairs(self, train_data):
        from tfcmgen.data.edit_pairs import make_edit_pairs

        if self._pairs is None:
            self._pairs = make_edit_pairs(train_data, self.config.image_size,
                                          held_out=self.config.held_out, seed=self.config.seed)
        return self._pairs

    def _resolve_supervision(self, train_data) -> str:
        renderable = _renderable(train_data)
        if self.supervision is None:
            self.supervision = "paired" if renderable else "unpaired"
        if self.supervision == "paired" and not renderable:
            raise ConfigError(
                "supervision='paired' needs rendered data with true edit targets "
                f"(data='shapes'); {self.config.data!r} has none: use supervision='unpaired'"
            )
        return self.supervision

    def vocabulary_captions(self, train_data) -> list[str]:
        self._resolve_supervision(train_data)
        captions = train_data.all_captions()
        if _renderable(train_data):
            captions += self._edit_pairs(train_data).edit_captions
        return captions

    def dataset(self, train_data, tokenizer):
        config = self.config
        supervision = self._resolve_supervision(train_data)
        if _renderable(train_data):
            from tfcmgen.data.edit_pairs import edit_dataset

            return edit_dataset(self._edit_pairs(train_data), tokenizer,
                                batch_size=config.batch_size, paired=supervision == "paired",
                                seed=config.seed)
        from tfcmgen.data import make_dataset

        # Unpaired: the mismatched captions serve as edit captions.
        return make_dataset(train_data, tokenizer, image_size=config.image_size,
                            batch_size=config.batch_size, shuffle=True, seed=config.seed,
                            deterministic=True, drop_remainder=True)

    def build_model(self, vocabulary_size: int, embedding_matrix: np.ndarray):
        return build_editor(self.config, vocabulary_size, embedding_matrix, task=self)

    def sample_callbacks(self, train_data, tokenizer, run) -> list:
        import tensorflow as tf

        images, captions = _sample_pairs(train_data, self.config)
        token_ids = tokenizer(tf.constant(captions))
        return [_edit_sample_callback(images, token_ids, captions, run.samples_dir)]


def _sample_pairs(data, config, count: int = _SAMPLE_COUNT):
    """(source uint8 images, edit captions) shown in every epoch's sample grid."""
    if _renderable(data):
        from tfcmgen.data.edit_pairs import make_edit_pairs

        subset = data.subset(range(min(count, len(data))))
        pairs = make_edit_pairs(subset, config.image_size, held_out=config.held_out,
                                seed=config.seed + 1)
        return pairs.source_images, list(pairs.edit_captions)
    # Without attributes: each image with the next image's caption.
    from tfcmgen.data import decode_images

    subset = decode_images(data.subset(range(min(count + 1, len(data)))), config.image_size)
    images = np.asarray(subset.images)
    captions = [subset.captions[(i + 1) % len(subset)][0] for i in range(len(subset))]
    return images[:count], captions[:count]


def _edit_sample_callback(images, token_ids, captions, out_dir):
    """A Keras callback writing `out_dir/epoch_0001.png`, ...: source and edit side by side."""
    import keras

    from tfcmgen.runtime.images import to_float, to_uint8

    class EditSampleGrid(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            from tfcmgen.data import caption_grid

            edited = to_uint8(self.model.edit(to_float(images), token_ids, training=False))
            grid = np.stack([x for pair in zip(images, edited) for x in pair])
            labels = [label for caption in captions for label in ("source", caption)]
            os.makedirs(out_dir, exist_ok=True)
            caption_grid(grid, labels, os.path.join(out_dir, f"epoch_{epoch + 1:04d}.png"), cols=4)

    return EditSampleGrid()
