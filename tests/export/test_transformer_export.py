"""A GAN with the "transformer" text pooling exports: SavedModel and ONNX give Keras's images."""

import os

import numpy as np
import onnxruntime
import pytest
import tensorflow as tf

from tests.export.conftest import (
    CAPTIONS,
    IMAGE_SIZE,
    MAX_LENGTH,
    NOISE_DIM,
    _export_all,
    _save_run,
)


@pytest.fixture(scope="module")
def transformer_run(tmp_path_factory):
    from tfcmgen.config import TrainConfig
    from tfcmgen.models import CrossModalGAN
    from tfcmgen.text import Vocabulary

    root = tmp_path_factory.mktemp("transformer-run")
    vocabulary = Vocabulary.build(list(CAPTIONS) + ["a blue circle left of a red square"])
    config = TrainConfig(out=str(root), image_size=IMAGE_SIZE, max_length=MAX_LENGTH,
                         noise_dim=NOISE_DIM, base_width=4, embedding_dim=8,
                         text_pooling="transformer")
    model = CrossModalGAN(
        vocabulary_size=len(vocabulary), max_length=MAX_LENGTH, image_size=IMAGE_SIZE,
        embedding_dim=8, condition_dim=8, noise_dim=NOISE_DIM, generator_width=4,
        discriminator_width=4, text_pooling="transformer",
    )
    return _save_run(root, config, vocabulary, model)


@pytest.fixture(scope="module")
def transformer_export(transformer_run, tmp_path_factory):
    return _export_all(transformer_run, tmp_path_factory, "transformer")


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
