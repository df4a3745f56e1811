"""Loading a tfcmgen SavedModel export back into Python: captions (and images) in, uint8 out.

A SavedModel is a program: loading one runs its graph, which may read and write files. Load only
exports you trust; `tfcmgen` loads a SavedModel only from a folder the user names as the model to
run (`generate --model EXPORT`), never while looking for something else.

The serving graph uses core TensorFlow ops only, so any TensorFlow client loads it. Exports made by
tfcmgen before that used the tensorflow-text op `CaseFoldUTF8`, registered only once
`tensorflow_text` is imported; `load_savedmodel` imports it first so those still load.

Example:

>>> generator = load_savedmodel("exports/demo")  # doctest: +SKIP
>>> generator.generate(["a small red circle in the top left"], seed=0).shape  # doctest: +SKIP
(1, 64, 64, 3)
>>> load_savedmodel("exports/editor").edit(photo, ["a blue square"]).shape  # doctest: +SKIP
(1, 64, 64, 3)
"""

from __future__ import annotations

import numpy as np

from tfcmgen.export.export_folder import ExportFolder
from tfcmgen.export.runtime_inputs import (
    check_captions,
    check_noise,
    check_num_per_caption,
    check_seed,
    check_source_images,
    check_task,
    check_token_ids,
    warn_unknown_only,
)
from tfcmgen.runtime.export_metadata import ExportError, ExportMetadata
from tfcmgen.text.word_mapping import map_and_report


class SavedModelGenerator(ExportFolder):
    """A tfcmgen SavedModel export loaded in this process.

    Same `generate` and `edit` as `tfcmgen.generation.TextToImageGenerator`, running the exported
    signatures: for a text2image export `serving_default` for captions, `generate_from_tokens` for
    token ids and noise; for an edit export `edit` for uint8 images and captions,
    `edit_from_tokens` for float images and token ids. Each method refuses an export of the other
    task, saying which task it was made for.

    Args:
        path: str. An export folder from `tfcmgen export` (the root or its `saved_model/`).

    Example:

    >>> generator = SavedModelGenerator("exports/demo")  # doctest: +SKIP
    >>> generator.generate(["a red circle", "a blue square"], num_per_caption=2).shape
    (4, 64, 64, 3)
    """

    def __init__(self, path: str):
        import tensorflow as tf

        # Older exports tokenize with CaseFoldUTF8 (tensorflow-text); without this import they fail
        # with "Op type not registered 'CaseFoldUTF8'". New exports use core ops only.
        import tensorflow_text  # noqa: F401

        self.path = path
        self.metadata = ExportMetadata.load(path)
        self.model_path = self.metadata.path_of(path, "savedmodel")
        try:
            self.loaded = tf.saved_model.load(self.model_path)
        except Exception as error:  # TF raises many types for a damaged SavedModel
            raise ExportError(
                f"cannot load the SavedModel in {self.model_path!r}: {error}"
            ) from error
        self.signatures = self.loaded.signatures
        missing = sorted(set(self.metadata.signatures) - set(self.signatures))
        if missing:
            raise ExportError(f"the SavedModel in {self.model_path!r} lacks signatures {missing}")
        self._load_text(path)
        self._tf = tf

    def _empty(self) -> np.ndarray:
        return np.zeros((0, self.image_size, self.image_size, 3), np.uint8)

    def generate(self, captions, num_per_caption: int = 1, seed: int = 0) -> np.ndarray:
        """uint8 images [len(captions) * num_per_caption, S, S, 3], each caption repeated in a row.

        The same seed gives the same images as `CrossModalGAN.generate(token_ids, seed)`.
        """
        check_task(self.path, self.task, "text2image")
        captions = check_captions(captions)
        num_per_caption = check_num_per_caption(num_per_caption)
        seed = check_seed(seed)
        captions = map_and_report(self.word_mapper, captions)
        captions = [c for c in captions for _ in range(num_per_caption)]
        if not captions:
            return self._empty()
        warn_unknown_only(captions, self.tokenizer.encode(captions))
        tf = self._tf
        outputs = self.signatures["serving_default"](
            captions=tf.constant(captions, tf.string), seed=tf.constant(seed, tf.int64)
        )
        return outputs["images"].numpy()

    def generate_batches(self, captions, num_per_caption: int = 1, seed: int = 0,
                         batch_size: int = 64):
        """Yields the images of `generate` in order, `batch_size` at a time (bounded memory).

        Runs `generate_from_tokens` on slices of the noise `serving_default` draws for the whole
        request (`stateless_normal([N, noise_dim], seed=[seed, 0])`), so the images are the same.
        """
        check_task(self.path, self.task, "text2image")
        captions = check_captions(captions)
        num_per_caption = check_num_per_caption(num_per_caption)
        seed = check_seed(seed)
        if not captions:
            return
        captions = map_and_report(self.word_mapper, captions)
        ids = np.asarray(self.tokenizer.encode(captions), np.int32)
        warn_unknown_only(captions, ids)
        total = len(ids) * num_per_caption
        noise = self._tf.random.stateless_normal(
            [total, self.noise_dim], seed=[seed, 0], dtype=self._tf.float32
        ).numpy()
        for start in range(0, total, batch_size):
            rows = np.arange(start, min(start + batch_size, total)) // num_per_caption
            yield self.generate_from_tokens(ids[rows], noise[start : start + len(rows)])

    def generate_from_tokens(self, token_ids, noise) -> np.ndarray:
        """uint8 images for token ids int [B, max_length] and noise float [B, noise_dim]."""
        check_task(self.path, self.task, "text2image")
        ids = check_token_ids(token_ids, self.max_length, self.metadata.vocabulary_size)
        noise = check_noise(noise, len(ids), self.noise_dim)
        if not len(ids):
            return self._empty()
        outputs = self.signatures["generate_from_tokens"](
            token_ids=self._tf.constant(ids), noise=self._tf.constant(noise)
        )
        return outputs["images"].numpy()

    def edit(self, images, captions) -> np.ndarray:
        """Edits uint8 `images` towards `captions`: uint8 [N, S, S, 3], by the `edit` signature.

        Args:
            images: uint8 `[H, W]`, `[H, W, C]` or `[N, H, W, C]` of any size, C = 1, 3 or 4.
                Grey and RGBA become RGB here (`tfcmgen.runtime.images.to_rgb_batch`); the graph crops
                and resizes them as `tfcmgen.runtime.images.prepare_source_images` does.
            captions: list of str. One per image, one for all images, or many for one image.
        """
        from tfcmgen.runtime.images import pair_captions, to_rgb_batch

        check_task(self.path, self.task, "edit")
        images, captions = pair_captions(to_rgb_batch(images), check_captions(captions))
        captions = map_and_report(self.word_mapper, captions)
        if not len(images):
            return self._empty()
        warn_unknown_only(captions, self.tokenizer.encode(captions))
        tf = self._tf
        outputs = self.signatures["edit"](
            images=tf.constant(images, tf.uint8), captions=tf.constant(captions, tf.string)
        )
        return outputs["images"].numpy()

    def edit_from_tokens(self, images, token_ids) -> np.ndarray:
        """uint8 edits of float images [B, S, S, 3] in [-1, 1] towards token ids [B, max_length]."""
        check_task(self.path, self.task, "edit")
        ids = check_token_ids(token_ids, self.max_length, self.metadata.vocabulary_size)
        images = check_source_images(images, len(ids), self.image_size)
        if not len(ids):
            return self._empty()
        outputs = self.signatures["edit_from_tokens"](
            images=self._tf.constant(images), token_ids=self._tf.constant(ids)
        )
        return outputs["images"].numpy()


def load_savedmodel(path: str) -> SavedModelGenerator:
    """Loads a tfcmgen SavedModel export (importing tensorflow_text first).

    Raises:
        ExportError: `path` is not a tfcmgen export, or holds no SavedModel.
    """
    return SavedModelGenerator(path)
