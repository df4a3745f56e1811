"""Text-guided editing jobs: edit pairs from shapes, `train_editor`, `edit_images`, `edit_grid`.

An edit pair is a source image, its own caption, an *edit caption* describing the image with one
attribute changed ("a small blue circle in the top left" for a small red circle there), and, for
the rendered shapes only, the true edited image: `render_shape` with the same render seed draws it
exactly. That true target allows *paired* supervision (a pixel loss to it), which exists only for
synthetic data; the general path, used for folder datasets and with `supervision="unpaired"`, is
the SISGAN objective (reconstruction with the own caption, a matching-aware discriminator for the
edit caption, a content term), which needs no targets.

`train_editor` writes the same run folder as `tfcmgen.training.train` (see `tfcmgen.runs`), with
edit samples in `samples/`: each epoch a grid of source / edited pairs. The editor learns fastest
with larger learning rates than the GAN's defaults: `bench/edit_quality.py` trains with batch 16,
`g_learning_rate=1e-3`, `d_learning_rate=2e-3` and `base_width=32`.

Example:

>>> from tfcmgen.config import TrainConfig
>>> from tfcmgen.editing import edit_images, train_editor
>>> config = TrainConfig(task="edit", image_size=32, num_images=64, epochs=1, batch_size=16,
...                      base_width=4, out="/tmp/edit-run")
>>> result = train_editor(config)  # doctest: +SKIP
>>> edited = edit_images("/tmp/edit-run", images, "a blue square")  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import os
import time

import numpy as np

from tfcmgen.config import ConfigError, GenerateConfig, TrainConfig

logger = logging.getLogger(__name__)

# Attributes an edit changes by default: the ones a caption-driven recolouring / reshaping can do
# in place. "size" and "position" work too (pass them) but move pixels and are harder to learn.
EDIT_ATTRIBUTES = ("colour", "shape")
SUPERVISIONS = ("paired", "unpaired")
# Pairs in each epoch's sample grid.
_SAMPLE_COUNT = 8


@dataclasses.dataclass
class EditPairs:
    """Source images with an edit caption each, and the true edited images (shapes only).

    Args:
        source_images: uint8 [N, S, S, 3].
        source_captions: list of N str. A caption of each source image (its own).
        edit_captions: list of N str. A caption of the edit target.
        target_images: uint8 [N, S, S, 3]. The true edited images.
        source_attributes: list of N dicts. Attributes of the sources.
        target_attributes: list of N dicts. Attributes of the targets.
        changed: list of N str. The attribute each pair changes.
    """

    source_images: np.ndarray
    source_captions: list
    edit_captions: list
    target_images: np.ndarray
    source_attributes: list
    target_attributes: list
    changed: list

    def __len__(self) -> int:
        return len(self.source_images)


def _check_edit_attributes(attributes) -> tuple:
    from tfcmgen.data.shapes import ATTRIBUTE_VALUES

    attributes = tuple(attributes)
    if not attributes or any(a not in ATTRIBUTE_VALUES for a in attributes):
        raise ValueError(
            f"attributes must be a non-empty sequence among {list(ATTRIBUTE_VALUES)}; "
            f"received attributes={attributes!r}"
        )
    return attributes


def make_edit_pairs(
    data,
    image_size: int,
    attributes=EDIT_ATTRIBUTES,
    pairs_per_image: int = 1,
    held_out=None,
    seed: int = 0,
) -> EditPairs:
    """Turns rendered shapes data into edit pairs: one attribute changed, the rest kept.

    For every image and pair, one attribute of `attributes` is drawn, then a new value for it;
    the target is drawn again by `render_shape` with the image's render seed (same place, size,
    angle, shade and background), and the edit caption describes the target in words from
    `make_captions`. Targets whose colour+shape pair is in `held_out` are never made, so the
    held-out combinations stay unseen by the editor too.

    Args:
        data: CaptionedImages with `attributes` and `render_seeds` (the built-in shapes).
        image_size: int. Side of the rendered images.
        attributes: sequence of attribute names an edit may change. Defaults to
            `("colour", "shape")`.
        pairs_per_image: int >= 1. Edits drawn per source image. Defaults to 1.
        held_out: iterable of (colour, shape) pairs never used as targets, or None for
            `DEFAULT_HELD_OUT`.
        seed: int. Seeds the edits and captions. Defaults to 0.

    Returns:
        EditPairs.
    """
    from tfcmgen.data import DatasetError
    from tfcmgen.data.shapes import ATTRIBUTE_VALUES, DEFAULT_HELD_OUT, make_captions, render_shape

    attributes = _check_edit_attributes(attributes)
    if data.attributes is None or getattr(data, "render_seeds", None) is None:
        raise DatasetError(
            f"{data.name}: paired edits need rendered data with attributes and render seeds (the "
            "built-in shapes); train folder datasets with supervision='unpaired'"
        )
    if isinstance(pairs_per_image, bool) or not isinstance(pairs_per_image, int) \
            or pairs_per_image < 1:
        raise ValueError(f"pairs_per_image must be an int >= 1; received {pairs_per_image!r}")
    held = {tuple(p) for p in (DEFAULT_HELD_OUT if held_out is None else held_out)}
    rng = np.random.default_rng([int(seed), 5])
    sources, source_caps, edit_caps, targets = [], [], [], []
    source_attrs, target_attrs, changed = [], [], []
    for index, attrs in enumerate(data.attributes):
        for _ in range(pairs_per_image):
            for _attempt in range(100):
                name = attributes[int(rng.integers(len(attributes)))]
                others = [v for v in ATTRIBUTE_VALUES[name] if v != attrs[name]]
                target = {**attrs, name: others[int(rng.integers(len(others)))]}
                if (target["colour"], target["shape"]) not in held:
                    break
            else:  # every draw hit a held-out pair: skip this edit rather than leak one
                continue
            sources.append(index)
            source_caps.append(data.captions[index][int(rng.integers(len(data.captions[index])))])
            edit_caps.append(make_captions(target, rng, 1)[0])
            targets.append(render_shape(target, image_size, int(data.render_seeds[index])))
            source_attrs.append(dict(attrs))
            target_attrs.append(target)
            changed.append(name)
    images = np.asarray(data.images)
    if images.shape[1:3] != (image_size, image_size):
        raise DatasetError(
            f"{data.name} images are {images.shape[1]}x{images.shape[2]}; edit pairs need them "
            f"rendered at image_size={image_size}"
        )
    empty = np.zeros((0, image_size, image_size, 3), np.uint8)
    return EditPairs(
        source_images=images[np.asarray(sources, np.int64)] if sources else empty,
        source_captions=source_caps,
        edit_captions=edit_caps,
        target_images=np.stack(targets) if targets else empty,
        source_attributes=source_attrs,
        target_attributes=target_attrs,
        changed=changed,
    )


def render_edit_pairs(
    num_images: int,
    image_size: int,
    attributes=EDIT_ATTRIBUTES,
    held_out=None,
    split: str = "train",
    seed: int = 0,
) -> EditPairs:
    """Fresh shapes rendered and turned into edit pairs (one per image): for evaluation.

    Args:
        num_images: int. Source images rendered.
        image_size: int. Side of the images.
        attributes: attribute names an edit may change. Defaults to `("colour", "shape")`.
        held_out: (colour, shape) pairs kept out of training; None for `DEFAULT_HELD_OUT`.
        split: "train" (sources and targets avoid held-out pairs) or "all". Defaults to "train".
        seed: int. Use one the training data did not use. Defaults to 0.
    """
    from tfcmgen.data.shapes import DEFAULT_HELD_OUT, load_shapes

    held = DEFAULT_HELD_OUT if held_out is None else held_out
    data = load_shapes(num_images=num_images, image_size=image_size, seed=seed, held_out=held,
                       captions_per_image=1, split=split)
    return make_edit_pairs(data, image_size, attributes, 1, held if split == "train" else (), seed)


def edit_dataset(
    pairs: EditPairs,
    tokenizer,
    batch_size: int = 64,
    paired: bool = True,
    shuffle: bool = True,
    seed: int = 0,
    drop_remainder: bool = True,
):
    """The edit pairs as a `tf.data.Dataset` of the batches `TextImageEditor.train_step` takes.

    Yields `{"image": float32 [B, S, S, 3] in [-1, 1], "token_ids": int32 [B, L] (the source's own
    caption), "edit_token_ids": int32 [B, L]}`, plus `"target_image"` (the true edited image,
    float32 in [-1, 1]) when `paired` is True.

    Args:
        pairs: EditPairs.
        tokenizer: callable tf.string [N] -> int32 [N, L], e.g. a `CaptionTokenizer`.
        batch_size: int. Defaults to 64.
        paired: bool. Include the true targets (synthetic data only). Defaults to True.
        shuffle: bool. Reshuffle every epoch. Defaults to True.
        seed: int. Shuffle seed. Defaults to 0.
        drop_remainder: bool. Static batch size (as `tf.distribute` needs). Defaults to True.
    """
    import tensorflow as tf

    from tfcmgen.data import DatasetError

    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1; received batch_size={batch_size!r}")
    if drop_remainder and len(pairs) < batch_size:
        raise DatasetError(
            f"{len(pairs)} edit pairs are fewer than batch_size={batch_size}; with "
            "drop_remainder=True there would be no batch"
        )
    # Tokenised once here: the captions are fixed, only their order changes per epoch.
    columns = {
        "image": pairs.source_images,
        "token_ids": tokenizer(tf.constant(pairs.source_captions)).numpy().astype(np.int32),
        "edit_token_ids": tokenizer(tf.constant(pairs.edit_captions)).numpy().astype(np.int32),
    }
    if paired:
        columns["target_image"] = pairs.target_images
    dataset = tf.data.Dataset.from_tensor_slices(columns)
    if shuffle:
        dataset = dataset.shuffle(len(pairs), seed=seed, reshuffle_each_iteration=True)

    def to_float(batch):
        batch = dict(batch)
        for key in ("image", "target_image"):
            if key in batch:
                batch[key] = tf.cast(batch[key], tf.float32) / 127.5 - 1.0
        return batch

    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    return dataset.map(to_float, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------


def _check_loss(config: TrainConfig) -> None:
    from tfcmgen.models.text_image_editor import ADVERSARIAL_LOSSES

    if config.loss not in ADVERSARIAL_LOSSES:
        shown = ", ".join(repr(name) for name in ADVERSARIAL_LOSSES)
        raise ConfigError(f"the edit task supports loss {shown}; received loss={config.loss!r}")


def build_editor(config: TrainConfig, vocabulary_size: int, embedding_matrix: np.ndarray):
    """A compiled TextImageEditor for `config`; call inside the strategy scope.

    The editor's fused feature maps are `2 * base_width` wide, the discriminator `base_width`.
    """
    import keras

    from tfcmgen.models.text_image_editor import TextImageEditor

    _check_loss(config)
    editor = TextImageEditor(
        vocabulary_size=vocabulary_size,
        max_length=config.max_length,
        image_size=config.image_size,
        embedding_dim=int(embedding_matrix.shape[1]),
        embedding_matrix=embedding_matrix,
        text_pooling=config.text_pooling,
        fusion=config.fusion,
        encoder_weights=config.vgg_weights,
        width=2 * config.base_width,
        discriminator_width=config.base_width,
        seed=config.seed,
    )
    editor.compile(
        g_optimizer=keras.optimizers.Adam(config.g_learning_rate, beta_1=0.5, beta_2=0.999),
        d_optimizer=keras.optimizers.Adam(config.d_learning_rate, beta_1=0.5, beta_2=0.999),
        loss=config.loss,
        jit_compile=config.jit,
    )
    return editor


def _sample_pairs(data, config: TrainConfig, count: int = _SAMPLE_COUNT):
    """(source uint8 images, edit captions) shown in every epoch's sample grid."""
    if data.attributes is not None and getattr(data, "render_seeds", None) is not None:
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

    class EditSampleGrid(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            from tfcmgen.data import caption_grid

            edited = _to_uint8(self.model.edit(_to_float(images), token_ids, training=False))
            grid = np.stack([x for pair in zip(images, edited) for x in pair])
            labels = [label for caption in captions for label in ("source", caption)]
            os.makedirs(out_dir, exist_ok=True)
            caption_grid(grid, labels, os.path.join(out_dir, f"epoch_{epoch + 1:04d}.png"), cols=4)

    return EditSampleGrid()


def train_editor(config: TrainConfig, verbose: int | str = "auto", supervision: str | None = None):
    """Trains a TextImageEditor as `config` says and writes the run folder (see `tfcmgen.runs`).

    The run folder, resuming (from `RUN/backup`, mid-epoch too) and the time budget work as in
    `tfcmgen.training.train`; `samples/` holds each epoch's source / edit pairs.

    Args:
        config: TrainConfig with `task="edit"`.
        verbose: Keras `fit` verbosity. Defaults to "auto".
        supervision: `"paired"` (shapes only: adds the pixel loss to the rendered true targets),
            `"unpaired"` (the SISGAN objective only) or None: paired where the data can render
            targets, unpaired otherwise. Defaults to None.

    Returns:
        tfcmgen.training.TrainResult.
    """
    from tfcmgen.training import (
        TrainResult,
        _work_around_keras_distribution,
        load_training_data,
        prepare_text,
        save_model_atomic,
        start_run,
    )

    if config.task != "edit":
        raise ConfigError(f"train_editor trains task 'edit'; received task={config.task!r}")
    _check_loss(config)
    if supervision is not None and supervision not in SUPERVISIONS:
        shown = ", ".join(repr(s) for s in SUPERVISIONS)
        raise ConfigError(f"supervision must be one of {shown} or None; received {supervision!r}")
    started = time.monotonic()
    strategy, run, chief, resuming = start_run(config)
    import keras
    import tensorflow as tf

    from tfcmgen.backup import TrainingBackup
    from tfcmgen.callbacks import TimeBudget
    from tfcmgen.text import CaptionTokenizer

    train_data, _ = load_training_data(config)
    logger.info("training data: %s", train_data.summary())
    renderable = train_data.attributes is not None and train_data.render_seeds is not None
    if supervision is None:
        supervision = "paired" if renderable else "unpaired"
    if supervision == "paired" and not renderable:
        raise ConfigError(
            "supervision='paired' needs rendered data with true edit targets (data='shapes'); "
            f"{config.data!r} has none: use supervision='unpaired'"
        )
    captions = train_data.all_captions()
    if renderable:
        pairs = make_edit_pairs(train_data, config.image_size, held_out=config.held_out,
                                seed=config.seed)
        captions += pairs.edit_captions
    vocabulary, matrix = prepare_text(config, run, captions, resuming, write=chief)
    tokenizer = CaptionTokenizer(vocabulary.tokens, max_length=config.max_length)

    def training_dataset():
        if renderable:
            return edit_dataset(pairs, tokenizer, batch_size=config.batch_size,
                                paired=supervision == "paired", seed=config.seed)
        from tfcmgen.data import make_dataset

        # Unpaired: the mismatched captions serve as edit captions.
        return make_dataset(train_data, tokenizer, image_size=config.image_size,
                            batch_size=config.batch_size, shuffle=True, seed=config.seed,
                            deterministic=True, drop_remainder=True)

    def data_stream(dataset, first_step):
        """The endless batch stream from global step `first_step` on (see `training.train`)."""
        stream = dataset.repeat().skip(first_step)
        if config.resolved_strategy == "multiworker":
            options = tf.data.Options()
            options.experimental_distribute.auto_shard_policy = (
                tf.data.experimental.AutoShardPolicy.DATA
            )
            stream = stream.with_options(options)
        return stream

    dataset = training_dataset()
    steps_per_epoch = config.steps_per_epoch or int(dataset.cardinality())
    previous_policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(config.precision)
    try:
        with strategy.scope():
            editor = build_editor(config, len(vocabulary), matrix)
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)
    if config.resolved_strategy != "default":
        _work_around_keras_distribution(editor, config.resolved_strategy == "multiworker")

    backup = TrainingBackup(
        run.backup_dir, steps_per_epoch, every_steps=config.backup_every_steps, chief=chief
    )
    if backup.restore(editor):
        logger.warning("resuming %s from its backup at step %d", run.root, backup.step)
    budget = TimeBudget(minutes=config.minutes) if config.minutes else None
    callbacks = [backup] + ([budget] if budget is not None else [])
    if chief:
        images, edit_captions = _sample_pairs(train_data, config)
        token_ids = tokenizer(tf.constant(edit_captions))
        callbacks.append(_edit_sample_callback(images, token_ids, edit_captions, run.samples_dir))
        # Keras' TensorBoard callback writes scalars through the optional `tensorboard` package.
        if importlib.util.find_spec("tensorboard") is not None:
            callbacks.append(keras.callbacks.TensorBoard(run.logs_dir, write_graph=False))
    history = {}
    try:
        while backup.step < config.epochs * steps_per_epoch:
            first_step, epoch, done_in_epoch = backup.step, backup.epoch, backup.step_in_epoch
            fitted = editor.fit(
                data_stream(training_dataset() if dataset is None else dataset, first_step),
                initial_epoch=epoch,
                epochs=epoch + 1 if done_in_epoch else config.epochs,
                steps_per_epoch=steps_per_epoch - done_in_epoch,
                callbacks=callbacks,
                verbose=verbose,
                shuffle=False,
            )
            dataset = None
            for name, values in fitted.history.items():
                history.setdefault(name, []).extend(values)
            if (budget is not None and budget.stopped) or backup.step == first_step:
                break
            if budget is not None:
                budget.seconds -= budget.elapsed
    finally:
        backup.close()
    if chief:
        save_model_atomic(editor, run.model_path)
    return TrainResult(
        run=run,
        model=editor,
        history=history,
        seconds=time.monotonic() - started,
        stopped_by_budget=bool(budget is not None and budget.stopped),
    )


# ---------------------------------------------------------------------------------------------
# Editing with a trained model
# ---------------------------------------------------------------------------------------------


def _to_float(images):
    return np.asarray(images, np.float32) / 127.5 - 1.0


def _to_uint8(images):
    return np.clip(np.rint((np.asarray(images, np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def to_rgb_batch(images) -> np.ndarray:
    """uint8 images of any size as a batch of RGB images, uncropped: uint8 [N, H, W, 3].

    Accepts one image `[H, W]`, `[H, W, C]` or a batch `[N, H, W]`, `[N, H, W, C]` with C = 1
    (grey), 3 (RGB) or 4 (RGBA, composited over white as `read_image` does). NumPy only: the
    SavedModel helper sends the result to the graph, which crops and resizes it.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 RGB in [0, 255]; received dtype {images.dtype}")
    if images.ndim == 2 or (images.ndim == 3 and images.shape[-1] in (1, 3, 4)
                            and images.shape[-1] != images.shape[-2]):
        images = images[None]
    if images.ndim == 3:  # a batch of grey images [N, H, W]
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3, 4):
        raise ValueError(
            "images must be [H, W], [H, W, C] or [N, H, W, C] with C in (1, 3, 4); received "
            f"shape {images.shape}"
        )
    if images.shape[-1] == 1:
        images = np.repeat(images, 3, axis=-1)
    elif images.shape[-1] == 4:
        alpha = images[..., 3:].astype(np.float32) / 255.0
        blended = images[..., :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)
        images = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
    return images


def prepare_source_images(images, image_size: int) -> np.ndarray:
    """uint8 images of any size as the editor takes them: RGB, centre square, `image_size`.

    Accepts what `to_rgb_batch` accepts, resized like the data pipeline (`center_square`: area
    interpolation when shrinking, bicubic when enlarging). An edit SavedModel does the same in
    its graph (`tfcmgen.export.source_images`).

    Returns:
        uint8 [N, image_size, image_size, 3].
    """
    from tfcmgen.data.image_ops import center_square

    images = to_rgb_batch(images)
    if not len(images):
        return np.zeros((0, image_size, image_size, 3), np.uint8)
    return np.stack([center_square(image, image_size) for image in images])


def check_edit_model(generator) -> None:
    """Raises ValueError unless `generator` (a loaded run or export) holds an edit model."""
    if generator.task != "edit":
        where = getattr(generator, "source", None) or getattr(generator, "path", "")
        raise ValueError(
            f"the model at {where!r} was trained for task {generator.task!r}; editing an image "
            "needs an edit model (train one with `tfcmgen train --task edit`)"
        )


def pair_captions(images: np.ndarray, captions: list[str]):
    """Pairs images with captions: equal counts, or one image for many captions, or the reverse."""
    n, m = len(images), len(captions)
    if n == m:
        return images, captions
    if n == 1:
        return np.repeat(images, m, axis=0), captions
    if m == 1:
        return images, captions * n
    raise ValueError(
        f"give one caption per image, one image for all captions, or one caption for all images; "
        f"received {n} images and {m} captions"
    )


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
    from tfcmgen.generation import load_generator
    from tfcmgen.runs import RunFolder

    del seed  # deterministic editor; see the docstring
    import tfcmgen.models.text_image_editor  # noqa: F401  (registers the class for loading)

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
        generator: the loaded run or SavedModel export (`tfcmgen.generation.load_generator`) of
            an edit model.
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
