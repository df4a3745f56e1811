"""Atomic file writes: every file tfcmgen writes goes to a temporary name, then is renamed.

A run killed at any moment leaves either the previous good file or the new one, never half of one.
`os.replace` is atomic on POSIX and Windows when both names are in the same folder, so the
temporary file is created beside its target.

Example:

>>> import os, tempfile
>>> from tfcmgen.atomic import write_bytes_atomic
>>> path = os.path.join(tempfile.mkdtemp(), "hello.txt")
>>> write_bytes_atomic(path, b"hi")
>>> open(path, "rb").read()
b'hi'
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile

# atomic_path's temporary names, anchored at both ends: "." + target name + "." + mkstemp's 8
# characters + "-tmp" + one of the suffixes tfcmgen's writers use. A user's ".profile.x-tmp-user"
# does not match (an unanchored pattern once deleted such files).
TEMPORARY_SUFFIXES = ("", ".keras", ".weights.h5")
_TEMPORARY_NAME = re.compile(
    r"^\.[^/]+\.[a-z0-9_]{8}-tmp(" + "|".join(re.escape(s) for s in TEMPORARY_SUFFIXES) + r")$"
)


def _default_mode() -> int:
    # mkstemp creates 0600 files; give the file the permissions an ordinary open() would.
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_path(path, suffix: str = ""):
    """Yields a temporary path beside `path`; on success renames it to `path`, else removes it.

    Use for writers that need a file name (Keras `save`, OpenCV `imwrite`). `suffix` keeps the
    extension such writers look at (e.g. ".keras").
    """
    path = os.fspath(path)
    if suffix not in TEMPORARY_SUFFIXES:
        raise ValueError(f"suffix must be one of {TEMPORARY_SUFFIXES}; received suffix={suffix!r}")
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, temporary = tempfile.mkstemp(
        prefix=f".{os.path.basename(path)}.", suffix=f"-tmp{suffix}", dir=folder
    )
    os.close(fd)
    try:
        yield temporary
        os.chmod(temporary, _default_mode())
        _fsync(temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def _fsync(path: str) -> None:
    # Data on disk before the rename: after a power cut (not only a killed process) the new name
    # then holds the whole file, not an empty one. Best effort: some systems refuse fsync here.
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def stale_temporaries(folder) -> list[str]:
    """Temporary files of `atomic_path` in `folder`: left there by writers killed mid-write.

    Their targets still hold the previous good copy. The owner of the folder may remove them
    when no other writer can be running.
    """
    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        return []
    return sorted(
        os.path.join(folder, name)
        for name in os.listdir(folder)
        if _TEMPORARY_NAME.match(name) and os.path.isfile(os.path.join(folder, name))
    )


def write_bytes_atomic(path, data: bytes) -> None:
    """Writes `data` to `path` through a temporary file, fsync and a rename (`atomic_path`)."""
    with atomic_path(path) as temporary, open(temporary, "wb") as stream:
        stream.write(data)


def write_text_atomic(path, text: str) -> None:
    """Writes UTF-8 `text` (with "\\n" line ends) to `path` atomically."""
    write_bytes_atomic(path, text.encode("utf-8"))
