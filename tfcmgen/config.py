"""Job configurations: one frozen dataclass per job, saved as JSON beside every run.

Configuration flows one way: CLI flags -> a dataclass here -> the library function that runs the job.
A run folder holds `config.json`, so `tfcmgen train --config RUN/config.json` reproduces it.

Example:

>>> from tfcmgen.config import TrainConfig
>>> config = TrainConfig(data="shapes", image_size=32, epochs=1, out="runs/tiny")
>>> TrainConfig.from_json(config.to_json()) == config
True
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from tfcmgen import registry
from tfcmgen.atomic import write_text_atomic

SUPPORTED_IMAGE_SIZES = (32, 64, 128, 256)
TASKS = tuple(registry.TASKS)
# The option names live in `tfcmgen.registry`; these tuples are read from it.
LOSSES = tuple(registry.LOSSES)
FUSIONS = tuple(registry.FUSIONS)
TEXT_POOLINGS = tuple(registry.TEXT_POOLINGS)
STRATEGIES = ("default", "mirrored", "multiworker")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
FORMATS = (None, *registry.DATASET_FORMATS)
# Epochs of a run given neither --epochs nor --minutes.
DEFAULT_EPOCHS = 20
# tfcmgen.data.augmentation.AUGMENT_CHOICES, without importing TensorFlow here.
AUGMENTS = ("auto", "none", "flip", "rotate", "flip+rotate")


class ConfigError(ValueError):
    """A configuration value is out of range or of the wrong kind; the message names the field."""


def _check_choice(name: str, value: Any, choices: tuple) -> None:
    if value not in choices:
        shown = ", ".join(repr(c) for c in choices)
        raise ConfigError(f"{name} must be one of {shown}; received {name}={value!r}")


def _check_int(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be an integer; received {name}={value!r}")
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}; received {name}={value}")


def _check_float(name: str, value: Any, low: float, high: float, *, low_open: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{name} must be a number; received {name}={value!r}")
    if value != value or (value <= low if low_open else value < low) or value > high:
        bound = f"greater than {low}" if low_open else f"at least {low}"
        raise ConfigError(f"{name} must be {bound} and at most {high}; received {name}={value}")


# A field's annotation -> (types its value may have, what the message says it must be).
_FIELD_KINDS = {
    "bool": ((bool,), "true or false (a JSON boolean, not a string)"),
    "int": ((int,), "an integer"),
    "float": ((int, float), "a number"),
    "str": ((str,), "a string"),
    "tuple": ((tuple, list), "a list"),
}


def _check_field_types(config) -> None:
    """Checks every field's value against its annotation: "no" is not a bool, 42 not a path."""
    for field in dataclasses.fields(config):
        annotation = field.type if isinstance(field.type, str) else getattr(
            field.type, "__name__", str(field.type))
        parts = [part.strip() for part in annotation.split("|")]
        value = getattr(config, field.name)
        if value is None and "None" in parts:
            continue
        kinds = [_FIELD_KINDS[part] for part in parts if part in _FIELD_KINDS]
        if not kinds:
            continue
        allowed = tuple(t for types, _ in kinds for t in types)
        # bool is an int in Python; only a bool field takes one.
        if isinstance(value, bool) and "bool" not in parts or not isinstance(value, allowed):
            wanted = " or ".join([words for _, words in kinds] + (["null"] if "None" in parts
                                                                   else []))
            raise ConfigError(f"{field.name} must be {wanted}; received {field.name}={value!r}")
        if "tuple" in parts and isinstance(value, (tuple, list)) and field.name == "captions":
            for item in value:
                if not isinstance(item, str):
                    raise ConfigError(f"captions must be strings; received {item!r}")


def _check_model_options(options: Any) -> None:
    """model_options must be a JSON object of names to JSON values; the task checks the names."""
    if not isinstance(options, dict):
        raise ConfigError(f"model_options must be a JSON object; received model_options={options!r}")
    for name, value in options.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise ConfigError(f"model_options keys must be argument names; received {name!r}")
        if not isinstance(value, (type(None), bool, int, float, str, list, tuple)):
            raise ConfigError(
                f"model_options.{name} must be a JSON value; received {type(value).__name__}"
            )


class _JsonConfig:
    """JSON round trip shared by every job configuration; every field's type is checked."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("__post_init__")

        # The type check runs before each configuration's own range checks, in one place.
        def __post_init__(self):
            _check_field_types(self)
            if own is not None:
                own(self)

        cls.__post_init__ = __post_init__

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def save(self, path: str) -> None:
        write_text_atomic(path, self.to_json() + "\n")

    @classmethod
    def from_dict(cls, values: dict):
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(
                f"unknown {cls.__name__} field(s) {unknown}; expected some of {sorted(known)}"
            )
        values = dict(values)
        for key, value in values.items():
            if isinstance(value, list):
                values[key] = tuple(tuple(v) if isinstance(v, list) else v for v in value)
        return cls(**values)

    @classmethod
    def from_json(cls, text: str):
        return cls.from_dict(json.loads(text))

    @classmethod
    def load(cls, path: str):
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            raise ConfigError(f"cannot read config file {path}: {e}") from e
        try:
            values = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path} is not valid JSON (line {e.lineno}): {e.msg}") from e
        if not isinstance(values, dict):
            raise ConfigError(f"{path} must hold a JSON object; found {type(values).__name__}")
        return cls.from_dict(values)

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)


@dataclasses.dataclass(frozen=True)
class TrainConfig(_JsonConfig):
    """Everything a training run depends on.

    Args:
        data: str. `"shapes"` (the built-in dataset) or a dataset folder. Defaults to `"shapes"`.
        format: str or None. Folder format `"csv"`, `"jsonl"` or `"cub"`; None auto-detects.
        out: str. The run folder (config, vocabulary, word vectors, checkpoints, samples, model).
        task: str. `"text2image"` or `"edit"`. Defaults to `"text2image"`.
        image_size: int. 32, 64, 128 or 256. Defaults to 64.
        epochs: int or None. Number of epochs. With `minutes` too, whichever runs out first ends
            the run; None with `minutes` trains until the time is up (no epoch limit); None
            without `minutes` becomes `DEFAULT_EPOCHS` (20). Defaults to None.
        minutes: float or None. Wall-clock budget; training stops at the end of the step where it
            runs out, and the model is still saved. Defaults to None (no budget).
        batch_size: int. Global batch size, split across replicas. Defaults to 32: in a fixed
            time budget on a CPU, batch 32 takes twice the steps of batch 64 and measured better
            (shapes benchmark, 15 min: joint accuracy 0.71 against 0.59).
        num_images: int. Images rendered for the shapes dataset. Defaults to 4000.
        held_out: tuple of (colour, shape) pairs kept out of shapes training; None for the default.
        validation_fraction: float. Share of images (never captions) kept for validation.
        max_length: int. Caption length in tokens (padded / truncated). Defaults to 16.
        min_count: int. Minimum word count to enter the vocabulary. Defaults to 1.
        word_vectors: str or None. Pretrained vectors (word2vec text/binary, GloVe) instead of
            training Word2Vec on the captions.
        embedding_dim: int. Word2Vec vector size. Defaults to 64.
        word2vec_epochs: int. Defaults to 20.
        text_pooling: str. `"mean"`, `"bigru"`, `"attention"` or `"transformer"`. Defaults to
            `"transformer"`: a mean of word vectors cannot tell "a red circle left of a blue
            square" from "a blue circle left of a red square"; on two-object shapes the
            transformer (with `swap_negatives=0.5`) drew both objects right in 0.98 of seen and
            held-out captions in 15 minutes (bench/two_object_quality.py).
        fusion: str. How text conditions the generator. Defaults to `"film"`.
        loss: str. `"hinge"`, `"bce"` or `"wgan-gp"`. Defaults to `"hinge"`.
        noise_dim: int. Defaults to 64.
        base_width: int. Channel width multiplier of G and D. Defaults to 16.
        g_learning_rate, d_learning_rate: float. TTUR learning rates (Heusel et al. 2017).
            Default 4e-4 / 8e-4: on the shapes benchmark, twice the former 2e-4 / 4e-4 took
            joint colour+shape accuracy from 0.79 to 1.00 at equal steps.
        augment: str. Training augmentation: `"none"`, `"flip"`, `"rotate"` (rotation and crop
            of images whose caption names no position), `"flip+rotate"`, or `"auto"`: decided
            from the data before training (`tfcmgen.data.augmentation.decide_augmentation`: no
            flip where a small classifier tells images from their mirror images, no rotation
            likewise), logged, and written into the run's config.json as the concrete choice.
            Defaults to `"auto"`.
        word_dropout: float in [0, 1). Chance that each word of a training caption becomes
            `[UNK]`, which the text encoder masks (see `make_dataset`). Defaults to 0.
        caption_near_miss: bool. Datasets without attributes (folders): the `near_miss` share
            of mismatched captions are other images' captions that differ in exactly one word
            (`tfcmgen.data.caption_near_misses`). Defaults to False.
        near_miss: float in [0, 1]. Share of mismatched captions that differ from the image in
            exactly one attribute (datasets with attributes, such as shapes; see
            `make_dataset`). Defaults to 0.5: on the shapes benchmark it raised joint
            colour+shape accuracy on held-out pairs from 0.53 to 0.64 at equal steps.
        swap_negatives: float in [0, 1]. Share of mismatched captions that are the image's own
            caption with two attribute words, or the two sides of a relation, exchanged ("a blue
            circle left of a red square"), derived from the caption text (any dataset; see
            `tfcmgen.data.caption_swaps`). Defaults to 0.5 (measured with the transformer
            pooling, above); captions of one thing rarely have a swap and keep their usual
            mismatch.
        strategy: str. `"default"`, `"mirrored"` or `"multiworker"`. Defaults to `"default"`,
            which becomes `"mirrored"` when `replicas` > 1.
        replicas: int. Devices to mirror over (CPUs are split into logical devices). Defaults to 1.
        precision: str. `"float32"`, `"mixed_float16"` or `"mixed_bfloat16"`.
        jit: bool. XLA-compile the train step. Defaults to False.
        strict: bool. Unreadable images are an error instead of skipped. Defaults to False.
        seed: int. Seeds data, initialisation and sampling. Defaults to 0.
        steps_per_epoch: int or None. Caps each epoch (useful for quick runs). Defaults to None.
        backup_every_steps: int or None. Also back up the training state every this many steps
            (a killed run resumes from there); None backs up at epoch ends only. Defaults to None.
        vgg_weights: str or None. Edit task only: `"imagenet"`, a local weights file, or None.
        evaluate_every: int or None. Every this many epochs, R-precision of 100 fixed validation
            captions (`tfcmgen.evaluation.RPrecisionCallback`) goes to the logs and TensorBoard
            and the best model to `best.keras`; needs 100 distinct captions. Trains the dataset's
            matcher first (cached). None is off. Defaults to None.
        model_options: dict. Further constructor arguments of the task's model (e.g.
            `{"contrastive_weight": 0.0, "use_ca": true}` for `CrossModalGAN`), for ablations;
            the ones set by the fields above are refused. Defaults to {}.
    """

    data: str = "shapes"
    out: str = "runs/latest"
    format: str | None = None
    task: str = "text2image"
    image_size: int = 64
    epochs: int | None = None
    minutes: float | None = None
    batch_size: int = 32
    num_images: int = 4000
    held_out: tuple | None = None
    validation_fraction: float = 0.05
    max_length: int = 16
    min_count: int = 1
    word_vectors: str | None = None
    embedding_dim: int = 64
    word2vec_epochs: int = 20
    text_pooling: str = "transformer"
    fusion: str = "film"
    loss: str = "hinge"
    noise_dim: int = 64
    base_width: int = 16
    g_learning_rate: float = 4e-4
    d_learning_rate: float = 8e-4
    near_miss: float = 0.5
    swap_negatives: float = 0.5
    augment: str = "auto"
    word_dropout: float = 0.0
    caption_near_miss: bool = False
    strategy: str = "default"
    replicas: int = 1
    precision: str = "float32"
    jit: bool = False
    strict: bool = False
    seed: int = 0
    steps_per_epoch: int | None = None
    backup_every_steps: int | None = None
    vgg_weights: str | None = None
    evaluate_every: int | None = None
    model_options: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        _check_model_options(self.model_options)
        if not isinstance(self.data, str) or not self.data.strip():
            raise ConfigError(f"data must be 'shapes' or a dataset folder; received data={self.data!r}")
        _check_choice("format", self.format, FORMATS)
        _check_choice("task", self.task, TASKS)
        _check_choice("image_size", self.image_size, SUPPORTED_IMAGE_SIZES)
        if self.epochs is None and self.minutes is None:
            # Resolved here so that config.json and --dry-run show the epochs the run will take.
            object.__setattr__(self, "epochs", DEFAULT_EPOCHS)
        if self.epochs is not None:
            _check_int("epochs", self.epochs, 1, 1_000_000)
        if self.minutes is not None:
            _check_float("minutes", self.minutes, 0.0, 60 * 24 * 365, low_open=True)
        _check_int("batch_size", self.batch_size, 1, 65536)
        _check_int("num_images", self.num_images, 2, 10_000_000)
        _check_float("validation_fraction", self.validation_fraction, 0.0, 0.5)
        _check_int("max_length", self.max_length, 1, 512)
        _check_int("min_count", self.min_count, 1, 1_000_000)
        _check_int("embedding_dim", self.embedding_dim, 2, 4096)
        _check_int("word2vec_epochs", self.word2vec_epochs, 1, 10_000)
        _check_choice("text_pooling", self.text_pooling, TEXT_POOLINGS)
        _check_choice("fusion", self.fusion, FUSIONS)
        _check_choice("loss", self.loss, LOSSES)
        _check_int("noise_dim", self.noise_dim, 1, 4096)
        _check_int("base_width", self.base_width, 1, 1024)
        _check_float("g_learning_rate", self.g_learning_rate, 0.0, 1.0, low_open=True)
        _check_float("d_learning_rate", self.d_learning_rate, 0.0, 1.0, low_open=True)
        _check_float("near_miss", self.near_miss, 0.0, 1.0)
        _check_float("swap_negatives", self.swap_negatives, 0.0, 1.0)
        _check_choice("augment", self.augment, AUGMENTS)
        _check_float("word_dropout", self.word_dropout, 0.0, 0.9)
        _check_choice("strategy", self.strategy, STRATEGIES)
        _check_int("replicas", self.replicas, 1, 4096)
        _check_choice("precision", self.precision, PRECISIONS)
        _check_int("seed", self.seed, 0, 2**31 - 1)
        if self.steps_per_epoch is not None:
            _check_int("steps_per_epoch", self.steps_per_epoch, 1, 100_000_000)
        if self.backup_every_steps is not None:
            _check_int("backup_every_steps", self.backup_every_steps, 1, 100_000_000)
        if self.evaluate_every is not None:
            _check_int("evaluate_every", self.evaluate_every, 1, 1_000_000)
        if self.batch_size < self.replicas:
            raise ConfigError(
                f"batch_size must be at least the number of replicas ({self.replicas}) so every "
                f"replica gets an example; received batch_size={self.batch_size}"
            )
        if self.batch_size % self.replicas:
            raise ConfigError(
                f"batch_size must be divisible by replicas={self.replicas}; "
                f"received batch_size={self.batch_size}"
            )
        if self.held_out is not None:
            for pair in self.held_out:
                if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
                    raise ConfigError(
                        "held_out must be a list of (colour, shape) pairs; "
                        f"received held_out={self.held_out!r}"
                    )

    @property
    def resolved_strategy(self) -> str:
        if self.strategy == "default" and self.replicas > 1:
            return "mirrored"
        return self.strategy


@dataclasses.dataclass(frozen=True)
class GenerateConfig(_JsonConfig):
    """Generating a captioned grid from a trained model.

    Args:
        captions: tuple of str. Captions to draw.
        model: str or None. A run folder or export; None uses the bundled pretrained model.
        out: str. PNG path for the grid. Defaults to `"generated.png"`.
        num_per_caption: int. Samples per caption (one row each). Defaults to 8.
        seed: int. Noise seed; the same seed gives the same images. Defaults to 0.
        image: str or None. Source image for an edit model.
    """

    captions: tuple = ()
    model: str | None = None
    out: str = "generated.png"
    num_per_caption: int = 8
    seed: int = 0
    image: str | None = None

    def __post_init__(self):
        if not self.captions:
            raise ConfigError("captions must hold at least one caption; received none")
        _check_int("num_per_caption", self.num_per_caption, 1, 1024)
        _check_int("seed", self.seed, 0, 2**31 - 1)


@dataclasses.dataclass(frozen=True)
class ExportConfig(_JsonConfig):
    """Exporting a trained generator.

    Args:
        model: str. The run folder.
        out: str. The export folder (must not exist unless `overwrite`).
        format: str. `"savedmodel"`, `"onnx"` or `"all"`. Defaults to `"all"`.
        overwrite: bool. Replace an existing export's own files (see `tfcmgen.ownership`).
            Defaults to False.
        opset: int. ONNX opset. Defaults to 17.
        version: int or None. The SavedModel's version folder (`OUT/<version>/`, TF Serving's
            layout). Defaults to None: 1 in a new folder, the next free number in an export.
    """

    model: str = ""
    out: str = "export"
    format: str = "all"
    overwrite: bool = False
    opset: int = 17
    version: int | None = None

    def __post_init__(self):
        _check_choice("format", self.format, ("savedmodel", "onnx", "all"))
        # tf2onnx 1.17 writes opsets 17 and 18.
        _check_int("opset", self.opset, 17, 18)
        if self.version is not None:
            # TF Serving reads version folder names as int64.
            _check_int("version", self.version, 1, 2**63 - 1)
