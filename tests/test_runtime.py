"""The runtime layer imports neither TensorFlow nor training code; the three model wrappers share
the `Generator` interface."""

import inspect
import subprocess
import sys

import numpy as np

from tfcmgen.runtime import images
from tfcmgen.runtime.generator import Generator


def test_runtime_modules_import_no_tensorflow_and_no_training_code():
    code = (
        "import sys\n"
        "import tfcmgen.runtime.images, tfcmgen.runtime.generator, tfcmgen.runtime.philox_noise\n"
        "import tfcmgen.runtime.export_metadata, tfcmgen.export.onnx_generator\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras') or m in (\n"
        "    'tfcmgen.training', 'tfcmgen.editing', 'tfcmgen.generation', 'tfcmgen.jobs.runner',\n"
        "    'tfcmgen.tasks', 'tfcmgen.models')]\n"
        "print(bad)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"


def test_every_model_wrapper_has_the_generator_interface():
    from tfcmgen.export.onnx_generator import OnnxGenerator
    from tfcmgen.export.saved_model_generator import SavedModelGenerator
    from tfcmgen.jobs.generate import TextToImageGenerator

    for cls in (TextToImageGenerator, SavedModelGenerator, OnnxGenerator):
        for name in ("task", "image_size"):
            assert hasattr(cls, name) or name in inspect.signature(cls).parameters or \
                name in getattr(cls, "__annotations__", {}) or _set_in_init(cls, name), \
                (cls.__name__, name)
        for method in ("generate", "edit"):
            expected = list(inspect.signature(getattr(Generator, method)).parameters)
            received = list(inspect.signature(getattr(cls, method)).parameters)
            assert received[: len(expected)] == expected, (cls.__name__, method, received)


def _set_in_init(cls, name):
    return f"self.{name} =" in inspect.getsource(cls.__init__)


def test_one_uint8_conversion_for_every_path():
    from tfcmgen.data import image_ops
    from tfcmgen.export import onnx_generator
    from tfcmgen.generation import to_uint8

    values = np.array([-1.5, -1.0, -0.0039215, 0.0, 0.5, 1.0, 2.0], np.float32)
    expected = np.clip(np.rint((values + 1.0) * 127.5), 0, 255).astype(np.uint8)
    for convert in (images.to_uint8, image_ops.to_uint8, onnx_generator.to_uint8, to_uint8):
        np.testing.assert_array_equal(convert(values), expected)
    np.testing.assert_array_equal(images.to_uint8(images.to_float(np.arange(256, dtype=np.uint8))),
                                  np.arange(256, dtype=np.uint8))
