"""Shared fixtures of the export tests: tiny run folders and one export of each per session.

The runs are `tests/tiny_runs.py`'s untrained tiny GAN and editor: their outputs are a fixed
function of their weights, so every format must reproduce them.
"""

from __future__ import annotations

import functools
import os
import sys

import pytest

from tests.tiny_runs import export_all, save_tiny_edit_run, save_tiny_gan_run
from tests.tiny_runs import run_python as _run_python


@pytest.fixture(scope="session")
def run_python():
    """`run_python(args)`: this interpreter in a fresh process; asserts exit 0, returns result."""
    return functools.partial(_run_python, timeout=120)


@pytest.fixture(scope="session")
def saved_model_cli():
    """`saved_model_cli(folder)`: what `saved_model_cli show --dir folder --all` prints."""
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    assert os.path.isfile(cli), f"saved_model_cli not found beside {sys.executable}"
    return lambda folder: _run_python([cli, "show", "--dir", folder, "--all"], timeout=120).stdout


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A finished run folder (config.json, vocab.txt, model.keras) of an untrained tiny GAN."""
    return save_tiny_gan_run(tmp_path_factory.mktemp("run"))


@pytest.fixture(scope="session")
def tiny_edit_run(tmp_path_factory):
    """A finished run folder of an untrained tiny TextImageEditor (task "edit"), its
    zero-initialised weights made random (`save_tiny_edit_run`)."""
    return save_tiny_edit_run(tmp_path_factory.mktemp("edit-run"))


@pytest.fixture(scope="session")
def keras_images(tiny_run):
    """uint8 images of the in-process Keras model: keras_images(captions, seed)."""
    import tensorflow as tf

    from tfcmgen.generation import to_uint8

    def generate(captions, seed):
        ids = tiny_run.tokenizer(tf.constant(list(captions), tf.string))
        return to_uint8(tiny_run.model.generate(ids, seed=seed))

    return generate


@pytest.fixture(scope="session")
def exported(tiny_run, tmp_path_factory):
    """`tfcmgen export --format all` of the tiny run: the folder and the paths written."""
    return export_all(tiny_run.path, tmp_path_factory, "tiny")


@pytest.fixture(scope="session")
def edit_exported(tiny_edit_run, tmp_path_factory):
    """`tfcmgen export --format all` of the tiny edit run: the folder and the paths written."""
    return export_all(tiny_edit_run.path, tmp_path_factory, "tiny_edit")


@pytest.fixture(scope="session")
def savedmodel(exported):
    from tfcmgen.export import load_savedmodel

    return load_savedmodel(exported.out)
