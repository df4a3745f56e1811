"""tfcmgen: cross-modal image generation (text-to-image and text-guided editing) for Keras 3.

Every public name is importable from here. Names are resolved lazily, so that
`import tfcmgen.text.pure_tokenizer` (used by the ONNX runtime path) does not import TensorFlow.

Example:

>>> import tfcmgen
>>> config = tfcmgen.TrainConfig(data="shapes", image_size=64, minutes=5, out="runs/demo")
>>> result = tfcmgen.train(config)  # doctest: +SKIP
>>> images = tfcmgen.load_generator("runs/demo").generate(["a red circle"], 4)  # doctest: +SKIP
"""

import importlib

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    # configuration and jobs
    "TrainConfig": "tfcmgen.config",
    "GenerateConfig": "tfcmgen.config",
    "ExportConfig": "tfcmgen.config",
    "ConfigError": "tfcmgen.config",
    "train": "tfcmgen.jobs.runner",
    "TrainResult": "tfcmgen.jobs.runner",
    "load_generator": "tfcmgen.jobs.generate",
    "TextToImageGenerator": "tfcmgen.jobs.generate",
    "Task": "tfcmgen.tasks",
    "evaluate_run": "tfcmgen.evaluation",
    "run_demo": "tfcmgen.demo",
    # data
    "CaptionedImages": "tfcmgen.data",
    "load_dataset": "tfcmgen.data",
    "load_shapes": "tfcmgen.data",
    "load_folder": "tfcmgen.data",
    "make_dataset": "tfcmgen.data",
    "DatasetError": "tfcmgen.data",
    # text
    "Vocabulary": "tfcmgen.text",
    "CaptionTokenizer": "tfcmgen.text",
    "PurePythonTokenizer": "tfcmgen.text",
    "train_word2vec": "tfcmgen.text",
    "load_word_vectors": "tfcmgen.text",
    # layers
    "VGG16FeatureExtractor": "tfcmgen.layers",
    "TextEncoder": "tfcmgen.layers",
    "ConditioningAugmentation": "tfcmgen.layers",
    "FeatureFusion": "tfcmgen.layers",
    # models
    "Generator": "tfcmgen.models",
    "Discriminator": "tfcmgen.models",
    "CrossModalGAN": "tfcmgen.models",
    "TextImageEditor": "tfcmgen.models",
    # evaluation and export
    "AttributeClassifier": "tfcmgen.metrics",
    "export_run": "tfcmgen.export",
    "load_savedmodel": "tfcmgen.export",
    # serving (needs the `serve` extra)
    "serve": "tfcmgen.serve",
    "ServeConfig": "tfcmgen.serve",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tfcmgen' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
