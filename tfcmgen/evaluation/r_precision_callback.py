"""`RPrecisionCallback`: R-precision of fixed validation captions during training; keeps best.keras.

Every `every_n_epochs` epochs the model draws one image per fixed validation caption (fixed
noise), the matcher ranks each image's caption against 99 fixed mismatches, and the hit rate goes
to the epoch logs (`val_r_precision`: the progress bar and History show it), to TensorBoard
(`<log_dir>/evaluation`, scalar `r_precision`) and to the log. When it beats the best so far the
model is saved as `best.keras` (atomically; `model.keras` stays the last), with `best.json`
holding the epoch and the value, so a resumed run keeps the best of the whole run.

Cost (bench/evaluation_agreement.py --callback-cost): one generator pass over 100 captions and
the matcher on 100 images per scored epoch, plus training the matcher once per dataset (cached).

Example:

>>> callback = r_precision_callback(config, validation_data, tokenizer, run)  # doctest: +SKIP
>>> gan.fit(dataset, epochs=20, callbacks=[callback])  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import os

import keras
import numpy as np

from tfcmgen.evaluation.r_precision import (
    NUM_CANDIDATES,
    caption_key,
    draw_mismatches,
    r_precision,
)

logger = logging.getLogger(__name__)

#: Validation captions scored per epoch by default (one fold of AttnGAN's protocol).
DEFAULT_CAPTIONS = 100


class RPrecisionCallback(keras.callbacks.Callback):
    """Scores `model.generate(token_ids, seed)` with an image-text matcher every few epochs.

    Args:
        matcher: `tfcmgen.evaluation.TrainedMatcher`. The judge (trained on the training split).
        captions: list of str. The fixed validation captions.
        token_ids: int array [len(captions), max_length]. The captions in the model's vocabulary.
        pool_keys: list of str. Distinct normalised captions the 99 mismatches are drawn from.
        every_n_epochs: int. Score after every this many epochs. Defaults to 1.
        seed: int. Fixes the noise and the mismatches. Defaults to 0.
        best_path: str or None. Where the best model is saved (`best.keras`); None saves none.
        log_dir: str or None. TensorBoard folder; the scalar goes to `<log_dir>/evaluation`.
        equivalents: dict or None. Caption key -> keys never drawn as its mismatches
            (`tfcmgen.evaluation.r_precision.equivalent_captions`). Defaults to None.

    Example:

    >>> callback = RPrecisionCallback(matcher, captions, ids, pool_keys,
    ...                               best_path="runs/x/best.keras")  # doctest: +SKIP
    """

    def __init__(self, matcher, captions, token_ids, pool_keys, every_n_epochs: int = 1,
                 seed: int = 0, best_path: str | None = None, log_dir: str | None = None,
                 equivalents: dict | None = None):
        super().__init__()
        if isinstance(every_n_epochs, bool) or not isinstance(every_n_epochs, int) \
                or every_n_epochs < 1:
            raise ValueError(
                f"every_n_epochs must be a positive integer; received {every_n_epochs!r}"
            )
        captions = list(captions)
        token_ids = np.asarray(token_ids)
        if not captions or token_ids.ndim != 2 or len(token_ids) != len(captions):
            raise ValueError(
                f"token_ids must be [len(captions)={len(captions)}, max_length]; received "
                f"shape {token_ids.shape}"
            )
        self.matcher = matcher
        self.captions = captions
        self.token_ids = token_ids
        self.every_n_epochs = every_n_epochs
        self.seed = seed
        self.best_path = best_path
        self.log_dir = log_dir
        keys = [caption_key(c) for c in captions]
        # Drawn and embedded once: every scored epoch ranks against the same candidates.
        self._mismatches = draw_mismatches(keys, list(pool_keys), NUM_CANDIDATES - 1, seed=seed,
                                           equivalents=equivalents)
        self._pool_embeddings = matcher.embed_texts(list(pool_keys))
        self._caption_embeddings = matcher.embed_texts(captions)
        self.best = -np.inf
        self._writer = None

    @property
    def _best_info_path(self) -> str:
        return os.path.splitext(self.best_path)[0] + ".json"

    def score(self, model) -> float:
        """R-precision (top-1 of 100) of the model's images for the fixed captions, as
        `tfcmgen evaluate` computes it (`r_precision`, one fold)."""
        images = np.asarray(model.generate(self.token_ids, seed=self.seed))
        return r_precision(self.matcher.embed_images(images), self._caption_embeddings,
                           self._pool_embeddings, self._mismatches, repeats=1)["mean"]

    def on_train_begin(self, logs=None):
        # A resumed run compares against the best of its earlier part.
        if self.best_path and os.path.isfile(self._best_info_path) \
                and os.path.isfile(self.best_path):
            with open(self._best_info_path, encoding="utf-8") as f:
                self.best = float(json.load(f)["r_precision"])

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every_n_epochs:
            return
        value = self.score(self.model)
        if logs is not None:
            logs["val_r_precision"] = value
        if self.log_dir:
            import tensorflow as tf

            if self._writer is None:
                self._writer = tf.summary.create_file_writer(
                    os.path.join(self.log_dir, "evaluation"))
            with self._writer.as_default():
                tf.summary.scalar("r_precision", value, step=epoch + 1)
            self._writer.flush()
        improved = value > self.best
        logger.warning("epoch %d: R-precision %.3f on %d validation captions%s", epoch + 1,
                       value, len(self.captions),
                       f" (best so far: {self.best_path})" if improved and self.best_path
                       else "")
        if improved:
            self.best = value
            if self.best_path:
                from tfcmgen.atomic import atomic_path, write_text_atomic

                with atomic_path(self.best_path, suffix=".keras") as temporary:
                    self.model.save(temporary)
                write_text_atomic(self._best_info_path, json.dumps(
                    {"epoch": epoch + 1, "r_precision": value}) + "\n")

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def r_precision_callback(config, validation_data, tokenizer, run,
                         num_captions: int = DEFAULT_CAPTIONS, cache: str | None = None):
    """The `RPrecisionCallback` of a training run, or None when it cannot or need not score.

    Used by the text-to-image task when `config.evaluate_every` is set. The matcher is the one
    `tfcmgen evaluate` uses for this dataset and split (trained on the training split and cached
    on first use); captions are the first `num_captions` validation captions in a seeded order.

    Args:
        config: TrainConfig of the run (`evaluate_every`, `seed`, `image_size`, `data`, ...).
        validation_data: CaptionedImages. The run's validation split (the scored captions).
        tokenizer: callable captions -> the model's token ids (a `CaptionTokenizer`).
        run: RunFolder. `best.keras` goes into `run.root`, the scalar under `run.logs_dir`.
        num_captions: int. Validation captions scored per epoch. Defaults to 100.
        cache: str or None. Matcher cache folder (see `tfcmgen.evaluation.cache_dir`).
    """
    every = getattr(config, "evaluate_every", None)
    if not every:
        return None
    from tfcmgen.evaluation.dataset_evaluation import load_evaluation_data
    from tfcmgen.evaluation.evaluate_config import EvaluateConfig
    from tfcmgen.evaluation.matcher_cache import MatcherSettings, load_or_train_matcher

    evaluation = EvaluateConfig(model=run.root, data=config.data, format=config.format,
                                seed=config.seed)
    # The matcher's training data and the mismatch pool, as `tfcmgen evaluate` builds them from
    # the run's config (the same split as `validation_data`).
    data = load_evaluation_data(evaluation, config.image_size, config)
    if len(data.pool_keys) < NUM_CANDIDATES:
        logger.warning(
            "R-precision during training is off: %s has %d distinct captions, R-precision needs "
            "at least %d", config.data, len(data.pool_keys), NUM_CANDIDATES,
        )
        return None
    matcher = load_or_train_matcher(
        data.matcher_train, MatcherSettings(steps=evaluation.matcher_steps, seed=config.seed),
        cache=cache,
    )
    captions = validation_data.all_captions()
    order = np.random.default_rng(config.seed).permutation(len(captions))[:num_captions]
    chosen = [captions[i] for i in order]
    import tensorflow as tf

    token_ids = np.asarray(tokenizer(tf.constant(chosen)))
    return RPrecisionCallback(matcher, chosen, token_ids, data.pool_keys, every_n_epochs=every,
                              seed=config.seed, best_path=os.path.join(run.root, "best.keras"),
                              log_dir=run.logs_dir, equivalents=data.equivalents)
