"""R-precision as AttnGAN and DM-GAN define it, in NumPy: one image against 100 captions.

For every image, its own caption and 99 captions of other images are ranked by the matcher's
cosine similarity; the image scores a hit when its own caption ranks first (R = 1). The images
are split into `repeats` consecutive folds and the hit rate is reported as the mean and standard
deviation over the folds (DM-GAN's evaluation splits 30,000 images into 10 folds of 3,000).

Templated captions repeat: a "mismatch" that says the same thing as the true caption would count
a correct image as a miss. Mismatches are therefore drawn from captions that differ from the true
one after normalisation (`caption_key`) and never share an image with it (`equivalent_captions`:
paraphrases, as the data shows them); the real-image ceiling shows what ambiguity remains.

Example:

>>> import numpy as np
>>> similarity = np.array([[0.9, 0.1, 0.2], [0.1, 0.5, 0.7]])
>>> r_precision_hits(similarity).tolist()
[True, False]
"""

from __future__ import annotations

import numpy as np

from tfcmgen.text.normalize import split_words

#: Captions ranked per image: the true one and this many minus one mismatches (AttnGAN: 100).
NUM_CANDIDATES = 100


class NotEnoughCaptionsError(ValueError):
    """The dataset has too few distinct captions to draw the mismatches R-precision needs."""


def caption_key(caption: str) -> str:
    """The normalised words of a caption joined by spaces: equal keys say the same thing."""
    return " ".join(split_words(caption))


def equivalent_captions(caption_lists) -> dict[str, set[str]]:
    """For each caption key, the other keys some image carries beside it (its paraphrases).

    AttnGAN draws mismatches from captions of *other* images; with several captions per image and
    templated phrasings, "the digit seven written in red" and "a red handwritten seven" both
    describe every red seven. A caption sharing an image with the true one says nothing the image
    contradicts, so it is never drawn as a mismatch (the data decides, no synonym list).

    Args:
        caption_lists: iterable of lists of str, the captions of each image.

    Example:

    >>> sorted(equivalent_captions([["a red 7", "red seven"], ["a red 7"]])["a red 7"])
    ['red seven']
    """
    equivalents: dict[str, set[str]] = {}
    for captions in caption_lists:
        keys = {caption_key(c) for c in captions} - {""}
        for key in keys:
            equivalents.setdefault(key, set()).update(keys - {key})
    return equivalents


def draw_mismatches(
    true_keys: list[str],
    pool_keys: list[str],
    num_mismatches: int = NUM_CANDIDATES - 1,
    seed: int = 0,
    equivalents: dict[str, set[str]] | None = None,
) -> np.ndarray:
    """For each true caption, `num_mismatches` distinct pool indices of captions that differ.

    A mismatch never has the true caption's key (`caption_key`), nor a key that shares an image
    with it (`equivalents`, from `equivalent_captions`).

    Args:
        true_keys: list of N caption keys (`caption_key`), one per scored image.
        pool_keys: list of distinct caption keys the mismatches are drawn from.
        num_mismatches: int. Mismatches per image. Defaults to 99.
        seed: int. Seeds the draw. Defaults to 0.
        equivalents: dict or None. Key -> keys never drawn for it. Defaults to None.

    Returns:
        int64 array [N, num_mismatches] of indices into `pool_keys`.

    Raises:
        NotEnoughCaptionsError: fewer than `num_mismatches` pool captions differ from a true one.
    """
    if len(set(pool_keys)) != len(pool_keys):
        raise ValueError("pool_keys must be distinct caption keys")
    index = {key: i for i, key in enumerate(pool_keys)}
    equivalents = equivalents or {}
    rng = np.random.default_rng(seed)
    drawn = np.empty((len(true_keys), num_mismatches), np.int64)
    for row, key in enumerate(true_keys):
        banned = {index[k] for k in ({key} | equivalents.get(key, set())) if k in index}
        available = len(pool_keys) - len(banned)
        if available < num_mismatches:
            raise NotEnoughCaptionsError(
                f"R-precision ranks each image's caption against {num_mismatches} captions of "
                f"other images that say something different (AttnGAN/DM-GAN protocol), so it "
                f"needs at least {num_mismatches + 1} distinct captions after normalisation; the "
                f"dataset has {len(pool_keys)}"
                + (f", of which {len(banned)} describe the same images as {key!r}"
                   if len(banned) > 1 else "")
            )
        picks = rng.choice(len(pool_keys), min(len(pool_keys), num_mismatches + len(banned)),
                           replace=False)
        drawn[row] = [p for p in picks if p not in banned][:num_mismatches]
    return drawn


def r_precision_hits(similarity) -> np.ndarray:
    """Hits of similarity rows [N, C] whose column 0 (the true caption) ranks strictly first.

    A tie with a mismatch counts as a miss, so a matcher that scores everything alike gets 0,
    not 1.
    """
    similarity = np.asarray(similarity, np.float64)
    if similarity.ndim != 2 or similarity.shape[1] < 2:
        raise ValueError(
            f"similarity must be [num_images, num_candidates >= 2]; received {similarity.shape}"
        )
    return similarity[:, 0] > similarity[:, 1:].max(axis=1)


def fold_statistics(hits, repeats: int) -> tuple[float, float]:
    """Mean and standard deviation of the hit rate over `repeats` consecutive folds.

    The last `len(hits) % repeats` images are left out, so every fold has the same size.
    """
    hits = np.asarray(hits, np.float64)
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be a positive integer; received repeats={repeats!r}")
    if len(hits) < repeats:
        raise ValueError(
            f"R-precision over {repeats} folds needs at least {repeats} images; "
            f"received {len(hits)}"
        )
    size = len(hits) // repeats
    rates = hits[: size * repeats].reshape(repeats, size).mean(axis=1)
    return float(rates.mean()), float(rates.std())


def r_precision(
    image_embeddings,
    true_text_embeddings,
    pool_text_embeddings,
    mismatches,
    repeats: int = 10,
) -> dict:
    """R-precision of images against their captions and drawn mismatches.

    Args:
        image_embeddings: float [N, D], unit length (the matcher's `embed_images`).
        true_text_embeddings: float [N, D], the embedding of each image's own caption.
        pool_text_embeddings: float [P, D], embeddings of the distinct pool captions.
        mismatches: int [N, M] indices into the pool (`draw_mismatches`).
        repeats: int. Folds for the mean and standard deviation. Defaults to 10.

    Returns:
        dict with `"mean"`, `"std"`, `"hits"` (list of bool per image), `"num_images"` and
        `"num_candidates"` (M + 1).

    Example:

    >>> import numpy as np
    >>> eye = np.eye(3)
    >>> r_precision(eye[:2], eye[:2], eye, np.array([[2], [2]]), repeats=2)["mean"]
    1.0
    """
    images = np.asarray(image_embeddings, np.float64)
    true = np.asarray(true_text_embeddings, np.float64)
    pool = np.asarray(pool_text_embeddings, np.float64)
    mismatches = np.asarray(mismatches, np.int64)
    if images.shape != true.shape or images.ndim != 2:
        raise ValueError(
            f"image_embeddings and true_text_embeddings must both be [N, D]; received "
            f"{images.shape} and {true.shape}"
        )
    if mismatches.ndim != 2 or mismatches.shape[0] != images.shape[0]:
        raise ValueError(
            f"mismatches must be [N={images.shape[0]}, M]; received {mismatches.shape}"
        )
    own = np.sum(images * true, axis=1, keepdims=True)
    other = np.einsum("nd,nmd->nm", images, pool[mismatches])
    hits = r_precision_hits(np.concatenate([own, other], axis=1))
    mean, std = fold_statistics(hits, repeats)
    return {
        "mean": mean,
        "std": std,
        "hits": hits.tolist(),
        "num_images": int(len(hits)),
        "num_candidates": int(mismatches.shape[1] + 1),
    }
