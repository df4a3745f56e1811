"""Loading never runs code or reaches the network on its own (issue 11, "trust").

- marker paths stay inside the export folder (no `..`, absolute paths or symlinks out);
- a SavedModel is loaded only from a folder named as the model to run;
- nothing is fetched: every kind of model and export loads with sockets disabled, and crafted
  configs naming ImageNet weights fail cleanly without a connection attempt;
- the graph signatures refuse out-of-range token ids and negative seeds by name;
- exports of format_version 1 (`OUT/saved_model/`) still load.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import zipfile

import numpy as np
import pytest

from tfcmgen.export import ExportError, ExportMetadata, OnnxGenerator, load_savedmodel
from tfcmgen.export.export_metadata import METADATA_FILE
from tfcmgen.generation import load_generator

# ---- Marker paths ----


def _marker(folder, **changes):
    values = {"task": "text2image", "image_size": 32, "max_length": 6, "vocabulary_size": 9,
              "noise_dim": 8, "files": {"onnx": "generator.onnx"}, "format_version": 2}
    values.update(changes)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, METADATA_FILE), "w", encoding="utf-8") as stream:
        json.dump(values, stream)


@pytest.mark.parametrize("changes, words", [
    ({"files": {"onnx": "../outside.onnx"}}, "leaves its folder"),
    ({"files": {"savedmodel": "/etc"}}, "leaves its folder"),
    ({"vocabulary": "../../etc/passwd"}, "leaves its folder"),
    ({"vocabulary": "a/../../b"}, "leaves its folder"),
    ({"manifest": {"../thesis.tex": "0" * 64}}, "leaves its folder"),
    ({"manifest": {"vocab.txt": "not a checksum"}}, "needs a SHA-256"),
    ({"manifest": ["vocab.txt"]}, "manifest must be an object"),
])
def test_marker_paths_must_stay_inside(tmp_path, changes, words):
    _marker(str(tmp_path), **changes)
    with pytest.raises(ExportError, match=words):
        ExportMetadata.load(str(tmp_path))


def test_marker_path_through_a_symlink_out_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "generator.onnx").write_bytes(b"not ours")
    export = tmp_path / "export"
    _marker(str(export), files={"onnx": "link/generator.onnx"})
    os.symlink(outside, export / "link")
    metadata = ExportMetadata.load(str(export))
    with pytest.raises(ExportError, match="resolves outside .*a symlink out"):
        metadata.path_of(str(export), "onnx")
    (export / "vocab.txt").symlink_to(outside / "generator.onnx")
    with pytest.raises(ExportError, match="vocabulary.*resolves outside"):
        metadata.vocabulary_path(str(export))


# ---- Old layout ----


def test_format_version_1_exports_still_load(exported, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(exported.out, old)
    os.rename(old / "1", old / "saved_model")
    values = json.loads((old / METADATA_FILE).read_text(encoding="utf-8"))
    values.update(format_version=1, files={"savedmodel": "saved_model",
                                           "onnx": "onnx/generator.onnx"})
    del values["manifest"]
    (old / METADATA_FILE).write_text(json.dumps(values), encoding="utf-8")
    expected = load_savedmodel(exported.out).generate(["a red circle"], seed=3)
    np.testing.assert_array_equal(load_generator(str(old)).generate(["a red circle"], seed=3),
                                  expected)
    assert OnnxGenerator(str(old)).generate(["a red circle"], seed=3).shape == expected.shape


# ---- The signatures check their inputs ----


@pytest.mark.parametrize("bad, words", [(-1, "token_ids must be >= 0"),
                                        (999, "token_ids must be < vocabulary_size")])
def test_signatures_refuse_out_of_range_ids(savedmodel, edit_exported, bad, words):
    import tensorflow as tf

    ids = np.ones((1, savedmodel.max_length), np.int32)
    ids[0, 2] = bad
    with pytest.raises(tf.errors.InvalidArgumentError, match=words):
        savedmodel.signatures["generate_from_tokens"](
            token_ids=tf.constant(ids), noise=tf.zeros((1, savedmodel.noise_dim)))
    editor = load_savedmodel(edit_exported.out)
    with pytest.raises(tf.errors.InvalidArgumentError, match=words):
        editor.signatures["edit_from_tokens"](
            images=tf.zeros((1, editor.image_size, editor.image_size, 3)), token_ids=tf.constant(ids))


def test_serving_default_refuses_a_negative_seed(savedmodel):
    import tensorflow as tf

    with pytest.raises(tf.errors.InvalidArgumentError, match="seed must be >= 0"):
        savedmodel.signatures["serving_default"](
            captions=tf.constant(["a red circle"]), seed=tf.constant(-1, tf.int64))
    images = savedmodel.signatures["serving_default"](
        captions=tf.constant(["a red circle"]), seed=tf.constant(0, tf.int64))["images"]
    assert images.shape == (1, 32, 32, 3)


# ---- No network while loading ----


@pytest.fixture
def no_network(monkeypatch, tmp_path):
    """Every socket creation raises and is recorded; Keras' cache is an empty folder."""
    attempts = []

    class Refused(socket.socket):
        def __init__(self, *args, **kwargs):
            attempts.append(args)
            raise OSError("network disabled by the test")

    monkeypatch.setattr(socket, "socket", Refused)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    return attempts


def _rewrite_keras_config(source, target, change):
    """Copies a .keras archive with its config.json passed through `change(dict)`."""
    with zipfile.ZipFile(source) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    change(config)
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(target, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def _set_everywhere(node, key, value):
    """Sets `key` to `value` in every dict of a nested config that has it; returns how many."""
    count = 0
    if isinstance(node, dict):
        if key in node:
            node[key] = value
            count += 1
        for child in node.values():
            count += _set_everywhere(child, key, value)
    elif isinstance(node, list):
        for child in node:
            count += _set_everywhere(child, key, value)
    return count


def test_every_model_and_export_loads_without_network(tiny_run, tiny_edit_run, exported,
                                                      edit_exported, no_network):
    loaded = [
        load_generator(tiny_run.path).generate(["a red circle"]),
        load_generator(tiny_edit_run.path).edit(np.zeros((32, 32, 3), np.uint8), ["a red circle"]),
        load_generator(exported.out).generate(["a red circle"]),
        load_savedmodel(edit_exported.out).edit(np.zeros((32, 32, 3), np.uint8), ["a circle"]),
        OnnxGenerator(exported.out).generate(["a red circle"]),
        OnnxGenerator(edit_exported.out).edit(np.zeros((32, 32, 3), np.uint8), ["a circle"]),
    ]
    assert all(images.shape == (1, 32, 32, 3) for images in loaded)
    assert no_network == []


def test_crafted_imagenet_weights_in_an_editor_fail_cleanly_without_network(
    tiny_edit_run, tmp_path, no_network
):
    from tfcmgen.runs import RunFolderError

    run = tmp_path / "run"
    shutil.copytree(tiny_edit_run.path, run)
    os.remove(run / "model.keras")
    changed = []
    _rewrite_keras_config(
        os.path.join(tiny_edit_run.path, "model.keras"), run / "model.keras",
        lambda config: changed.append(_set_everywhere(config, "encoder_weights", "imagenet")),
    )
    assert changed[0] >= 1, "no 'encoder_weights' in the saved config"
    with pytest.raises(RunFolderError, match="cannot load model .*model.keras"):
        load_generator(str(run))
    assert no_network == []


def test_crafted_imagenet_weights_in_a_vgg_layer_fail_cleanly_without_network(tmp_path,
                                                                              no_network):
    import keras

    from tfcmgen.layers import VGG16FeatureExtractor

    inputs = keras.Input((32, 32, 3))
    model = keras.Model(inputs, VGG16FeatureExtractor("block1_pool", weights=None)(inputs))
    model.save(tmp_path / "vgg.keras")
    changed = []
    _rewrite_keras_config(tmp_path / "vgg.keras", tmp_path / "crafted.keras",
                          lambda config: changed.append(_set_everywhere(config, "weights",
                                                                        "imagenet")))
    assert changed[0] == 1
    with pytest.raises(Exception, match="refusing to read or fetch weights"):
        keras.saving.load_model(tmp_path / "crafted.keras")
    assert no_network == []
