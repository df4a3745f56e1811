"""The runner: `train(config)` trains any task and turns a TrainConfig into a finished run folder.

Everything every task needs lives here once: the strategy, the run folder (see `tfcmgen.runs`),
resuming from `RUN/backup` (mid-epoch too), the vocabulary and word vectors, the mixed-precision
policy, the time budget, the callbacks every run gets, the `fit` loop and the final save. What a
task does differently (data, model, defaults, samples, evaluation) comes from its `Task`
(`tfcmgen.tasks`). The steps, in order, are the functions below `train`.

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

from tfcmgen.atomic import atomic_path, stale_temporaries
from tfcmgen.config import (
    RESOLVED_FIELDS,
    ConfigError,
    TrainConfig,
    describe_sizes,
    resolve_for_dataset,
)
from tfcmgen.jobs.distribution import (
    is_chief,
    make_strategy,
    shard_for_workers,
)
from tfcmgen.runs import RunFolder, RunFolderError
from tfcmgen.tasks import get_task

logger = logging.getLogger(__name__)

# Only these fields may differ when a run folder is trained again: they extend or budget the run
# without changing what is trained.
# Keras' epoch counter for a run that only a time budget ends.
_UNBOUNDED_EPOCHS = 1_000_000_000
_RESUMABLE_FIELDS = ("epochs", "minutes", "sample_every_steps", "backup_every_steps",
                     "evaluate_every")


@dataclasses.dataclass
class TrainResult:
    """What `train` returns: the run folder, the trained model and the Keras history."""

    run: RunFolder
    model: object
    history: dict
    seconds: float
    stopped_by_budget: bool
    # Global steps done when the run ended (resumed runs count their earlier steps too).
    steps: int = 0
    # What ended it: "minutes" (the time budget), "epochs" or "callback" (e.g. early stopping).
    ended_by: str = "epochs"
    # The config as trained: sizes resolved for the dataset (`resolve_for_dataset`), as in
    # config.json.
    config: TrainConfig | None = None


def train(config: TrainConfig, verbose: int | str = "auto", **task_options) -> TrainResult:
    """Trains a model as `config` says and writes the run folder (see `tfcmgen.runs`).

    Running the same config again on the same folder resumes from the last backup.

    Args:
        config: TrainConfig. What to train; `config.task` picks the Task.
        verbose: Keras `fit` verbosity. Defaults to "auto" (progress bar).
        **task_options: options of the task (e.g. `supervision` for `"edit"`).

    Returns:
        TrainResult with the run folder, model, history and wall-clock seconds.
    """
    task = get_task(config, **task_options)  # first: a setting the task cannot train fails here
    started = time.monotonic()
    strategy, run, chief, resuming = start_run(config)
    import keras

    from tfcmgen.backup import TrainingBackup
    from tfcmgen.callbacks import SampleGrid
    from tfcmgen.text import CaptionTokenizer

    train_data, validation_data = task.load_data()
    logger.info("training data: %s", train_data.summary())
    if task.augments:
        train_data, config = resolve_augment(config, train_data)
    config = resolve_sizes(config, run, resuming, len(train_data), task)
    task.config = config
    vocabulary, matrix = prepare_text(
        config, run, task.vocabulary_captions(train_data), resuming, write=chief
    )
    tokenizer = CaptionTokenizer(vocabulary.tokens, max_length=config.max_length)
    dataset = task.dataset(train_data, tokenizer)
    steps_per_epoch = config.steps_per_epoch

    model = build_model(task, strategy, len(vocabulary), matrix)
    backup = TrainingBackup(
        run.backup_dir, steps_per_epoch, every_steps=config.backup_every_steps, chief=chief
    )
    if backup.restore(model):
        logger.warning(
            "resuming %s from its backup at epoch %d, step %d of %d (%d steps done)",
            run.root, backup.epoch + 1, backup.step_in_epoch, steps_per_epoch, backup.step,
        )
    budget = time_budget(config)
    callbacks = [backup] + ([budget] if budget is not None else [])
    if chief:
        callbacks += schedule_samples(task.sample_callbacks(train_data, tokenizer, run), config)
        callbacks += task.evaluation_callbacks(validation_data, tokenizer, run)
        callbacks.append(keras.callbacks.TensorBoard(run.logs_dir, write_graph=False))

    history = {}
    steps_before = backup.step
    # No --epochs with --minutes: the time budget alone ends the run.
    epochs = config.epochs if config.epochs is not None else _UNBOUNDED_EPOCHS
    try:
        while backup.step < epochs * steps_per_epoch:
            first_step, epoch, done_in_epoch = backup.step, backup.epoch, backup.step_in_epoch
            # A run resumed mid-epoch first finishes that epoch, then runs the rest.
            if dataset is None:
                dataset = task.dataset(train_data, tokenizer)
            for callback in callbacks:
                if isinstance(callback, SampleGrid):
                    callback.step = backup.step  # step-paced samples count global steps
            fitted = model.fit(
                data_stream(dataset, first_step, config),
                initial_epoch=epoch,
                epochs=epoch + 1 if done_in_epoch else epochs,
                steps_per_epoch=steps_per_epoch - done_in_epoch,
                callbacks=callbacks,
                verbose=verbose,
                shuffle=False,  # the task's dataset already shuffles, per epoch
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
        save_model_atomic(model, run.model_path)
    stopped_by_budget = bool(budget is not None and budget.stopped)
    if stopped_by_budget and backup.step - steps_before <= 1:
        logger.warning("the minutes=%g budget ran out during the first step (start-up and the "
                       "first step took %.1f min): the model has barely trained; give more "
                       "minutes", config.minutes, (time.monotonic() - started) / 60)
    ended_by = "minutes" if stopped_by_budget else (
        "epochs" if backup.step >= epochs * steps_per_epoch else "callback")
    return TrainResult(
        run=run,
        model=model,
        history=history,
        seconds=time.monotonic() - started,
        stopped_by_budget=stopped_by_budget,
        steps=int(backup.step),
        ended_by=ended_by,
        config=config,
    )


def run_summary(config, result) -> str:
    """One line: steps, minutes, what ended the run, where the model is."""
    config = result.config or config
    if result.ended_by == "minutes":
        reason = f"the --minutes {config.minutes:g} budget ran out"
    elif result.ended_by == "epochs":
        reason = f"all {config.epochs} epochs done"
    else:
        reason = "a callback stopped it"
    return (f"trained {result.steps} steps in {result.seconds / 60:.1f} min; ended because "
            f"{reason}; model: {result.run.model_path}")


def start_run(config: TrainConfig):
    """What every run does first: strategy, run folder, resume check, config, seed.

    Returns (strategy, run, chief, resuming).
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
    run.create()  # refuses a folder that is neither new, empty nor a run (tfcmgen.ownership)
    resuming = check_resume(config, run)
    if chief:
        # Half-written files of a killed run: the files they were replacing are whole.
        for folder in (run.root, run.samples_dir, run.backup_dir):
            for temporary in stale_temporaries(folder):
                os.remove(temporary)
    keras.utils.set_random_seed(config.seed)
    return strategy, run, chief, resuming


def check_resume(config: TrainConfig, run: RunFolder) -> bool:
    """True if `run` already holds this config (resume); raises if it holds a different one."""
    if not os.path.isfile(run.config_path):
        return False
    previous = TrainConfig.load(run.config_path)
    differing = [
        f.name
        for f in dataclasses.fields(TrainConfig)
        if f.name not in _RESUMABLE_FIELDS
        and getattr(previous, f.name) != getattr(config, f.name)
        # Left to be resolved: the run keeps the value it resolved before (resolve_sizes).
        and not (f.name in RESOLVED_FIELDS and getattr(config, f.name) is None)
        # "auto" was resolved to the concrete choice saved in config.json (resolve_augment).
        and not (f.name == "augment" and config.augment == "auto")
    ]
    if differing:
        raise ConfigError(
            f"{run.root!r} already holds a run with a different configuration "
            f"({', '.join(differing)} differ); resume it with `tfcmgen train --config "
            f"{run.config_path}` or choose a new --out"
        )
    return True


def resolve_sizes(config: TrainConfig, run: RunFolder, resuming: bool, num_train_images: int,
                  task) -> TrainConfig:
    """`config` with batch, steps per epoch and sample and backup cadence made concrete.

    A resumed run keeps the values its config.json holds (the backup's step arithmetic and the
    run's cadence stay as they were); otherwise `resolve_for_dataset` chooses them from the
    training set's size. Logged once, in one line; `prepare_text` writes them into config.json.
    """
    given = config
    if resuming:
        config = adopt_saved_sizes(config, TrainConfig.load(run.config_path))
    config = resolve_for_dataset(config, num_train_images,
                                 default_batch_size=task.defaults.get("batch_size"))
    logger.warning("%s", describe_sizes(config, num_train_images, given))
    return config


def adopt_saved_sizes(config: TrainConfig, saved: TrainConfig) -> TrainConfig:
    """`config` with each size it leaves to be resolved (None) taken from `saved`."""
    return config.replace(**{name: getattr(saved, name) for name in RESOLVED_FIELDS
                             if getattr(config, name) is None})


def count_training_images(config: TrainConfig) -> int:
    """Training images of `config.data` after the validation split, without decoding images.

    The built-in datasets render `num_images`; a folder's caption file is parsed and its image
    headers checked (`load_folder` without `image_size`), as training would count them. The
    split takes `round(n * validation_fraction)` images, at least one, as
    `CaptionedImages.split` does.
    """
    from tfcmgen.data import load_folder
    from tfcmgen.registry import DATASETS

    if config.data in DATASETS:
        n = config.num_images
    else:
        n = len(load_folder(config.data, format=config.format, strict=config.strict))
    if n < 2:
        from tfcmgen.data import DatasetError

        raise DatasetError(f"{config.data}: cannot split a dataset of {n} image(s) into "
                           "train and validation")
    return n - min(max(1, round(n * config.validation_fraction)), n - 1)


def resolve_config(config: TrainConfig) -> tuple[TrainConfig, str]:
    """What `tfcmgen train --dry-run` prints: `(config as training would resolve it, its line)`.

    Counts the training images (`count_training_images`); where `config.out` already holds a
    run of this configuration, its saved sizes are kept, as a resumed run keeps them.
    """
    from tfcmgen.tasks import task_class

    given = config
    if os.path.isfile(os.path.join(config.out, "config.json")):
        try:
            if check_resume(config, RunFolder(config.out)):
                saved = TrainConfig.load(os.path.join(config.out, "config.json"))
                config = adopt_saved_sizes(config, saved)
        except ConfigError:
            pass  # training refuses this folder and says why; the dry run shows a new run's sizes
    n = count_training_images(config)
    config = resolve_for_dataset(config, n,
                                 default_batch_size=task_class(config.task).defaults.get(
                                     "batch_size"))
    return config, describe_sizes(config, n, given)


def schedule_samples(callbacks: list, config: TrainConfig) -> list:
    """A task's sample callbacks, paced by `config.sample_every_steps` (resolved).

    A `SampleGrid` writes every that many steps (mid-epoch where epochs are longer); any other
    sample callback writes at the epoch ends nearest that pace (`EpochCadence`). So the number
    of grids depends on the steps trained, not on the dataset's size.
    """
    from tfcmgen.callbacks import EpochCadence, SampleGrid

    every_epochs = max(1, config.sample_every_steps // config.steps_per_epoch)
    paced = []
    for callback in callbacks:
        if isinstance(callback, SampleGrid):
            callback.every_n_steps = config.sample_every_steps
            paced.append(callback)
        else:
            paced.append(EpochCadence(callback, every_epochs))
    return paced


def resolve_augment(config: TrainConfig, train_data):
    """`(train_data, config)` with `augment="auto"` replaced by the choice the data supports.

    `decide_augmentation` tests whether a small classifier tells the images from their mirror
    (and rotated) images; the decision is logged and goes into config.json, so the run folder
    says what was used and `--config RUN/config.json` reuses it. It is seeded, so a resumed run
    decides the same. The images are decoded here once; the task's dataset reuses them.
    """
    if config.augment != "auto":
        return train_data, config
    from tfcmgen.data import decode_images
    from tfcmgen.data.augmentation import decide_augmentation

    train_data = decode_images(train_data, config.image_size, strict=config.strict)
    # All captions: the decision counts those a mirror image keeps true (flips apply to those).
    decision = decide_augmentation(train_data.images, train_data.captions, seed=config.seed)
    logger.warning("%s: %s (decided in %.0f s; set --augment to override)", train_data.name,
                   decision, decision.seconds)
    # prepare_text writes this config (with the concrete choice) into config.json.
    return train_data, config.replace(augment=decision.augment)


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

    if write:
        # Written here, once the data has loaded: a config whose data fails leaves no config.json
        # behind to refuse the corrected retry as "a different configuration".
        config.save(run.config_path)

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
        if write:
            # The vectors know far more words than the captions: keep, for generation, each known
            # word's nearest vocabulary word (tfcmgen.text.word_mapping), not the vectors.
            from tfcmgen.text.word_mapping import WORD_MAP_FILE, build_neighbours, save_word_map

            neighbours, known = build_neighbours(vocabulary, config.word_vectors)
            save_word_map(os.path.join(run.root, WORD_MAP_FILE), neighbours, known)
            logger.info("word map: %d words the captions lack map to vocabulary words",
                        len(neighbours))
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


def build_model(task, strategy, vocabulary_size: int, matrix):
    """The task's compiled model, built under the strategy and the config's precision policy."""
    import keras

    config = task.config
    previous_policy = keras.mixed_precision.global_policy()
    # Keras' dtype policy is global: it holds while this run's model is built, then is put back.
    keras.mixed_precision.set_global_policy(config.precision)
    try:
        with strategy.scope():
            model = task.build_model(vocabulary_size, matrix)
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)
    return model


def time_budget(config: TrainConfig):
    """The callback that stops the run when `config.minutes` run out, or None without a budget."""
    from tfcmgen.callbacks import TimeBudget

    return TimeBudget(minutes=config.minutes) if config.minutes else None


def data_stream(dataset, first_step: int, config: TrainConfig):
    """The endless stream of training batches from global step `first_step` on.

    tf.data reshuffles by counters kept in the dataset object, so each `fit` gets a fresh
    object and iterates it once: then a resumed run, skipping the steps already taken, sees
    the batches an uninterrupted run would have seen next.
    """
    return shard_for_workers(dataset.repeat().skip(first_step), config)


def save_model_atomic(model, path: str) -> None:
    """Saves a .keras file through a temporary name and a rename."""
    with atomic_path(path, suffix=".keras") as temporary:
        model.save(temporary)
