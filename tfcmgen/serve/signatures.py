"""The serving signatures of each export task, as the REST server reads and describes them.

One table (`task_signatures`) says, for each signature of a task, its inputs (dtype, shape, default)
and which backend call answers it. The server parses requests against it, merges requests of the
same call into one batch, and writes TF Serving's metadata JSON from it when the backend has no
SavedModel to read (ONNX). The names and shapes are those `tfcmgen.export.export_tasks` exports.
"""

from __future__ import annotations

import dataclasses

import numpy as np

# TF DataType names of the dtypes the signatures use (TF Serving's JSON spells them this way).
DTYPE_NAMES = {
    "string": "DT_STRING", "int64": "DT_INT64", "int32": "DT_INT32", "float32": "DT_FLOAT",
    "uint8": "DT_UINT8",
}


@dataclasses.dataclass(frozen=True)
class TensorSpec:
    """One named input or output: numpy dtype name ("string" for text), shape (None = any)."""

    dtype: str
    shape: tuple
    default: object = None

    @property
    def batched(self) -> bool:
        return len(self.shape) > 0

    def info(self, tensor_name: str) -> dict:
        """TF Serving's JSON of the TensorInfo proto (always_print_primitive_fields)."""
        return {
            "dtype": DTYPE_NAMES[self.dtype],
            "tensor_shape": {
                "dim": [{"size": str(-1 if size is None else size), "name": ""}
                        for size in self.shape],
                "unknown_rank": False,
            },
            "name": tensor_name,
        }


@dataclasses.dataclass(frozen=True)
class Signature:
    """A serving signature: inputs, the `images` output, and the backend call behind it.

    `call` is "generate" (token ids + noise) or "edit" (float images + token ids); `prepare`
    names how request tensors become that call's arrays ("captions", "tokens", "images").
    """

    inputs: dict
    output: TensorSpec
    call: str
    prepare: str


def task_signatures(task: str, image_size: int, max_length: int, noise_dim) -> dict:
    """{signature name: Signature} of an export of `task` (see `export_tasks.EXPORT_TASKS`)."""
    images = TensorSpec("uint8", (None, image_size, image_size, 3))
    if task == "text2image":
        return {
            "serving_default": Signature(
                inputs={"captions": TensorSpec("string", (None,)),
                        "seed": TensorSpec("int64", (), default=0)},
                output=images, call="generate", prepare="captions"),
            "generate_from_tokens": Signature(
                inputs={"token_ids": TensorSpec("int32", (None, max_length)),
                        "noise": TensorSpec("float32", (None, noise_dim))},
                output=images, call="generate", prepare="tokens"),
        }
    if task == "edit":
        edit = Signature(
            inputs={"images": TensorSpec("uint8", (None, None, None, 3)),
                    "captions": TensorSpec("string", (None,))},
            output=images, call="edit", prepare="images")
        return {
            "serving_default": edit,
            "edit": edit,
            "edit_from_tokens": Signature(
                inputs={"images": TensorSpec("float32", (None, image_size, image_size, 3)),
                        "token_ids": TensorSpec("int32", (None, max_length))},
                output=images, call="edit", prepare="tokens"),
        }
    raise ValueError(f"no serving signatures are defined for task {task!r}")


def signature_def_json(signatures: dict) -> dict:
    """TF Serving's JSON of the SignatureDefMap of `signatures`, tensor names as TF writes them."""
    result = {}
    for name, signature in signatures.items():
        entry = {
            "inputs": {key: spec.info(f"{name}_{key}:0") for key, spec in signature.inputs.items()},
            "outputs": {"images": signature.output.info("StatefulPartitionedCall:0")},
            "method_name": "tensorflow/serving/predict",
            "defaults": {},
        }
        for key, spec in signature.inputs.items():
            if spec.default is not None:
                entry["defaults"][key] = {
                    "dtype": DTYPE_NAMES[spec.dtype],
                    "tensor_shape": {"dim": [], "unknown_rank": False},
                    f"{spec.dtype}_val": [str(spec.default)],
                }
        result[name] = entry
    return {"signature_def": result}


def numpy_dtype(spec: TensorSpec):
    return object if spec.dtype == "string" else np.dtype(spec.dtype)
