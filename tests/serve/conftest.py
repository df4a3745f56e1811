"""Shared fixtures of the serve tests: tiny untrained runs, their exports, and test clients.

The models are `tests/tiny_runs.py`'s untrained tiny GAN and editor: serving only has to
reproduce what the export computes, which a fixed function of the weights shows as well as a
trained model.
"""

from __future__ import annotations

import os

import pytest

from tests.tiny_runs import export_all, run_python, save_tiny_edit_run, save_tiny_gan_run


@pytest.fixture(scope="session")
def serve_run(tmp_path_factory):
    """A finished run folder of an untrained tiny text-to-image GAN."""
    return save_tiny_gan_run(tmp_path_factory.mktemp("serve-run")).path


@pytest.fixture(scope="session")
def serve_edit_run(tmp_path_factory):
    """A finished run folder of an untrained tiny editor, its zero-initialised weights made
    random so that the edits depend on image and caption."""
    return save_tiny_edit_run(tmp_path_factory.mktemp("serve-edit-run")).path


@pytest.fixture(scope="session")
def serve_export(serve_run, tmp_path_factory):
    """`tfcmgen export --format all` of the tiny GAN (folder named "tiny")."""
    return export_all(serve_run, tmp_path_factory, "tiny").out


@pytest.fixture(scope="session")
def serve_edit_export(serve_edit_run, tmp_path_factory):
    return export_all(serve_edit_run, tmp_path_factory, "tinyedit").out


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
