"""What each model task exports: its SavedModel signatures and the function converted to ONNX.

`EXPORT_TASKS` maps a model's `task` (`"text2image"`, `"edit"`; models without the attribute are
text2image) to an `ExportTask`. The exporters only read this registry, so a new kind of model adds
an entry here instead of a branch in every exporter.

- `"text2image"` (CrossModalGAN): `serving_default` (captions + optional seed -> images) and
  `generate_from_tokens` (token ids + noise); ONNX: token ids + noise -> images.
- `"edit"` (TextImageEditor): `edit` = `serving_default` (uint8 images of any size + captions ->
  edited images; the images are cropped and resized in the graph as
  `tfcmgen.editing.prepare_source_images` does, see `source_images`) and `edit_from_tokens`
  (float images in [-1, 1] at the model's size + token ids); ONNX: `source_images` (float, as
  for `edit_from_tokens`) + token ids -> images.

Example:

>>> task = EXPORT_TASKS[model_task(gan)]  # doctest: +SKIP
>>> functions = task.signatures(gan, tokenizer)  # name -> tf.function
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import tensorflow as tf

from tfcmgen.export.export_metadata import ExportError
from tfcmgen.export.source_images import center_square

DEFAULT_TASK = "text2image"


@dataclasses.dataclass(frozen=True)
class ExportTask:
    """How to export one kind of model.

    Args:
        signatures: callable `(model, tokenizer) -> dict` from signature name to a `tf.function`
            with an `input_signature` returning `{"images": uint8 [B, H, W, 3]}`. One of them
            must be `"serving_default"`. Python defaults that are tensors become the
            SignatureDef's default inputs (TF Serving fills in inputs a request leaves out).
        onnx_function: callable `(model) -> tf.function` with an `input_signature` of numeric
            tensors only (string ops do not convert to ONNX), returning `{"images": float32 in
            [-1, 1]}`. The ONNX model's inputs and outputs are named after its arguments and keys.
        onnx_notes: dict. Written into the ONNX export's `tokenizer.json`: for each ONNX input
            the tokenizer does not make, how a caller makes it. Defaults to {}.
    """

    signatures: Callable
    onnx_function: Callable
    onnx_notes: dict = dataclasses.field(default_factory=dict)


def model_task(model) -> str:
    """The export task of `model`; raises ExportError when no export is defined for it."""
    task = getattr(model, "task", DEFAULT_TASK)
    if task not in EXPORT_TASKS:
        known = ", ".join(repr(name) for name in sorted(EXPORT_TASKS))
        raise ExportError(
            f"no export is defined for models of task {task!r} ({type(model).__name__}); "
            f"tasks with an export: {known}"
        )
    return task


def images_to_uint8(images):
    """float images in [-1, 1] -> uint8 [0, 255] as `tfcmgen.generation.to_uint8` (half to even)."""
    return tf.cast(tf.clip_by_value(tf.round((images + 1.0) * 127.5), 0.0, 255.0), tf.uint8)


def _uint8_images(model, batch_size, inputs):
    """uint8 images of `model(inputs())`; `inputs` is only called (traced) for a non-empty batch."""
    size = model.image_size

    def draw():
        images = model(inputs(), training=False)
        return images_to_uint8(tf.cast(images, tf.float32))

    # TF's Conv2D returns its input unchanged for an empty batch (measured, TF 2.21 on CPU), so
    # the generator fails on [0, ...]: an empty request gets an empty answer without running it.
    return tf.cond(batch_size > 0, draw, lambda: tf.zeros([0, size, size, 3], tf.uint8))


def _assert_same_batch(first, second, message):
    tf.debugging.assert_equal(tf.shape(first)[0], tf.shape(second)[0], message=message)


def _checked_token_ids(model, token_ids):
    """`token_ids` after an InvalidArgument check that every id is in [0, vocabulary_size).

    An embedding lookup would otherwise draw something for -1 (negative ids wrap on CPU) or read
    out of range: the error names the input, as TF Serving passes it on to the client.
    """
    size = int(model.vocabulary_size)
    checks = [
        tf.debugging.assert_non_negative(token_ids, message="token_ids must be >= 0"),
        tf.debugging.assert_less(
            token_ids, tf.constant(size, token_ids.dtype),
            message=f"token_ids must be < vocabulary_size={size}",
        ),
    ]
    with tf.control_dependencies(checks):
        return tf.identity(token_ids)


def _checked_seed(seed):
    """`seed` after an InvalidArgument check that it is >= 0 (as every tfcmgen API requires)."""
    with tf.control_dependencies(
        [tf.debugging.assert_non_negative(seed, message="seed must be >= 0")]
    ):
        return tf.identity(seed)


def _text_to_image_signatures(model, tokenizer) -> dict:
    max_length, noise_dim = model.max_length, model.noise_dim

    def drawn(token_ids, noise):
        inputs = {"token_ids": token_ids, "noise": noise}
        return {"images": _uint8_images(model, tf.shape(token_ids)[0], lambda: inputs)}

    @tf.function(
        input_signature=[
            tf.TensorSpec([None], tf.string, name="captions"),
            tf.TensorSpec([], tf.int64, name="seed"),
        ]
    )
    def serving_default(captions, seed=tf.constant(0, tf.int64)):
        seed = _checked_seed(seed)
        token_ids = tokenizer(captions)
        # The noise of CrossModalGAN.generate(token_ids, seed), so the same seed gives the same
        # images in Keras, here and (through philox_noise) in the ONNX runtime helper.
        noise = tf.random.stateless_normal(
            [tf.shape(token_ids)[0], noise_dim],
            seed=tf.stack([seed, tf.constant(0, tf.int64)]),
            dtype=tf.float32,
        )
        return drawn(token_ids, noise)

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, max_length], tf.int32, name="token_ids"),
            tf.TensorSpec([None, noise_dim], tf.float32, name="noise"),
        ]
    )
    def generate_from_tokens(token_ids, noise):
        _assert_same_batch(token_ids, noise, "token_ids and noise must have the same batch size")
        return drawn(_checked_token_ids(model, token_ids), noise)

    return {"serving_default": serving_default, "generate_from_tokens": generate_from_tokens}


def _text_to_image_onnx_function(model):
    @tf.function(
        input_signature=[
            tf.TensorSpec([None, model.max_length], tf.int32, name="token_ids"),
            tf.TensorSpec([None, model.noise_dim], tf.float32, name="noise"),
        ]
    )
    def generator(token_ids, noise):
        images = model({"token_ids": token_ids, "noise": noise}, training=False)
        return {"images": tf.cast(images, tf.float32)}

    return generator


def _edit_signatures(model, tokenizer) -> dict:
    size, max_length = model.image_size, model.max_length

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, None, None, 3], tf.uint8, name="images"),
            tf.TensorSpec([None], tf.string, name="captions"),
        ]
    )
    def edit(images, captions):
        _assert_same_batch(images, captions, "images and captions must have the same batch size")

        def inputs():
            # The float image of `prepare_source_images` (uint8) / 127.5 - 1, as in editing.py.
            sources = tf.cast(center_square(images, size), tf.float32) / 127.5 - 1.0
            return {"image": sources, "token_ids": tokenizer(captions)}

        return {"images": _uint8_images(model, tf.shape(captions)[0], inputs)}

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, size, size, 3], tf.float32, name="images"),
            tf.TensorSpec([None, max_length], tf.int32, name="token_ids"),
        ]
    )
    def edit_from_tokens(images, token_ids):
        _assert_same_batch(images, token_ids, "images and token_ids must have the same batch size")
        inputs = {"image": images, "token_ids": _checked_token_ids(model, token_ids)}
        return {"images": _uint8_images(model, tf.shape(token_ids)[0], lambda: inputs)}

    return {"serving_default": edit, "edit": edit, "edit_from_tokens": edit_from_tokens}


def _edit_onnx_function(model):
    size = model.image_size

    # The input is not called "images" as in the SavedModel: an ONNX graph names each value once,
    # so an input and the output "images" cannot share the name (tf2onnx fails with "graph input
    # 'images' not exist").
    @tf.function(
        input_signature=[
            tf.TensorSpec([None, size, size, 3], tf.float32, name="source_images"),
            tf.TensorSpec([None, model.max_length], tf.int32, name="token_ids"),
        ]
    )
    def editor(source_images, token_ids):
        edited = model({"image": source_images, "token_ids": token_ids}, training=False)
        return {"images": tf.cast(edited, tf.float32)}

    return editor


# task -> how to export it.
EXPORT_TASKS = {
    "text2image": ExportTask(
        signatures=_text_to_image_signatures,
        onnx_function=_text_to_image_onnx_function,
        onnx_notes={
            "noise": (
                "float32 [batch, noise_dim]; tf.random.stateless_normal([batch, noise_dim], "
                "seed=[seed, 0]) reproduces the SavedModel (tfcmgen.export.philox_noise)"
            ),
        },
    ),
    "edit": ExportTask(
        signatures=_edit_signatures,
        onnx_function=_edit_onnx_function,
        onnx_notes={
            "source_images": (
                "float32 [batch, image_size, image_size, 3] in [-1, 1]: RGB source images "
                "cropped to the centre square and resized (area when shrinking, bicubic when "
                "enlarging) by tfcmgen.editing.prepare_source_images, then uint8 / 127.5 - 1"
            ),
        },
    ),
}
