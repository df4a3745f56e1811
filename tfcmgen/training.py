"""Moved: the training job is `tfcmgen.jobs.runner` (any task); the text-to-image model builder
is `tfcmgen.tasks.text2image`. This module re-exports their names for existing imports."""

from tfcmgen.jobs.distribution import (  # noqa: F401
    configure_replicas,
    is_chief,
    make_strategy,
)
from tfcmgen.jobs.runner import (  # noqa: F401
    TrainResult,
    prepare_text,
    save_model_atomic,
    start_run,
    train,
)
from tfcmgen.tasks.text2image import build_gan, sample_captions  # noqa: F401


def load_training_data(config):
    """The CaptionedImages for `config.data` split into (train, validation) by image."""
    from tfcmgen.tasks import get_task

    return get_task(config).load_data()
