"""Shared fixtures of the export tests: tiny run folders and one export of each per session.

The runs are untrained (a GAN and an editor at 32x32 with widths of 4-8), which is all the export
needs: their outputs are a fixed function of their weights, so every format must reproduce them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import types

import numpy as np
import pytest

CAPTIONS = (
    "a red circle",
    "a small blue square on the left",
    "A GREEN triangle, top right!",
)
MAX_LENGTH = 6
NOISE_DIM = 8
IMAGE_SIZE = 32
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run_python(args, timeout=120, **kwargs):
    """Runs this interpreter in a fresh process, the repository importable; returns the result."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [REPO_ROOT, env.get("PYTHONPATH")]))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    result = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=timeout, env=env,
        cwd=REPO_ROOT, **kwargs,
    )
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="session")
def run_python():
    """`run_python(args)`: this interpreter in a fresh process; asserts exit 0, returns result."""
    return _run_python


@pytest.fixture(scope="session")
def saved_model_cli():
    """`saved_model_cli(folder)`: what `saved_model_cli show --dir folder --all` prints."""
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    assert os.path.isfile(cli), f"saved_model_cli not found beside {sys.executable}"
    return lambda folder: _run_python([cli, "show", "--dir", folder, "--all"]).stdout


def _save_run(root, config, vocabulary, model) -> types.SimpleNamespace:
    """Writes a finished run folder (config.json, vocab.txt, model.keras); returns its facts."""
    from tfcmgen.text import CaptionTokenizer

    config.save(str(root / "config.json"))
    vocabulary.save(str(root / "vocab.txt"))
    model.save(str(root / "model.keras"))
    return types.SimpleNamespace(
        path=str(root), model=model, vocabulary=vocabulary,
        tokenizer=CaptionTokenizer(vocabulary, max_length=MAX_LENGTH), captions=CAPTIONS,
        max_length=MAX_LENGTH, noise_dim=NOISE_DIM, image_size=IMAGE_SIZE,
    )


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A finished run folder (config.json, vocab.txt, model.keras) of an untrained tiny GAN."""
    from tfcmgen.config import TrainConfig
    from tfcmgen.models import CrossModalGAN
    from tfcmgen.text import Vocabulary

    root = tmp_path_factory.mktemp("run")
    vocabulary = Vocabulary.build(list(CAPTIONS) + ["a yellow star at the bottom"])
    config = TrainConfig(
        out=str(root), image_size=IMAGE_SIZE, max_length=MAX_LENGTH, noise_dim=NOISE_DIM,
        base_width=4, embedding_dim=8,
    )
    model = CrossModalGAN(
        vocabulary_size=len(vocabulary), max_length=MAX_LENGTH, image_size=IMAGE_SIZE,
        embedding_dim=8, condition_dim=8, noise_dim=NOISE_DIM, generator_width=4,
        discriminator_width=4,
    )
    model.generate(np.ones((1, MAX_LENGTH), "int32"), seed=0)
    return _save_run(root, config, vocabulary, model)


@pytest.fixture(scope="session")
def tiny_edit_run(tmp_path_factory):
    """A finished run folder of an untrained tiny TextImageEditor (task "edit").

    An untrained editor returns its source exactly (its output head starts at zero) and ignores
    the caption (FiLM starts at the identity), which every export would reproduce whatever it got
    wrong: the zero-initialised weights get small random values, so the edits depend on the whole
    network, image and caption.
    """
    from tfcmgen.config import TrainConfig
    from tfcmgen.models import TextImageEditor
    from tfcmgen.text import Vocabulary

    root = tmp_path_factory.mktemp("edit-run")
    vocabulary = Vocabulary.build(list(CAPTIONS) + ["a yellow star at the bottom"])
    config = TrainConfig(
        task="edit", out=str(root), image_size=IMAGE_SIZE, max_length=MAX_LENGTH, base_width=4,
        embedding_dim=8, text_pooling="mean",
    )
    # Seeded: unseeded initializers draw from Keras' global seed state, which depends on what
    # other tests ran first in this process (the edit-size check below failed in one suite order).
    import keras

    keras.utils.set_random_seed(0)
    model = TextImageEditor(
        vocabulary_size=len(vocabulary), max_length=MAX_LENGTH, image_size=IMAGE_SIZE,
        embedding_dim=8, width=8, num_blocks=1, discriminator_width=4,
        # Mean pooling: the edits' size checks below were set on it (with the transformer pooling
        # the random, untrained editor changes fewer pixels); the transformer's export parity is
        # tests/export/test_transformer_export.py.
        text_pooling="mean",
    )
    rng = np.random.default_rng(0)
    for variable in model.generator_variables:
        if not np.any(variable.numpy()):  # output head, FiLM projections, biases
            variable.assign(rng.normal(0.0, 0.1, variable.shape).astype("float32"))
    return _save_run(root, config, vocabulary, model)


@pytest.fixture(scope="session")
def keras_images(tiny_run):
    """uint8 images of the in-process Keras model: keras_images(captions, seed)."""
    import tensorflow as tf

    from tfcmgen.generation import to_uint8

    def generate(captions, seed):
        ids = tiny_run.tokenizer(tf.constant(list(captions), tf.string))
        return to_uint8(tiny_run.model.generate(ids, seed=seed))

    return generate


def _export_all(run, tmp_path_factory, name) -> types.SimpleNamespace:
    from tfcmgen.config import ExportConfig
    from tfcmgen.export import export_run

    out = str(tmp_path_factory.mktemp("exports") / name)
    written = export_run(ExportConfig(model=run.path, out=out, format="all"))
    return types.SimpleNamespace(out=out, written=written)


@pytest.fixture(scope="session")
def exported(tiny_run, tmp_path_factory):
    """`tfcmgen export --format all` of the tiny run: the folder and the paths written."""
    return _export_all(tiny_run, tmp_path_factory, "tiny")


@pytest.fixture(scope="session")
def edit_exported(tiny_edit_run, tmp_path_factory):
    """`tfcmgen export --format all` of the tiny edit run: the folder and the paths written."""
    return _export_all(tiny_edit_run, tmp_path_factory, "tiny_edit")


@pytest.fixture(scope="session")
def savedmodel(exported):
    from tfcmgen.export import load_savedmodel

    return load_savedmodel(exported.out)
