"""`Task`: what one kind of model declares so that the runner can train it.

The runner (`tfcmgen.jobs.runner.train`) owns everything every task needs: the run folder,
resuming, the strategy, the time budget, the callbacks every run gets and `fit`. A task says only
what differs: its data, its model, its default settings, its sample and evaluation callbacks, and
how it is exported. One instance trains one run; `tfcmgen.tasks.get_task(config)` makes it.

Example (a third task, e.g. image-to-image translation, is one module and one registry entry):

>>> from tfcmgen.tasks import Task
>>> class TranslateTask(Task):  # doctest: +SKIP
...     name = "translate"
...     def dataset(self, train_data, tokenizer): ...
...     def build_model(self, vocabulary_size, embedding_matrix): ...
"""

from __future__ import annotations

import inspect

import numpy as np

from tfcmgen.config import ConfigError, TrainConfig
from tfcmgen.registry import resolve


class Task:
    """Base class of the trainable tasks (registered in `tfcmgen.registry.TASKS`).

    Subclasses set `name` and `defaults` and implement `dataset` and `build_model`; the other
    methods have defaults that suit a captioned-image task.

    Args:
        config: TrainConfig with `config.task == self.name`.
        **options: task-specific options not in the config (see each task).
    """

    # The TrainConfig.task value.
    name = ""
    # TrainConfig fields this task trains best with where they differ from TrainConfig's
    # defaults; `tfcmgen train --task NAME` starts from them and flags still override them.
    defaults: dict = {}
    # The Keras model class the task trains, by import path. `TrainConfig.model_options` may set
    # any of its constructor arguments except `config_arguments`, which the task sets from
    # TrainConfig's own fields (one source of truth per setting).
    model_class = ""
    config_arguments: tuple = ()
    # Whether `dataset` applies `config.augment` (the runner then resolves "auto" first).
    augments = False

    def __init__(self, config: TrainConfig, **options):
        if config.task != self.name:
            raise ConfigError(
                f"{type(self).__name__} trains task {self.name!r}; received task={config.task!r}"
            )
        if options:
            raise ConfigError(f"task {self.name!r} takes no options; received {sorted(options)}")
        self.config = config
        self.check()

    def check(self) -> None:
        """Raises ConfigError for a setting this task cannot train (before any work starts)."""
        self.check_model_options()

    def check_model_options(self) -> None:
        """Raises ConfigError for a `model_options` name the model does not take here."""
        options = self.config.model_options
        if not options:
            return
        model_class = resolve(self.model_class)
        parameters = inspect.signature(model_class.__init__).parameters
        settable = sorted(
            name for name, p in parameters.items()
            if name != "self" and p.kind is p.POSITIONAL_OR_KEYWORD
            and name not in self.config_arguments
        )
        for name in options:
            if name in self.config_arguments:
                raise ConfigError(
                    f"model_options.{name} is set from TrainConfig's own fields for task "
                    f"{self.name!r}; set the field instead"
                )
            if name not in settable:
                raise ConfigError(
                    f"model_options.{name} is not a {model_class.__name__} argument; expected "
                    f"some of {settable}"
                )

    def make_model(self, arguments: dict):
        """`model_class(**arguments, **config.model_options)`; a bad option value is a ConfigError."""
        model_class = resolve(self.model_class)
        options = self.config.model_options
        if not options:
            return model_class(**arguments)
        try:
            return model_class(**arguments, **options)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"model_options {options}: {e}") from e

    def build_text_model(self, vocabulary_size: int, embedding_matrix: np.ndarray, **arguments):
        """`make_model` with the text arguments every task's model takes, compiled.

        The model (a `tfcmgen.models.AdversarialModel`) gets the vocabulary, caption length,
        image size, embedding matrix, text pooling, fusion and seed from the config, plus the
        task's own `arguments`; it is compiled with one Adam per player (the config's learning
        rates, the betas of the model's `AUTO_ADAM`) and the config's loss. Call inside the
        strategy scope.
        """
        import keras

        config = self.config
        model = self.make_model(dict(
            vocabulary_size=vocabulary_size,
            max_length=config.max_length,
            image_size=config.image_size,
            embedding_dim=int(embedding_matrix.shape[1]),
            embedding_matrix=embedding_matrix,
            text_pooling=config.text_pooling,
            fusion=config.fusion,
            seed=config.seed,
            **arguments,
        ))
        beta_1, beta_2 = model.AUTO_ADAM[2:]
        model.compile(
            # Named, so that the saved paths do not depend on what else made optimizers in the
            # process (Keras numbers unnamed ones: "adam", "adam_1", ...).
            g_optimizer=keras.optimizers.Adam(config.g_learning_rate, beta_1=beta_1,
                                              beta_2=beta_2, name="g_adam"),
            d_optimizer=keras.optimizers.Adam(config.d_learning_rate, beta_1=beta_1,
                                              beta_2=beta_2, name="d_adam"),
            loss=config.loss,
            jit_compile=config.jit,
        )
        return model

    def load_data(self):
        """(train, validation) CaptionedImages for the config, split by image."""
        from tfcmgen.data import DATASETS, load_dataset

        config = self.config
        kwargs = dict(image_size=config.image_size)
        if config.data in DATASETS:  # built-in, rendered: "shapes", "shapes2"
            kwargs.update(num_images=config.num_images, split="train", seed=config.seed)
            if config.held_out is not None:
                kwargs.update(held_out=config.held_out)
        else:
            kwargs.update(format=config.format, strict=config.strict)
        data = load_dataset(config.data, **kwargs)
        return data.split(config.validation_fraction, seed=config.seed)

    def vocabulary_captions(self, train_data) -> list[str]:
        """The text the vocabulary and word vectors are built from."""
        return train_data.all_captions()

    def dataset(self, train_data, tokenizer):
        """A fresh, finite, deterministic `tf.data.Dataset` of one epoch of training batches.

        Called once per `fit`: tf.data keeps its reshuffling counters in the dataset object, and
        the runner skips the steps a resumed run has taken, so every call must give the same
        batches in the same order. Batches must have a static size (`drop_remainder=True`).
        """
        raise NotImplementedError

    def build_model(self, vocabulary_size: int, embedding_matrix: np.ndarray):
        """The compiled Keras model; the runner calls it inside the strategy scope."""
        raise NotImplementedError

    def sample_callbacks(self, train_data, tokenizer, run) -> list:
        """Callbacks writing samples into `run.samples_dir` / `run.logs_dir` (chief only)."""
        return []

    def evaluation_callbacks(self, validation_data, tokenizer, run) -> list:
        """Callbacks measuring the model during training (chief only). Defaults to none."""
        return []

    @classmethod
    def export_task(cls):
        """The `tfcmgen.export.export_tasks.ExportTask` (signatures, ONNX function) of the task."""
        from tfcmgen.export.export_tasks import EXPORT_TASKS

        return EXPORT_TASKS[cls.name]
