"""Writing an export folder all at once: into a temporary sibling folder, then renamed into place.

A failed or killed export leaves no half-written folder behind: the destination either keeps its
old content or gets the complete new one. Replacing an existing folder needs `overwrite=True`, and
even then only a previous tfcmgen export (or an empty folder) is replaced, never another folder.

Example:

>>> with staged_folder("exports/demo", overwrite=False) as folder:  # doctest: +SKIP
...     write_everything_into(folder)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile

from tfcmgen.export.export_metadata import METADATA_FILE, ExportError


class ExportExistsError(ExportError, FileExistsError):
    """The export folder exists and overwriting was not asked for.

    Both a FileExistsError and an ExportError (a ValueError), so the CLI reports it as bad input.
    """


def check_destination(out: str, overwrite: bool) -> None:
    """Raises before any work when `out` may not be written.

    Raises:
        ExportExistsError: `out` exists and `overwrite` is False (a FileExistsError).
        ExportError: `out` exists, `overwrite` is True, but it is a file or a folder that is not a
            tfcmgen export (replacing it would delete someone's files).
    """
    if not os.path.lexists(out):
        return
    if not overwrite:
        raise ExportExistsError(
            f"export folder {out!r} already exists; pass --overwrite (ExportConfig.overwrite=True) "
            "to replace it"
        )
    if not os.path.isdir(out) or os.path.islink(out):
        raise ExportError(f"refusing to replace {out!r}: it is not a folder")
    if os.listdir(out) and not os.path.isfile(os.path.join(out, METADATA_FILE)):
        raise ExportError(
            f"refusing to replace {out!r} even with --overwrite: it is not a tfcmgen export "
            f"(no {METADATA_FILE}) and would be deleted"
        )


@contextlib.contextmanager
def staged_folder(out: str, overwrite: bool = False):
    """Yields an empty temporary folder beside `out`; on success it becomes `out`.

    On an exception the temporary folder is deleted and `out` is left as it was.
    """
    out = os.path.abspath(os.fspath(out))
    check_destination(out, overwrite)
    parent = os.path.dirname(out)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{os.path.basename(out)}.partial-", dir=parent)
    try:
        yield staging
        _commit(staging, out, overwrite)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _commit(staging: str, out: str, overwrite: bool) -> None:
    # Checked again: another process may have created `out` while this export ran.
    check_destination(out, overwrite)
    if not os.path.lexists(out):
        os.rename(staging, out)
        return
    retired = tempfile.mkdtemp(prefix=f".{os.path.basename(out)}.old-", dir=os.path.dirname(out))
    os.rmdir(retired)
    os.rename(out, retired)
    try:
        os.rename(staging, out)
    except BaseException:
        os.rename(retired, out)
        raise
    shutil.rmtree(retired, ignore_errors=True)
