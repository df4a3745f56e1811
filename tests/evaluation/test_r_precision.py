"""R-precision pinned against a NumPy loop written from the AttnGAN/DM-GAN description."""

from __future__ import annotations

import numpy as np
import pytest

from tfcmgen.evaluation.r_precision import (
    NotEnoughCaptionsError,
    caption_key,
    draw_mismatches,
    fold_statistics,
    r_precision,
    r_precision_hits,
)


def _unit(rng, *shape):
    x = rng.normal(size=shape)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _reference(images, true, pool, mismatches, repeats):
    """One image at a time: cosine against its caption and its 99 others; hit if ranked first."""
    hits = []
    for n in range(len(images)):
        candidates = [true[n]] + [pool[m] for m in mismatches[n]]
        scores = [float(np.dot(images[n], c)) for c in candidates]
        ranking = sorted(range(len(scores)), key=lambda i: -scores[i])
        hits.append(ranking[0] == 0 and scores[0] > max(scores[1:]))
    size = len(hits) // repeats
    folds = [np.mean(hits[k * size:(k + 1) * size]) for k in range(repeats)]
    return float(np.mean(folds)), float(np.std(folds)), hits


def test_r_precision_matches_the_numpy_reference():
    rng = np.random.default_rng(0)
    n, dim, pool_size = 60, 8, 150
    pool = _unit(rng, pool_size, dim)
    true = _unit(rng, n, dim)
    # Images near their caption with noise: some hits, some misses.
    images = true + rng.normal(scale=0.6, size=true.shape)
    images /= np.linalg.norm(images, axis=1, keepdims=True)
    mismatches = np.stack([rng.choice(pool_size, 99, replace=False) for _ in range(n)])
    got = r_precision(images, true, pool, mismatches, repeats=6)
    mean, std, hits = _reference(images, true, pool, mismatches, repeats=6)
    assert got["hits"] == hits
    assert 0.05 < got["mean"] < 0.95  # neither trivial case
    np.testing.assert_allclose([got["mean"], got["std"]], [mean, std], atol=1e-12)
    assert got["num_candidates"] == 100 and got["num_images"] == n


def test_a_tie_with_a_mismatch_is_a_miss():
    assert r_precision_hits([[0.5, 0.5, 0.1], [0.6, 0.5, 0.1]]).tolist() == [False, True]


def test_fold_statistics_drop_the_remainder_and_give_the_spread():
    mean, std = fold_statistics([1, 1, 0, 0, 1], repeats=2)  # folds [1, 1] and [0, 0]
    assert (mean, std) == (0.5, 0.5)
    with pytest.raises(ValueError, match="at least 3 images"):
        fold_statistics([1, 0], repeats=3)


def test_mismatches_differ_from_the_true_caption_after_normalisation():
    pool = [caption_key(f"a shape number {i}") for i in range(100)]
    true = [caption_key("A shape, number 7!"), caption_key("something new")]
    assert true[0] in pool  # the same caption once normalised
    drawn = draw_mismatches(true, pool, seed=3)
    assert drawn.shape == (2, 99)
    assert pool.index(true[0]) not in drawn[0]
    assert all(len(set(row)) == 99 for row in drawn)
    np.testing.assert_array_equal(drawn, draw_mismatches(true, pool, seed=3))


def test_fewer_than_100_distinct_captions_is_refused_saying_why():
    pool = [f"caption {i}" for i in range(99)]
    with pytest.raises(NotEnoughCaptionsError, match="at least 100 distinct captions.*has 99"):
        draw_mismatches([pool[0]], pool)


def test_captions_sharing_an_image_are_never_mismatches():
    from tfcmgen.evaluation.r_precision import equivalent_captions

    captions = [[f"the digit {d} in red", f"a red {d}"] for d in range(60)]
    pool = sorted({caption_key(c) for caps in captions for c in caps})
    equivalents = equivalent_captions(captions)
    assert equivalents[caption_key("a red 7")] == {caption_key("the digit 7 in red")}
    drawn = draw_mismatches([caption_key("a red 7")] * 50, pool, seed=0, equivalents=equivalents)
    assert pool.index("the digit 7 in red") not in drawn
    assert pool.index("a red 7") not in drawn
    # Without the paraphrase rule the paraphrase is drawn for some rows.
    assert pool.index("the digit 7 in red") in draw_mismatches([caption_key("a red 7")] * 50, pool)
