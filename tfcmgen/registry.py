"""The names every option may take, one registry per option kind: the single source of truth.

The CLI's `choices`, `TrainConfig`'s validation and the models' argument checks all read these.
Implementations are named by import path (`"module:attribute"`) and resolved on first use, so
this module imports nothing and everything may import it.

A new task is one module under `tfcmgen/tasks/` plus one entry in `TASKS`.

Example:

>>> from tfcmgen.registry import TASKS, resolve
>>> sorted(TASKS)
['edit', 'text2image']
>>> resolve(TASKS["edit"]).name
'edit'
"""

from __future__ import annotations

import importlib

# Task name -> the Task subclass that trains it (see `tfcmgen.tasks.Task`).
TASKS = {
    "text2image": "tfcmgen.tasks.text2image:TextToImageTask",
    "edit": "tfcmgen.tasks.edit:EditTask",
}


def resolve(path: str):
    """Imports `"package.module:attribute"` and returns the attribute."""
    module, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module), attribute)


def check_choice(kind: str, value, registry) -> None:
    """Raises ValueError naming `kind`, the choices and `value` unless `value` is in `registry`."""
    if value not in registry:
        shown = ", ".join(repr(c) for c in registry)
        raise ValueError(f"{kind} must be one of {shown}; received {kind}={value!r}")
