"""What tfcmgen may delete or overwrite: only what it can prove it wrote. The rule lives here alone.

- An **export** folder proves its files by a manifest in its marker (`tfcmgen_export.json`):
  each file's path relative to the folder and its SHA-256. `--overwrite` replaces an entry only
  when every file under it is listed and unchanged; anything else in the folder (a user's
  `NOTES.md`, a `mydata/` folder) is never touched, and a changed file stops the export.
- A **run** folder is proven by its `config.json` (checked as a `TrainConfig` by the training job
  before anything is written); training writes only
  the names of `tfcmgen.runs.RunFolder` inside it and removes only its own half-written
  temporaries (`tfcmgen.atomic.stale_temporaries`, matched by an anchored pattern).
- An `--out` that is neither (nor missing, nor empty) is refused, and the message lists what is
  there. Nothing outside `--out` is written except a staging folder beside a new `--out`, renamed
  into place at the end.
- One writer at a time: `writer_lock` holds an exclusive lock file inside the folder; a second
  writer gets "another export is writing here" instead of a traceback.

Example:

>>> import os, tempfile
>>> folder = tempfile.mkdtemp()
>>> with open(os.path.join(folder, "a.txt"), "w") as stream:
...     _ = stream.write("hello")
>>> manifest = build_manifest(folder)
>>> list(manifest)
['a.txt']
>>> unproven(folder, manifest, "a.txt")
[]
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re

LOCK_FILE = ".tfcmgen.lock"
# Shown in refusals: how many of the folder's entries are named before "...".
_SHOWN = 8
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class OwnershipError(ValueError):
    """tfcmgen refuses to write here: the folder (or a file in it) is not provably its own."""


class ConcurrentWriterError(OwnershipError):
    """Another tfcmgen process holds the folder's writer lock."""


def sha256_file(path: str) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def build_manifest(folder: str, skip=()) -> dict:
    """`{relative path: sha256}` of every regular file under `folder` ('/'-separated, sorted).

    Args:
        folder: str. The folder to list.
        skip: names (relative paths) left out, e.g. the marker that will hold the manifest.
    """
    manifest = {}
    for parent, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(parent, name)
            relative = os.path.relpath(path, folder).replace(os.sep, "/")
            if relative in skip or name == LOCK_FILE:
                continue
            manifest[relative] = sha256_file(path)
    return manifest


def check_relative_path(relative, where: str) -> str:
    """A relative path from a marker, checked to stay inside its folder by its spelling.

    Raises:
        OwnershipError: naming `where`, for a non-string, empty, absolute or `..` path.
    """
    if not isinstance(relative, str) or not relative or "\x00" in relative:
        raise OwnershipError(f"{where}: a path must be a non-empty string; found {relative!r}")
    parts = relative.replace("\\", "/").split("/")
    if os.path.isabs(relative) or relative.startswith(("/", "\\")) or ".." in parts or (
        len(relative) > 1 and relative[1] == ":"
    ):
        raise OwnershipError(
            f"{where}: path {relative!r} leaves its folder (absolute or '..'); refused"
        )
    return relative


def inside(folder: str, relative: str, where: str) -> str:
    """`folder/relative` after resolving symlinks, refused when it resolves outside `folder`."""
    check_relative_path(relative, where)
    root = os.path.realpath(folder)
    real = os.path.realpath(os.path.join(folder, relative))
    if os.path.commonpath([root, real]) != root:
        raise OwnershipError(
            f"{where}: path {relative!r} resolves outside {folder!r} (a symlink out); refused"
        )
    return real


def validate_manifest(value, where: str) -> dict:
    """A marker's manifest, checked: `{relative path: 64 hex digits}` with safe paths."""
    if not isinstance(value, dict):
        raise OwnershipError(f"{where}: manifest must be an object; found {type(value).__name__}")
    for relative, digest in value.items():
        check_relative_path(relative, where)
        if not isinstance(digest, str) or not _SHA256.match(digest):
            raise OwnershipError(
                f"{where}: manifest entry {relative!r} needs a SHA-256 (64 hex digits)"
            )
    return dict(value)


def unproven(folder: str, manifest: dict, entry: str) -> list[str]:
    """What under `folder/entry` tfcmgen cannot prove it wrote (empty list: all of it is ours).

    A file is proven when the manifest lists it with its current SHA-256; a folder when every
    file under it is proven. Symlinks are never proven (they may point anywhere).
    """
    path = os.path.join(folder, entry)
    if not os.path.lexists(path):
        return []
    if os.path.islink(path):
        return [f"{entry} (a symlink)"]
    if os.path.isfile(path):
        if manifest.get(entry) is None:
            return [f"{entry} (not written by tfcmgen)"]
        if sha256_file(path) != manifest[entry]:
            return [f"{entry} (changed since tfcmgen wrote it)"]
        return []
    if not os.path.isdir(path):
        return [f"{entry} (not a regular file)"]
    problems = []
    for name in sorted(os.listdir(path)):
        problems += unproven(folder, manifest, f"{entry}/{name}")
    return problems


def describe_contents(folder: str) -> str:
    """What a folder holds, for refusals: 'thesis.tex, run/, notes.txt (3 entries)'."""
    names = sorted(os.listdir(folder))
    shown = [n + ("/" if os.path.isdir(os.path.join(folder, n)) else "") for n in names[:_SHOWN]]
    more = f", ... ({len(names) - _SHOWN} more)" if len(names) > _SHOWN else ""
    return f"{', '.join(shown)}{more} ({len(names)} entr{'y' if len(names) == 1 else 'ies'})"


def is_empty_folder(folder: str) -> bool:
    """True for a folder holding nothing but tfcmgen's lock file and half-written temporaries
    (`tfcmgen.atomic.stale_temporaries`: a run killed while writing its first file)."""
    from tfcmgen.atomic import stale_temporaries

    ours = {LOCK_FILE} | {os.path.basename(path) for path in stale_temporaries(folder)}
    return all(name in ours for name in os.listdir(folder))


def _is_run(folder: str) -> bool:
    """A folder with a `config.json` holding a JSON object: a run, or a folder whose config the
    training job then refuses, naming the field, before it writes anything (`check_resume`)."""
    import json

    path = os.path.join(folder, "config.json")
    if not os.path.isfile(path) or os.path.islink(path):
        return False
    try:
        with open(path, encoding="utf-8") as stream:
            return isinstance(json.load(stream), dict)
    except (OSError, UnicodeDecodeError, ValueError):
        return False


def _is_export(folder: str) -> bool:
    from tfcmgen.runtime.export_metadata import ExportError, ExportMetadata

    try:
        ExportMetadata.load(folder)
    except ExportError:
        return False
    return True


def check_out_folder(out: str, kind: str) -> str:
    """Refuses an `--out` tfcmgen may not write a `kind` ("run" or "export") into.

    Returns "missing", "empty" or `kind` (an existing run / export, whose own checks follow).

    Raises:
        OwnershipError: `out` is a file or symlink, is the other kind, or is a non-empty folder
            that is neither; the message lists what is there.
    """
    if kind not in ("run", "export"):
        raise ValueError(f"kind must be 'run' or 'export'; received kind={kind!r}")
    if not os.path.lexists(out):
        return "missing"
    if os.path.islink(out):
        raise OwnershipError(
            f"--out {out!r} is a symlink; tfcmgen writes only into a real folder (pass the folder "
            "it points to)"
        )
    if not os.path.isdir(out):
        raise OwnershipError(f"--out {out!r} is a file, not a folder; choose a folder")
    if is_empty_folder(out):
        return "empty"
    run, export = _is_run(out), _is_export(out)
    if (kind == "run" and run) or (kind == "export" and export):
        return kind
    flag = "train --out" if kind == "run" else "export --out"
    if run:
        what = "it is a training run folder"
    elif export:
        what = "it is a tfcmgen export"
    else:
        what = "it is neither a tfcmgen run nor an export"
    raise OwnershipError(
        f"refusing {flag} {out!r}: {what} and it holds {describe_contents(out)}; tfcmgen never "
        "writes into a folder it did not make: choose a new or empty folder"
    )


def check_not_inside(out: str, protected: str, what: str) -> None:
    """Refuses an `out` that is `protected` or lies inside it (e.g. the model being exported)."""
    out_real, protected_real = os.path.realpath(out), os.path.realpath(protected)
    if os.path.commonpath([out_real, protected_real]) == protected_real:
        raise OwnershipError(
            f"refusing --out {out!r}: it is inside {what} {protected!r}, which must not change"
        )


@contextlib.contextmanager
def writer_lock(folder: str, action: str = "export"):
    """Holds an exclusive lock on `folder/.tfcmgen.lock` (created if missing) while writing.

    The lock file stays (removing it would let a third writer lock a different inode); tfcmgen
    ignores it everywhere else. POSIX `fcntl.flock`; released when the process dies.

    Raises:
        ConcurrentWriterError: another process holds it.
    """
    import fcntl

    path = os.path.join(folder, LOCK_FILE)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConcurrentWriterError(
                f"another {action} is writing here ({folder!r}); wait for it to finish, then "
                "run this again"
            ) from None
        yield path
    finally:
        os.close(descriptor)
