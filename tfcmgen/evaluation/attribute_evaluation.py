"""Attribute accuracy of a trained run on the shapes dataset (beside R-precision on shapes).

The judge is an `AttributeClassifier` trained on real shapes images (no downloaded Inception weights
are needed); FID and KID are computed on its features.

Example:

>>> from tfcmgen.evaluation.attribute_evaluation import evaluate_run, format_report
>>> print(format_report(evaluate_run("runs/demo")))  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os

logger = logging.getLogger(__name__)



def load_or_train_classifier(image_size: int, path: str | None = None):
    """The attribute classifier at `path`, else a cached one, else one trained now (and cached).

    Training uses the settings of bench/quality_classifier.py (10,000 images, 3 epochs, about
    6 minutes on 2 cores), which read colour, shape and position of fresh real images at >= 0.999.
    """
    from tfcmgen.atomic import atomic_path
    from tfcmgen.metrics import AttributeClassifier

    if path is not None:
        return AttributeClassifier.load(path)
    from tfcmgen.evaluation.matcher_cache import cache_dir

    # Beside the matchers: $TFCMGEN_CACHE, else ~/.cache/tfcmgen.
    cached = os.path.join(cache_dir(), f"attribute_classifier_{image_size}.keras")
    if os.path.isfile(cached):
        return AttributeClassifier.load(cached)
    logger.warning("training an attribute classifier on real shapes (about 6 min, cached in %s)",
                   cached)
    classifier = AttributeClassifier.train_on_shapes(
        image_size=image_size, num_images=10000, epochs=3, verbose=0
    )
    with atomic_path(cached, suffix=".keras") as temporary:
        classifier.save(temporary)
    return classifier


def evaluate_run(
    model: str,
    data: str = "shapes",
    num_images: int = 1000,
    seed: int = 12345,
    classifier_path: str | None = None,
) -> dict:
    """Scores the run folder `model` on freshly rendered shapes captions.

    Args:
        model: str. A run folder.
        data: str. Only `"shapes"` has attribute ground truth.
        num_images: int. Captions scored (one image each). Defaults to 1000.
        seed: int. Seeds the evaluation captions (distinct from training seeds). Defaults to 12345.
        classifier_path: str or None. A saved AttributeClassifier; None trains (and caches) one.

    Returns:
        The dict of `tfcmgen.metrics.evaluate_generator`, plus `"classifier_accuracy"`.
    """
    if data != "shapes":
        raise ValueError(
            f"evaluate needs attribute ground truth, which only the built-in dataset has; "
            f"received data={data!r} (expected 'shapes')"
        )
    from tfcmgen.config import TrainConfig
    from tfcmgen.data.shapes import DEFAULT_HELD_OUT, load_shapes
    from tfcmgen.generation import load_generator
    from tfcmgen.metrics import evaluate_generator

    generator = load_generator(model)
    config = TrainConfig.load(os.path.join(generator.source, "config.json"))
    held_out = config.held_out if config.held_out is not None else DEFAULT_HELD_OUT
    real = load_shapes(num_images=num_images, image_size=config.image_size, seed=seed,
                       held_out=held_out, captions_per_image=1, split="all")
    classifier = load_or_train_classifier(config.image_size, classifier_path)
    pairs = [(caps[0], attrs) for caps, attrs in zip(real.captions, real.attributes)]

    def generate_fn(captions, batch_seed):
        return generator.generate(captions, num_per_caption=1, seed=batch_seed)

    return evaluate_generator(
        generate_fn, classifier, pairs, real.images, real_attributes=real.attributes,
        held_out=held_out, seed=seed,
    )


def format_accuracy_table(report: dict) -> str:
    """The attribute accuracy rows of an `evaluate_run` report as a plain-text table."""
    keys = ("colour", "shape", "size", "position", "joint", "all")
    rows = [("", *keys)]
    for name in ("accuracy_seen", "accuracy_held_out", "accuracy",
                 "real_accuracy_seen", "real_accuracy_held_out", "real_accuracy"):
        if name in report:
            rows.append((name, *(f"{report[name].get(k, float('nan')):.3f}" for k in keys)))
    width = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(r, width)) for r in rows)


def format_report(report: dict) -> str:
    """A plain-text table of an `evaluate_run` report."""
    lines = [format_accuracy_table(report)]
    lines.append(f"FID {report['fid']:.3f}   KID {report['kid']:.4f} +- {report['kid_std']:.4f}")
    if report.get("real_diversity") is not None:
        lines.append(f"diversity (mean pairwise distance, one caption): generated "
                     f"{report['diversity']:.4f}, real {report['real_diversity']:.4f}")
    else:
        lines.append(f"diversity (mean pairwise distance, one caption): {report['diversity']:.4f}")
    return "\n".join(lines)
