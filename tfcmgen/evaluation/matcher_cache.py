"""Training an `ImageTextMatcher` on a dataset's training split, and caching it by fingerprint.

A matcher is trained once per (dataset training split, image size, matcher settings) and kept in
`<cache>/matchers/<fingerprint>/` (`matcher.keras`, `vocab.txt`, `matcher.json`). The cache is
`$TFCMGEN_CACHE`, else `~/.cache/tfcmgen`; never the dataset folder, which belongs to the user.
The fingerprint hashes the decoded training images, their captions and the settings, so editing
a caption file, changing the split or the settings trains a new matcher instead of reusing a
stale one.

Example:

>>> from tfcmgen.data import load_shapes
>>> train = load_shapes(num_images=400, image_size=32, split="all")  # doctest: +SKIP
>>> matcher = load_or_train_matcher(train, MatcherSettings(steps=100))  # doctest: +SKIP
>>> matcher.from_cache  # doctest: +SKIP
False
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time

import numpy as np

from tfcmgen.evaluation.r_precision import caption_key

logger = logging.getLogger(__name__)

#: Environment variable naming the cache folder (matchers, attribute classifiers).
CACHE_ENV = "TFCMGEN_CACHE"
# Bumped when the training recipe changes, so old cache entries are not reused.
_RECIPE_VERSION = 1
_MODEL_FILE, _VOCAB_FILE, _META_FILE = "matcher.keras", "vocab.txt", "matcher.json"


def cache_dir(override: str | None = None) -> str:
    """`override`, else `$TFCMGEN_CACHE`, else `~/.cache/tfcmgen`."""
    return override or os.environ.get(CACHE_ENV) or os.path.join(
        os.path.expanduser("~"), ".cache", "tfcmgen"
    )


@dataclasses.dataclass(frozen=True)
class MatcherSettings:
    """How an `ImageTextMatcher` is built and trained (all part of the cache fingerprint).

    Args:
        width: int. First convolution's channels. Defaults to 32.
        embedding_dim: int. Word embedding size. Defaults to 64.
        feature_dim: int. Image feature size (FID/KID features). Defaults to 128.
        projection_dim: int. Joint embedding size. Defaults to 64.
        temperature: float. Logit temperature. Defaults to 0.1.
        max_length: int. Token ids per caption. Defaults to 16.
        min_count: int. Minimum word count for the matcher's vocabulary. Defaults to 1.
        steps: int. Training steps (batches). Defaults to 1500.
        batch_size: int. Pairs per batch (the contrastive negatives). Defaults to 64.
        learning_rate: float. Adam learning rate. Defaults to 1e-3.
        seed: int. Seeds initialisation and batch order. Defaults to 0.
    """

    width: int = 32
    embedding_dim: int = 64
    feature_dim: int = 128
    projection_dim: int = 64
    temperature: float = 0.1
    max_length: int = 16
    min_count: int = 1
    steps: int = 1500
    batch_size: int = 64
    learning_rate: float = 1e-3
    seed: int = 0

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.type in ("int", int) and (
                isinstance(value, bool) or not isinstance(value, int) or value < (
                    0 if field.name == "seed" else 1)
            ):
                raise ValueError(
                    f"matcher {field.name} must be a positive integer; received {value!r}"
                )
        for name in ("temperature", "learning_rate"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"matcher {name} must be > 0; received {value!r}")


@dataclasses.dataclass
class TrainedMatcher:
    """A matcher with its tokenizer: what evaluation scores images and captions with."""

    model: object
    tokenizer: object
    settings: MatcherSettings
    path: str
    fingerprint: str
    from_cache: bool
    info: dict

    @property
    def image_size(self) -> int:
        return int(self.model.image_size)

    def token_ids(self, captions) -> np.ndarray:
        return self.tokenizer.encode(list(captions))

    def _check_images(self, images) -> np.ndarray:
        images = np.asarray(images)
        if images.ndim != 4 or images.shape[1:] != (self.image_size, self.image_size, 3):
            raise ValueError(
                f"the matcher at {self.path} scores {self.image_size}x{self.image_size} RGB "
                f"images; received images of shape {images.shape[1:]} (image-size mismatch: "
                "evaluate the model on data loaded at its own image size)"
            )
        if images.dtype == np.uint8:
            return images.astype(np.float32) / 127.5 - 1.0
        return images.astype(np.float32)

    def _batched(self, function, values, batch_size):
        parts = [np.asarray(function(values[start:start + batch_size]))
                 for start in range(0, len(values), batch_size)]
        return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)

    def embed_images(self, images, batch_size: int = 256) -> np.ndarray:
        """Unit embeddings of uint8 (or float [-1, 1]) images [N, S, S, 3]."""
        return self._batched(self.model.embed_images, self._check_images(images), batch_size)

    def features(self, images, batch_size: int = 256) -> np.ndarray:
        """Image features (for FID and KID) of uint8 or float [-1, 1] images."""
        return self._batched(self.model.features, self._check_images(images), batch_size)

    def embed_texts(self, captions, batch_size: int = 512) -> np.ndarray:
        """Unit embeddings of a list of captions."""
        return self._batched(self.model.embed_texts, self.token_ids(captions), batch_size)


def fingerprint(train_data, settings: MatcherSettings) -> str:
    """SHA-256 over the recipe, the settings, the decoded training images and their captions."""
    digest = hashlib.sha256()
    header = {"recipe": _RECIPE_VERSION, "settings": dataclasses.asdict(settings),
              "shape": list(np.asarray(train_data.images).shape)}
    digest.update(json.dumps(header, sort_keys=True).encode())
    digest.update(np.ascontiguousarray(train_data.images).tobytes())
    digest.update(json.dumps(train_data.captions, ensure_ascii=False).encode())
    return digest.hexdigest()


def _training_pairs(train_data, tokenizer):
    """(image index, token ids, positive-group id) of every (image, caption) pair."""
    image_index, captions = [], []
    for i, caps in enumerate(train_data.captions):
        for caption in caps:
            image_index.append(i)
            captions.append(caption)
    keys = [caption_key(c) for c in captions]
    key_ids = {key: i for i, key in enumerate(sorted(set(keys)))}
    return (np.asarray(image_index, np.int32), tokenizer.encode(captions),
            np.asarray([key_ids[k] for k in keys], np.int32))


def train_matcher(train_data, settings: MatcherSettings = MatcherSettings(), verbose: int = 0):
    """An `ImageTextMatcher` trained on `train_data` (in-memory `CaptionedImages`).

    Returns (model, vocabulary, final loss). Deterministic for a given seed on one machine:
    `keras.utils.set_random_seed` seeds initialisation, the batch order is a seeded shuffle.
    """
    import keras
    import tensorflow as tf

    from tfcmgen.evaluation.image_text_matcher import ImageTextMatcher, contrastive_matching_loss
    from tfcmgen.text import PurePythonTokenizer, Vocabulary

    if not train_data.in_memory:
        raise ValueError("train_matcher needs decoded images; load the folder with image_size=")
    vocabulary = Vocabulary.build(train_data.all_captions(), min_count=settings.min_count)
    tokenizer = PurePythonTokenizer(vocabulary, max_length=settings.max_length)
    image_index, token_ids, key_ids = _training_pairs(train_data, tokenizer)
    batch_size = min(settings.batch_size, len(image_index))
    if batch_size < 2:
        raise ValueError(
            f"the matcher needs at least 2 (image, caption) pairs to train; received "
            f"{len(image_index)}"
        )
    # Before the dataset is built: its shuffle takes the global seed at creation.
    keras.utils.set_random_seed(settings.seed)
    images = tf.constant(train_data.images)

    def to_batch(index, ids, keys):
        batch_images = tf.cast(tf.gather(images, index), tf.float32) / 127.5 - 1.0
        # Positives: the same image (another of its captions) or the same caption after
        # normalisation (another image with an identical templated caption).
        positive = tf.logical_or(tf.equal(index[:, None], index[None, :]),
                                 tf.equal(keys[:, None], keys[None, :]))
        return (batch_images, ids), tf.cast(positive, tf.float32)

    dataset = (
        tf.data.Dataset.from_tensor_slices((image_index, token_ids, key_ids))
        .shuffle(len(image_index), seed=settings.seed, reshuffle_each_iteration=True)
        .repeat()
        .batch(batch_size, drop_remainder=True)
        .map(to_batch)
        .prefetch(2)
    )
    model = ImageTextMatcher(
        vocabulary_size=len(vocabulary),
        max_length=settings.max_length,
        image_size=int(train_data.images.shape[1]),
        width=settings.width,
        embedding_dim=settings.embedding_dim,
        feature_dim=settings.feature_dim,
        projection_dim=settings.projection_dim,
        temperature=settings.temperature,
    )
    model.compile(optimizer=keras.optimizers.Adam(settings.learning_rate),
                  loss=contrastive_matching_loss)
    history = model.fit(dataset, steps_per_epoch=settings.steps, epochs=1, verbose=verbose,
                        shuffle=False)
    return model, vocabulary, float(history.history["loss"][-1])


def load_matcher(path: str) -> TrainedMatcher:
    """A matcher folder written by `load_or_train_matcher` (or `--train-matcher`)."""
    import keras

    from tfcmgen.evaluation.image_text_matcher import ImageTextMatcher  # noqa: F401 (registers)
    from tfcmgen.text import PurePythonTokenizer, Vocabulary

    meta_path = os.path.join(path, _META_FILE)
    if not os.path.isfile(meta_path):
        raise FileNotFoundError(f"{path} is not a matcher folder: {_META_FILE} is missing")
    with open(meta_path, encoding="utf-8") as f:
        info = json.load(f)
    settings = MatcherSettings(**info["settings"])
    model = keras.saving.load_model(os.path.join(path, _MODEL_FILE))
    vocabulary = Vocabulary.load(os.path.join(path, _VOCAB_FILE))
    if len(vocabulary) != model.vocabulary_size:
        raise ValueError(
            f"{path}: {_VOCAB_FILE} has {len(vocabulary)} tokens but the matcher was trained "
            f"with {model.vocabulary_size}; the folder is damaged"
        )
    tokenizer = PurePythonTokenizer(vocabulary, max_length=settings.max_length)
    return TrainedMatcher(model, tokenizer, settings, path, info.get("fingerprint", ""), True,
                          info)


def save_matcher(folder: str, model, vocabulary, info: dict) -> None:
    """Writes a matcher folder whole: into a temporary folder beside it, then one rename.

    A killed run leaves no half-written matcher; an existing matcher folder (one holding a
    matcher.json) is replaced, anything else at `folder` is refused.
    """
    parent = os.path.dirname(os.path.abspath(folder))
    os.makedirs(parent, exist_ok=True)
    if os.path.exists(folder) and not os.path.isfile(os.path.join(folder, _META_FILE)):
        raise FileExistsError(
            f"{folder} exists but is not a matcher folder; move it away or pass another cache "
            "folder"
        )
    staging = tempfile.mkdtemp(prefix=f".{os.path.basename(folder)}.", suffix="-tmp",
                               dir=parent)
    try:
        model.save(os.path.join(staging, _MODEL_FILE))
        vocabulary.save(os.path.join(staging, _VOCAB_FILE))
        with open(os.path.join(staging, _META_FILE), "w", encoding="utf-8") as f:
            json.dump(info, f, indent=2, sort_keys=True)
        if os.path.isdir(folder):
            shutil.rmtree(folder)  # our own matcher folder (its matcher.json says so)
        os.replace(staging, folder)
    finally:
        if os.path.isdir(staging):
            shutil.rmtree(staging)


def load_or_train_matcher(
    train_data,
    settings: MatcherSettings = MatcherSettings(),
    cache: str | None = None,
    retrain: bool = False,
    description: dict | None = None,
) -> TrainedMatcher:
    """The cached matcher for (`train_data`, `settings`), trained now (and cached) if absent.

    Args:
        train_data: CaptionedImages in memory. The training split only: the matcher must never
            see the validation images it will judge.
        settings: MatcherSettings. Defaults to `MatcherSettings()`.
        cache: str or None. Cache folder; None for `cache_dir()`.
        retrain: bool. Train even if a cached matcher exists (and replace it). Defaults to False.
        description: dict or None. Written into `matcher.json` (dataset, split) for people.
    """
    key = fingerprint(train_data, settings)
    folder = os.path.join(cache_dir(cache), "matchers", key[:20])
    if not retrain and os.path.isfile(os.path.join(folder, _META_FILE)):
        matcher = load_matcher(folder)
        if matcher.fingerprint == key:
            return matcher
        logger.warning("matcher cache %s holds another fingerprint; training anew", folder)
    logger.warning(
        "training an image-text matcher on %d training images (%d steps; cached in %s)",
        len(train_data), settings.steps, folder,
    )
    started = time.monotonic()
    model, vocabulary, loss = train_matcher(train_data, settings)
    info = {
        "fingerprint": key,
        "settings": dataclasses.asdict(settings),
        "image_size": int(train_data.images.shape[1]),
        "num_train_images": len(train_data),
        "num_train_captions": len(train_data.all_captions()),
        "final_loss": loss,
        "train_seconds": round(time.monotonic() - started, 1),
        "description": description or {},
    }
    save_matcher(folder, model, vocabulary, info)
    from tfcmgen.text import PurePythonTokenizer

    tokenizer = PurePythonTokenizer(vocabulary, max_length=settings.max_length)
    return TrainedMatcher(model, tokenizer, settings, folder, key, False, info)
