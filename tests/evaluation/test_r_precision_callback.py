"""RPrecisionCallback: the score it logs, TensorBoard, best.keras kept by R-precision."""

from __future__ import annotations

import glob
import json
import os

import numpy as np
import pytest


@pytest.fixture(scope="module")
def tiny_parts(tmp_path_factory, tiny_records, helpers):
    """A tiny untrained GAN and matcher, 20 fixed captions, a pool of >= 100 distinct ones."""
    import keras

    import tfcmgen.models  # noqa: F401  (registers the GAN for loading)
    from tfcmgen.evaluation import load_matcher
    from tfcmgen.evaluation.r_precision import caption_key
    from tfcmgen.text import CaptionTokenizer, Vocabulary

    root = tmp_path_factory.mktemp("callback")
    _, captions = tiny_records
    run = helpers.save_tiny_run(str(root / "run"), "unused", captions)
    gan = keras.saving.load_model(os.path.join(run, "model.keras"))
    tokenizer = CaptionTokenizer(Vocabulary.load(os.path.join(run, "vocab.txt")).tokens,
                                 max_length=gan.max_length)
    matcher = load_matcher(helpers.untrained_matcher_folder(root / "m", captions, 32))
    chosen = captions[:20]
    pool = sorted({caption_key(c) for c in captions})
    return gan, matcher, chosen, np.asarray(tokenizer(chosen)), pool


def _setup(folder, tiny_parts):
    from tfcmgen.evaluation import RPrecisionCallback

    gan, matcher, chosen, ids, pool = tiny_parts
    callback = RPrecisionCallback(matcher, chosen, ids, pool, every_n_epochs=1, seed=3,
                                  best_path=str(folder / "run" / "best.keras"),
                                  log_dir=str(folder / "run" / "logs"))
    callback.set_model(gan)
    return callback, gan, matcher, chosen, ids, pool


def test_score_is_r_precision_of_the_models_images(tmp_path, tiny_parts):
    from tfcmgen.evaluation.r_precision import caption_key, draw_mismatches, r_precision

    callback, gan, matcher, chosen, ids, pool = _setup(tmp_path, tiny_parts)
    images = np.asarray(gan.generate(ids, seed=3))
    mismatches = draw_mismatches([caption_key(c) for c in chosen], pool, seed=3)
    expected = r_precision(matcher.embed_images(images), matcher.embed_texts(chosen),
                           matcher.embed_texts(pool), mismatches, repeats=1)["mean"]
    assert callback.score(gan) == pytest.approx(expected, abs=1e-9)


def test_best_keras_follows_the_best_score_and_tensorboard_gets_it(tmp_path, tiny_parts,
                                                                   monkeypatch):
    import keras
    import tensorflow as tf

    callback, gan, *_ = _setup(tmp_path, tiny_parts)
    scores = iter([0.5, 0.3, 0.7])
    monkeypatch.setattr(callback, "score", lambda model: next(scores))
    best = callback.best_path
    callback.on_train_begin()
    logs = {}
    callback.on_epoch_end(0, logs)
    assert logs["val_r_precision"] == 0.5
    first = os.stat(best).st_mtime_ns
    callback.on_epoch_end(1, {})  # worse: best.keras stays
    assert os.stat(best).st_mtime_ns == first
    with open(os.path.splitext(best)[0] + ".json") as f:
        assert json.load(f) == {"epoch": 1, "r_precision": 0.5}
    callback.on_epoch_end(2, {})
    with open(os.path.splitext(best)[0] + ".json") as f:
        assert json.load(f) == {"epoch": 3, "r_precision": 0.7}
    callback.on_train_end()
    assert isinstance(keras.saving.load_model(best), type(gan))

    values = {}
    for path in glob.glob(os.path.join(callback.log_dir, "evaluation", "events.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.tag == "r_precision":
                    values[event.step] = float(tf.make_ndarray(value.tensor))
    assert values == pytest.approx({1: 0.5, 2: 0.3, 3: 0.7})

    # A resumed run starts from the recorded best: a lower score does not replace best.keras.
    resumed, *_ = _setup(tmp_path / "again", tiny_parts)
    resumed.best_path = best
    resumed.on_train_begin()
    assert resumed.best == 0.7


def test_every_n_epochs_skips_the_others(tmp_path, tiny_parts, monkeypatch):
    callback, *_ = _setup(tmp_path, tiny_parts)
    callback.every_n_epochs = 2
    calls = []
    monkeypatch.setattr(callback, "score", lambda model: calls.append(1) or 0.1)
    for epoch in range(4):
        callback.on_epoch_end(epoch, {})
    assert len(calls) == 2


@pytest.mark.slow
def test_training_with_evaluate_every_keeps_best_keras(tmp_path, csv_folder, cache):
    from tfcmgen.config import TrainConfig
    from tfcmgen.jobs.runner import train

    config = TrainConfig(data=csv_folder, out=str(tmp_path / "run"), image_size=32, epochs=2,
                         steps_per_epoch=2, batch_size=8, base_width=4, embedding_dim=8,
                         word2vec_epochs=1, validation_fraction=0.25, evaluate_every=1)
    result = train(config, verbose=0)
    assert len(result.history["val_r_precision"]) == 2
    assert os.path.isfile(os.path.join(result.run.root, "best.keras"))
    assert os.path.isfile(os.path.join(result.run.root, "model.keras"))
    with open(os.path.join(result.run.root, "best.json")) as f:
        assert json.load(f)["r_precision"] == max(result.history["val_r_precision"])
