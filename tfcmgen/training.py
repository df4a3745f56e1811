"""The training job: `train(config)` turns a TrainConfig into a finished run folder.

Example:

>>> from tfcmgen import TrainConfig, train
>>> result = train(TrainConfig(data="shapes", image_size=32, num_images=64, epochs=1,
...                            batch_size=16, base_width=4, out="/tmp/tiny-run"))  # doctest: +SKIP
>>> result.run.model_path  # doctest: +SKIP
'/tmp/tiny-run/model.keras'
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time

import numpy as np

from tfcmgen.atomic import atomic_path, stale_temporaries
from tfcmgen.config import ConfigError, TrainConfig
from tfcmgen.runs import RunFolder, RunFolderError

logger = logging.getLogger(__name__)

# Captions drawn in every sample grid when the data has no attributes to pick them from.
_FALLBACK_SAMPLE_COUNT = 8

# Only these fields may differ when a run folder is trained again: they extend or budget the run
# without changing what is trained.
_RESUMABLE_FIELDS = ("epochs", "minutes", "backup_every_steps")


@dataclasses.dataclass
class TrainResult:
    """What `train` returns: the run folder, the trained model and the Keras history."""

    run: RunFolder
    model: object
    history: dict
    seconds: float
    stopped_by_budget: bool


def configure_replicas(replicas: int) -> list[str]:
    """Returns `replicas` device names, splitting the CPU into logical devices when needed.

    The split must happen before TensorFlow initialises its devices, so call this first in a process.
    """
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if len(gpus) >= replicas:
        return [f"/gpu:{i}" for i in range(replicas)]
    cpus = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(
            cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(replicas)]
        )
    except RuntimeError as e:
        existing = len(tf.config.list_logical_devices("CPU"))
        if existing >= replicas:
            return [f"/cpu:{i}" for i in range(replicas)]
        raise ConfigError(
            f"replicas={replicas} needs {replicas} CPU devices, but TensorFlow was already "
            f"initialised with {existing}; start a new process and train before other TF work"
        ) from e
    return [f"/cpu:{i}" for i in range(replicas)]


def make_strategy(config: TrainConfig):
    """The tf.distribute strategy named by the config (see README, "Scaling out")."""
    import tensorflow as tf

    kind = config.resolved_strategy
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy(configure_replicas(config.replicas))
    if kind == "multiworker":
        # Configured by the standard TF_CONFIG environment variable.
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def is_chief(strategy) -> bool:
    """True where this process should write files (always, except non-chief multi-worker tasks)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True
    return resolver.task_type in (None, "chief") or (
        resolver.task_type == "worker"
        and resolver.task_id == 0
        and "chief" not in resolver.cluster_spec().as_dict()
    )


def _work_around_keras_distribution(gan, multiworker: bool) -> None:
    """Works around Keras 3.15's `fit` under a tf.distribute strategy.

    `fit` first builds the model symbolically from one batch of a throwaway iterator.
    CrossModalGAN creates every variable in __init__, so nothing needs building, and the
    throwaway iterator would advance tf.data's reshuffling counters by however far it prefetched
    (a run would then see other batches than a resumed or single-process one). Under
    MultiWorkerMirroredStrategy it even fails for dict batches ("Attempt to convert a value
    ({'image': PerReplica ...}) to a Tensor"). There `fit` also averages the step's logs with
    `reduce(MEAN, axis=0)`, which fails for scalars ("Invalid reduction dimension 0 for input with
    0 dimensions", tensorflow/tensorflow#72388); logs of shape [1] average over the workers.
    """
    import tensorflow as tf

    gan._maybe_symbolic_build = lambda iterator=None, data_batch=None: None
    if multiworker:
        train_step = gan.train_step
        gan.train_step = lambda data: {
            name: tf.reshape(value, [1]) for name, value in train_step(data).items()
        }


def load_training_data(config: TrainConfig):
    """The CaptionedImages for `config.data` split into (train, validation) by image."""
    from tfcmgen.data import load_dataset

    kwargs = dict(image_size=config.image_size)
    if config.data == "shapes":
        kwargs.update(num_images=config.num_images, split="train", seed=config.seed)
        if config.held_out is not None:
            kwargs.update(held_out=config.held_out)
    else:
        kwargs.update(format=config.format, strict=config.strict)
    data = load_dataset(config.data, **kwargs)
    return data.split(config.validation_fraction, seed=config.seed)


def prepare_text(config: TrainConfig, run: RunFolder, captions: list[str], resuming: bool,
                 write: bool = True):
    """Builds (or, when resuming, reloads) the vocabulary and the initial embedding matrix.

    `write=False` (non-chief workers) builds the same files but leaves writing them to the chief.
    """
    from tfcmgen.text import (
        Vocabulary,
        load_embedding_matrix,
        load_word_vectors,
        save_embedding_matrix,
        train_word2vec,
    )

    if resuming and os.path.isfile(run.vocab_path) and os.path.isfile(run.embeddings_path):
        vocabulary = Vocabulary.load(run.vocab_path)
        matrix = load_embedding_matrix(run.embeddings_path)
        if len(matrix) != len(vocabulary):
            # Both are written once, atomically, together: one of them was changed or damaged.
            raise RunFolderError(
                f"{run.vocab_path} has {len(vocabulary)} tokens but {run.embeddings_path} has "
                f"{len(matrix)} rows: one of them is damaged or from another run"
            )
        return vocabulary, matrix
    vocabulary = Vocabulary.build(captions, min_count=config.min_count)
    if config.word_vectors:
        matrix, coverage = load_word_vectors(config.word_vectors, vocabulary)
        logger.warning(
            "pretrained word vectors %s cover %.1f%% of the %d-word vocabulary",
            config.word_vectors, 100 * coverage, len(vocabulary) - 2,
        )
    else:
        matrix = train_word2vec(
            captions,
            vocabulary,
            vector_size=config.embedding_dim,
            epochs=config.word2vec_epochs,
            seed=config.seed,
        )
    if write:
        vocabulary.save(run.vocab_path)
        save_embedding_matrix(run.embeddings_path, matrix)
    return vocabulary, matrix


def build_gan(config: TrainConfig, vocabulary_size: int, embedding_matrix: np.ndarray):
    """A compiled CrossModalGAN for `config`; call inside the strategy scope."""
    import keras

    from tfcmgen.models import CrossModalGAN

    gan = CrossModalGAN(
        vocabulary_size=vocabulary_size,
        max_length=config.max_length,
        image_size=config.image_size,
        embedding_dim=int(embedding_matrix.shape[1]),
        embedding_matrix=embedding_matrix,
        text_pooling=config.text_pooling,
        fusion=config.fusion,
        noise_dim=config.noise_dim,
        generator_width=config.base_width,
        discriminator_width=config.base_width,
        seed=config.seed,
    )
    gan.compile(
        g_optimizer=keras.optimizers.Adam(config.g_learning_rate, beta_1=0.0, beta_2=0.99),
        d_optimizer=keras.optimizers.Adam(config.d_learning_rate, beta_1=0.0, beta_2=0.99),
        loss=config.loss,
        jit_compile=config.jit,
    )
    return gan


def sample_captions(data, count: int = _FALLBACK_SAMPLE_COUNT) -> list[str]:
    """Fixed captions for the per-epoch sample grid: distinct attribute sets where known."""
    seen, chosen = set(), []
    for i, caps in enumerate(data.captions):
        key = tuple(sorted(data.attributes[i].items())) if data.attributes else caps[0]
        if key not in seen:
            seen.add(key)
            chosen.append(caps[0])
        if len(chosen) == count:
            break
    return chosen


def _check_resume(config: TrainConfig, run: RunFolder) -> bool:
    """True if `run` already holds this config (resume); raises if it holds a different one."""
    if not os.path.isfile(run.config_path):
        return False
    previous = TrainConfig.load(run.config_path)
    differing = [
        f.name
        for f in dataclasses.fields(TrainConfig)
        if f.name not in _RESUMABLE_FIELDS
        and getattr(previous, f.name) != getattr(config, f.name)
    ]
    if differing:
        raise ConfigError(
            f"{run.root!r} already holds a run with a different configuration "
            f"({', '.join(differing)} differ); resume it with `tfcmgen train --config "
            f"{run.config_path}` or choose a new --out"
        )
    return True


def save_model_atomic(model, path: str) -> None:
    """Saves a .keras file through a temporary name and a rename."""
    with atomic_path(path, suffix=".keras") as temporary:
        model.save(temporary)


def start_run(config: TrainConfig):
    """What every training job does first: strategy, run folder, resume check, config, seed.

    Returns (strategy, run, chief, resuming). Shared by `train` and `tfcmgen.editing.train_editor`.
    """
    if config.minutes and config.resolved_strategy == "multiworker":
        # Each worker's clock would stop it at a different step, and the others would then wait
        # for it forever in the next all-reduce.
        raise ConfigError(
            "minutes is not supported with strategy='multiworker' (workers would stop at "
            f"different steps); bound the run with epochs and steps_per_epoch; received "
            f"minutes={config.minutes}"
        )
    strategy = make_strategy(config)  # first: logical CPU devices must be set before TF starts
    import keras

    run = RunFolder(config.out)
    chief = is_chief(strategy)
    os.makedirs(run.root, exist_ok=True)
    resuming = _check_resume(config, run)
    if chief:
        # Half-written files of a killed run: the files they were replacing are whole.
        for folder in (run.root, run.samples_dir, run.backup_dir):
            for temporary in stale_temporaries(folder):
                os.remove(temporary)
        config.save(run.config_path)
    keras.utils.set_random_seed(config.seed)
    return strategy, run, chief, resuming


def train(config: TrainConfig, verbose: int | str = "auto") -> TrainResult:
    """Trains a model as `config` says and writes the run folder (see `tfcmgen.runs`).

    Running the same config again on the same folder resumes from the last backup.

    Args:
        config: TrainConfig. What to train.
        verbose: Keras `fit` verbosity. Defaults to "auto" (progress bar).

    Returns:
        TrainResult with the run folder, model, history and wall-clock seconds.
    """
    if config.task != "text2image":
        from tfcmgen.editing import train_editor

        return train_editor(config, verbose=verbose)

    started = time.monotonic()
    strategy, run, chief, resuming = start_run(config)
    import keras
    import tensorflow as tf

    from tfcmgen.backup import TrainingBackup
    from tfcmgen.callbacks import SampleGrid, TensorBoardImages, TimeBudget
    from tfcmgen.data import CAPTIONED_ATTRIBUTES, make_dataset
    from tfcmgen.text import CaptionTokenizer

    train_data, _ = load_training_data(config)
    logger.info("training data: %s", train_data.summary())
    vocabulary, matrix = prepare_text(
        config, run, train_data.all_captions(), resuming, write=chief
    )
    tokenizer = CaptionTokenizer(vocabulary.tokens, max_length=config.max_length)

    def training_dataset():
        return make_dataset(
            train_data,
            tokenizer,
            image_size=config.image_size,
            batch_size=config.batch_size,
            shuffle=True,
            # Flips swap "left"/"right" in the caption; rotation and crop only touch captions
            # that name no position, so no augmentation makes a caption false.
            augment="auto",
            seed=config.seed,
            mismatch_on=CAPTIONED_ATTRIBUTES if config.data == "shapes" else None,
            near_miss=config.near_miss,
            # The same batches in the same order on every worker and in a resumed run.
            deterministic=True,
            drop_remainder=True,
        )

    def data_stream(dataset, first_step):
        """The endless stream of training batches from global step `first_step` on.

        tf.data reshuffles by counters kept in the dataset object, so each `fit` gets a fresh
        object and iterates it once: then a resumed run, skipping the steps already taken, sees
        the batches an uninterrupted run would have seen next.
        """
        stream = dataset.repeat().skip(first_step)
        if config.resolved_strategy == "multiworker":
            options = tf.data.Options()
            # Every worker renders/loads the same in-memory data. Under DATA sharding
            # tf.distribute splits every global batch into one slice per replica and gives each
            # worker its own slices: N workers take the same steps as one process.
            options.experimental_distribute.auto_shard_policy = (
                tf.data.experimental.AutoShardPolicy.DATA
            )
            stream = stream.with_options(options)
        return stream

    dataset = training_dataset()
    steps_per_epoch = config.steps_per_epoch or int(dataset.cardinality())

    previous_policy = keras.mixed_precision.global_policy()
    # Keras' dtype policy is global: it holds while this run's model is built, then is put back.
    keras.mixed_precision.set_global_policy(config.precision)
    try:
        with strategy.scope():
            gan = build_gan(config, len(vocabulary), matrix)
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)
    if config.resolved_strategy != "default":
        _work_around_keras_distribution(gan, config.resolved_strategy == "multiworker")

    backup = TrainingBackup(
        run.backup_dir, steps_per_epoch, every_steps=config.backup_every_steps, chief=chief
    )
    if backup.restore(gan):
        logger.warning(
            "resuming %s from its backup at epoch %d, step %d of %d (%d steps done)",
            run.root, backup.epoch + 1, backup.step_in_epoch, steps_per_epoch, backup.step,
        )
    captions = sample_captions(train_data)
    sample_ids = tokenizer(tf.constant(captions)).numpy()
    budget = TimeBudget(minutes=config.minutes) if config.minutes else None
    callbacks = [backup]
    if budget is not None:
        callbacks.append(budget)
    if chief:
        callbacks += [
            SampleGrid(sample_ids, captions, run.samples_dir, seed=config.seed,
                       samples_per_caption=4),
            TensorBoardImages(run.logs_dir, sample_ids, captions, seed=config.seed),
            keras.callbacks.TensorBoard(run.logs_dir, write_graph=False),
        ]
    history = {}
    try:
        while backup.step < config.epochs * steps_per_epoch:
            first_step, epoch, done_in_epoch = backup.step, backup.epoch, backup.step_in_epoch
            # A run resumed mid-epoch first finishes that epoch, then runs the rest.
            fitted = gan.fit(
                data_stream(training_dataset() if dataset is None else dataset, first_step),
                initial_epoch=epoch,
                epochs=epoch + 1 if done_in_epoch else config.epochs,
                steps_per_epoch=steps_per_epoch - done_in_epoch,
                callbacks=callbacks,
                verbose=verbose,
                shuffle=False,  # make_dataset already shuffles, per epoch
            )
            dataset = None
            for name, values in fitted.history.items():
                history.setdefault(name, []).extend(values)
            if (budget is not None and budget.stopped) or backup.step == first_step:
                break  # out of time, or stopped by a callback before taking a step
            if budget is not None:
                # TimeBudget restarts its clock in every fit: the next one gets what is left.
                budget.seconds -= budget.elapsed
    finally:
        backup.close()
    if chief:
        save_model_atomic(gan, run.model_path)
    return TrainResult(
        run=run,
        model=gan,
        history=history,
        seconds=time.monotonic() - started,
        stopped_by_budget=bool(budget is not None and budget.stopped),
    )
