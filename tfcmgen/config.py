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

# Sizes resolved from the training set when the user gives none (`resolve_for_dataset`); the
# reason for each number is beside the function that uses it.
# The batch of a dataset that is not small (a task may use its own: `Task.defaults`).
DEFAULT_BATCH_SIZE = 32
# The smallest resolved batch (a dataset with fewer images trains on all of them at once).
MIN_AUTO_BATCH = 4
# An epoch of a run bounded by --minutes alone is at least this many steps (whole passes).
MIN_EPOCH_STEPS = 100
# Sample grids are at least this many steps apart ...
SAMPLE_EVERY_STEPS = 500
# ... unless a run of known length would then get fewer than this many.
MIN_RUN_GRIDS = 20
# Work between backups, in image pixels through the model: 2,000 steps of batch 32 at 64x64.
BACKUP_WORK_PIXELS = 2000 * 32 * 64 * 64
BACKUP_STEPS_RANGE = (100, 5000)
# The metadata of fields whose None means "resolved from the dataset's size".
_RESOLVED = {"null": "resolved from the dataset's size"}
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
            # A null that is resolved later says so; a null that means "off" is just "or null".
            null_means = field.metadata.get("null")
            wanted = " or ".join([words for _, words in kinds] + (
                ["null"] if "None" in parts and not null_means else []))
            raise ConfigError(f"{field.name} must be {wanted}; received {field.name}={value!r}"
                              + (f" (or null: {null_means})" if null_means else ""))
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
        batch_size: int or None. Global batch size, split across replicas. None resolves it
            from the training set's size (`resolve_for_dataset`): 32 (the task's default), or
            for a dataset of fewer than 128 training images the largest power of two up to a
            quarter of them, at least 4. 32 because in a fixed time budget on a CPU, batch 32
            takes twice the steps of batch 64 and measured better (shapes benchmark, 15 min:
            joint accuracy 0.71 against 0.59). Defaults to None.
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
        steps_per_epoch: int or None. Steps of one epoch (the unit of `epochs`, of the logged
            loss averages and of `evaluate_every`). None resolves it: one pass over the
            training images; with `minutes` alone (no epoch count to honour) at least 100 steps
            in whole passes, so that a small dataset's epochs are not a few steps each.
            Defaults to None.
        sample_every_steps: int or None. A sample grid every this many steps (and at the run's
            end). None resolves it: every 500 steps, rounded to whole epochs when epochs are
            shorter, and more often (down to once an epoch) where a run of known length would
            otherwise get fewer than 20 grids. Defaults to None.
        backup_every_steps: int or None. Back up the training state every this many steps and
            at the run's end (a killed run resumes from there). None resolves it from the work
            a step does: 2,000 steps at batch 32 and 64x64 (about 3 minutes on 2 CPU cores),
            proportionally more for smaller batches and images, within 100 to 5,000 steps.
            Defaults to None.
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
    batch_size: int | None = dataclasses.field(default=None, metadata=_RESOLVED)
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
    steps_per_epoch: int | None = dataclasses.field(default=None, metadata=_RESOLVED)
    sample_every_steps: int | None = dataclasses.field(default=None, metadata=_RESOLVED)
    backup_every_steps: int | None = dataclasses.field(default=None, metadata=_RESOLVED)
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
        if self.batch_size is not None:
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
        if self.sample_every_steps is not None:
            _check_int("sample_every_steps", self.sample_every_steps, 1, 100_000_000)
        if self.backup_every_steps is not None:
            _check_int("backup_every_steps", self.backup_every_steps, 1, 100_000_000)
        if self.evaluate_every is not None:
            _check_int("evaluate_every", self.evaluate_every, 1, 1_000_000)
        if self.batch_size is not None and self.batch_size < self.replicas:
            raise ConfigError(
                f"batch_size must be at least the number of replicas ({self.replicas}) so every "
                f"replica gets an example; received batch_size={self.batch_size}"
            )
        if self.batch_size is not None and self.batch_size % self.replicas:
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


# The TrainConfig fields whose None `resolve_for_dataset` replaces by a concrete value.
RESOLVED_FIELDS = tuple(f.name for f in dataclasses.fields(TrainConfig) if f.metadata == _RESOLVED)


def auto_batch_size(num_train_images: int, default: int = DEFAULT_BATCH_SIZE,
                    replicas: int = 1) -> int:
    """The batch `resolve_for_dataset` gives a training set of `num_train_images` images.

    `default` unless the set is small, then the largest power of two up to a quarter of the
    images, at least `MIN_AUTO_BATCH` (4) or all the images when fewer:
    - at least 4 batches per pass, so an image's batch mates change from pass to pass (one
      batch of everything shows the discriminator the same batch every step), and
      `drop_remainder` leaves out under a quarter of the images per pass (other ones each pass,
      as the order is reshuffled);
    - a power of two divides evenly over 2, 4 or 8 replicas;
    - with fewer than 4 images a step, each update rests on one or two images.
    With `replicas` > 1 it is rounded down to a multiple of them (every replica gets a share).
    """
    quarter = num_train_images // 4
    batch = 1 << (quarter.bit_length() - 1) if quarter else 0
    batch = min(default, max(batch, min(MIN_AUTO_BATCH, num_train_images)))
    if replicas > 1:
        batch = max(replicas, batch - batch % replicas)
    return batch


def auto_sample_every_steps(steps_per_epoch: int, epochs: int | None) -> int:
    """Steps between sample grids: `SAMPLE_EVERY_STEPS` (500), in whole epochs when shorter.

    500 steps are 30-50 s on 2 CPU cores at 32-64 px (measured 16.6 and 10.6 steps/s), so a
    10-minute run writes about 20 grids whatever the dataset's size (every epoch of a
    200-image folder was one grid every 7 steps). An epoch longer than 500 steps gets grids in
    its middle. A run of known length (`epochs`) gets at least `MIN_RUN_GRIDS` (20) grids, or
    one an epoch when it has fewer epochs, however few its steps.
    """
    if steps_per_epoch >= SAMPLE_EVERY_STEPS:
        return SAMPLE_EVERY_STEPS
    epochs_apart = -(-SAMPLE_EVERY_STEPS // steps_per_epoch)
    if epochs is not None:
        epochs_apart = min(epochs_apart, -(-epochs // MIN_RUN_GRIDS))
    return epochs_apart * steps_per_epoch


def auto_backup_every_steps(batch_size: int, image_size: int) -> int:
    """Steps between backups: about 3 minutes of work on 2 CPU cores, at most ~10.

    A step's work grows with batch x pixels: 2,000 steps at batch 32 and 64x64 took 3.1 min
    (9,568 steps in 15 min on the shapes benchmark; batch 64 ran 375 images/s, the same work
    per pixel). Smaller images are slower per pixel than this predicts (32x32: 1,000
    steps/min, not 2,500), hence the cap of 5,000 steps (5 min measured at 32x32); 100 steps
    at least, as a backup costs a save. Rounded to hundreds so the value reads well.
    """
    low, high = BACKUP_STEPS_RANGE
    steps = BACKUP_WORK_PIXELS / (batch_size * image_size * image_size)
    return int(min(high, max(low, round(steps, -2))))


def resolve_for_dataset(config: TrainConfig, num_train_images: int,
                        default_batch_size: int | None = None) -> TrainConfig:
    """`config` with its None sizes (`RESOLVED_FIELDS`) made concrete for the training set.

    A value the user gave is never replaced. The runner calls this before training (the
    result goes into config.json, so a resumed run or `--config RUN/config.json` reuses the
    same values) and `tfcmgen train --dry-run` prints it.

    Args:
        config: TrainConfig.
        num_train_images: int >= 1. Training images (after the validation split).
        default_batch_size: int or None. The task's batch for a dataset that is not small;
            None is `DEFAULT_BATCH_SIZE` (32).

    Raises:
        ConfigError: a batch_size the user gave is larger than the training set.

    Example:

    >>> resolved = resolve_for_dataset(TrainConfig(minutes=10), 190)
    >>> resolved.batch_size, resolved.steps_per_epoch, resolved.sample_every_steps
    (32, 100, 500)
    """
    n = num_train_images
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"num_train_images must be an integer >= 1; received {n!r}")
    batch = config.batch_size
    if batch is None:
        batch = auto_batch_size(n, default_batch_size or DEFAULT_BATCH_SIZE, config.replicas)
        if batch > n:  # more replicas than images
            raise ConfigError(f"{n} training images cannot give each of replicas="
                              f"{config.replicas} an image; add images or use fewer replicas")
    elif batch > n:
        raise ConfigError(
            f"batch_size={batch} is larger than the {n} training images of {config.data!r}, "
            f"so no full batch can be drawn; use --batch-size "
            f"{auto_batch_size(n, replicas=config.replicas)} (or leave it out to resolve it "
            "from the dataset) or add images")
    steps = config.steps_per_epoch
    if steps is None:
        one_pass = n // batch
        # --epochs N (or the default epochs) means N passes; --minutes alone has no epoch count,
        # so a small dataset's epoch is whole passes of at least MIN_EPOCH_STEPS.
        steps = one_pass if config.epochs is not None else (
            one_pass * -(-MIN_EPOCH_STEPS // one_pass))
    return config.replace(
        batch_size=batch,
        steps_per_epoch=steps,
        sample_every_steps=config.sample_every_steps or auto_sample_every_steps(
            steps, config.epochs),
        backup_every_steps=config.backup_every_steps or auto_backup_every_steps(
            batch, config.image_size),
    )


def describe_sizes(config: TrainConfig, num_train_images: int, given: TrainConfig | None = None
                   ) -> str:
    """One line with a resolved config's sizes; `given` (before resolving) marks the user's own.

    >>> config = TrainConfig(minutes=10, backup_every_steps=1000)
    >>> print(describe_sizes(resolve_for_dataset(config, 40), 40, config))
    batch 8 (dataset of 40 training images), 100 steps per epoch (20 passes), samples every 500 steps, backup every 1000 steps (given)
    """
    def mark(name):
        return " (given)" if given is not None and getattr(given, name) is not None else ""

    one_pass = max(1, num_train_images // config.batch_size)
    passes = config.steps_per_epoch / one_pass
    shown = f"{passes:.0f}" if passes == round(passes) else f"{passes:.2f}"
    batch_given = "given, " if mark("batch_size") else ""
    return (f"batch {config.batch_size} ({batch_given}dataset of {num_train_images} training "
            "images), "
            f"{config.steps_per_epoch} steps per epoch{mark('steps_per_epoch')} ({shown} "
            f"pass{'' if shown == '1' else 'es'}), samples every {config.sample_every_steps} "
            f"steps{mark('sample_every_steps')}, backup every {config.backup_every_steps} "
            f"steps{mark('backup_every_steps')}")


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
