"""The text-to-image task: captioned images in, a `CrossModalGAN` out."""

from __future__ import annotations

import numpy as np

from tfcmgen.tasks.base import Task

# Captions drawn in every sample grid when the data has no attributes to pick them from.
_FALLBACK_SAMPLE_COUNT = 8


def sample_captions(data, count: int = _FALLBACK_SAMPLE_COUNT) -> list[str]:
    """Fixed captions for the per-epoch sample grid: distinct attribute sets where known."""
    seen, chosen = set(), []
    for i, caps in enumerate(data.captions):
        key = tuple(sorted(data.attributes[i].items())) if data.attributes else caps[0]
        if key not in seen:
            seen.add(key)
            chosen.append(caps[0])
        if len(chosen) == count:
            break
    return chosen


class TextToImageTask(Task):
    """Trains a `CrossModalGAN` on captioned images (`TrainConfig(task="text2image")`)."""

    name = "text2image"
    defaults = {}
    model_class = "tfcmgen.models.cross_modal_gan:CrossModalGAN"
    config_arguments = ("vocabulary_size", "max_length", "image_size", "embedding_dim",
                        "embedding_matrix", "text_pooling", "fusion", "noise_dim",
                        "generator_width", "discriminator_width", "seed")
    augments = True

    def dataset(self, train_data, tokenizer):
        from tfcmgen.data import CAPTIONED_ATTRIBUTES, make_dataset

        config = self.config
        return make_dataset(
            train_data,
            tokenizer,
            image_size=config.image_size,
            batch_size=config.batch_size,
            shuffle=True,
            # Flips swap "left"/"right" in the caption; rotation and crop only touch captions
            # that name no position, so no augmentation makes a caption false. The runner has
            # resolved "auto" from the data (resolve_augment).
            augment=config.augment,
            word_dropout=config.word_dropout,
            caption_near_miss=config.caption_near_miss,
            seed=config.seed,
            mismatch_on=CAPTIONED_ATTRIBUTES if config.data == "shapes" else None,
            near_miss=config.near_miss,
            swap_negatives=config.swap_negatives,
            # The same batches in the same order on every worker and in a resumed run.
            deterministic=True,
            drop_remainder=True,
        )

    def build_model(self, vocabulary_size: int, embedding_matrix: np.ndarray):
        return build_gan(self.config, vocabulary_size, embedding_matrix, task=self)

    def sample_callbacks(self, train_data, tokenizer, run) -> list:
        import tensorflow as tf

        from tfcmgen.callbacks import SampleGrid, TensorBoardImages

        config = self.config
        captions = sample_captions(train_data)
        sample_ids = tokenizer(tf.constant(captions)).numpy()
        return [
            SampleGrid(sample_ids, captions, run.samples_dir, seed=config.seed,
                       samples_per_caption=4),
            TensorBoardImages(run.logs_dir, sample_ids, captions, seed=config.seed),
        ]

    def evaluation_callbacks(self, validation_data, tokenizer, run) -> list:
        from tfcmgen.evaluation.r_precision_callback import r_precision_callback

        callback = r_precision_callback(self.config, validation_data, tokenizer, run)
        return [] if callback is None else [callback]


def build_gan(config, vocabulary_size: int, embedding_matrix: np.ndarray, task=None):
    """A compiled CrossModalGAN for `config` (with its `model_options`); call inside the
    strategy scope. `task` is the TextToImageTask of `config` (made here when None)."""
    task = task or TextToImageTask(config)
    return task.build_text_model(
        vocabulary_size, embedding_matrix,
        noise_dim=config.noise_dim,
        generator_width=config.base_width,
        discriminator_width=config.base_width,
    )
