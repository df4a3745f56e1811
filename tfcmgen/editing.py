"""Moved: edit pairs are `tfcmgen.data.edit_pairs`, the edit task `tfcmgen.tasks.edit`, image
conversion `tfcmgen.runtime.images`, editing with a trained model `tfcmgen.jobs.generate`. This
module re-exports their names for existing imports."""

from tfcmgen.data.edit_pairs import (  # noqa: F401
    EDIT_ATTRIBUTES,
    EditPairs,
    edit_dataset,
    make_edit_pairs,
    render_edit_pairs,
)
from tfcmgen.jobs.generate import edit_grid, edit_images  # noqa: F401
from tfcmgen.runtime.images import (  # noqa: F401
    check_edit_model,
    pair_captions,
    prepare_source_images,
    to_rgb_batch,
)
from tfcmgen.tasks.edit import SUPERVISIONS, build_editor  # noqa: F401


def train_editor(config, verbose="auto", supervision=None):
    """Trains a TextImageEditor: `tfcmgen.jobs.runner.train` with the edit task's option."""
    from tfcmgen.config import ConfigError
    from tfcmgen.jobs.runner import train

    if config.task != "edit":
        raise ConfigError(f"train_editor trains task 'edit'; received task={config.task!r}")

    return train(config, verbose=verbose, supervision=supervision)
