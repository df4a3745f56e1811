"""One registry per option kind: the CLI, TrainConfig, the models and the implementations agree.

Every adversarial loss trains both models (one `train_on_batch` step with finite losses), a
`model_options` setting reaches the model and the run's config.json, and what cannot be set is
refused with a message naming it.
"""

import argparse
import json

import numpy as np
import pytest

from tfcmgen import registry
from tfcmgen.cli import build_parser, main
from tfcmgen.config import ConfigError, TrainConfig


def _choices(command, flag):
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    action = next(a for a in sub.choices[command]._actions if flag in a.option_strings)
    return tuple(action.choices)


@pytest.mark.parametrize("flag, names", [
    ("--loss", registry.LOSSES), ("--fusion", registry.FUSIONS),
    ("--text-pooling", registry.TEXT_POOLINGS), ("--task", registry.TASKS),
    ("--format", registry.DATASET_FORMATS),
])
def test_cli_offers_exactly_the_registered_names(flag, names):
    assert _choices("train", flag) == tuple(names)


def test_implementations_are_keyed_by_the_registered_names():
    from tfcmgen import losses
    from tfcmgen.data.folders import FORMATS
    from tfcmgen.layers.feature_fusion import FUSION_MODES
    from tfcmgen.layers.text_encoder import POOLINGS
    from tfcmgen.models.text_image_editor import OUTPUTS
    from tfcmgen.tasks import task_class

    assert set(losses.LOSSES) == set(registry.LOSSES)
    assert set(FUSION_MODES) == set(registry.FUSIONS)
    assert set(POOLINGS) == set(registry.TEXT_POOLINGS)
    assert set(OUTPUTS) == set(registry.OUTPUT_MODES)
    assert set(FORMATS) == set(registry.DATASET_FORMATS)
    assert {name: task_class(name).name for name in registry.TASKS} == {
        name: name for name in registry.TASKS}


def test_config_takes_every_registered_name_and_refuses_others():
    for field, names in (("loss", registry.LOSSES), ("fusion", registry.FUSIONS),
                         ("text_pooling", registry.TEXT_POOLINGS), ("task", registry.TASKS)):
        for name in names:
            assert getattr(TrainConfig(**{field: name}), field) == name
        with pytest.raises(ConfigError, match=f"{field} must be one of"):
            TrainConfig(**{field: "nonsense"})


def _gan_batch(batch=4, length=6, size=32):
    rng = np.random.default_rng(0)
    return {"image": rng.uniform(-1, 1, (batch, size, size, 3)).astype("float32"),
            "token_ids": rng.integers(1, 20, (batch, length)).astype("int32"),
            "mismatched_token_ids": rng.integers(1, 20, (batch, length)).astype("int32")}


@pytest.mark.parametrize("loss", [
    name if name == "wgan-gp" else pytest.param(name, marks=pytest.mark.slow)
    for name in registry.LOSSES
])
def test_every_loss_trains_the_gan_and_the_editor(loss):
    import keras

    from tfcmgen.models import CrossModalGAN, TextImageEditor

    gan = CrossModalGAN(vocabulary_size=20, max_length=6, image_size=32, embedding_dim=8,
                        condition_dim=8, noise_dim=8, generator_width=4, discriminator_width=4)
    gan.compile(keras.optimizers.Adam(1e-4), keras.optimizers.Adam(1e-4), loss=loss)
    logs = gan.train_on_batch(_gan_batch(), return_dict=True)
    assert np.isfinite(logs["d_loss"]) and np.isfinite(logs["g_loss"])
    assert ("gp" in logs) == (loss == "wgan-gp")

    editor = TextImageEditor(vocabulary_size=20, max_length=6, image_size=32, embedding_dim=8,
                             width=8, num_blocks=1, discriminator_width=4)
    editor.compile(keras.optimizers.Adam(1e-4), keras.optimizers.Adam(1e-4), loss=loss)
    batch = _gan_batch()
    batch["edit_token_ids"] = batch.pop("mismatched_token_ids")
    logs = editor.train_on_batch(batch, return_dict=True)
    assert np.isfinite(logs["d_loss"]) and np.isfinite(logs["g_loss"])


def test_editor_gradient_penalty_enters_the_discriminator_loss():
    import keras
    import tensorflow as tf

    from tfcmgen.models import TextImageEditor

    losses = {}
    for loss in ("wgan", "wgan-gp"):
        editor = TextImageEditor(vocabulary_size=20, max_length=6, image_size=32,
                                 embedding_dim=8, width=8, num_blocks=1, discriminator_width=4,
                                 diff_augment=())
        editor.compile(keras.optimizers.Adam(1e-4), keras.optimizers.Adam(1e-4), loss=loss)
        batch = _gan_batch()
        batch["edit_token_ids"] = batch.pop("mismatched_token_ids")
        batch = {k: tf.constant(v) for k, v in batch.items()}
        _, _, parts = editor._generator_loss(batch, training=False)
        losses[loss] = float(editor._discriminator_loss(*parts, training=False)[0])
    # Same weights (same seed), same batch: the difference is gp_weight * GP > 0.
    assert losses["wgan-gp"] > losses["wgan"]


def test_model_options_reach_the_model_and_are_checked(tmp_path, capsys):
    from tfcmgen.tasks import get_task

    assert main(["train", "--out", str(tmp_path / "run"), "--model-option", "use_ca=true",
                 "--model-option", "contrastive_weight=0", "--dry-run"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["model_options"] == {"use_ca": True, "contrastive_weight": 0}
    config = TrainConfig.from_dict(printed)
    assert TrainConfig.from_json(config.to_json()) == config
    gan = get_task(config.replace(image_size=32, base_width=4, noise_dim=8)).build_model(
        20, np.zeros((20, 8), "float32"))
    assert gan.use_ca is True and gan.contrastive_weight == 0.0

    with pytest.raises(ConfigError, match="model_options.fusion is set from TrainConfig"):
        get_task(TrainConfig(model_options={"fusion": "add"}))
    with pytest.raises(ConfigError, match="model_options.use_cq is not a CrossModalGAN argument"):
        get_task(TrainConfig(model_options={"use_cq": True}))
    with pytest.raises(ConfigError, match="model_options must be a JSON object"):
        TrainConfig(model_options=["use_ca"])
    with pytest.raises(ConfigError, match="model_options .*ema_decay must be in"):
        get_task(TrainConfig(image_size=32, base_width=4, model_options={"ema_decay": 1.5})
                 ).build_model(20, np.zeros((20, 8), "float32"))


def test_old_config_files_without_model_options_still_load(tmp_path):
    values = TrainConfig().to_dict()
    del values["model_options"]
    path = tmp_path / "config.json"
    path.write_text(json.dumps(values))
    assert TrainConfig.load(str(path)).model_options == {}


def test_every_dataset_format_flag_offers_the_registered_formats():
    found = []

    def walk(parser):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    walk(sub)
            elif "--format" in action.option_strings and action.default != "all":
                found.append(tuple(action.choices))  # export's --format names export formats

    walk(build_parser())
    assert len(found) >= 3 and set(found) == {tuple(registry.DATASET_FORMATS)}


def test_dry_run_refuses_a_model_option_the_model_does_not_take(tmp_path, capsys):
    code = main(["train", "--out", str(tmp_path / "run"), "--model-option", "use_cq=true",
                 "--dry-run"])
    assert code == 2
    error = capsys.readouterr().err
    assert "model_options.use_cq is not a CrossModalGAN argument" in error
    assert len(error.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()
