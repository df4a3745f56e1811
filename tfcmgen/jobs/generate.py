"""Generating and editing with a trained model: the library side of `tfcmgen generate`.

`load_generator` opens a run folder, an export folder or the bundled model; every object it
returns has `task`, `image_size`, `generate(captions, num_per_caption, seed)` and
`edit(images, captions)` (uint8 images out, each refusing a model of the other task).

Example:

>>> from tfcmgen import load_generator
>>> generator = load_generator("runs/demo")  # doctest: +SKIP
>>> images = generator.generate(["a small red circle in the top left"], num_per_caption=4, seed=0)
>>> images.shape, images.dtype  # doctest: +SKIP
((4, 64, 64, 3), dtype('uint8'))
"""

from __future__ import annotations

import logging
import os

import numpy as np

from tfcmgen.config import GenerateConfig, TrainConfig
from tfcmgen.runs import RunFolder, RunFolderError, check_model_path, load_run_model
from tfcmgen.runtime.images import (
    check_edit_model,
    pair_captions,
    prepare_source_images,
    to_float,
    to_uint8,
)

logger = logging.getLogger(__name__)

# Images per forward pass when editing many.
_EDIT_BATCH = 64
# The model shipped inside the package, used when no --model is given.
PRETRAINED_DIR = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pretrained", "shapes64"
)


class TextToImageGenerator:
    """A trained Keras model with its tokenizer: captions (and images) in, uint8 RGB images out.

    Holds a CrossModalGAN (`task == "text2image"`: `generate` works) or a TextImageEditor
    (`task == "edit"`: `edit` works); each method refuses the other task.

    Args:
        model: CrossModalGAN or TextImageEditor. The trained model (a GAN's EMA generator draws
            the images).
        tokenizer: CaptionTokenizer. The tokenizer with the model's vocabulary.
        source: str. Where the model came from (shown in messages).
        word_mapper: `tfcmgen.text.word_mapping.WordMapper` or None. Maps words the vocabulary
            lacks to known ones before tokenising, and logs what it mapped. None: spelling only
            (`load_generator` passes the run's word-vector neighbours too). Defaults to None.
    """

    def __init__(self, model, tokenizer, source: str = "", word_mapper=None):
        from tfcmgen.text.word_mapping import WordMapper

        self.model = model
        self.tokenizer = tokenizer
        self.source = source
        self.word_mapper = word_mapper if word_mapper is not None \
            else WordMapper(tokenizer.vocabulary)

    @property
    def task(self) -> str:
        return getattr(self.model, "task", "text2image")

    @property
    def image_size(self) -> int:
        return int(self.model.image_size)

    def token_ids(self, captions: list[str]) -> np.ndarray:
        import tensorflow as tf

        from tfcmgen.text.word_mapping import report_mappings

        captions = list(captions)
        mapped, mappings = self.word_mapper.map_captions(captions)
        report_mappings(mappings, captions)
        return self.tokenizer(tf.constant(mapped, dtype=tf.string)).numpy()

    def generate(self, captions: list[str], num_per_caption: int = 1, seed: int = 0) -> np.ndarray:
        """Images for each caption, `num_per_caption` in a row: uint8 [len*num, H, W, 3]."""
        if self.task != "text2image":
            raise ValueError(
                f"the model at {self.source!r} was trained for task {self.task!r}; "
                "text-only generation needs a text2image model (edit models take --image)"
            )
        from tfcmgen.paged_generation import keras_batches  # batches: bounded memory

        parts = list(keras_batches(self, list(captions), num_per_caption, seed))
        size = self.image_size
        return np.concatenate(parts) if parts else np.zeros((0, size, size, 3), np.uint8)

    def edit(self, images, captions) -> np.ndarray:
        """Edits uint8 `images` towards `captions` with an edit model: uint8 [N, S, S, 3].

        Args:
            images: uint8 image or batch of any size, grey, RGB or RGBA (converted by
                `tfcmgen.runtime.images.prepare_source_images`).
            captions: list of str. One per image, one for all images, or many for one image.
        """
        from tfcmgen.export.runtime_inputs import check_captions

        check_edit_model(self)
        images, captions = pair_captions(
            prepare_source_images(images, self.image_size), check_captions(captions)
        )
        if not len(images):
            return np.zeros((0, self.image_size, self.image_size, 3), np.uint8)
        token_ids = self.token_ids(captions)
        parts = []
        for start in range(0, len(images), _EDIT_BATCH):
            batch = to_float(images[start : start + _EDIT_BATCH])
            edited = self.model.edit(batch, token_ids[start : start + _EDIT_BATCH], training=False)
            parts.append(to_uint8(np.asarray(edited)))
        return np.concatenate(parts)


def load_generator(path: str | None = None, allow_export: bool = True):
    """Loads a run folder, an export folder, or the bundled pretrained model when `path` is None.

    Every returned object has `task`, `image_size`, `generate(captions, num_per_caption, seed)`
    and `edit(images, captions)`, both giving uint8 images; each refuses a model of the other task.

    A run's `model.keras` loads with Keras' safe_mode (no code from the file runs). A SavedModel
    export is a program: loading it runs its graph, so load only exports you trust;
    `allow_export=False` (`tfcmgen export --model`) refuses them.
    """
    if path is not None:
        check_model_path(path)
    if path is not None and os.path.isfile(os.path.join(path, "tfcmgen_export.json")):
        if not allow_export:
            raise RunFolderError(
                f"{path!r} is a tfcmgen export, not a training run folder; this needs the run "
                "folder the export was made from (config.json, vocab.txt, model.keras)"
            )
        from tfcmgen.export import load_savedmodel

        return load_savedmodel(path)
    import tfcmgen.models  # noqa: F401  (registers the model classes for deserialisation)
    from tfcmgen.text import CaptionTokenizer, Vocabulary

    run = RunFolder(path or PRETRAINED_DIR)
    if path is None and not os.path.isfile(run.model_path):
        raise RunFolderError(
            "no --model given and the bundled pretrained model is missing from this install "
            f"({PRETRAINED_DIR}); pass --model RUN_DIR"
        )
    run.check_complete()
    config = TrainConfig.load(run.config_path)
    vocabulary = Vocabulary.load(run.vocab_path)
    model = load_run_model(run.model_path)
    vocab_size = getattr(model, "vocabulary_size", len(vocabulary))
    if vocab_size != len(vocabulary):
        raise RunFolderError(
            f"{run.vocab_path} has {len(vocabulary)} tokens but the model in {run.model_path} "
            f"was trained with {vocab_size}: the vocabulary does not belong to this model"
        )
    tokenizer = CaptionTokenizer(vocabulary.tokens, max_length=config.max_length)
    from tfcmgen.text.word_mapping import mapper_for_folder

    return TextToImageGenerator(model, tokenizer, source=run.root,
                                word_mapper=mapper_for_folder(run.root, vocabulary))


def generate_grid(config: GenerateConfig) -> str:
    """Runs `tfcmgen generate`: one row per caption, written as a captioned PNG grid (pages of
    it for many captions, see `tfcmgen.paged_generation`)."""
    from tfcmgen.paged_generation import check_output_path, generate_pages

    check_output_path(config.out)
    generator = load_generator(config.model)
    if config.image is not None:
        return edit_grid(generator, config)
    return generate_pages(generator, config)  # batches and grid pages: bounded memory


def edit_images(run_dir: str, images, captions, seed: int = 0) -> np.ndarray:
    """Edits `images` to match `captions` with the edit model in `run_dir`.

    Args:
        run_dir: str. A run folder trained with `task="edit"`, or a SavedModel export of one.
        images: uint8 image or batch (see `prepare_source_images`); resized to the model's size.
        captions: str or list of str. One per image, or one for all images, or many for one image.
        seed: int. Accepted for symmetry with text-to-image generation; the editor is
            deterministic, so the same inputs always give the same edit.

    Returns:
        uint8 [N, S, S, 3] edited images.
    """
    del seed  # deterministic editor; see the docstring
    captions = [captions] if isinstance(captions, str) else list(captions)
    # The size is in config.json: bad inputs fail before the model is loaded.
    config_path = RunFolder(run_dir).config_path
    size = TrainConfig.load(config_path).image_size if os.path.isfile(config_path) else None
    if size is not None:
        images, captions = pair_captions(prepare_source_images(images, size), captions)
    generator = load_generator(run_dir)
    check_edit_model(generator)
    if size != generator.image_size:
        images, captions = pair_captions(
            prepare_source_images(images, generator.image_size), captions
        )
    return generator.edit(images, captions)


def edit_grid(generator, config: GenerateConfig) -> str:
    """Runs `tfcmgen generate --image SOURCE`: the source, then one edit per caption, as a PNG grid.

    The editor is deterministic: `num_per_caption` and `seed` do not change an edit.

    Args:
        generator: the loaded run or SavedModel export (`load_generator`) of an edit model.
        config: GenerateConfig with `image` set.

    Returns:
        The path of the written grid (`config.out`).
    """
    from tfcmgen.data import caption_grid
    from tfcmgen.data.image_ops import read_image

    check_edit_model(generator)
    if config.image is None:
        raise ValueError("edit_grid needs a source image: config.image is None")
    source = prepare_source_images(read_image(config.image), generator.image_size)
    captions = list(config.captions)
    edited = generator.edit(source, captions)
    images = np.concatenate([source, edited])
    labels = [f"source: {os.path.basename(config.image)}"] + captions
    caption_grid(images, labels, config.out, cols=min(len(images), 5))
    return config.out
