"""What the tasks' model builders give: the config's arguments in, a model compiled with the
optimizers each task trains with (names, learning rates, betas, loss) out.

Pinned so that the shared builder (`Task.build_text_model`) keeps both tasks' settings.
"""

from __future__ import annotations

import numpy as np
import pytest

VOCABULARY_SIZE, EMBEDDING_DIM = 12, 8


def _config(**changes):
    from tfcmgen.config import TrainConfig

    return TrainConfig(image_size=32, max_length=6, base_width=4, embedding_dim=EMBEDDING_DIM,
                       noise_dim=8, text_pooling="mean", loss="bce", g_learning_rate=3e-4,
                       d_learning_rate=5e-4, seed=7, **changes)


def _embedding_matrix():
    return np.random.default_rng(0).normal(size=(VOCABULARY_SIZE, EMBEDDING_DIM)).astype("float32")


@pytest.mark.parametrize("task, betas", [("text2image", (0.0, 0.99)), ("edit", (0.5, 0.999))])
def test_builders_pass_the_config_and_compile_each_tasks_optimizers(task, betas):
    import keras

    from tfcmgen.editing import build_editor
    from tfcmgen.training import build_gan

    keras.utils.set_random_seed(0)
    config = _config(task=task)
    matrix = _embedding_matrix()
    build = build_gan if task == "text2image" else build_editor
    model = build(config, VOCABULARY_SIZE, matrix)

    for optimizer, name, rate in ((model.g_optimizer, "g_adam", 3e-4),
                                  (model.d_optimizer, "d_adam", 5e-4)):
        assert optimizer.name == name
        assert (float(optimizer.learning_rate), optimizer.beta_1, optimizer.beta_2) == (
            pytest.approx(rate, rel=1e-6), *betas)
    assert model.loss_name == "bce"
    settings = model.get_config()
    assert (settings["vocabulary_size"], settings["max_length"], settings["image_size"],
            settings["embedding_dim"], settings["text_pooling"], settings["seed"]) == (
        VOCABULARY_SIZE, 6, 32, EMBEDDING_DIM, "mean", 7)
    if task == "text2image":
        assert (settings["noise_dim"], settings["generator_width"],
                settings["discriminator_width"]) == (8, 4, 4)
    else:
        assert (settings["width"], settings["discriminator_width"]) == (8, 4)
