"""Moved to `tfcmgen.runtime.philox_noise` (the TensorFlow-free runtime layer); re-exported here."""

from tfcmgen.runtime import philox_noise as _moved
from tfcmgen.runtime.philox_noise import *  # noqa: F401,F403


def __getattr__(name):
    return getattr(_moved, name)
