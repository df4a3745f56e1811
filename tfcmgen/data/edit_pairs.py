"""Edit pairs: source images, an edit caption each, and (rendered shapes only) the true target.

An edit pair is a source image, its own caption, an *edit caption* describing the image with one
attribute changed ("a small blue circle in the top left" for a small red circle there), and, for
the rendered shapes only, the true edited image: `render_shape` with the same render seed draws it
exactly. That true target allows *paired* supervision (a pixel loss to it), which exists only for
synthetic data; folder datasets train unpaired (see `tfcmgen.tasks.edit`).

Example:

>>> from tfcmgen.data.edit_pairs import render_edit_pairs
>>> pairs = render_edit_pairs(num_images=4, image_size=32, seed=1)
>>> len(pairs), pairs.target_images.shape
(4, (4, 32, 32, 3))
"""

from __future__ import annotations

import dataclasses

import numpy as np

# Attributes an edit changes by default: the ones a caption-driven recolouring / reshaping can do
# in place. "size" and "position" work too (pass them) but move pixels and are harder to learn.
EDIT_ATTRIBUTES = ("colour", "shape")


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
