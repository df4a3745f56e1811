"""The trainable tasks: each module declares one kind of model's data, model and defaults.

`get_task(config)` returns the `Task` that trains `config.task`; the names live in
`tfcmgen.registry.TASKS`. The runner (`tfcmgen.jobs.runner`) trains any of them.
"""

from __future__ import annotations

from tfcmgen.registry import TASKS, resolve
from tfcmgen.tasks.base import Task


def task_class(name: str) -> type[Task]:
    """The Task subclass registered as `name`."""
    from tfcmgen.config import ConfigError

    if name not in TASKS:
        shown = ", ".join(repr(n) for n in TASKS)
        raise ConfigError(f"task must be one of {shown}; received task={name!r}")
    return resolve(TASKS[name])


def get_task(config, **options) -> Task:
    """The Task instance that trains `config` (options are task-specific, see each task)."""
    return task_class(config.task)(config, **options)


__all__ = ["Task", "get_task", "task_class"]
