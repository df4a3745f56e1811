"""Writing an export folder all at once, replacing only what tfcmgen proves it wrote.

Everything is written into a staging folder first; the export's marker gets a manifest of it
(relative path -> SHA-256, see `tfcmgen.ownership`), then it is moved into place:

- `out` missing: the staging folder is a sibling of `out` and is renamed to `out` in one step.
- `out` an empty folder or (with `overwrite`) a tfcmgen export: the staging folder is made inside
  `out` under the writer lock, then each entry is renamed into place, the marker last. `out`
  itself never disappears; entries that are replaced or dropped must be proven by the previous
  marker's manifest (listed, unchanged), else nothing is written; everything else in `out` (a
  user's notes, data) is never touched.

A failure before the final renames leaves `out` as it was; a failure during them puts back what
was moved.

Example:

>>> with staged_folder("exports/demo", overwrite=False) as folder:  # doctest: +SKIP
...     write_everything_into(folder)
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import shutil
import tempfile

from tfcmgen.export.export_metadata import (
    FORMAT_VERSION,
    METADATA_FILE,
    ExportError,
    ExportMetadata,
)
from tfcmgen.ownership import (
    ConcurrentWriterError,
    OwnershipError,
    build_manifest,
    check_out_folder,
    unproven,
    writer_lock,
)

# Staging folders inside `out`: this prefix, mkdtemp's 8 characters, and a token file inside.
_STAGING_PREFIX = ".tfcmgen-staging-"
_STAGING_NAME = re.compile(r"^\.tfcmgen-staging-[a-z0-9_]{8}$")
_STAGING_TOKEN = ".tfcmgen-staging"


class ExportExistsError(ExportError, FileExistsError):
    """The export folder exists and overwriting was not asked for.

    Both a FileExistsError and an ExportError (a ValueError), so the CLI reports it as bad input.
    """


@dataclasses.dataclass(frozen=True)
class Destination:
    """What `out` holds before an export: `state` "missing", "empty" or "export"."""

    out: str
    state: str
    previous: ExportMetadata | None = None


def check_destination(out: str, overwrite: bool) -> Destination:
    """Refuses, before any work, an `out` that may not be written.

    Raises:
        ExportExistsError: `out` is an export and `overwrite` is False (a FileExistsError).
        tfcmgen.ownership.OwnershipError: `out` is a file, a run, or a non-empty folder that is
            not an export (the message lists its entries); or an export whose marker has no
            manifest (written before tfcmgen recorded one), so its files cannot be proven.
    """
    out = os.path.abspath(os.fspath(out))
    state = check_out_folder(out, "export")
    if state != "export":
        return Destination(out, state)
    previous = ExportMetadata.load(out)
    if not overwrite:
        raise ExportExistsError(
            f"export folder {out!r} already exists; pass --overwrite (ExportConfig.overwrite="
            "True) to replace its files (a new SavedModel version is added beside the old ones)"
        )
    if not previous.manifest:
        raise OwnershipError(
            f"refusing to overwrite {out!r}: its marker (format_version "
            f"{previous.format_version}) lists no files with checksums, so tfcmgen cannot prove "
            "which files it wrote; move it away or export to a new --out"
        )
    return Destination(out, state, previous)


def stamp_manifest(folder: str, carried: dict | None = None) -> ExportMetadata:
    """Adds the manifest of `folder` (plus `carried` entries) to its marker; returns the marker."""
    metadata = ExportMetadata.load(folder)
    manifest = build_manifest(folder, skip={METADATA_FILE, _STAGING_TOKEN})
    manifest.update(carried or {})
    metadata = metadata.replace(manifest=dict(sorted(manifest.items())),
                                format_version=FORMAT_VERSION)
    metadata.save(folder)
    return metadata


def _top(relative: str) -> str:
    return relative.split("/", 1)[0]


@contextlib.contextmanager
def staged_folder(out: str, overwrite: bool = False, keep=None):
    """Yields an empty staging folder; on success its content becomes `out` (see module doc).

    The writer must put a marker (`tfcmgen_export.json`) into it; its manifest is filled in here.

    Args:
        out: str. The export folder.
        overwrite: bool. Replace a previous export's files. Defaults to False.
        keep: callable `(top-level name) -> bool` or None. Entries of the previous export to keep
            (and carry in the new manifest) although the new export does not write them, e.g.
            older SavedModel versions. Defaults to None (drop every entry not written again).
    """
    destination = check_destination(out, overwrite)
    out = destination.out
    if destination.state == "missing":
        parent = os.path.dirname(out)
        os.makedirs(parent, exist_ok=True)
        staging = tempfile.mkdtemp(prefix=f".{os.path.basename(out)}.partial-", dir=parent)
        try:
            yield staging
            stamp_manifest(staging)
            try:
                os.rename(staging, out)  # replaces nothing but an empty folder, atomically
            except OSError as error:
                raise ConcurrentWriterError(
                    f"another export wrote {out!r} while this one ran ({error.strerror}); "
                    "nothing was replaced: run this again with --overwrite to replace it"
                ) from None
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return
    with writer_lock(out):
        # Checked again under the lock: another writer may have finished meanwhile.
        destination = check_destination(out, overwrite)
        _remove_stale_staging(out)
        staging = tempfile.mkdtemp(prefix=_STAGING_PREFIX, dir=out)
        try:
            # Marks the folder as ours, so a later export may remove it if this one is killed.
            open(os.path.join(staging, _STAGING_TOKEN), "wb").close()
            yield staging
            _commit_in_place(staging, destination, keep)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _remove_stale_staging(out: str) -> None:
    """Removes staging folders of killed exports: our name pattern and our token file only."""
    for name in os.listdir(out):
        path = os.path.join(out, name)
        if (_STAGING_NAME.match(name) and not os.path.islink(path)
                and os.path.isfile(os.path.join(path, _STAGING_TOKEN))):
            shutil.rmtree(path, ignore_errors=True)


def _commit_in_place(staging: str, destination: Destination, keep) -> None:
    out, previous = destination.out, destination.previous
    old_manifest = previous.manifest if previous else {}
    written = sorted(n for n in os.listdir(staging) if n not in (METADATA_FILE, _STAGING_TOKEN))
    old_entries = sorted({_top(r) for r in old_manifest})
    kept = [n for n in old_entries if n not in written and keep is not None and keep(n)]
    dropped = [n for n in old_entries if n not in written and n not in kept]
    replaced = [n for n in written if os.path.lexists(os.path.join(out, n))]
    problems = [p for n in replaced + dropped for p in unproven(out, old_manifest, n)]
    if problems:
        shown = "; ".join(problems[:8]) + (f"; ... ({len(problems) - 8} more)"
                                             if len(problems) > 8 else "")
        raise OwnershipError(
            f"refusing to replace files in {out!r} that tfcmgen cannot prove it wrote: {shown}; "
            "move them away and run this again"
        )
    carried = {r: h for r, h in old_manifest.items() if _top(r) in kept}
    stamp_manifest(staging, carried)

    trash = os.path.join(staging, ".replaced")
    os.mkdir(trash)
    moves = []  # (from, to) done so far, undone in reverse on failure
    try:
        for name in replaced + dropped:
            if name == METADATA_FILE:
                continue
            _move(os.path.join(out, name), os.path.join(trash, name), moves)
        for name in written:
            _move(os.path.join(staging, name), os.path.join(out, name), moves)
        # The marker last, replaced in one step: until here the old marker describes the folder.
        os.replace(os.path.join(staging, METADATA_FILE), os.path.join(out, METADATA_FILE))
    except BaseException:
        for source, target in reversed(moves):
            with contextlib.suppress(OSError):
                os.rename(target, source)
        raise


def _move(source: str, target: str, moves: list) -> None:
    os.rename(source, target)
    moves.append((source, target))

