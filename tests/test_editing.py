import json
import os
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from tfcmgen.config import ConfigError, GenerateConfig, TrainConfig
from tfcmgen.data import CaptionedImages, DatasetError, ImageError, load_shapes, render_shape
from tfcmgen.editing import (
    edit_dataset,
    edit_grid,
    edit_images,
    make_edit_pairs,
    prepare_source_images,
    train_editor,
)

SIZE = 32


@pytest.fixture(scope="module")
def shapes():
    return load_shapes(num_images=24, image_size=SIZE, seed=3)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny edit run: 2 steps of 8 pairs at 32x32, widths 4-8."""
    out = str(tmp_path_factory.mktemp("edit-run"))
    config = TrainConfig(task="edit", data="shapes", image_size=SIZE, num_images=40, epochs=1,
                         steps_per_epoch=2, batch_size=8, base_width=4, embedding_dim=8,
                         word2vec_epochs=1, out=out)
    return train_editor(config, verbose=0)


def _tokenizer(strings):
    import tensorflow as tf

    words = tf.strings.split(strings).to_tensor(shape=[None, 6])
    return tf.cast(tf.strings.to_hash_bucket_fast(words, 50), tf.int32)


def test_edit_pairs_change_one_attribute_and_render_the_true_target(shapes):
    attributes = ("colour", "shape", "size", "position")
    pairs = make_edit_pairs(shapes, SIZE, attributes=attributes, pairs_per_image=2, seed=1)
    assert len(pairs) == 2 * len(shapes)
    assert set(pairs.changed) <= set(attributes)
    for i in range(len(pairs)):
        source, target = pairs.source_attributes[i], pairs.target_attributes[i]
        differing = [k for k in source if source[k] != target[k]]
        assert differing == [pairs.changed[i]]
        index = i // 2
        np.testing.assert_array_equal(pairs.source_images[i], shapes.images[index])
        assert pairs.source_captions[i] in shapes.captions[index]
        # Same render seed, one attribute changed: the exact edit target.
        expected = render_shape(target, SIZE, shapes.render_seeds[index])
        np.testing.assert_array_equal(pairs.target_images[i], expected)


def test_edit_pairs_never_target_a_held_out_pair(shapes):
    held = [("red", "circle"), ("blue", "square"), ("green", "star"), ("white", "cross")]
    pairs = make_edit_pairs(shapes, SIZE, pairs_per_image=10, held_out=held, seed=2)
    targets = {(t["colour"], t["shape"]) for t in pairs.target_attributes}
    assert not targets & set(held)
    assert len(pairs) == 10 * len(shapes)


def test_edit_pairs_need_rendered_data():
    data = CaptionedImages(np.zeros((2, SIZE, SIZE, 3), np.uint8), [["a"], ["b"]])
    with pytest.raises(DatasetError, match="paired edits need rendered data"):
        make_edit_pairs(data, SIZE)
    with pytest.raises(ValueError, match="attributes must be a non-empty sequence"):
        make_edit_pairs(load_shapes(num_images=2, image_size=SIZE), SIZE, attributes=("hue",))


def test_edit_dataset_yields_what_train_step_takes(shapes):
    pairs = make_edit_pairs(shapes, SIZE, seed=0)
    batch = next(iter(edit_dataset(pairs, _tokenizer, batch_size=4, shuffle=False)))
    assert set(batch) == {"image", "token_ids", "edit_token_ids", "target_image"}
    assert batch["image"].shape == (4, SIZE, SIZE, 3) and batch["image"].dtype.name == "float32"
    np.testing.assert_allclose(batch["image"].numpy(), pairs.source_images[:4] / 127.5 - 1.0,
                               atol=1e-6)
    np.testing.assert_allclose(batch["target_image"].numpy(),
                               pairs.target_images[:4] / 127.5 - 1.0, atol=1e-6)
    assert batch["token_ids"].shape == (4, 6) and batch["token_ids"].dtype.name == "int32"
    unpaired = next(iter(edit_dataset(pairs, _tokenizer, batch_size=4, paired=False)))
    assert "target_image" not in unpaired
    with pytest.raises(DatasetError, match="fewer than batch_size=64"):
        edit_dataset(pairs, _tokenizer, batch_size=64)


def test_prepare_source_images_converts_like_the_pipeline():
    grey = np.full((40, 60), 200, np.uint8)
    out = prepare_source_images(grey, SIZE)
    assert out.shape == (1, SIZE, SIZE, 3) and out.dtype == np.uint8
    assert np.all(out == 200)
    transparent = np.zeros((SIZE, SIZE, 4), np.uint8)  # alpha 0: composited over white
    assert np.all(prepare_source_images(transparent, SIZE) == 255)
    batch = np.zeros((3, 64, 64, 3), np.uint8)
    assert prepare_source_images(batch, SIZE).shape == (3, SIZE, SIZE, 3)
    with pytest.raises(ValueError, match="must be uint8"):
        prepare_source_images(batch.astype(np.float32), SIZE)
    with pytest.raises(ValueError, match="C in"):
        prepare_source_images(np.zeros((2, 8, 8, 5), np.uint8), SIZE)


def test_train_editor_writes_the_run_folder(run):
    root = run.run.root
    for name in ("config.json", "vocab.txt", "embeddings.npy", "model.keras",
                 os.path.join("samples", "epoch_0001.png")):
        assert os.path.isfile(os.path.join(root, name)), name
    with open(os.path.join(root, "config.json"), encoding="utf-8") as f:
        assert json.load(f)["task"] == "edit"
    assert run.model.task == "edit"
    # Paired supervision on shapes: the L1 to the rendered targets is logged and positive.
    assert run.history["paired"][-1] > 0
    assert np.isfinite(run.history["d_loss"][-1])


def test_edit_images_returns_uint8_at_the_model_size_deterministically(run):
    source = render_shape({"colour": "red", "shape": "circle", "size": "large",
                           "position": "center", "background": "black"}, 48, seed=1)
    captions = ["a large blue circle in the center", "a large red square in the center"]
    edited = edit_images(run.run.root, source, captions)
    assert edited.shape == (2, SIZE, SIZE, 3) and edited.dtype == np.uint8
    np.testing.assert_array_equal(edit_images(run.run.root, source, captions, seed=5), edited)
    with pytest.raises(ValueError, match="received 2 images and 3 captions"):
        edit_images(run.run.root, np.stack([source, source]), captions + ["a"])


def test_generate_with_an_image_writes_a_source_and_edits_grid(run, tmp_path):
    from tfcmgen.generation import generate_grid

    source = str(tmp_path / "source.png")
    cv2.imwrite(source, np.zeros((50, 40, 3), np.uint8))  # wrong size: resized on the way in
    out = str(tmp_path / "grid.png")
    config = GenerateConfig(captions=("a small red star in the top left",
                                      "a large white cross in the center"),
                            model=run.run.root, out=out, image=source)
    assert generate_grid(config) == out
    grid = cv2.imread(out)
    assert grid is not None and grid.shape[1] >= 3 * SIZE  # source + two edits in one row


def test_unreadable_source_image_is_named(run, tmp_path):
    from tfcmgen.generation import load_generator

    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image at all")
    config = GenerateConfig(captions=("a red circle",), model=run.run.root,
                            out=str(tmp_path / "x.png"), image=str(bad))
    with pytest.raises(ImageError, match="broken.png"):
        edit_grid(load_generator(run.run.root), config)


def test_each_task_refuses_the_other(run):
    from tfcmgen.generation import load_generator

    with pytest.raises(ValueError, match="trained for task 'edit'"):
        load_generator(run.run.root).generate(["a red circle"])
    text2image = SimpleNamespace(model=SimpleNamespace(task="text2image"), task="text2image",
                                 source="runs/t2i")
    config = GenerateConfig(captions=("a red circle",), image="x.png")
    with pytest.raises(ValueError, match="trained for task 'text2image'.*--task edit"):
        edit_grid(text2image, config)


def test_train_editor_rejects_what_it_cannot_train(tmp_path):
    config = TrainConfig(task="edit", image_size=SIZE, num_images=16,
                         batch_size=8, out=str(tmp_path / "a"))
    with pytest.raises(ConfigError, match="model_options.width is set from TrainConfig"):
        train_editor(config.replace(model_options={"width": 8}), verbose=0)
    with pytest.raises(ConfigError, match="supervision must be one of"):
        train_editor(config, supervision="semi")
    with pytest.raises(ConfigError, match="trains task 'edit'"):
        train_editor(config.replace(task="text2image"))
