"""Shared fixtures of the serve tests: tiny untrained runs, their exports, and test clients.

The models are untrained (32x32, widths of 4-8): serving only has to reproduce what the export
computes, which a fixed function of the weights shows as well as a trained model.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

CAPTIONS = ("a red circle", "a small blue square on the left", "A GREEN triangle, top right!")
MAX_LENGTH = 6
NOISE_DIM = 8
IMAGE_SIZE = 32
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_python(args, timeout=180, check=True, env=None, **kwargs):
    """This interpreter in a fresh process with the repository importable."""
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [REPO_ROOT, env.get("PYTHONPATH")]))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    result = subprocess.run([sys.executable, *args], capture_output=True, text=True,
                            timeout=timeout, env=env, cwd=REPO_ROOT, **kwargs)
    if check:
        assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


def _save_run(root, config, vocabulary, model):
    config.save(str(root / "config.json"))
    vocabulary.save(str(root / "vocab.txt"))
    model.save(str(root / "model.keras"))
    return str(root)


@pytest.fixture(scope="session")
def serve_run(tmp_path_factory):
    """A finished run folder of an untrained tiny text-to-image GAN."""
    from tfcmgen.config import TrainConfig
    from tfcmgen.models import CrossModalGAN
    from tfcmgen.text import Vocabulary

    root = tmp_path_factory.mktemp("serve-run")
    vocabulary = Vocabulary.build(list(CAPTIONS) + ["a yellow star at the bottom"])
    config = TrainConfig(out=str(root), image_size=IMAGE_SIZE, max_length=MAX_LENGTH,
                         noise_dim=NOISE_DIM, base_width=4, embedding_dim=8)
    model = CrossModalGAN(
        vocabulary_size=len(vocabulary), max_length=MAX_LENGTH, image_size=IMAGE_SIZE,
        embedding_dim=8, condition_dim=8, noise_dim=NOISE_DIM, generator_width=4,
        discriminator_width=4,
    )
    model.generate(np.ones((1, MAX_LENGTH), "int32"), seed=0)
    return _save_run(root, config, vocabulary, model)


@pytest.fixture(scope="session")
def serve_edit_run(tmp_path_factory):
    """A finished run folder of an untrained tiny editor, its zero-initialised weights made
    random so that the edits depend on image and caption."""
    from tfcmgen.config import TrainConfig
    from tfcmgen.models import TextImageEditor
    from tfcmgen.text import Vocabulary

    root = tmp_path_factory.mktemp("serve-edit-run")
    vocabulary = Vocabulary.build(list(CAPTIONS) + ["a yellow star at the bottom"])
    config = TrainConfig(task="edit", out=str(root), image_size=IMAGE_SIZE,
                         max_length=MAX_LENGTH, base_width=4, embedding_dim=8)
    model = TextImageEditor(vocabulary_size=len(vocabulary), max_length=MAX_LENGTH,
                            image_size=IMAGE_SIZE, embedding_dim=8, width=8, num_blocks=1,
                            discriminator_width=4)
    rng = np.random.default_rng(0)
    for variable in model.generator_variables:
        if not np.any(variable.numpy()):
            variable.assign(rng.normal(0.0, 0.1, variable.shape).astype("float32"))
    return _save_run(root, config, vocabulary, model)


def _export(run, tmp_path_factory, name):
    from tfcmgen.config import ExportConfig
    from tfcmgen.export import export_run

    out = str(tmp_path_factory.mktemp("serve-exports") / name)
    export_run(ExportConfig(model=run, out=out, format="all"))
    return out


@pytest.fixture(scope="session")
def serve_export(serve_run, tmp_path_factory):
    """`tfcmgen export --format all` of the tiny GAN (folder named "tiny")."""
    return _export(serve_run, tmp_path_factory, "tiny")


@pytest.fixture(scope="session")
def serve_edit_export(serve_edit_run, tmp_path_factory):
    return _export(serve_edit_run, tmp_path_factory, "tinyedit")


def savedmodel_folder(export):
    """The folder holding saved_model.pb in an export (either layout)."""
    for root, _, files in sorted(os.walk(export)):
        if "saved_model.pb" in files:
            return root
    raise AssertionError(f"no saved_model.pb under {export}")


@pytest.fixture(scope="session")
def apps(serve_export, serve_edit_export):
    """{(task, backend): ServingApp} built once per session (small batch timeout)."""
    from tfcmgen.serve import BatchingParameters, ServeConfig, build_app

    built, sources = {}, []
    for task, export in (("text2image", serve_export), ("edit", serve_edit_export)):
        for backend in ("savedmodel", "onnx"):
            serving, source = build_app(ServeConfig(
                model=export, backend=backend,
                batching=BatchingParameters(batch_timeout_micros=2000)))
            built[task, backend] = serving
            sources.append(source)
    yield built
    for source in sources:
        source.cleanup()


@pytest.fixture(params=["savedmodel", "onnx"])
def client(request, apps):
    """A TestClient of the text-to-image app, for each backend."""
    from starlette.testclient import TestClient

    with TestClient(apps["text2image", request.param].app) as test_client:
        test_client.backend = request.param
        yield test_client


@pytest.fixture(params=["savedmodel", "onnx"])
def edit_client(request, apps):
    from starlette.testclient import TestClient

    with TestClient(apps["edit", request.param].app) as test_client:
        test_client.backend = request.param
        yield test_client


@pytest.fixture(scope="session")
def reference(serve_export):
    """SavedModelGenerator of the tiny export: what `serving_default` gives, to compare with."""
    from tfcmgen.export import load_savedmodel

    return load_savedmodel(serve_export)




@pytest.fixture(scope="session")
def python_process():
    """`python_process(args, check=True)`: this interpreter in a fresh process."""
    return run_python


@pytest.fixture(scope="session")
def find_savedmodel():
    return savedmodel_folder
