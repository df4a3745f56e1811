"""`CaptionedImages`: the one form every dataset takes before it becomes a `tf.data` pipeline."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from tfcmgen.data.errors import DatasetError


@dataclass
class CaptionedImages:
    """Images, their captions and (for synthetic data) their true attributes.

    Every loader returns one of these: `load_shapes` with the pixels in memory, `load_folder` with
    either decoded pixels or the file paths still to decode. `make_dataset` turns it into batches.

    Args:
        images: `np.ndarray` uint8 of shape `[N, H, W, 3]` (RGB, in memory), or a list of `N`
            absolute file paths not decoded yet.
        captions: list of `N` lists of str. At least one non-empty caption per image.
        attributes: list of `N` dicts from attribute name to value, or None. The shapes dataset
            gives `{"colour", "shape", "size", "position", "background"}`; they drive evaluation
            and the choice of mismatched captions. Defaults to None.
        root: str or None. The dataset folder that image paths must stay inside. Defaults to None.
        name: str. Shown by `summary()`. Defaults to "dataset".
        render_seeds: list of `N` ints or None. For rendered data: `render_shape(attributes[i],
            size, render_seeds[i])` draws image `i` again, so an edit target (one attribute
            changed, all else equal) can be drawn exactly. Defaults to None.

    Example:

    >>> import numpy as np
    >>> data = CaptionedImages(np.zeros((4, 8, 8, 3), np.uint8), [["a"], ["b"], ["c"], ["d", "e"]])
    >>> train, val = data.split(0.25, seed=0)
    >>> len(train), len(val), len(data.all_captions())
    (3, 1, 5)
    """

    images: np.ndarray | list[str]
    captions: list[list[str]]
    attributes: list[dict[str, str]] | None = None
    root: str | None = None
    name: str = "dataset"
    render_seeds: list[int] | None = field(default=None)

    def __post_init__(self):
        if isinstance(self.images, np.ndarray):
            if self.images.dtype != np.uint8 or self.images.ndim != 4 or self.images.shape[-1] != 3:
                raise DatasetError(
                    "images must be a uint8 array of shape [N, H, W, 3] or a list of paths; "
                    f"received dtype={self.images.dtype}, shape={self.images.shape}"
                )
        elif isinstance(self.images, (list, tuple)):
            self.images = [str(p) for p in self.images]
        else:
            raise DatasetError(
                "images must be a uint8 array [N, H, W, 3] or a list of paths; "
                f"received {type(self.images).__name__}"
            )
        n = len(self.images)
        if len(self.captions) != n:
            raise DatasetError(f"got {n} images but {len(self.captions)} caption lists")
        for i, caps in enumerate(self.captions):
            if isinstance(caps, str) or not caps or not all(isinstance(c, str) for c in caps):
                raise DatasetError(
                    f"captions[{i}] must be a non-empty list of str; received {caps!r}"
                )
        for name in ("attributes", "render_seeds"):
            value = getattr(self, name)
            if value is not None and len(value) != n:
                raise DatasetError(f"got {n} images but {len(value)} {name}")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def in_memory(self) -> bool:
        """True when `images` holds decoded pixels rather than file paths."""
        return isinstance(self.images, np.ndarray)

    def subset(self, indices) -> "CaptionedImages":
        """The images at `indices` (a sequence of ints), with their captions and attributes."""
        indices = [int(i) for i in indices]
        images = (self.images[np.asarray(indices, dtype=np.int64)] if self.in_memory
                  else [self.images[i] for i in indices])

        def pick(values):
            return None if values is None else [values[i] for i in indices]

        return CaptionedImages(images, pick(self.captions), pick(self.attributes), self.root,
                               self.name, pick(self.render_seeds))

    def split(self, validation_fraction: float = 0.1, seed: int = 0):
        """Splits by image (never by caption) into `(train, validation)`.

        All captions of an image go to the same side, so validation captions describe images the
        model has never seen. The split is a seeded random permutation.

        Args:
            validation_fraction: float in (0, 1). Share of images for validation, rounded, at
                least one image on each side. Defaults to 0.1.
            seed: int. Seed of the permutation. Defaults to 0.
        """
        if not 0.0 < float(validation_fraction) < 1.0:
            raise DatasetError(
                f"validation_fraction must be in (0, 1); received {validation_fraction!r}"
            )
        n = len(self)
        if n < 2:
            raise DatasetError(f"cannot split a dataset of {n} image(s) into train and validation")
        n_val = min(max(1, round(n * float(validation_fraction))), n - 1)
        order = np.random.default_rng(seed).permutation(n)
        return self.subset(np.sort(order[n_val:])), self.subset(np.sort(order[:n_val]))

    def all_captions(self) -> list[str]:
        """Every caption of every image, in image order (for vocabularies and Word2Vec)."""
        return [c for caps in self.captions for c in caps]

    def summary(self) -> str:
        """A few lines describing the dataset: sizes, caption counts, attribute value counts."""
        n = len(self)
        counts = [len(c) for c in self.captions]
        words = [len(c.split()) for caps in self.captions for c in caps]
        if self.in_memory:
            storage = f"{self.images.shape[1]}x{self.images.shape[2]} RGB in memory"
        else:
            storage = "files not decoded yet"
        lines = [
            f"{self.name}: {n} images ({storage})" + (f", root {self.root}" if self.root else ""),
            f"  captions: {sum(counts)} ({min(counts)}-{max(counts)} per image, "
            f"mean {np.mean(counts):.1f}); words per caption: mean {np.mean(words):.1f}, "
            f"max {max(words)}",
        ]
        if self.attributes:
            keys = sorted({k for attrs in self.attributes for k in attrs})
            for key in keys:
                tally = Counter(attrs.get(key, "?") for attrs in self.attributes)
                values = ", ".join(f"{v} {c}" for v, c in sorted(tally.items()))
                lines.append(f"  {key} ({len(tally)}): {values}")
        examples = [self.captions[i][0] for i in range(min(3, n))]
        lines.append("  e.g. " + " | ".join(repr(c) for c in examples))
        return "\n".join(lines)
