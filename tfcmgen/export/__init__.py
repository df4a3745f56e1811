"""Deployment: SavedModel signatures for TF Serving, ONNX conversion, and runtime helpers.

`tfcmgen export` writes both formats into one folder (`export_run`); `load_savedmodel` and
`OnnxGenerator` load them back. Names load on first use (PEP 562), so
`from tfcmgen.export import OnnxGenerator` does not import TensorFlow.

Example:

>>> from tfcmgen.export import OnnxGenerator
>>> OnnxGenerator("exports/demo").generate(["a red circle"], seed=0).shape  # doctest: +SKIP
(1, 64, 64, 3)
"""

import importlib

# public name -> module defining it
_EXPORTS = {
    "export_run": "tfcmgen.export.run_export",
    "FORMAT_WRITERS": "tfcmgen.export.run_export",
    "export_savedmodel": "tfcmgen.export.savedmodel_export",
    "export_onnx": "tfcmgen.export.onnx_export",
    "load_savedmodel": "tfcmgen.export.saved_model_generator",
    "SavedModelGenerator": "tfcmgen.export.saved_model_generator",
    "OnnxGenerator": "tfcmgen.export.onnx_generator",
    "ExportMetadata": "tfcmgen.export.export_metadata",
    "ExportError": "tfcmgen.export.export_metadata",
    "ExportExistsError": "tfcmgen.export.staging",
    "METADATA_FILE": "tfcmgen.export.export_metadata",
    "EXPORT_TASKS": "tfcmgen.export.export_tasks",
    "ExportTask": "tfcmgen.export.export_tasks",
    "stateless_normal": "tfcmgen.export.philox_noise",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tfcmgen.export' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
