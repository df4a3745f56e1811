"""Mixed precision and XLA: `--precision mixed_float16|mixed_bfloat16` and `--jit` train and save.

Keras' dtype policy is global; `train` sets it only while it builds the model and puts it back,
and every test here resets it to float32 afterwards whatever happens.

Loss scaling is checked where a mistake would show: one SGD step of the same model (same initial
weights, same batch, no stochastic parts) under float32 and under a mixed policy. With SGD the
update is the learning rate times the gradient, so a float16 gradient still multiplied by the loss
scale (2**15) or one scaled down twice is off by a factor of ~3e4. Tolerances, as the relative L2
distance between the two updates: 0.05 for float16 (measured 0.018), 0.25 for bfloat16 (measured
0.085; it has 8 bits of mantissa, float16 has 11). Adam would hide a wrong scale: its step does not
depend on the gradient's size. The step's logged losses: within 0.01 of float32's for float16 and
0.02 for bfloat16 (measured up to 0.0101 in a full test run, where the model's random initial
weights depend on what ran before).
"""

LOG_TOLERANCE = {"mixed_float16": 0.01, "mixed_bfloat16": 0.02}

import json

import numpy as np
import pytest

from tfcmgen.config import TrainConfig


@pytest.fixture(autouse=True)
def float32_afterwards():
    import keras

    yield
    keras.mixed_precision.set_global_policy("float32")


def tiny_config(out, **changes):
    values = {"data": "shapes", "out": str(out), "image_size": 32, "num_images": 48,
              "batch_size": 8, "epochs": 1, "steps_per_epoch": 1, "base_width": 4,
              "noise_dim": 8, "embedding_dim": 8, "word2vec_epochs": 1, "max_length": 12,
              "seed": 3}
    values.update(changes)
    return TrainConfig(**values)


def check_trained(result, compute_dtype):
    import keras

    gan = result.model
    for name in ("d_loss", "g_loss", "d_real", "d_fake"):
        assert len(result.history[name]) == 1 and np.isfinite(result.history[name]).all(), name
    assert int(gan.g_optimizer.iterations.numpy()) == 1
    assert gan.generator.compute_dtype == compute_dtype
    assert gan.discriminator.compute_dtype == compute_dtype
    # Master weights stay float32 and finite.
    for variable in gan.trainable_variables:
        assert variable.dtype == "float32", variable.path
        assert np.isfinite(variable.numpy()).all(), variable.path
    assert keras.mixed_precision.global_policy().name == "float32", "train leaked its policy"


def test_cli_flags_reach_the_config(tmp_path, capsys):
    from tfcmgen.cli import main

    assert main(["train", "--out", str(tmp_path), "--precision", "mixed_bfloat16", "--jit",
                 "--dry-run"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["precision"] == "mixed_bfloat16" and printed["jit"] is True


def test_mixed_float16_with_xla_trains_a_step_and_saves(tmp_path):
    import keras

    from tfcmgen.generation import load_generator
    from tfcmgen.training import train

    result = train(tiny_config(tmp_path, precision="mixed_float16", jit=True), verbose=0)
    check_trained(result, "float16")
    gan = result.model
    assert gan.jit_compile is True
    assert isinstance(gan.g_optimizer, keras.optimizers.LossScaleOptimizer)
    assert isinstance(gan.d_optimizer, keras.optimizers.LossScaleOptimizer)
    # The saved float16 model loads and draws finite images.
    images = load_generator(str(tmp_path)).generate(["a red circle"], num_per_caption=2)
    assert images.shape == (2, 32, 32, 3) and images.dtype == np.uint8


# The bfloat16 step itself is checked against float32 below, in a few seconds.
@pytest.mark.slow
def test_mixed_bfloat16_trains_a_step_without_loss_scaling(tmp_path):
    import keras

    from tfcmgen.training import train

    result = train(tiny_config(tmp_path, precision="mixed_bfloat16"), verbose=0)
    check_trained(result, "bfloat16")
    assert not isinstance(result.model.g_optimizer, keras.optimizers.LossScaleOptimizer)


def sgd_update(policy, initial=None):
    """(model, update of every trained variable, logs) of one eager SGD train_step."""
    import keras

    from tfcmgen.models import CrossModalGAN

    rng = np.random.default_rng(0)
    batch = {
        "image": rng.uniform(-1, 1, (8, 32, 32, 3)).astype("float32"),
        "token_ids": rng.integers(1, 20, (8, 6)).astype("int32"),
        "mismatched_token_ids": rng.integers(1, 20, (8, 6)).astype("int32"),
    }
    keras.mixed_precision.set_global_policy(policy)
    try:
        # Conditioning Augmentation draws its noise in the compute dtype: off, as DiffAugment.
        gan = CrossModalGAN(vocabulary_size=20, max_length=6, image_size=32, embedding_dim=8,
                            condition_dim=8, noise_dim=8, generator_width=4,
                            discriminator_width=4, use_ca=False, diff_augment=(), seed=1)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    if initial is not None:
        gan.set_weights(initial)
    gan.compile(keras.optimizers.SGD(0.05), keras.optimizers.SGD(0.05))
    trained = gan.discriminator_variables + gan.generator_variables
    before = [np.array(v.numpy()) for v in trained]
    logs = gan.train_step(batch)
    update = np.concatenate([(v.numpy() - b).ravel() for v, b in zip(trained, before)])
    return gan, update, {name: float(value) for name, value in logs.items()}


@pytest.fixture(scope="module")
def float32_update():
    gan, _, _ = sgd_update("float32")
    initial = gan.get_weights()
    _, update, logs = sgd_update("float32", initial)
    return initial, update, logs


@pytest.mark.parametrize("policy, tolerance", [("mixed_float16", 0.05), ("mixed_bfloat16", 0.25)])
def test_mixed_precision_step_matches_float32(float32_update, policy, tolerance):
    import keras

    initial, expected, expected_logs = float32_update
    gan, update, logs = sgd_update(policy, initial)
    assert np.isfinite(update).all()
    distance = np.linalg.norm(update - expected) / np.linalg.norm(expected)
    assert distance < tolerance, distance
    for name, value in expected_logs.items():
        assert abs(logs[name] - value) < LOG_TOLERANCE[policy], name
    if policy == "mixed_float16":
        # The step was taken, not skipped for an overflow (which would halve the scale).
        assert float(gan.g_optimizer.dynamic_scale.numpy()) == 2.0**15
        assert float(gan.d_optimizer.dynamic_scale.numpy()) == 2.0**15
    else:
        assert isinstance(gan.g_optimizer, keras.optimizers.SGD)
