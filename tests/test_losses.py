"""Adversarial losses: pinned values per example, GAN-CLS weighting, registry errors."""

import numpy as np
import pytest
import tensorflow as tf

from tfcmgen import losses

REAL = np.array([2.0, 0.5, -1.0], "float32")
FAKE = np.array([-2.0, 0.0, 1.0], "float32")
MISMATCHED = np.array([-0.5, 1.0, 0.0], "float32")


def softplus(x):
    return np.log1p(np.exp(x))


@pytest.mark.parametrize(
    "kind, expected_d, expected_g",
    [
        # relu(1 - real) + relu(1 + fake); G: -fake
        ("hinge", [0.0, 1.5, 4.0], [2.0, 0.0, -1.0]),
        # softplus(-real) + softplus(fake); G: softplus(-fake)
        ("bce", softplus(-REAL) + softplus(FAKE), softplus(-FAKE)),
        # fake - real; G: -fake
        ("wgan", FAKE - REAL, -FAKE),
    ],
)
def test_losses_per_example_pinned(kind, expected_d, expected_g):
    g_loss, d_loss = losses.get(kind)
    d = d_loss(REAL, FAKE)
    g = g_loss(FAKE)
    assert d.shape == (3,) and d.dtype == tf.float32
    np.testing.assert_allclose(d.numpy(), expected_d, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(g.numpy(), expected_g, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kind", ["hinge", "bce", "wgan"])
def test_mismatched_pairs_count_as_half_of_the_fake_side(kind):
    _, d_loss = losses.get(kind)
    real_part = d_loss(REAL, FAKE).numpy() - _fake_part(kind, FAKE)
    expected = real_part + 0.5 * (_fake_part(kind, FAKE) + _fake_part(kind, MISMATCHED))
    np.testing.assert_allclose(d_loss(REAL, FAKE, MISMATCHED).numpy(), expected, rtol=1e-6,
                               atol=1e-6)


def _fake_part(kind, logits):
    return {
        "hinge": np.maximum(0.0, 1.0 + logits),
        "bce": softplus(logits),
        "wgan": logits,
    }[kind]


def test_hinge_pinned_with_mismatched():
    _, d_loss = losses.get("hinge")
    # relu(1-2)=0 + (relu(1-2)=0 + relu(1-0.5)=0.5)/2 = 0.25
    value = d_loss([2.0], [-2.0], [-0.5]).numpy()
    np.testing.assert_allclose(value, [0.25])


def test_spatial_logits_are_averaged_to_one_value_per_example():
    g_loss, _ = losses.get("hinge")
    logits = np.arange(8, dtype="float32").reshape(2, 2, 2)
    np.testing.assert_allclose(g_loss(logits).numpy(), [-1.5, -5.5])


def test_wgan_gp_is_the_wasserstein_pair():
    assert losses.get("wgan-gp") == losses.get("wgan")


def test_unknown_loss_names_the_argument():
    with pytest.raises(ValueError, match="loss=.*'lsgan'"):
        losses.get("lsgan")


def _numpy_contrastive_rows(logits):
    """Cross-entropy of picking column i in row i, per row of `logits` (extra columns allowed)."""
    shifted = logits - logits.max(1, keepdims=True)
    log_softmax = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
    return -log_softmax[range(len(logits)), range(len(logits))]


def _numpy_contrastive(image, text, temperature):
    logits = image @ text.T / temperature
    return 0.5 * (_numpy_contrastive_rows(logits) + _numpy_contrastive_rows(logits.T))


def test_contrastive_loss_is_symmetric_infonce():
    rng = np.random.default_rng(0)
    image, text = rng.normal(size=(2, 5, 4)).astype("float32")
    image /= np.linalg.norm(image, axis=1, keepdims=True)
    text /= np.linalg.norm(text, axis=1, keepdims=True)
    loss = losses.contrastive_loss(image, text, temperature=0.1)
    assert loss.shape == (5,)
    np.testing.assert_allclose(loss.numpy(), _numpy_contrastive(image, text, 0.1), rtol=1e-5)


def test_contrastive_loss_rewards_each_image_picking_its_own_caption():
    eye = np.eye(4, dtype="float32")
    matched = losses.contrastive_loss(eye, eye, temperature=0.1).numpy()
    swapped = losses.contrastive_loss(eye, eye[[1, 0, 3, 2]], temperature=0.1).numpy()
    assert matched.max() < 1e-3 and swapped.min() > 5.0


def test_contrastive_loss_of_a_slice_against_the_whole_batch_is_that_slice_of_the_full_loss():
    """What a replica computes from all-gathered embeddings: its rows of the one-device loss."""
    rng = np.random.default_rng(1)
    image, text = rng.normal(size=(2, 6, 4)).astype("float32")
    full = losses.contrastive_loss(image, text, temperature=0.2).numpy()
    part = losses.contrastive_loss(image[2:4], text[2:4], temperature=0.2, all_images=image,
                                   all_texts=text, offset=2).numpy()
    np.testing.assert_allclose(part, full[2:4], rtol=1e-6)


def test_contrastive_hard_negatives_join_each_images_own_softmax():
    rng = np.random.default_rng(2)
    image, text, hard = rng.normal(size=(3, 5, 4)).astype("float32")
    logits = image @ text.T / 0.1
    with_hard = np.concatenate([logits, (image * hard).sum(1, keepdims=True) / 0.1], axis=1)
    image_to_text = _numpy_contrastive_rows(with_hard)
    text_to_image = _numpy_contrastive_rows(logits.T)
    expected = 0.5 * (image_to_text + text_to_image)
    loss = losses.contrastive_loss(image, text, temperature=0.1, hard_negatives=hard).numpy()
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    # A hard negative equal to the caption halves the image's chance of picking its own.
    eye = np.eye(3, dtype="float32")
    plain = losses.contrastive_loss(eye, eye, temperature=0.1).numpy()
    doubled = losses.contrastive_loss(eye, eye, temperature=0.1, hard_negatives=eye).numpy()
    np.testing.assert_allclose(doubled - plain, 0.5 * np.log(2.0), atol=1e-3)


def test_diversity_loss_is_the_capped_distance_ratio():
    rng = np.random.default_rng(0)
    a, b = rng.uniform(-1, 1, (2, 3, 4, 4, 3)).astype("float32") * 0.1
    z, w = rng.normal(size=(2, 3, 8)).astype("float32")
    ratio = np.abs(a - b).reshape(3, -1).mean(1) / np.abs(z - w).mean(1)
    np.testing.assert_allclose(losses.diversity_loss(a, b, z, w, cap=10.0).numpy(), -ratio,
                               rtol=1e-5)
    capped = losses.diversity_loss(a, b, z, w, cap=0.01).numpy()
    np.testing.assert_allclose(capped, -np.minimum(ratio, 0.01), rtol=1e-5)


def test_diversity_loss_pushes_images_apart_below_the_cap_only():
    a = tf.Variable(np.zeros((2, 4, 4, 3), "float32"))
    b = np.full((2, 4, 4, 3), 0.05, "float32")
    z, w = np.zeros((2, 8), "float32"), np.ones((2, 8), "float32")
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(losses.diversity_loss(a, tf.stop_gradient(b), z, w, cap=0.2))
    # Lowering `a` moves it away from b (the loss falls): the gradient is positive everywhere.
    assert np.all(tape.gradient(loss, a).numpy() > 0)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(losses.diversity_loss(a, b + 1.0, z, w, cap=0.2))
    assert np.all(tape.gradient(loss, a).numpy() == 0)  # past the cap: no reward for more
    assert losses.diversity_loss(a.numpy().astype("float16"), b, z, w).dtype == tf.float32
