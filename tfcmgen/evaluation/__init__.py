"""Evaluation of text-to-image models on any captioned dataset.

- `ImageTextMatcher` (image_text_matcher.py): the independent dual-encoder judge, trained per
  dataset and cached by fingerprint (matcher_cache.py);
- `r_precision` and friends (r_precision.py): the AttnGAN / DM-GAN protocol in NumPy;
- `evaluate` and `format_report` (dataset_evaluation.py): `tfcmgen evaluate`, with FID/KID on the matcher's
  features (and on InceptionV3's from a local weights file, inception.py) and diversity;
- `RPrecisionCallback` (r_precision_callback.py): the same figure during training, keeping
  `best.keras`;
- `evaluate_run` (attribute_evaluation.py): attribute accuracy on the built-in shapes.

TensorFlow is imported only when a name that needs it is used.
"""

import importlib

_EXPORTS = {
    "ImageTextMatcher": "tfcmgen.evaluation.image_text_matcher",
    "contrastive_matching_loss": "tfcmgen.evaluation.image_text_matcher",
    "MatcherSettings": "tfcmgen.evaluation.matcher_cache",
    "TrainedMatcher": "tfcmgen.evaluation.matcher_cache",
    "cache_dir": "tfcmgen.evaluation.matcher_cache",
    "load_matcher": "tfcmgen.evaluation.matcher_cache",
    "load_or_train_matcher": "tfcmgen.evaluation.matcher_cache",
    "train_matcher": "tfcmgen.evaluation.matcher_cache",
    "NUM_CANDIDATES": "tfcmgen.evaluation.r_precision",
    "NotEnoughCaptionsError": "tfcmgen.evaluation.r_precision",
    "caption_key": "tfcmgen.evaluation.r_precision",
    "draw_mismatches": "tfcmgen.evaluation.r_precision",
    "fold_statistics": "tfcmgen.evaluation.r_precision",
    "r_precision": "tfcmgen.evaluation.r_precision",
    "r_precision_hits": "tfcmgen.evaluation.r_precision",
    "EvaluateConfig": "tfcmgen.evaluation.evaluate_config",
    "evaluate": "tfcmgen.evaluation.dataset_evaluation",
    "format_report": "tfcmgen.evaluation.dataset_evaluation",
    "InceptionFeatures": "tfcmgen.evaluation.inception",
    "RPrecisionCallback": "tfcmgen.evaluation.r_precision_callback",
    "r_precision_callback": "tfcmgen.evaluation.r_precision_callback",
    "evaluate_run": "tfcmgen.evaluation.attribute_evaluation",
    "load_or_train_classifier": "tfcmgen.evaluation.attribute_evaluation",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__():
    return __all__
