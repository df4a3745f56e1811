"""Both models follow Keras' conventions without the runner: compile() with no arguments,
train_on_batch, evaluate (test_step with the same trackers, no update), save / load_model."""

import keras
import numpy as np
import pytest

from tfcmgen.models import CrossModalGAN, TextImageEditor

TINY_GAN = dict(vocabulary_size=20, max_length=6, image_size=32, embedding_dim=8,
                condition_dim=8, noise_dim=8, generator_width=4, discriminator_width=4)
TINY_EDITOR = dict(vocabulary_size=20, max_length=6, image_size=32, embedding_dim=8, width=8,
                   num_blocks=1, discriminator_width=4)


def _batch(edit):
    rng = np.random.default_rng(1)
    batch = {"image": rng.uniform(-1, 1, (4, 32, 32, 3)).astype("float32"),
             "token_ids": rng.integers(1, 20, (4, 6)).astype("int32"),
             "mismatched_token_ids": rng.integers(1, 20, (4, 6)).astype("int32")}
    if edit:
        batch["edit_token_ids"] = batch.pop("mismatched_token_ids")
    return batch


@pytest.mark.parametrize("model_class, config, adam", [
    (CrossModalGAN, TINY_GAN, (4e-4, 8e-4, 0.0, 0.99)),
    (TextImageEditor, TINY_EDITOR, (1e-3, 2e-3, 0.5, 0.999)),
])
def test_compile_without_arguments_uses_the_auto_defaults(model_class, config, adam, tmp_path):
    model = model_class(**config)
    model.compile()
    assert model.loss_name == "hinge"
    for optimizer, rate in ((model.g_optimizer, adam[0]), (model.d_optimizer, adam[1])):
        assert isinstance(optimizer, keras.optimizers.Adam)
        assert np.isclose(float(optimizer.learning_rate), rate)
        assert (optimizer.beta_1, optimizer.beta_2) == adam[2:]
    assert model.g_optimizer is not model.d_optimizer
    batch = _batch(model_class is TextImageEditor)
    logs = model.train_on_batch(batch, return_dict=True)
    assert int(model.g_optimizer.iterations.numpy()) == 1
    assert all(np.isfinite(value) for value in logs.values())

    # evaluate: the same trackers, and no weight or optimizer moves.
    before = [w.numpy().copy() for w in model.weights]
    scores = model.evaluate(batch, return_dict=True, verbose=0)
    assert set(scores) == set(logs)
    assert all(np.array_equal(a, w.numpy()) for a, w in zip(before, model.weights))
    assert int(model.g_optimizer.iterations.numpy()) == 1

    path = str(tmp_path / "model.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert restored.loss_name == "hinge"
    assert np.isclose(float(restored.d_optimizer.learning_rate), adam[1])
