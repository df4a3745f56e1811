"""A quiet start for the command line: TensorFlow's C++ start-up lines only with --verbose.

Importing TensorFlow (and again tensorflow-text, which loads its own copy of absl) writes lines
such as "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
"I0000 ... oneDNN custom operations are on" and, on a machine without a GPU, "E0000 ... failed call
to cuInit: UNKNOWN ERROR (303)" when the devices are listed. They come from absl / C++ logging
straight to file descriptor 2, before any Python logging is set up; `TF_CPP_MIN_LOG_LEVEL` no longer
silences the absl ones. A new user reads the ERROR line as a failure.

`import_tensorflow_quietly()` therefore points descriptor 2 at a temporary file while it imports
TensorFlow, Keras and tensorflow-text and lists the physical devices (which runs cuInit), then
points it back. What was captured is replayed to stderr if the import fails, and dropped
otherwise. Listing devices does not initialise them, so logical CPU devices can still be
configured afterwards (`tfcmgen.jobs.distribution.configure_replicas`).

Example:

>>> from tfcmgen.quiet_start import import_tensorflow_quietly
>>> import_tensorflow_quietly()  # doctest: +SKIP
"""

from __future__ import annotations

import os
import sys
import tempfile


def import_tensorflow_quietly(verbose: bool = False) -> None:
    """Imports TensorFlow, Keras and tensorflow-text with their C++ start-up lines hidden.

    Does nothing if TensorFlow is already imported. With `verbose`, imports without hiding.

    Args:
        verbose: bool. Show the lines (plain import). Defaults to False.
    """
    if "tensorflow" in sys.modules:
        return
    if verbose:
        _import_all()
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        failed = True
        try:
            _import_all()
            failed = False
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            if failed:
                # The captured lines may explain the failure: show them.
                capture.seek(0)
                sys.stderr.write(capture.read().decode("utf-8", errors="replace"))
                sys.stderr.flush()


def _import_all() -> None:
    import tensorflow as tf

    import keras  # noqa: F401

    try:
        import tensorflow_text  # noqa: F401
    except ImportError:  # optional for the core-ops tokenizer
        pass
    tf.config.list_physical_devices()
