"""`EvaluateConfig`: the job configuration of `tfcmgen evaluate` (flags -> this -> `evaluate`).

It lives beside the evaluation code rather than in `tfcmgen.config` only to keep that shared file
untouched while other work lands; it uses the same checks and JSON round trip.

Example:

>>> config = EvaluateConfig(model="runs/demo", data="shapes", num_images=200)
>>> EvaluateConfig.from_json(config.to_json()) == config
True
"""

from __future__ import annotations

import dataclasses

from tfcmgen.config import (
    FORMATS,
    SUPPORTED_IMAGE_SIZES,
    ConfigError,
    _check_choice,
    _check_float,
    _check_int,
    _JsonConfig,
)


@dataclasses.dataclass(frozen=True)
class EvaluateConfig(_JsonConfig):
    """Evaluating a trained text-to-image model on a captioned dataset (`tfcmgen evaluate`).

    Args:
        model: str or None. A run folder or export; None only with `train_matcher`.
        data: str. `"shapes"` or a dataset folder. Defaults to `"shapes"`.
        format: str or None. Folder format; None auto-detects.
        num_images: int. Generated images scored for R-precision. Defaults to 1000.
        repeats: int. Folds for the R-precision mean and standard deviation. Defaults to 10.
        held_out: tuple of str. Word combinations (e.g. "red square") the model did not see in
            training; captions holding all words of one are scored as their own group.
        seed: int. Seeds generation, caption order and mismatches. Defaults to 0.
        json: str or None. Where to write the JSON report.
        train_matcher: bool. Train the matcher even if a cached one exists. Defaults to False.
        matcher: str or None. A matcher folder to use instead of the cache.
        matcher_steps: int. Matcher training steps. Defaults to 1000.
        cache_dir: str or None. Matcher cache folder; None for $TFCMGEN_CACHE or
            ~/.cache/tfcmgen.
        inception_weights: str or None. Local InceptionV3 (ImageNet, no top) weights file: adds
            the paper-comparable FID/KID.
        classifier: str or None. Shapes only: a trained attribute classifier.
        image_size: int or None. Without a model (matcher only); else the model's.
        validation_fraction: float or None. The split; None takes the run's (else 0.05).
        split_seed: int or None. Seed of the split; None takes the run's (else 0).
        diversity_captions: int. Captions sampled repeatedly for diversity. Defaults to 8.
        samples_per_caption: int. Samples per diversity caption. Defaults to 8.
    """

    model: str | None = None
    data: str = "shapes"
    format: str | None = None
    num_images: int = 1000
    repeats: int = 10
    held_out: tuple = ()
    seed: int = 0
    json: str | None = None
    train_matcher: bool = False
    matcher: str | None = None
    matcher_steps: int = 1000
    cache_dir: str | None = None
    inception_weights: str | None = None
    classifier: str | None = None
    image_size: int | None = None
    validation_fraction: float | None = None
    split_seed: int | None = None
    diversity_captions: int = 8
    samples_per_caption: int = 8

    def __post_init__(self):
        if self.model is None and not self.train_matcher:
            raise ConfigError("model is required unless train_matcher is set; received model=None")
        if not isinstance(self.data, str) or not self.data.strip():
            raise ConfigError(f"data must be 'shapes' or a dataset folder; received data={self.data!r}")
        _check_choice("format", self.format, FORMATS)
        _check_int("num_images", self.num_images, 1, 1_000_000)
        _check_int("repeats", self.repeats, 1, 1000)
        if self.num_images < self.repeats:
            raise ConfigError(
                f"num_images must be at least repeats={self.repeats} (one image per fold); "
                f"received num_images={self.num_images}"
            )
        if isinstance(self.held_out, str) or not all(
            isinstance(h, str) and h.strip() for h in self.held_out
        ):
            raise ConfigError(
                f"held_out must be a list of non-empty word combinations such as 'red square'; "
                f"received held_out={self.held_out!r}"
            )
        _check_int("seed", self.seed, 0, 2**31 - 1)
        _check_int("matcher_steps", self.matcher_steps, 1, 10_000_000)
        if self.image_size is not None:
            _check_choice("image_size", self.image_size, SUPPORTED_IMAGE_SIZES)
        if self.validation_fraction is not None:
            _check_float("validation_fraction", self.validation_fraction, 0.0, 0.5,
                         low_open=True)
        if self.split_seed is not None:
            _check_int("split_seed", self.split_seed, 0, 2**31 - 1)
        _check_int("diversity_captions", self.diversity_captions, 1, 10_000)
        _check_int("samples_per_caption", self.samples_per_caption, 2, 1024)
