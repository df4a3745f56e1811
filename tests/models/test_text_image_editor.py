import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfcmgen.models.text_image_editor import TextImageEditor

VOCAB = 12
LENGTH = 5
SIZE = 32
TINY = {"vocabulary_size": VOCAB, "max_length": LENGTH, "image_size": SIZE, "embedding_dim": 4,
        "width": 8, "num_blocks": 1, "discriminator_width": 4}


def _batch(n=8, seed=0, target=True):
    rng = np.random.default_rng(seed)
    batch = {
        "image": rng.uniform(-1, 1, (n, SIZE, SIZE, 3)).astype("float32"),
        "token_ids": rng.integers(2, VOCAB, (n, LENGTH)).astype("int32"),
        "edit_token_ids": rng.integers(2, VOCAB, (n, LENGTH)).astype("int32"),
    }
    if target:
        batch["target_image"] = rng.uniform(-1, 1, (n, SIZE, SIZE, 3)).astype("float32")
    return batch


def _compiled(**kwargs):
    editor = TextImageEditor(**{**TINY, **kwargs})
    editor.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3))
    return editor


@pytest.fixture(scope="module")
def trained():
    """A tiny editor after three fit steps, with the variable values from before them."""
    keras.utils.set_random_seed(0)
    editor = _compiled()
    before = {v.path: np.array(v.numpy()) for v in editor.trainable_weights}
    # Three steps: FiLM heads start at zero, so their hidden layers get gradients from step 2.
    dataset = tf.data.Dataset.from_tensor_slices(_batch(12)).batch(4, drop_remainder=True)
    history = editor.fit(dataset, epochs=1, verbose=0)
    return editor, before, history.history


def test_call_returns_images_in_range_and_task_is_edit():
    editor = TextImageEditor(**TINY)
    batch = _batch(2)
    edited = editor({"image": batch["image"], "token_ids": batch["token_ids"]})
    assert tuple(edited.shape) == (2, SIZE, SIZE, 3)
    assert edited.dtype == tf.float32
    values = edited.numpy()
    assert np.all(values >= -1.0) and np.all(values <= 1.0)
    assert editor.task == "edit"


@pytest.mark.parametrize("output_mode", ["masked_residual", "residual"])
def test_residual_outputs_start_as_the_identity(output_mode):
    editor = TextImageEditor(**TINY, output_mode=output_mode)
    batch = _batch(2)
    edited = editor({"image": batch["image"], "token_ids": batch["token_ids"]}).numpy()
    np.testing.assert_allclose(edited, batch["image"], atol=1e-6)


def test_blended_output_copies_the_source_where_the_mask_is_closed():
    editor = TextImageEditor(**TINY, output_mode="blend")
    # A zero mask kernel and a very negative bias close the mask everywhere (whatever the random
    # features are): the output is the source itself.
    mask = editor.output_head.to_mask
    mask.kernel.assign(np.zeros(mask.kernel.shape, "float32"))
    mask.bias.assign([-50.0])
    batch = _batch(2)
    edited = editor({"image": batch["image"], "token_ids": batch["token_ids"]}).numpy()
    np.testing.assert_allclose(edited, batch["image"], atol=1e-5)


def test_caption_changes_the_output():
    editor = TextImageEditor(**TINY)
    # FiLM heads and the residual change start at zero (identity); give them weights so the text
    # acts at once.
    rng = np.random.default_rng(1)
    for v in editor.trainable_weights:
        if "kernel" in v.path and ("gamma" in v.path or "beta" in v.path or "to_rgb" in v.path):
            v.assign(rng.normal(0, 0.5, v.shape).astype("float32"))
    batch = _batch(1)
    a = editor({"image": batch["image"], "token_ids": batch["token_ids"]}).numpy()
    b = editor({"image": batch["image"], "token_ids": batch["edit_token_ids"]}).numpy()
    assert np.abs(a - b).max() > 1e-3


def test_fit_trains_every_variable_and_logs_every_loss(trained):
    editor, before, history = trained
    unchanged = [v.path for v in editor.trainable_weights
                 if np.array_equal(v.numpy(), before[v.path])]
    # The embedding (rows 0 and 1 are never drawn) moves only in part; the discriminator's logit
    # bias has no gradient while every hinge term is inside its margin (+1 real, -1/2 - 1/2 fake).
    exempt = ("embedding", "sn_logit/logit/bias")
    assert not [p for p in unchanged if not any(e in p for e in exempt)], unchanged
    assert set(history) == {"g_loss", "d_loss", "reconstruction", "paired", "content", "d_real",
                            "d_fake"}
    assert all(np.isfinite(v[-1]) for v in history.values())
    assert history["paired"][-1] > 0


def test_generator_and_discriminator_variables_are_disjoint_and_cover_all(trained):
    editor, _, _ = trained
    g = {id(v) for v in editor.generator_variables}
    d = {id(v) for v in editor.discriminator_variables}
    assert not g & d
    assert g | d == {id(v) for v in editor.trainable_weights}
    # weights=None: the VGG16 layers train with the editor.
    vgg = {id(v) for v in editor.encoder.trainable_weights}
    assert len(vgg) == 4 and vgg <= g  # block1_conv1 and block1_conv2, kernel and bias


def test_frozen_encoder_is_not_trained():
    editor = TextImageEditor(**TINY, encoder_trainable=False)
    vgg = {id(v) for v in editor.encoder.weights}
    assert len(vgg) == 4
    assert not vgg & {id(v) for v in editor.generator_variables}


def test_text_to_image_batches_train_it_unpaired():
    # make_dataset's batches (mismatched captions, no true targets) train an editor unpaired: the
    # mismatched captions serve as edit captions and the paired term stays off.
    editor = _compiled()
    batch = _batch(4, target=False)
    batch["mismatched_token_ids"] = batch.pop("edit_token_ids")
    logs = editor.train_on_batch(batch, return_dict=True)
    assert logs["paired"] == 0.0
    # The untrained residual editor returns its input: nothing to reconstruct yet.
    assert logs["reconstruction"] < 1e-6
    assert np.isfinite(logs["g_loss"]) and np.isfinite(logs["d_loss"])


def test_reconstruction_mask_marks_the_fraction_evenly():
    editor = TextImageEditor(**TINY, reconstruction_fraction=0.25)
    mask = editor.reconstruction_mask((8, 8, tf.constant(0))).numpy()
    np.testing.assert_array_equal(mask, [0, 0, 0, 1, 0, 0, 0, 1])
    # The second replica's half of a global batch of 8 continues the same pattern.
    np.testing.assert_array_equal(editor.reconstruction_mask((4, 8, tf.constant(4))).numpy(),
                                  [0, 0, 0, 1])
    none = TextImageEditor(**TINY, reconstruction_fraction=0.0)
    assert none.reconstruction_mask((8, 8, tf.constant(0))).numpy().sum() == 0


def test_config_round_trip_and_save_load_give_the_same_edits(trained, tmp_path):
    editor, _, _ = trained
    config = editor.get_config()
    json.dumps(config)
    assert TextImageEditor.from_config(config).get_config() == config
    path = str(tmp_path / "editor.keras")
    editor.save(path)
    loaded = keras.saving.load_model(path)  # no custom_objects
    assert type(loaded) is TextImageEditor and loaded.task == "edit"
    batch = _batch(3, seed=5)
    inputs = {"image": batch["image"], "token_ids": batch["token_ids"]}
    np.testing.assert_allclose(loaded(inputs).numpy(), editor(inputs).numpy(), atol=1e-5)
    # The compiled state comes back too (optimizers, loss), so a loaded model can keep training.
    assert loaded.get_compile_config() == editor.get_compile_config()
    assert loaded.g_optimizer is not loaded.d_optimizer


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"fusion": "sum"}, "fusion must be one of"),
        ({"output_mode": "mask"}, "output_mode must be one of"),
        ({"pixel_loss": "l3"}, "pixel_loss must be one of"),
        ({"encoder_layer": "block5_pool"}, "encoder_layer must be one of"),
        ({"image_size": 48}, "image_size must be one of"),
        ({"reconstruction_fraction": 1.5}, "reconstruction_fraction must be in"),
        ({"paired_weight": -1.0}, "paired_weight must be a number >= 0"),
        ({"embedding_matrix": np.zeros((3, 4))}, "embedding_matrix must have shape"),
        ({"diff_augment": ("colour",)}, "caption-preserving"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TextImageEditor(**{**TINY, **kwargs})


def test_bad_call_inputs_are_named():
    editor = TextImageEditor(**TINY)
    batch = _batch(1)
    with pytest.raises(ValueError, match="takes a dict"):
        editor(batch["image"])
    with pytest.raises(ValueError, match=r"image must have shape \[batch, 32, 32, 3\]"):
        editor({"image": np.zeros((1, 16, 16, 3), "float32"), "token_ids": batch["token_ids"]})
    with pytest.raises(ValueError, match="max_length=5"):
        editor({"image": batch["image"], "token_ids": np.ones((1, 7), "int32")})


def test_compile_rejects_shared_optimizer_and_unknown_loss():
    editor = TextImageEditor(**TINY)
    optimizer = keras.optimizers.Adam()
    with pytest.raises(ValueError, match="two optimizer instances"):
        editor.compile(optimizer, optimizer)
    with pytest.raises(ValueError, match="loss must be one of"):
        editor.compile(keras.optimizers.Adam(), keras.optimizers.Adam(), loss="wgan-lp")


@pytest.mark.slow
def test_learns_to_recolour_a_square():
    """Paired supervision teaches a text-driven colour change within a few hundred steps."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    n = 64
    red, blue = np.array([1.0, -1.0, -1.0]), np.array([-1.0, -1.0, 1.0])
    images = np.full((n, SIZE, SIZE, 3), -1.0, "float32")
    targets = images.copy()
    for i in range(n):
        y, x = rng.integers(4, SIZE - 12, 2)
        images[i, y : y + 8, x : x + 8] = red
        targets[i, y : y + 8, x : x + 8] = blue
    data = {"image": images, "target_image": targets,
            "token_ids": np.tile([[2, 3, 0, 0, 0]], (n, 1)).astype("int32"),  # "red square"
            "edit_token_ids": np.tile([[4, 3, 0, 0, 0]], (n, 1)).astype("int32")}  # "blue square"
    editor = _compiled(adversarial_weight=0.0)
    dataset = tf.data.Dataset.from_tensor_slices(data).batch(16).repeat()
    editor.fit(dataset, steps_per_epoch=300, epochs=1, verbose=0)
    edited = editor({"image": images[:8], "token_ids": data["edit_token_ids"][:8]}).numpy()
    assert np.abs(edited - targets[:8]).mean() < 0.1
    kept = editor({"image": images[:8], "token_ids": data["token_ids"][:8]}).numpy()
    assert np.abs(kept - images[:8]).mean() < 0.1


_MIRRORED_SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np, tensorflow as tf
    replicas = int(sys.argv[1])
    cpus = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(
        cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(2)])
    import keras
    from tfcmgen.models.text_image_editor import TextImageEditor
    keras.utils.set_random_seed(0)
    strategy = tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(replicas)])
    rng = np.random.default_rng(0)
    data = {"image": rng.uniform(-1, 1, (8, 32, 32, 3)).astype("float32"),
            "token_ids": rng.integers(2, 12, (8, 5)).astype("int32"),
            "edit_token_ids": rng.integers(2, 12, (8, 5)).astype("int32"),
            "target_image": rng.uniform(-1, 1, (8, 32, 32, 3)).astype("float32")}
    with strategy.scope():
        editor = TextImageEditor(vocabulary_size=12, max_length=5, image_size=32,
                                 embedding_dim=4, width=8, num_blocks=1, discriminator_width=4,
                                 diff_augment=())
        editor.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3))
    dataset = tf.data.Dataset.from_tensor_slices(data).batch(4, drop_remainder=True)
    editor.fit(dataset, epochs=1, verbose=0)
    np.savez(sys.argv[2], *[v.numpy() for v in editor.trainable_weights])
    """
)


@pytest.mark.slow
def test_two_replicas_take_the_same_steps_as_one_device(tmp_path):
    script = tmp_path / "mirrored.py"
    script.write_text(_MIRRORED_SCRIPT)
    results = []
    for replicas in (1, 2):
        out = str(tmp_path / f"weights{replicas}.npz")
        subprocess.run([sys.executable, str(script), str(replicas), out], check=True,
                       env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, timeout=600)
        with np.load(out) as saved:
            results.append([saved[k] for k in sorted(saved.files, key=lambda k: int(k[4:]))])
    for one, two in zip(*results):
        # float32 sums in another order across replicas: agree to round-off after two Adam steps.
        np.testing.assert_allclose(one, two, atol=2e-4, rtol=1e-3)


def test_models_package_exports_the_editor():
    # `load_generator` imports tfcmgen.models before loading a run: the editor must be registered
    # by that import, or `tfcmgen generate --image` cannot load an edit run in a fresh process.
    import tfcmgen.models

    assert tfcmgen.models.TextImageEditor is TextImageEditor
