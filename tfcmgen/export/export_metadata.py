"""Moved to `tfcmgen.runtime.export_metadata` (the TensorFlow-free runtime layer); re-exported
here for existing imports."""

from tfcmgen.runtime import export_metadata as _moved
from tfcmgen.runtime.export_metadata import *  # noqa: F401,F403


def __getattr__(name):
    return getattr(_moved, name)
