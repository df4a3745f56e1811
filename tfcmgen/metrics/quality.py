"""Quality figures for generated images: attribute accuracy, FID, KID and sample diversity.

FID and KID are computed on the features of an `AttributeClassifier` trained on real shapes images,
not on Inception-v3 features: no downloaded weights are available here, and a judge trained on the
domain separates shapes better than an ImageNet network would. The figures are therefore comparable
with each other (same classifier file), not with FID values published for other datasets.

Example:

>>> import numpy as np
>>> from tfcmgen.metrics import frechet_distance, kernel_inception_distance
>>> rng = np.random.default_rng(0)
>>> a, b = rng.normal(size=(200, 8)), rng.normal(loc=1.0, size=(200, 8))
>>> round(frechet_distance(a, a), 6)
0.0
>>> frechet_distance(a, b) > 7.0
True
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence

import numpy as np

# "joint" is the figure the GAN goals are stated in (issue 3): colour and shape both right.
JOINT_ATTRIBUTES = ("colour", "shape")
# Attributes every shapes caption names: real images sharing them are the fair comparison for
# several samples of one caption (captions leave the background out as often as not).
DIVERSITY_KEYS = ("colour", "shape", "size", "position")


def _check_features(name: str, features) -> np.ndarray:
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array [num_samples, num_features]; "
            f"received shape {features.shape}"
        )
    if features.shape[0] < 2:
        raise ValueError(f"{name} needs at least 2 samples; received {features.shape[0]}")
    if not np.all(np.isfinite(features)):
        raise ValueError(f"{name} holds NaN or infinite values")
    return features


def _sqrtm_psd(matrix: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix by eigen-decomposition.

    Tiny negative eigenvalues from round-off are clipped to zero; they would otherwise give NaN.
    """
    eigenvalues, eigenvectors = np.linalg.eigh((matrix + matrix.T) / 2.0)
    return (eigenvectors * np.sqrt(np.clip(eigenvalues, 0.0, None))) @ eigenvectors.T


def frechet_distance(features_a, features_b) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (FID on a judge's features).

    d^2 = |mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a^1/2 S_b S_a^1/2)^1/2), which equals the usual
    Tr(S_a + S_b - 2 (S_a S_b)^1/2) because S_a S_b is similar to S_a^1/2 S_b S_a^1/2. The symmetric
    form needs only `eigh`, so no scipy and no complex round-off.

    Args:
        features_a: array [N, D]. Features of the first set (for example real images).
        features_b: array [M, D]. Features of the second set (for example generated images).

    Returns:
        float, at least 0; 0 for identical sets.

    Example:

    >>> import numpy as np
    >>> frechet_distance(np.eye(3), np.eye(3) + 1.0)  # means differ by 1 in each of 3 dims
    3.0

    References:
        Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash
        Equilibrium" (FID).
    """
    a = _check_features("features_a", features_a)
    b = _check_features("features_b", features_b)
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"features_a and features_b must have the same width; received {a.shape[1]} and "
            f"{b.shape[1]}"
        )
    mean_a, mean_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    cov_a, cov_b = np.atleast_2d(cov_a), np.atleast_2d(cov_b)
    root_a = _sqrtm_psd(cov_a)
    cross = np.linalg.eigvalsh(root_a @ cov_b @ root_a)
    trace_cross = float(np.sum(np.sqrt(np.clip(cross, 0.0, None))))
    distance = float(np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a) + np.trace(cov_b))
    distance -= 2.0 * trace_cross
    # Round-off can leave a tiny negative value for identical sets.
    return max(distance, 0.0)


def _polynomial_mmd2(x: np.ndarray, y: np.ndarray, degree: int, coef0: float) -> float:
    """Unbiased MMD^2 with k(u, v) = (u.v / d + coef0)^degree."""
    width = x.shape[1]
    k_xx = (x @ x.T / width + coef0) ** degree
    k_yy = (y @ y.T / width + coef0) ** degree
    k_xy = (x @ y.T / width + coef0) ** degree
    m, n = x.shape[0], y.shape[0]
    # Unbiased: the diagonal terms k(x_i, x_i) are left out of the within-set means.
    term_xx = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
    term_yy = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
    return float(term_xx + term_yy - 2.0 * k_xy.mean())


def kernel_inception_distance(
    features_a,
    features_b,
    num_subsets: int = 50,
    subset_size: int = 1000,
    degree: int = 3,
    coef0: float = 1.0,
    seed: int = 0,
) -> tuple[float, float]:
    """Kernel distance (KID): unbiased polynomial-kernel MMD^2, averaged over random subsets.

    Unlike FID it has an unbiased estimator, so values from small sample sizes are comparable; it
    can be slightly negative when the two sets come from the same distribution.

    Args:
        features_a: array [N, D]. Features of the first set.
        features_b: array [M, D]. Features of the second set.
        num_subsets: int. Number of random subsets to average over. Defaults to 50.
        subset_size: int. Samples drawn (without replacement) from each set per subset; capped at
            the smaller set size. Defaults to 1000.
        degree: int. Polynomial kernel degree. Defaults to 3.
        coef0: float. Polynomial kernel constant. Defaults to 1.
        seed: int. Seeds the subset sampling. Defaults to 0.

    Returns:
        (mean, standard deviation) of MMD^2 over the subsets.

    Example:

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.normal(size=(300, 4)), rng.normal(loc=2.0, size=(300, 4))
    >>> mean, std = kernel_inception_distance(a, b, num_subsets=10, subset_size=100)
    >>> mean > 1.0
    True

    References:
        Binkowski et al. 2018, "Demystifying MMD GANs" (KID).
    """
    a = _check_features("features_a", features_a)
    b = _check_features("features_b", features_b)
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"features_a and features_b must have the same width; received {a.shape[1]} and "
            f"{b.shape[1]}"
        )
    if isinstance(num_subsets, bool) or not isinstance(num_subsets, int) or num_subsets < 1:
        raise ValueError(f"num_subsets must be a positive integer; received {num_subsets!r}")
    if isinstance(subset_size, bool) or not isinstance(subset_size, int) or subset_size < 2:
        raise ValueError(f"subset_size must be an integer of at least 2; received {subset_size!r}")
    size = min(subset_size, a.shape[0], b.shape[0])
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(num_subsets):
        x = a[rng.choice(a.shape[0], size, replace=False)]
        y = b[rng.choice(b.shape[0], size, replace=False)]
        values.append(_polynomial_mmd2(x, y, degree, coef0))
    return float(np.mean(values)), float(np.std(values))


def _to_unit_float(images) -> np.ndarray:
    """uint8 [0, 255] or float [-1, 1] images -> float32 in [0, 1]."""
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images.astype(np.float32) / 255.0
    if not np.issubdtype(images.dtype, np.floating):
        raise ValueError(
            f"images must be uint8 in [0, 255] or float in [-1, 1]; received dtype {images.dtype}"
        )
    return (images.astype(np.float32) + 1.0) / 2.0


def mean_pairwise_distance(images) -> float:
    """Mean root-mean-square pixel difference over all pairs of images: a diversity figure.

    Images are first put on a [0, 1] scale (uint8 / 255, or float [-1, 1] shifted), so 0 means all
    images are identical and 1 means every pixel differs by the full range. Compare the value for
    samples of one caption with the value for real images of the same attributes: a much smaller
    value for the samples is the sign of mode collapse.

    Args:
        images: array [N, ...] of uint8 in [0, 255] or float in [-1, 1], N >= 2.

    Returns:
        float in [0, 1].

    Example:

    >>> import numpy as np
    >>> mean_pairwise_distance(np.stack([np.zeros((2, 2, 3)), np.ones((2, 2, 3))]) * 2 - 1)
    1.0
    """
    x = _to_unit_float(images)
    if x.ndim < 2 or x.shape[0] < 2:
        raise ValueError(f"images must hold at least 2 images; received shape {x.shape}")
    return _unit_pairwise_distance(x)


def _unit_pairwise_distance(x: np.ndarray) -> float:
    """`mean_pairwise_distance` for images already on the [0, 1] scale."""
    x = x.reshape(x.shape[0], -1).astype(np.float64)
    squared_norms = np.sum(x * x, axis=1)
    # |u - v|^2 = |u|^2 + |v|^2 - 2 u.v over all pairs at once; clipped against round-off.
    squared = squared_norms[:, None] + squared_norms[None, :] - 2.0 * (x @ x.T)
    distances = np.sqrt(np.clip(squared, 0.0, None) / x.shape[1])
    upper = np.triu_indices(x.shape[0], k=1)
    return float(distances[upper].mean())


def attribute_accuracy(classifier, images, attributes: Sequence[dict], batch_size: int = 256):
    """Share of images whose predicted attributes match the given ones.

    Args:
        classifier: an `AttributeClassifier`, or any object with `predict_attributes(images)` that
            returns a dict from attribute name to a list of predicted values.
        images: array [N, S, S, 3], uint8 or float in [-1, 1].
        attributes: list of N dicts (attribute name -> value), the attributes each image should show
            (its caption's for generated images, the rendered ones for real images).
        batch_size: int. Images per prediction batch. Defaults to 256.

    Returns:
        dict: one accuracy per attribute that the classifier predicts and the dicts hold, plus
        `"joint"` (colour and shape both right, when both are predicted) and `"all"` (every scored
        attribute right).

    Example:

    >>> class Fixed:  # stands in for a trained classifier
    ...     def predict_attributes(self, images, batch_size=256):
    ...         return {"colour": ["red", "blue"], "shape": ["circle", "circle"]}
    >>> want = [{"colour": "red", "shape": "circle"}, {"colour": "red", "shape": "circle"}]
    >>> attribute_accuracy(Fixed(), [None, None], want)
    {'colour': 0.5, 'shape': 1.0, 'joint': 0.5, 'all': 0.5}
    """
    attributes = list(attributes)
    if len(images) != len(attributes):
        raise ValueError(
            f"images and attributes must have the same length; received {len(images)} images and "
            f"{len(attributes)} attribute dicts"
        )
    if not attributes:
        raise ValueError("attribute_accuracy needs at least one image; received none")
    predicted = classifier.predict_attributes(images, batch_size=batch_size)
    return _accuracy_of_predictions(predicted, attributes)


def _accuracy_of_predictions(predicted: dict, attributes: Sequence[dict]) -> dict:
    """`attribute_accuracy` once the predictions are made."""
    scored = [name for name in predicted if all(name in a for a in attributes)]
    if not scored:
        raise ValueError(
            f"none of the predicted attributes {sorted(predicted)} is present in every attribute "
            f"dict; first dict received: {attributes[0]}"
        )
    correct = {
        name: np.array(
            [p == a[name] for p, a in zip(predicted[name], attributes, strict=True)], dtype=bool
        )
        for name in scored
    }
    result = {name: float(hits.mean()) for name, hits in correct.items()}
    if all(name in correct for name in JOINT_ATTRIBUTES):
        joint = np.logical_and.reduce([correct[name] for name in JOINT_ATTRIBUTES])
        result["joint"] = float(joint.mean())
    result["all"] = float(np.logical_and.reduce(list(correct.values())).mean())
    return result


def _within_group_diversity(images: np.ndarray, attributes: Sequence[dict], keys, max_groups: int):
    """Mean pairwise distance inside groups of [0, 1] images sharing the values of `keys`."""
    groups = defaultdict(list)
    for index, attrs in enumerate(attributes):
        groups[tuple(attrs.get(k) for k in keys)].append(index)
    values = [
        _unit_pairwise_distance(images[indices])
        for indices in sorted(groups.values(), key=len, reverse=True)[:max_groups]
        if len(indices) >= 2
    ]
    return float(np.mean(values)) if values else None


def _generate_batches(generate_fn, captions: list[str], seed: int, batch_size: int) -> np.ndarray:
    """Calls `generate_fn` on consecutive batches, one seed per batch, and returns [0, 1] floats."""
    parts = []
    for batch_index, start in enumerate(range(0, len(captions), batch_size)):
        batch = captions[start : start + batch_size]
        images = np.asarray(generate_fn(batch, seed + batch_index))
        if images.ndim != 4 or images.shape[0] != len(batch) or images.shape[-1] != 3:
            raise ValueError(
                f"generate_fn must return images [B, S, S, 3] for B={len(batch)} captions; "
                f"received shape {images.shape}"
            )
        parts.append(_to_unit_float(images))
    return np.concatenate(parts, axis=0)


def shapes_evaluation_set(
    num_seen: int = 1000,
    num_held_out: int = 250,
    image_size: int = 64,
    seed: int = 1234,
    held_out: Iterable[tuple[str, str]] | None = None,
    canonical_captions: bool = False,
) -> dict:
    """Captions with known attributes and the real images drawn from them, for evaluation.

    Seen colour+shape pairs come from the shapes "train" split and held-out pairs from the
    "held_out" split, both rendered afresh from `seed` (pick one the generator was not trained
    with). The real images are those of the same attribute draws, so generated and real sets
    follow the same attribute distribution for FID and KID.

    Args:
        num_seen: int. Captions of seen colour+shape pairs. Defaults to 1000.
        num_held_out: int. Captions of held-out pairs; 0 for none. Defaults to 250.
        image_size: int. Side of the real images. Defaults to 64.
        seed: int. Defaults to 1234.
        held_out: (colour, shape) pairs, None for the dataset's `DEFAULT_HELD_OUT`.
        canonical_captions: bool. Use `caption_for` ("a small red circle in the top left")
            instead of each image's first templated caption. Defaults to False.

    Returns:
        dict with keys `captions_with_attributes`, `real_images`, `real_attributes`, `held_out`,
        ready to be passed on as `evaluate_generator(generate_fn, classifier, **evaluation_set)`.
    """
    from tfcmgen.data import shapes

    held_out = tuple(shapes.DEFAULT_HELD_OUT if held_out is None else held_out)
    parts = [shapes.load_shapes(num_seen, image_size, seed, held_out, 1, split="train")]
    if num_held_out:
        parts.append(shapes.load_shapes(num_held_out, image_size, seed, held_out, 1,
                                        split="held_out"))
    pairs, attributes = [], []
    for part in parts:
        for captions, attrs in zip(part.captions, part.attributes, strict=True):
            caption = shapes.caption_for(attrs) if canonical_captions else captions[0]
            pairs.append((caption, dict(attrs)))
            attributes.append(dict(attrs))
    return {
        "captions_with_attributes": pairs,
        "real_images": np.concatenate([part.images for part in parts]),
        "real_attributes": attributes,
        "held_out": held_out,
    }


def evaluate_generator(
    generate_fn: Callable[[list[str], int], np.ndarray],
    classifier,
    captions_with_attributes: Iterable[tuple[str, dict]],
    real_images,
    real_attributes: Sequence[dict] | None = None,
    held_out: Iterable[tuple[str, str]] | None = None,
    seed: int = 0,
    batch_size: int = 64,
    diversity_captions: int = 8,
    samples_per_caption: int = 8,
    kid_subsets: int = 50,
    kid_subset_size: int = 500,
) -> dict:
    """Scores a text-to-image generator on captions whose attributes are known.

    Generates one image per caption, then reports the classifier's attribute accuracy against the
    captions' attributes (overall, and separately for seen and held-out colour+shape pairs when
    `held_out` is given), FID and KID between generated and real images on the classifier's
    features, and diversity: the mean pairwise distance of `samples_per_caption` samples of one
    caption, against the same figure for real images that share the attributes every caption
    names (colour, shape, size, position). With
    `real_attributes`, the same accuracies are reported for the real images, the ceiling the
    generator is measured against.

    Args:
        generate_fn: callable `(captions: list[str], seed: int) -> images [B, S, S, 3]`, uint8 or
            float in [-1, 1]; the same seed must give the same images.
        classifier: `AttributeClassifier`. The judge (its `features` give FID and KID).
        captions_with_attributes: iterable of (caption, attribute dict) pairs.
        real_images: array [N, S, S, 3], uint8 or float in [-1, 1]. Real images for FID/KID.
        real_attributes: list of N dicts or None. Attributes of `real_images`. Defaults to None.
        held_out: iterable of (colour, shape) pairs or None. Splits accuracy into `"seen"` and
            `"held_out"` groups. Defaults to None.
        seed: int. First generation seed; batch i uses `seed + i`. Defaults to 0.
        batch_size: int. Captions per `generate_fn` call. Defaults to 64.
        diversity_captions: int. Captions sampled repeatedly for the diversity figure.
            Defaults to 8.
        samples_per_caption: int. Samples per diversity caption. Defaults to 8.
        kid_subsets: int. KID subsets. Defaults to 50.
        kid_subset_size: int. KID subset size (capped at the set sizes). Defaults to 500: half
            of the usual 1,000 evaluation images, so the subsets differ and the reported standard
            deviation means something (with subsets as large as the sets it is always 0).

    Returns:
        dict with `"accuracy"` (per attribute, `"joint"`, `"all"`), optionally `"accuracy_seen"`,
        `"accuracy_held_out"`, `"real_accuracy"`, `"real_accuracy_seen"`,
        `"real_accuracy_held_out"`; `"fid"`, `"kid"`, `"kid_std"`; `"diversity"` and
        `"real_diversity"` (None without `real_attributes`); `"num_generated"`, `"num_real"`.

    Example:

    >>> from tfcmgen.metrics import AttributeClassifier, shapes_evaluation_set
    >>> judge = AttributeClassifier.load("bench/out/attribute_classifier.keras")  # doctest: +SKIP
    >>> report = evaluate_generator(
    ...     lambda captions, seed: gan.generate(tokenizer(captions), seed),
    ...     judge, **shapes_evaluation_set(num_seen=1000, num_held_out=250))  # doctest: +SKIP
    >>> report["accuracy_held_out"]["joint"], report["fid"]  # doctest: +SKIP
    """
    pairs = list(captions_with_attributes)
    if len(pairs) < 2:
        raise ValueError(
            f"captions_with_attributes needs at least 2 (caption, attributes) pairs; "
            f"received {len(pairs)}"
        )
    for item in pairs:
        if not (isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[0], str)
                and isinstance(item[1], dict)):
            raise ValueError(
                f"captions_with_attributes must hold (caption, attribute dict) pairs; "
                f"received {item!r}"
            )
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer; received {batch_size!r}")
    if samples_per_caption < 2:
        raise ValueError(
            f"samples_per_caption must be at least 2 to measure diversity; "
            f"received {samples_per_caption}"
        )
    real = _to_unit_float(real_images)
    if real_attributes is not None and len(real_attributes) != len(real):
        raise ValueError(
            f"real_attributes must have one dict per real image; received {len(real_attributes)} "
            f"dicts for {len(real)} images"
        )
    captions = [caption for caption, _ in pairs]
    wanted = [attrs for _, attrs in pairs]
    fake = _generate_batches(generate_fn, captions, seed, batch_size)
    # Everything below works on float [-1, 1], the classifier's and the generator's native range.
    fake_signed, real_signed = fake * 2.0 - 1.0, real * 2.0 - 1.0

    # Predict each set once; every accuracy below is a slice of these predictions.
    sets = {"accuracy": (wanted, classifier.predict_attributes(fake_signed, batch_size))}
    if real_attributes is not None:
        real_attributes = list(real_attributes)
        sets["real_accuracy"] = (real_attributes,
                                 classifier.predict_attributes(real_signed, batch_size))
    report = {}
    for key, (attrs, predicted) in sets.items():
        report[key] = _accuracy_of_predictions(predicted, attrs)
    if held_out is not None:
        held_out = {tuple(pair) for pair in held_out}
        for key, (attrs, predicted) in sets.items():
            flags = [tuple(a.get(k) for k in JOINT_ATTRIBUTES) in held_out for a in attrs]
            for suffix, keep in (("seen", False), ("held_out", True)):
                indices = [i for i, flag in enumerate(flags) if flag == keep]
                if indices:
                    report[f"{key}_{suffix}"] = _accuracy_of_predictions(
                        {name: [values[i] for i in indices] for name, values in predicted.items()},
                        [attrs[i] for i in indices],
                    )

    fake_features = classifier.features(fake_signed, batch_size=batch_size)
    real_features = classifier.features(real_signed, batch_size=batch_size)
    report["fid"] = frechet_distance(real_features, fake_features)
    report["kid"], report["kid_std"] = kernel_inception_distance(
        real_features, fake_features, num_subsets=kid_subsets, subset_size=kid_subset_size,
        seed=seed,
    )

    # Diversity: several samples of the same caption, one generate_fn call per caption so the
    # samples differ only by noise.
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(pairs), size=min(diversity_captions, len(pairs)), replace=False)
    per_caption = [
        _unit_pairwise_distance(
            _generate_batches(generate_fn, [captions[i]] * samples_per_caption, seed + 1 + i,
                              samples_per_caption)
        )
        for i in chosen
    ]
    report["diversity"] = float(np.mean(per_caption))
    report["real_diversity"] = (
        _within_group_diversity(real, real_attributes, DIVERSITY_KEYS, diversity_captions)
        if real_attributes is not None
        else None
    )
    report["num_generated"] = len(fake)
    report["num_real"] = len(real)
    return report
