"""A GAN with the "transformer" text pooling exports: SavedModel and ONNX give Keras's images."""

import os

import numpy as np
import onnxruntime
import pytest
import tensorflow as tf

from tests.tiny_runs import MAX_LENGTH, NOISE_DIM, export_all, save_tiny_gan_run


@pytest.fixture(scope="module")
def transformer_run(tmp_path_factory):
    return save_tiny_gan_run(tmp_path_factory.mktemp("transformer-run"),
                             extra_captions=["a blue circle left of a red square"],
                             text_pooling="transformer")


@pytest.fixture(scope="module")
def transformer_export(transformer_run, tmp_path_factory):
    return export_all(transformer_run.path, tmp_path_factory, "transformer")


def test_onnxruntime_and_savedmodel_match_keras(transformer_run, transformer_export):
    from tfcmgen.export import OnnxGenerator, load_savedmodel
    from tfcmgen.generation import to_uint8

    session = onnxruntime.InferenceSession(
        os.path.join(transformer_export.out, "onnx", "generator.onnx"),
        providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    ids = rng.integers(0, len(transformer_run.vocabulary), (5, MAX_LENGTH)).astype("int32")
    ids[0, 3:] = 0  # padding, as short captions have
    noise = rng.normal(size=(5, NOISE_DIM)).astype("float32")
    expected = np.asarray(transformer_run.model({"token_ids": ids, "noise": noise},
                                                training=False))
    actual = session.run(["images"], {"token_ids": ids, "noise": noise})[0]
    assert np.abs(actual - expected).max() <= 1e-4
    assert expected.std() > 1e-3

    captions = ["a red circle", "a blue circle left of a red square"]
    keras_images = to_uint8(transformer_run.model.generate(
        transformer_run.tokenizer(tf.constant(captions)), seed=2))
    saved = load_savedmodel(transformer_export.out).generate(captions, seed=2)
    onnx_images = OnnxGenerator(transformer_export.out).generate(captions, seed=2)
    assert np.abs(saved.astype(int) - keras_images).max() <= 1
    assert np.abs(onnx_images.astype(int) - keras_images).max() <= 1
