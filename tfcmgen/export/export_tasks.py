"""What each model task exports: its SavedModel signatures and the function converted to ONNX.

`EXPORT_TASKS` maps a model's `task` (`"text2image"`; models without the attribute are text2image)
to an `ExportTask`. The exporters only read this registry, so a new kind of model adds an entry
here (the edit model: an `edit` signature taking uint8 images and captions, and its ONNX function)
instead of a branch in every exporter.

Example:

>>> task = EXPORT_TASKS[model_task(gan)]  # doctest: +SKIP
>>> functions = task.signatures(gan, tokenizer)  # name -> tf.function
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import tensorflow as tf

from tfcmgen.export.export_metadata import ExportError

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
    """

    signatures: Callable
    onnx_function: Callable


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


def _uint8_images(model, token_ids, noise):
    size = model.image_size

    def draw():
        images = model({"token_ids": token_ids, "noise": noise}, training=False)
        return images_to_uint8(tf.cast(images, tf.float32))

    # TF's Conv2D returns its input unchanged for an empty batch (measured, TF 2.21 on CPU), so
    # the generator fails on [0, ...]: an empty request gets an empty answer without running it.
    return tf.cond(
        tf.shape(token_ids)[0] > 0, draw, lambda: tf.zeros([0, size, size, 3], tf.uint8)
    )


def _text_to_image_signatures(model, tokenizer) -> dict:
    max_length, noise_dim = model.max_length, model.noise_dim

    @tf.function(
        input_signature=[
            tf.TensorSpec([None], tf.string, name="captions"),
            tf.TensorSpec([], tf.int64, name="seed"),
        ]
    )
    def serving_default(captions, seed=tf.constant(0, tf.int64)):
        token_ids = tokenizer(captions)
        # The noise of CrossModalGAN.generate(token_ids, seed), so the same seed gives the same
        # images in Keras, here and (through philox_noise) in the ONNX runtime helper.
        noise = tf.random.stateless_normal(
            [tf.shape(token_ids)[0], noise_dim],
            seed=tf.stack([seed, tf.constant(0, tf.int64)]),
            dtype=tf.float32,
        )
        return {"images": _uint8_images(model, token_ids, noise)}

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, max_length], tf.int32, name="token_ids"),
            tf.TensorSpec([None, noise_dim], tf.float32, name="noise"),
        ]
    )
    def generate_from_tokens(token_ids, noise):
        tf.debugging.assert_equal(
            tf.shape(token_ids)[0],
            tf.shape(noise)[0],
            message="token_ids and noise must have the same batch size",
        )
        return {"images": _uint8_images(model, token_ids, noise)}

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


# task -> how to export it. The edit model adds "edit" here (its `edit` signature: uint8 images +
# captions -> uint8 images; its ONNX function: float images + token ids -> images).
EXPORT_TASKS = {
    "text2image": ExportTask(
        signatures=_text_to_image_signatures,
        onnx_function=_text_to_image_onnx_function,
    ),
}
