"""Finding what to serve in `tfcmgen serve --model PATH`: an export (either layout) or a run folder.

Accepted:

- an export in TF Serving's layout, `PATH/<version>/saved_model.pb` (+ `PATH/onnx/`), written by
  `tfcmgen export` since issue 15: the newest version is served, as TF Serving's default version
  policy does;
- an export in the older layout, `PATH/saved_model/` (+ `PATH/onnx/`): served as version 1;
- one format folder of an export (`PATH/saved_model/`, `PATH/1/`, `PATH/onnx/`);
- a training run folder (`config.json` + `model.keras`): exported first into a temporary folder
  (removed when the server stops) and served from there. Going through the export, rather than
  serving the Keras model directly, means one code path: what the server runs is exactly what
  `tfcmgen export` would deploy, the metadata endpoint shows the real SignatureDefs, and the ONNX
  backend needs no TensorFlow at serving time (only for this one export).

The model name defaults to the folder's name, as TF Serving's `--model_name` is usually set.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile

from tfcmgen.runtime.export_metadata import METADATA_FILE, ExportError, ExportMetadata

# The small model bundled in the package (`tfcmgen serve` without --model serves it).
PRETRAINED_RUN = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pretrained", "shapes64"
)


@dataclasses.dataclass
class ModelSource:
    """The export folder to load, its version, and a temporary folder to remove at shutdown."""

    folder: str
    version: int
    name: str
    temporary: str | None = None

    def cleanup(self) -> None:
        if self.temporary:
            shutil.rmtree(self.temporary, ignore_errors=True)
            self.temporary = None


def _is_version(name: str) -> bool:
    return name.isdigit() and len(name) <= 18 and int(name) > 0


def _versions(path: str) -> dict:
    """{version: folder} of the numbered subfolders of `path` that hold a tfcmgen SavedModel."""
    found = {}
    for name in os.listdir(path):
        folder = os.path.join(path, name)
        if _is_version(name) and os.path.isfile(os.path.join(folder, "saved_model.pb")):
            found[int(name)] = folder
    return found


def _holds(folder: str, export_format: str) -> bool:
    if not os.path.isfile(os.path.join(folder, METADATA_FILE)):
        return False
    return export_format in ExportMetadata.load(folder).files


def default_model_name(path: str) -> str:
    """The folder's name (the run's or export's), as TF Serving's --model_name usually is."""
    name = os.path.basename(os.path.normpath(os.path.abspath(path)))
    if _is_version(name) or name in ("saved_model", "onnx"):
        name = os.path.basename(os.path.dirname(os.path.normpath(os.path.abspath(path))))
    return name or "model"


def find_model(path: str, export_format: str, name: str | None = None) -> ModelSource:
    """The export folder holding `export_format` ("savedmodel" or "onnx") for `path`.

    Raises:
        ExportError: `path` is neither an export holding that format nor a run folder; the
            message says what it holds.
    """
    path = os.path.abspath(os.fspath(path))
    name = name or default_model_name(path)
    if not os.path.isdir(path):
        raise ExportError(f"--model {path!r} is not a folder (an export or a run folder)")
    names = set(os.listdir(path))
    if {"config.json", "model.keras"} <= names:
        return _export_run(path, export_format, name)
    versions = _versions(path)
    if export_format == "savedmodel":
        if versions:
            version = max(versions)
            return ModelSource(versions[version], version, name)
        if _holds(path, "savedmodel"):
            return ModelSource(path, 1, name)  # older layout (PATH/saved_model/) or its folder
    else:
        version = max(versions, default=1)
        if _holds(path, "onnx"):
            return ModelSource(path, version, name)
        onnx_folder = os.path.join(path, "onnx")
        if os.path.isdir(onnx_folder) and _holds(onnx_folder, "onnx"):
            return ModelSource(onnx_folder, version, name)
    held = "no export marker"
    if os.path.isfile(os.path.join(path, METADATA_FILE)):
        held = "formats " + ", ".join(sorted(ExportMetadata.load(path).files))
    elif versions:
        held = f"SavedModel versions {sorted(versions)}"
    raise ExportError(
        f"--model {path!r} holds no {export_format} model to serve ({held}); pass an export "
        f"made with `tfcmgen export --format {export_format}` (or `all`), or a run folder"
    )


def _export_run(run: str, export_format: str, name: str) -> ModelSource:
    from tfcmgen.config import ExportConfig
    from tfcmgen.export import export_run

    temporary = tempfile.mkdtemp(prefix="tfcmgen-serve-")
    out = os.path.join(temporary, name)
    try:
        export_run(ExportConfig(model=run, out=out, format=export_format))
        source = find_model(out, export_format, name)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    source.temporary = temporary
    return source
