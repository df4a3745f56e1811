"""The matcher model, its loss, its training (deterministic) and its cache."""

from __future__ import annotations

import os

import numpy as np
import pytest

TINY = dict(width=4, embedding_dim=8, feature_dim=8, projection_dim=8, steps=12, batch_size=16)


@pytest.fixture(scope="module")
def tiny_data():
    """`tiny_data(num_images)`: rendered shapes with one canonical caption each, 32x32."""
    from tfcmgen.data import CaptionedImages, caption_for, load_shapes

    def make(num_images=40):
        data = load_shapes(num_images=num_images, image_size=32, split="all",
                           captions_per_image=1)
        return CaptionedImages(data.images, [[caption_for(a)] for a in data.attributes])

    return make


def test_loss_is_symmetric_infonce_with_several_positives():
    from tfcmgen.evaluation.image_text_matcher import contrastive_matching_loss

    logits = np.array([[2.0, 0.5, 0.1], [0.3, 1.0, 0.2], [0.1, 0.4, 3.0]], "float32")
    # Rows 0 and 1 share a caption: each is a positive of the other.
    positive = np.array([[1, 1, 0], [1, 1, 0], [0, 0, 1]], "float32")

    def cross_entropy(targets, row_logits):
        log_softmax = row_logits - np.log(np.sum(np.exp(row_logits)))
        return -np.sum(targets / targets.sum() * log_softmax)

    expected = [
        (cross_entropy(positive[i], logits[i]) + cross_entropy(positive[:, i], logits[:, i])) / 2
        for i in range(3)
    ]
    got = np.asarray(contrastive_matching_loss(positive, logits))
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_matcher_shapes_round_trip_and_save_load(tmp_path):
    import keras

    from tfcmgen.evaluation import ImageTextMatcher

    matcher = ImageTextMatcher(vocabulary_size=12, max_length=5, image_size=16, width=4,
                               embedding_dim=8, feature_dim=6, projection_dim=4)
    images = np.random.default_rng(0).uniform(-1, 1, (3, 16, 16, 3)).astype("float32")
    ids = np.array([[2, 3, 0, 0, 0], [4, 5, 6, 0, 0], [0, 0, 0, 0, 0]], "int32")
    logits = np.asarray(matcher((images, ids)))
    assert logits.shape == (3, 3) and np.all(np.isfinite(logits))  # all-padding caption too
    assert np.asarray(matcher.features(images)).shape == (3, 6)
    np.testing.assert_allclose(np.linalg.norm(np.asarray(matcher.embed_texts(ids)), axis=1), 1.0,
                               rtol=1e-5)
    assert ImageTextMatcher.from_config(matcher.get_config()).get_config() == matcher.get_config()
    path = str(tmp_path / "m.keras")
    matcher.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(np.asarray(loaded((images, ids))), logits, atol=1e-6)


def test_bad_image_size_is_refused():
    from tfcmgen.evaluation import ImageTextMatcher

    with pytest.raises(ValueError, match="image_size must be a power of two >= 8; received "
                                         "image_size=24"):
        ImageTextMatcher(vocabulary_size=5, image_size=24)


def test_training_is_deterministic_for_a_seed(tiny_data):
    from tfcmgen.evaluation.matcher_cache import MatcherSettings, train_matcher

    data = tiny_data()
    first, _, loss_1 = train_matcher(data, MatcherSettings(**TINY))
    second, _, loss_2 = train_matcher(data, MatcherSettings(**TINY))
    assert loss_1 == loss_2
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_cache_trains_once_then_loads(cache, tiny_data, helpers):
    from tfcmgen.evaluation.matcher_cache import MatcherSettings, load_or_train_matcher

    data = tiny_data()
    settings = MatcherSettings(**TINY)
    trained = load_or_train_matcher(data, settings)
    assert not trained.from_cache and trained.path.startswith(cache)
    model_file = os.path.join(trained.path, "matcher.keras")
    before = helpers.folder_snapshot(trained.path)
    cached = load_or_train_matcher(data, settings)
    assert cached.from_cache and cached.path == trained.path
    assert helpers.folder_snapshot(trained.path) == before  # not rewritten
    images = data.images[:4]
    np.testing.assert_allclose(cached.embed_images(images), trained.embed_images(images),
                               atol=1e-6)
    # Another caption, another split or other settings: another cache key, not the stale one.
    from tfcmgen.evaluation.matcher_cache import fingerprint

    changed = tiny_data()
    changed.captions[0] = ["a caption that was edited"]
    key = fingerprint(data, settings)
    assert key == cached.fingerprint
    assert fingerprint(changed, settings) != key
    assert fingerprint(data.subset(range(1, 40)), settings) != key
    assert fingerprint(data, MatcherSettings(**{**TINY, "steps": 13})) != key
    # retrain=True trains again into the same entry.
    again = load_or_train_matcher(data, settings, retrain=True)
    assert not again.from_cache and again.path == trained.path
    assert os.stat(model_file).st_mtime_ns >= before["matcher.keras"][1]


def test_image_size_mismatch_is_one_line(tiny_data, helpers, tmp_path):
    from tfcmgen.evaluation import load_matcher

    folder = helpers.untrained_matcher_folder(tmp_path / "m", ["a red circle"], 32)
    with pytest.raises(ValueError, match=r"scores 32x32 RGB images; received images of shape "
                                         r"\(64, 64, 3\) \(image-size mismatch"):
        load_matcher(folder).embed_images(np.zeros((2, 64, 64, 3), np.uint8))
