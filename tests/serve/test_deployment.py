"""What `tfcmgen serve --model` accepts, the ONNX backend without TensorFlow, and the export
running in TensorFlow's own `saved_model_cli` without tensorflow-text (issue 15, item 6)."""

import json
import os
import shutil
import sys

import numpy as np
import pytest

from tfcmgen.export import ExportError
from tfcmgen.serve.model_source import default_model_name, find_model

# Serves the ONNX export in a process where `import tensorflow` (and tensorflow_text, keras) fail.
_NO_TENSORFLOW = r"""
import importlib.abc, json, sys

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "tensorflow_text", "keras", "tf2onnx"):
            raise ImportError(f"{name} is blocked in this test")
        return None

sys.meta_path.insert(0, Block())
from starlette.testclient import TestClient
from tfcmgen.serve import ServeConfig, build_app

serving, source = build_app(ServeConfig(model=sys.argv[1], backend="onnx"))
with TestClient(serving.app) as client:
    response = client.post("/v1/models/tiny:predict",
                           json={"inputs": {"captions": ["a red circle"], "seed": 5}})
    status = client.get("/v1/models/tiny/metadata").status_code
print(json.dumps({"code": response.status_code, "images": response.json().get("outputs"),
                  "metadata": status,
                  "tf": sorted(m for m in sys.modules if m.split(".")[0] == "tensorflow")}))
"""


def test_onnx_backend_serves_without_tensorflow(serve_export, reference, python_process):
    result = python_process(["-c", _NO_TENSORFLOW, serve_export])
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["code"] == 200 and report["metadata"] == 200
    assert report["tf"] == []
    images = np.array(report["images"], np.uint8)
    expected = reference.generate(["a red circle"], seed=5)
    assert np.abs(images.astype(int) - expected.astype(int)).max() <= 1


def test_saved_model_cli_runs_the_export_without_tensorflow_text(serve_export, find_savedmodel,
                                                                   python_process, tmp_path):
    """TensorFlow's own tool, in a fresh process that never imports tensorflow_text."""
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    assert os.path.isfile(cli)
    # saved_model_cli is a console script; run it with a finder that blocks tensorflow_text.
    blocker = tmp_path / "sitecustomize.py"
    blocker.write_text(
        "import importlib.abc, sys\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'tensorflow_text':\n"
        "            raise ImportError('tensorflow_text is blocked in this test')\n"
        "sys.meta_path.insert(0, Block())\n"
    )
    out = tmp_path / "out"
    env_path = os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))
    result = python_process(
        [cli, "run", "--dir", find_savedmodel(serve_export), "--tag_set", "serve",
         "--signature_def", "serving_default", "--input_exprs", 'captions=["a red circle"]',
         "--outdir", str(out)],
        env={**os.environ, "PYTHONPATH": env_path, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert "CaseFoldUTF8" not in result.stderr
    images = np.load(out / "images.npy")
    assert images.shape == (1, 32, 32, 3) and images.dtype == np.uint8


def test_export_layouts_and_run_folder(serve_export, serve_run, tmp_path):
    # The export as written (new layout: numbered version folders, or the older saved_model/).
    source = find_model(serve_export, "savedmodel")
    assert source.name == "tiny" and os.path.isfile(os.path.join(source.folder, "saved_model.pb"))
    assert find_model(serve_export, "onnx").name == "tiny"
    # The other layout, built from the same files.
    other = tmp_path / "other"
    other.mkdir()
    folder = source.folder
    if os.path.basename(folder).isdigit():  # new layout -> old: OUT/saved_model/
        shutil.copytree(folder, other / "saved_model")
        metadata = json.loads(open(os.path.join(folder, "tfcmgen_export.json")).read())
        metadata.pop("manifest", None)
        metadata["files"] = {"savedmodel": "saved_model"}
        metadata["format_version"] = 1
        (other / "tfcmgen_export.json").write_text(json.dumps(metadata))
        shutil.copy(os.path.join(folder, "vocab.txt"), other / "vocab.txt")
        expected = other
    else:  # old layout -> new: OUT/3/saved_model.pb
        shutil.copytree(folder, other / "3")
        expected = other / "3"
    found = find_model(str(other), "savedmodel")
    assert found.folder == str(expected) and found.name == "other"
    assert found.version == (3 if expected.name == "3" else 1)
    # A run folder is exported into a temporary folder, removed by cleanup().
    run_source = find_model(serve_run, "onnx", name="fromrun")
    try:
        assert run_source.temporary and os.path.isdir(run_source.temporary)
        assert os.path.isfile(os.path.join(run_source.folder, "tfcmgen_export.json"))
    finally:
        run_source.cleanup()
    assert not os.path.exists(run_source.folder)


def test_what_is_not_a_model_is_refused(tmp_path):
    with pytest.raises(ExportError, match="is not a folder"):
        find_model(str(tmp_path / "missing"), "savedmodel")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ExportError, match="holds no savedmodel model to serve"):
        find_model(str(tmp_path / "empty"), "savedmodel")
    assert default_model_name(str(tmp_path / "exports" / "shapes64" / "1")) == "shapes64"


def test_serving_a_run_folder_removes_its_temporary_export_at_shutdown(serve_run):
    from starlette.testclient import TestClient

    from tfcmgen.serve import ServeConfig, build_app

    serving, source = build_app(ServeConfig(model=serve_run, backend="onnx", model_name="run"))
    temporary = source.temporary
    assert os.path.isdir(temporary)
    with TestClient(serving.app) as client:
        response = client.post("/v1/models/run:predict", json={"instances": ["a red circle"]})
        assert response.status_code == 200
    assert not os.path.exists(temporary)
