"""The exceptions raised by tfcmgen's data loaders: one base class, so callers catch one name."""

from __future__ import annotations


class DatasetError(ValueError):
    """A dataset could not be loaded as asked: bad caption file, missing or hostile paths, no data.

    Subclasses `ValueError`, so code that guards against bad arguments in general also catches it.
    The message always names the file (and line, where there is one) and what was found there.
    """


class ImageError(DatasetError):
    """One image file could not be used: unreadable, corrupt, unsupported, or over the pixel limit.

    Args:
        path: str. The file.
        reason: str. Why it was refused, in a few words.
    """

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class DatasetWarning(UserWarning):
    """Something in a dataset was skipped (corrupt images, empty captions, ...); the message says
    how many and names the first few."""
