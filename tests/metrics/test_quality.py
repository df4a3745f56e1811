"""Pinned tests of the quality figures: FID, KID, diversity, attribute accuracy, evaluation."""

import numpy as np
import pytest

from tfcmgen.metrics import (
    attribute_accuracy,
    evaluate_generator,
    frechet_distance,
    kernel_inception_distance,
    mean_pairwise_distance,
)


def _with_exact_moments(rng, n, mean, std):
    """Samples whose sample mean and (ddof=1) covariance are exactly `mean` and diag(std^2)."""
    z = rng.normal(size=(n, len(mean)))
    z -= z.mean(axis=0)
    # Whiten so the sample covariance is exactly the identity, then scale and shift.
    eigenvalues, eigenvectors = np.linalg.eigh(np.cov(z, rowvar=False))
    z = z @ eigenvectors @ np.diag(eigenvalues**-0.5) @ eigenvectors.T
    return z * np.asarray(std) + np.asarray(mean)


# ---------------------------------------------------------------------------------------- FID


def test_frechet_distance_of_identical_sets_is_zero():
    features = np.random.default_rng(0).normal(size=(64, 16))
    assert frechet_distance(features, features) == pytest.approx(0.0, abs=1e-8)


def test_frechet_distance_matches_closed_form_for_diagonal_covariances():
    # For diagonal covariances d^2 = |mu_a - mu_b|^2 + sum_i (sigma_a,i - sigma_b,i)^2.
    rng = np.random.default_rng(1)
    mean_a, std_a = [0.0, 1.0, -2.0, 0.5], [1.0, 2.0, 0.5, 3.0]
    mean_b, std_b = [1.0, 1.0, 0.0, 0.5], [2.0, 0.5, 0.5, 1.0]
    a = _with_exact_moments(rng, 200, mean_a, std_a)
    b = _with_exact_moments(rng, 300, mean_b, std_b)
    expected = np.sum((np.subtract(mean_a, mean_b)) ** 2) + np.sum(
        (np.subtract(std_a, std_b)) ** 2
    )
    assert expected == pytest.approx((1 + 0 + 4 + 0) + (1 + 2.25 + 0 + 4))
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_matches_closed_form_for_scaled_full_covariance():
    # With S_b = c^2 S_a the two commute: d^2 = |mu_a - mu_b|^2 + (1 - c)^2 Tr(S_a).
    rng = np.random.default_rng(2)
    a = rng.normal(size=(100, 5)) @ rng.normal(size=(5, 5))
    shift = np.array([0.5, -1.0, 0.0, 2.0, 1.0])
    b = (a - a.mean(axis=0)) * 3.0 + a.mean(axis=0) + shift
    expected = np.sum(shift**2) + (1 - 3.0) ** 2 * np.trace(np.cov(a, rowvar=False))
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_matches_scipy_reference():
    linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(3)
    a = rng.normal(size=(50, 6))
    b = rng.normal(loc=0.3, scale=1.5, size=(40, 6)) @ rng.normal(size=(6, 6))
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = linalg.sqrtm(cov_a @ cov_b).real
    reference = np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(cov_a + cov_b - 2 * root)
    assert frechet_distance(a, b) == pytest.approx(reference, rel=1e-7)


def test_frechet_distance_rejects_bad_shapes():
    with pytest.raises(ValueError, match="same width"):
        frechet_distance(np.zeros((4, 3)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="2-D"):
        frechet_distance(np.zeros(4), np.zeros(4))
    with pytest.raises(ValueError, match="at least 2 samples"):
        frechet_distance(np.zeros((1, 3)), np.zeros((4, 3)))


# ---------------------------------------------------------------------------------------- KID


def test_kernel_inception_distance_pinned_on_hand_computed_case():
    # k(u, v) = (u v + 1)^3 in 1-D. x = {0, 1}, y = {2, 3}:
    # within x: k(0,1) = 1; within y: k(2,3) = 343; across: (1 + 1 + 27 + 64) / 4 = 23.25.
    # MMD^2 = 1 + 343 - 2 * 23.25 = 297.5.
    mean, std = kernel_inception_distance([[0.0], [1.0]], [[2.0], [3.0]], num_subsets=3)
    assert mean == pytest.approx(297.5)
    assert std == pytest.approx(0.0)


def _naive_unbiased_mmd2(x, y):
    d = x.shape[1]

    def k(u, v):
        return (np.dot(u, v) / d + 1.0) ** 3

    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_kernel_inception_distance_matches_naive_reference_on_whole_sets():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(12, 3)), rng.normal(loc=0.5, size=(12, 3))
    # A subset as large as both sets is a permutation of them, and MMD^2 ignores order.
    mean, std = kernel_inception_distance(a, b, num_subsets=4, subset_size=12)
    assert mean == pytest.approx(_naive_unbiased_mmd2(a, b), rel=1e-10)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_kernel_inception_distance_separates_distributions_and_is_seeded():
    rng = np.random.default_rng(5)
    a, same = rng.normal(size=(400, 8)), rng.normal(size=(400, 8))
    shifted = rng.normal(loc=1.0, size=(400, 8))
    near, _ = kernel_inception_distance(a, same, num_subsets=20, subset_size=100)
    far, _ = kernel_inception_distance(a, shifted, num_subsets=20, subset_size=100)
    assert abs(near) < 0.05 < far
    assert kernel_inception_distance(a, shifted, 5, 50, seed=1) == kernel_inception_distance(
        a, shifted, 5, 50, seed=1
    )


def test_kernel_inception_distance_rejects_bad_arguments():
    a = np.zeros((5, 2))
    with pytest.raises(ValueError, match="num_subsets"):
        kernel_inception_distance(a, a, num_subsets=0)
    with pytest.raises(ValueError, match="subset_size"):
        kernel_inception_distance(a, a, subset_size=1)


# ----------------------------------------------------------------------------------- diversity


def test_mean_pairwise_distance_pinned():
    black, white = np.zeros((1, 4, 4, 3), np.uint8), np.full((1, 4, 4, 3), 255, np.uint8)
    assert mean_pairwise_distance(np.concatenate([black, white])) == pytest.approx(1.0)
    # Float images at -1, 0, 1 are 0, 0.5, 1 on the [0, 1] scale: pairs differ by 0.5, 1, 0.5.
    three = np.ones((3, 4, 4, 3)) * np.array([-1.0, 0.0, 1.0])[:, None, None, None]
    assert mean_pairwise_distance(three) == pytest.approx(2.0 / 3.0)
    assert mean_pairwise_distance(np.concatenate([white] * 3)) == pytest.approx(0.0)


def test_mean_pairwise_distance_same_for_uint8_and_float():
    images = np.random.default_rng(6).integers(0, 256, size=(5, 8, 8, 3)).astype(np.uint8)
    as_float = images.astype(np.float32) / 127.5 - 1.0
    assert mean_pairwise_distance(images) == pytest.approx(mean_pairwise_distance(as_float))


def test_mean_pairwise_distance_rejects_single_image_and_int_dtype():
    with pytest.raises(ValueError, match="at least 2"):
        mean_pairwise_distance(np.zeros((1, 4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match="dtype"):
        mean_pairwise_distance(np.zeros((2, 4, 4, 3), np.int64))


# --------------------------------------------------------------------------- attribute accuracy


class _FixedPredictions:
    """A stand-in classifier that returns hand-made predictions."""

    def __init__(self, predictions):
        self.predictions = predictions

    def predict_attributes(self, images, batch_size=256):
        return self.predictions


def test_attribute_accuracy_pinned_on_hand_made_predictions():
    predicted = {
        "colour": ["red", "red", "blue", "green"],
        "shape": ["circle", "square", "circle", "circle"],
        "position": ["center", "center", "top left", "center"],
    }
    wanted = [
        {"colour": "red", "shape": "circle", "position": "center"},  # all right
        {"colour": "red", "shape": "circle", "position": "center"},  # shape wrong
        {"colour": "blue", "shape": "circle", "position": "center"},  # position wrong
        {"colour": "red", "shape": "circle", "position": "center"},  # colour wrong
    ]
    result = attribute_accuracy(_FixedPredictions(predicted), [None] * 4, wanted)
    assert result == {
        "colour": 0.75,
        "shape": 0.75,
        "position": 0.75,
        "joint": 0.5,
        "all": 0.25,
    }


def test_attribute_accuracy_scores_only_attributes_the_dicts_hold():
    # An edit caption may name only the changed attribute: size is predicted but not scored.
    predicted = {"colour": ["red", "blue"], "size": ["small", "small"]}
    result = attribute_accuracy(_FixedPredictions(predicted), [None] * 2, [{"colour": "red"}] * 2)
    assert result == {"colour": 0.5, "all": 0.5}


def test_attribute_accuracy_rejects_mismatched_lengths_and_unknown_keys():
    classifier = _FixedPredictions({"colour": ["red"]})
    with pytest.raises(ValueError, match="same length"):
        attribute_accuracy(classifier, [None, None], [{"colour": "red"}])
    with pytest.raises(ValueError, match="none of the predicted"):
        attribute_accuracy(classifier, [None], [{"shape": "circle"}])


# ---------------------------------------------------------------------------- evaluate_generator

_COLOURS = {"red": (255, 0, 0), "blue": (0, 0, 255)}


class _MeanColourJudge:
    """Reads the colour from the mean pixel; features are the per-channel means and stds."""

    def _unit(self, images):
        return (np.asarray(images, np.float32) + 1.0) / 2.0

    def predict_attributes(self, images, batch_size=256):
        mean = self._unit(images).mean(axis=(1, 2))
        return {"colour": ["red" if m[0] > m[2] else "blue" for m in mean]}

    def features(self, images, batch_size=256):
        unit = self._unit(images)
        return np.concatenate([unit.mean(axis=(1, 2)), unit.std(axis=(1, 2))], axis=1)


def _render(colour, rng):
    image = np.zeros((8, 8, 3), np.uint8)
    top, left = rng.integers(0, 5, size=2)
    image[top : top + 4, left : left + 4] = _COLOURS[colour]
    return image


def _faithful_generator(captions, seed):
    rng = np.random.default_rng(seed)
    return np.stack([_render(caption.split()[1], rng) for caption in captions])


def _red_only_generator(captions, seed):
    return np.stack([_render("red", np.random.default_rng(0)) for _ in captions])


def _pairs_and_real(n, seed):
    rng = np.random.default_rng(seed)
    colours = [("red", "blue")[i % 2] for i in range(n)]
    pairs = [(f"a {c} square", {"colour": c, "shape": "square"}) for c in colours]
    real = np.stack([_render(c, rng) for c in colours])
    return pairs, real, [attributes for _, attributes in pairs]


def test_evaluate_generator_scores_a_faithful_and_a_collapsed_generator():
    pairs, real, real_attributes = _pairs_and_real(64, seed=0)
    kwargs = {"real_attributes": real_attributes, "held_out": [("blue", "square")],
              "batch_size": 16, "kid_subsets": 5, "kid_subset_size": 32}
    good = evaluate_generator(_faithful_generator, _MeanColourJudge(), pairs, real, **kwargs)
    bad = evaluate_generator(_red_only_generator, _MeanColourJudge(), pairs, real, **kwargs)

    assert good["accuracy"] == {"colour": 1.0, "all": 1.0}
    assert good["real_accuracy"] == {"colour": 1.0, "all": 1.0}
    assert bad["accuracy"]["colour"] == 0.5
    assert good["fid"] < bad["fid"] and good["kid"] < bad["kid"]
    assert good["diversity"] > 0.1 and bad["diversity"] == 0.0
    assert good["real_diversity"] > 0.1
    assert good["num_generated"] == 64 and good["num_real"] == 64


def test_evaluate_generator_without_held_out_omits_split_figures_and_is_reproducible():
    pairs, real, _ = _pairs_and_real(16, seed=1)
    first = evaluate_generator(_faithful_generator, _MeanColourJudge(), pairs, real,
                               batch_size=8, kid_subsets=2)
    second = evaluate_generator(_faithful_generator, _MeanColourJudge(), pairs, real,
                                batch_size=8, kid_subsets=2)
    assert first == second
    assert "accuracy_seen" not in first and first["real_diversity"] is None


def test_evaluate_generator_splits_seen_and_held_out():
    # Red is "held out": the collapsed generator gets every held-out caption right, no seen one.
    pairs, real, real_attributes = _pairs_and_real(32, seed=2)
    judge = _MeanColourJudge()
    report = evaluate_generator(_red_only_generator, judge, pairs, real,
                                real_attributes=real_attributes, held_out=[("red", "square")],
                                kid_subsets=2)
    assert report["accuracy_held_out"]["colour"] == 1.0
    assert report["accuracy_seen"]["colour"] == 0.0
    assert report["real_accuracy_seen"]["colour"] == 1.0


def test_evaluate_generator_rejects_bad_generator_output_and_pairs():
    pairs, real, _ = _pairs_and_real(8, seed=3)
    with pytest.raises(ValueError, match="generate_fn must return"):
        evaluate_generator(lambda c, s: np.zeros((1, 8, 8, 3), np.uint8), _MeanColourJudge(),
                           pairs, real)
    with pytest.raises(ValueError, match="pairs"):
        evaluate_generator(_faithful_generator, _MeanColourJudge(), ["a red square"] * 4, real)


def test_evaluate_generator_runs_with_an_attribute_classifier():
    from tfcmgen.metrics import AttributeClassifier

    judge = AttributeClassifier({"colour": ["red", "blue"], "shape": ["square", "circle"]},
                                image_size=8, width=4, feature_dim=6)
    pairs, real, real_attributes = _pairs_and_real(12, seed=4)
    report = evaluate_generator(_faithful_generator, judge, pairs, real,
                                real_attributes=real_attributes, batch_size=5, kid_subsets=2,
                                diversity_captions=2, samples_per_caption=3)
    assert set(report["accuracy"]) == {"colour", "shape", "joint", "all"}
    assert np.isfinite(report["fid"]) and np.isfinite(report["kid"])
    assert report["num_generated"] == 12


def test_shapes_evaluation_set_holds_seen_then_held_out_pairs():
    from tfcmgen.data.shapes import caption_for
    from tfcmgen.metrics import shapes_evaluation_set

    held = (("green", "triangle"), ("blue", "circle"))
    data = shapes_evaluation_set(num_seen=20, num_held_out=6, image_size=16, seed=3,
                                 held_out=held)
    pairs = data["captions_with_attributes"]
    assert len(pairs) == 26 and data["real_images"].shape == (26, 16, 16, 3)
    assert data["real_attributes"] == [attrs for _, attrs in pairs]
    assert data["held_out"] == held
    colour_shape = [(a["colour"], a["shape"]) for _, a in pairs]
    assert not set(colour_shape[:20]) & set(held) and set(colour_shape[20:]) <= set(held)
    canonical = shapes_evaluation_set(num_seen=3, num_held_out=0, image_size=16, seed=3,
                                      canonical_captions=True)
    assert [c for c, _ in canonical["captions_with_attributes"]] == [
        caption_for(a) for a in canonical["real_attributes"]
    ]
