"""CrossModalGAN: generation conventions, a real fit, save/load, options, bad input."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfcmgen.models import CrossModalGAN

from .conftest import IMAGE_SIZE, MAX_LENGTH, TINY, tiny_batch, tiny_dataset, tiny_gan

TOKENS = tiny_batch(4, seed=1)["token_ids"]


def _values(variables):
    return [np.array(v.numpy()) for v in variables]


def _changed(before, variables):
    return [not np.array_equal(b, v.numpy()) for b, v in zip(before, variables)]


@pytest.fixture(scope="module")
def trained():
    """A tiny GAN after two compiled (graph-mode) fit steps, with values from before them."""
    keras.utils.set_random_seed(0)
    gan = tiny_gan()
    before = {
        "generator": _values(gan.generator_variables),
        "discriminator": _values(gan.discriminator.trainable_weights),
        "text_encoder": _values(gan.text_encoder.trainable_weights),
        "ema": _values(gan.ema_generator.weights),
    }
    history = gan.fit(tiny_dataset(8, 4), epochs=1, verbose=0)
    return gan, before, history.history


def test_call_and_generate_follow_the_conventions():
    gan = CrossModalGAN(**TINY)
    assert (gan.noise_dim, gan.image_size, gan.max_length) == (8, IMAGE_SIZE, MAX_LENGTH)
    images = gan(TOKENS)
    assert images.shape == (4, IMAGE_SIZE, IMAGE_SIZE, 3) and images.dtype == tf.float32
    assert float(tf.reduce_max(tf.abs(images))) <= 1.0

    first = gan.generate(TOKENS, seed=3).numpy()
    np.testing.assert_array_equal(first, gan.generate(TOKENS, seed=3).numpy())
    assert np.abs(first - gan.generate(TOKENS, seed=4).numpy()).max() > 1e-6
    # generate(seed) is call() with tf.random.stateless_normal([B, noise_dim], seed=[seed, 0]).
    noise = tf.random.stateless_normal([4, gan.noise_dim], seed=[3, 0])
    np.testing.assert_allclose(gan({"token_ids": TOKENS, "noise": noise}), first, atol=1e-6)


def test_fit_gives_finite_losses_and_trains_every_part(trained):
    gan, before, history = trained
    assert set(history) == {"d_loss", "g_loss", "kl", "d_real", "d_fake", "contrastive",
                            "diversity"}
    assert all(np.isfinite(values[-1]) for values in history.values())
    assert int(gan.g_optimizer.iterations) == 2 and int(gan.d_optimizer.iterations) == 2
    assert all(_changed(before["generator"], gan.generator_variables))
    # The bias of D's unconditional logit is the one exception: while every hinge margin is
    # active its gradient is -1 + (1 + 1) / 2 = 0 (real vs. half fake + half mismatched).
    changed = _changed(before["discriminator"], gan.discriminator.trainable_weights)
    paths = [v.path for v in gan.discriminator.trainable_weights]
    unchanged = [p for p, c in zip(paths, changed) if not c]
    assert unchanged in ([], ["discriminator/unconditional/bias"])
    changed = _changed(before["text_encoder"], gan.text_encoder.trainable_weights)
    unchanged = [v.path for v, c in zip(gan.text_encoder.trainable_weights, changed) if not c]
    # The attention's key biases are held at zero on purpose (their gradient is rounding noise:
    # _TransformerPooling); every other weight of the text encoder trains.
    assert all(path.endswith("/key/bias") for path in unchanged), unchanged
    assert len(unchanged) < len(changed) // 4
    assert any(_changed(before["ema"], gan.ema_generator.weights))


def test_ema_generator_averages_and_makes_the_samples(trained):
    gan, before, _ = trained
    live = gan.generator.get_weights()
    ema = gan.ema_generator.get_weights()
    start = before["ema"]
    # After 2 steps the EMA lies strictly between its start and the live weights for some tensors
    # and never outside the range they span.
    moved = [np.abs(e - s).max() > 0 and np.abs(e - w).max() > 0
             for e, s, w in zip(ema, start, live)]
    assert any(moved)
    sentence, _ = gan.text_encoder(TOKENS)
    condition = gan.ema_condition_encoder(sentence)  # a dense projection: use_ca is off
    noise = tf.random.stateless_normal([4, gan.noise_dim], seed=[0, 0])
    expected = gan.ema_generator([noise, condition], training=False)
    np.testing.assert_allclose(gan.generate(TOKENS, seed=0), expected, atol=1e-6)
    live_images = gan.generator([noise, condition], training=False)
    assert np.abs(np.asarray(live_images) - np.asarray(expected)).max() > 1e-6


def test_save_and_load_without_custom_objects_generates_the_same_images(trained, tmp_path):
    gan = trained[0]
    path = os.path.join(tmp_path, "gan.keras")
    gan.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is CrossModalGAN
    assert loaded.get_config() == gan.get_config()
    np.testing.assert_array_equal(loaded.generate(TOKENS, seed=7), gan.generate(TOKENS, seed=7))
    # The compile state comes back too, so training can continue where it stopped.
    assert loaded.loss_name == "hinge"
    assert int(loaded.g_optimizer.iterations) == 2
    assert loaded.g_optimizer is not loaded.d_optimizer
    np.testing.assert_allclose(
        float(loaded.g_optimizer.learning_rate), float(gan.g_optimizer.learning_rate)
    )


@pytest.mark.parametrize(
    "loss, overrides",
    [
        ("bce", {"fusion": "concat", "use_ca": False, "diff_augment": ()}),
        ("hinge", {"discriminator_head": "matching", "ma_gp_weight": 2.0, "gan_int_weight": 1.0}),
        ("wgan-gp", {"fusion": "gated", "text_pooling": "attention", "spectral_norm": True,
                     "use_ca": True}),
    ],
)
def test_other_options_train_with_finite_losses(loss, overrides):
    gan = tiny_gan(loss=loss, run_eagerly=True, **overrides)
    before = _values(gan.generator_variables)
    history = gan.fit(tiny_dataset(4, 4), epochs=1, verbose=0).history
    assert all(np.isfinite(values[-1]) for values in history.values())
    if loss == "wgan-gp" or overrides.get("ma_gp_weight"):
        assert history["gp"][-1] > 0
    assert any(_changed(before, gan.generator_variables))
    assert gan.generate(TOKENS, seed=0).shape == (4, IMAGE_SIZE, IMAGE_SIZE, 3)


def test_embedding_matrix_initialises_the_word_vectors():
    matrix = np.random.default_rng(0).normal(size=(TINY["vocabulary_size"], 8)).astype("float32")
    gan = CrossModalGAN(**TINY, embedding_matrix=matrix)
    np.testing.assert_allclose(gan.text_encoder.embedding.embeddings.numpy(), matrix)
    assert gan.get_config()["embedding_matrix"] is None


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"fusion": "sum"}, r"fusion must be one of .*; received fusion='sum'"),
        ({"image_size": 48}, (r"image_size must be one of 32, 64, 128, 256; received "
                              r"image_size=48")),
        ({"text_pooling": "max"}, r"text_pooling must be one of .*received text_pooling='max'"),
        ({"diff_augment": ("translation", "flip")}, r"diff_augment.*'flip'"),
        ({"discriminator_head": "concat"}, r"head must be one of .*received head='concat'"),
        ({"ema_decay": 1.0}, r"ema_decay must be in \[0, 1\); received ema_decay=1.0"),
        ({"embedding_matrix": np.zeros((3, 8))}, r"embedding_matrix must have shape"),
        ({"contrastive_weight": -1}, r"contrastive_weight must be a number >= 0; received"),
    ],
)
def test_bad_arguments_raise_value_errors_naming_them(overrides, message):
    with pytest.raises(ValueError, match=message):
        CrossModalGAN(**{**TINY, **overrides})


def test_compile_rejects_unknown_loss_and_a_shared_optimizer():
    gan = CrossModalGAN(**TINY)
    with pytest.raises(ValueError, match=r"loss must be one of .*received loss='lsgan'"):
        gan.compile(keras.optimizers.Adam(), keras.optimizers.Adam(), loss="lsgan")
    shared = keras.optimizers.Adam()
    with pytest.raises(ValueError, match="two optimizer instances"):
        gan.compile(shared, shared)


def test_generate_rejects_token_ids_of_the_wrong_length():
    gan = CrossModalGAN(**TINY)
    with pytest.raises(ValueError, match=r"max_length=6.*received shape \(2, 5\)"):
        gan.generate(np.ones((2, 5), "int32"), seed=0)


def test_penalties_follow_their_formulas():
    gan = CrossModalGAN(**TINY, spectral_norm=False)
    # MA-GP per example: (||dD/dx||^2 + ||dD/ds||^2)^(6/2) = (12 + 4)^3.
    penalty = gan.matching_aware_gradient_penalty(np.ones((2, 2, 2, 3)), np.ones((2, 4)))
    np.testing.assert_allclose(penalty, [4096.0, 4096.0], rtol=1e-5)

    # WGAN-GP at a = 0 is evaluated at the real images: (||grad_x D(x, s)||_2 - 1)^2 per example.
    batch = tiny_batch(2)
    real, fake = tf.constant(batch["image"]), tf.constant(tiny_batch(2, seed=5)["image"])
    sentence = tf.random.stateless_normal([2, 8], seed=[0, 1])
    penalty = gan.gradient_penalty(real, fake, sentence, tf.zeros([2, 1])).numpy()
    for i in range(2):
        x = real[i : i + 1]
        with tf.GradientTape() as tape:
            tape.watch(x)
            logit = gan.discriminator([x, sentence[i : i + 1]], training=True)
        norm = np.linalg.norm(tape.gradient(logit, x).numpy())
        np.testing.assert_allclose(penalty[i], (norm - 1.0) ** 2, rtol=1e-4)


@pytest.mark.parametrize("mismatched", [False, True])
def test_contrastive_term_scores_real_images_against_the_batch_captions(mismatched):
    """The step's `contrastive` metric is the InfoNCE loss of D's embeddings of the real batch;
    with `contrastive_mismatched` each image's mismatched caption is one more negative."""
    from tfcmgen.losses import contrastive_loss

    keras.utils.set_random_seed(0)
    # No augmentation and no spectral norm: the step then sees exactly these D features.
    gan = tiny_gan(run_eagerly=True, diff_augment=(), spectral_norm=False,
                   contrastive_mismatched=mismatched)
    batch = tiny_batch(4, seed=2)
    sentence, _ = gan.text_encoder(batch["token_ids"])
    wrong, _ = gan.text_encoder(batch["mismatched_token_ids"])
    features = gan.discriminator.features(batch["image"], training=True)
    image, text = gan.discriminator.contrastive_embed(features, sentence)
    _, hard = gan.discriminator.contrastive_embed(features, wrong)
    plain = float(np.mean(contrastive_loss(image, text, gan.CONTRASTIVE_TEMPERATURE)))
    with_hard = float(np.mean(
        contrastive_loss(image, text, gan.CONTRASTIVE_TEMPERATURE, hard_negatives=hard)))
    assert abs(with_hard - plain) > 1e-4  # the two cases are told apart
    history = gan.fit(tf.data.Dataset.from_tensors(batch), epochs=1, verbose=0).history
    np.testing.assert_allclose(history["contrastive"][-1], with_hard if mismatched else plain,
                               rtol=1e-4)
    assert CrossModalGAN.from_config(gan.get_config()).contrastive_mismatched == mismatched
    # Models saved before the option existed keep training as they did.
    old_config = {k: v for k, v in gan.get_config().items() if k != "contrastive_mismatched"}
    assert not CrossModalGAN.from_config(old_config).contrastive_mismatched


def test_contrastive_weight_zero_builds_no_contrastive_head():
    gan = tiny_gan(contrastive_weight=0.0)
    assert gan.discriminator.contrastive_dim == 0
    history = gan.fit(tiny_dataset(4, 4), epochs=1, verbose=0).history
    assert "contrastive" not in history
    assert CrossModalGAN.from_config(gan.get_config()).contrastive_weight == 0.0


def test_diversity_term_pushes_apart_images_of_the_same_caption_from_other_noise():
    """The generator loss gains `diversity_weight * diversity_loss(G(c, z), G(c, z'))`, z' the
    discriminator half's noise, and the step logs the (capped) distance ratio."""
    from tfcmgen.losses import diversity_loss

    keras.utils.set_random_seed(0)
    gan = tiny_gan(run_eagerly=True, diversity_weight=3.0)
    batch = tiny_batch(4, seed=2)
    token_ids, wrong = tf.constant(batch["token_ids"]), tf.constant(batch["mismatched_token_ids"])
    sizes = (tf.constant(4), tf.constant(4), tf.constant(0))
    other_noise = tf.random.stateless_normal([4, gan.noise_dim], seed=[1, 2])
    sentence, _ = gan.text_encoder(token_ids)
    other = gan._generate_from_sentence(sentence, other_noise, gan._live_side(), True)
    state = gan.seed_generator.state.numpy()
    with_term, logs = gan._generator_loss(token_ids, wrong, sizes, True, other=(other, other_noise))
    gan.seed_generator.state.assign(state)  # the same noise draw again
    without, _ = gan._generator_loss(token_ids, wrong, sizes, True)
    gan.seed_generator.state.assign(state)
    noise = gan._draw("normal", sizes, gan.noise_dim)
    fake = gan._generate_from_sentence(sentence, noise, gan._live_side(), True)
    expected = diversity_loss(fake, other, noise, other_noise, gan.diversity_cap).numpy()
    np.testing.assert_allclose(float(with_term - without), 3.0 * expected.mean(), rtol=1e-4,
                               atol=1e-6)
    np.testing.assert_allclose(logs["diversity"].numpy(), -expected, rtol=1e-4, atol=1e-6)

    history = gan.fit(tiny_dataset(4, 4), epochs=1, verbose=0).history
    # The logged ratio is float32: the cap itself rounds to 0.2000000030 there.
    assert 0.0 < history["diversity"][-1] <= np.float32(gan.diversity_cap)
    assert CrossModalGAN.from_config(gan.get_config()).diversity_weight == 3.0
    off = tiny_gan(diversity_weight=0.0)
    assert "diversity" not in off.fit(tiny_dataset(4, 4), epochs=1, verbose=0).history
    # Models saved before the diversity loss existed load with it off.
    old_config = {k: v for k, v in gan.get_config().items() if k != "diversity_weight"}
    assert CrossModalGAN.from_config(old_config).diversity_weight == 0.0
