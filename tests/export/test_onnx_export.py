"""The ONNX export: opset and files, equal to TensorFlow, seeds reproduced without TensorFlow."""

import json
import logging
import os

import numpy as np
import onnx
import onnxruntime
import pytest
import tensorflow as tf

from tfcmgen.export import ExportError, OnnxGenerator, export_onnx
from tfcmgen.text import PurePythonTokenizer

EXAMPLE = os.path.join("examples", "onnx_generate.py")


@pytest.fixture(scope="module")
def onnx_folder(exported):
    return os.path.join(exported.out, "onnx")


@pytest.fixture(scope="module")
def onnx_generator(exported):
    return OnnxGenerator(exported.out)


def test_model_opset_inputs_and_files(onnx_folder, tiny_run):
    model = onnx.load(os.path.join(onnx_folder, "generator.onnx"))
    onnx.checker.check_model(model)
    default_domain = [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")]
    assert default_domain and default_domain[0] >= 17
    inputs = {i.name: i.type.tensor_type for i in model.graph.input}
    assert set(inputs) == {"token_ids", "noise"}
    assert inputs["token_ids"].elem_type == onnx.TensorProto.INT32
    assert inputs["noise"].elem_type == onnx.TensorProto.FLOAT
    assert [o.name for o in model.graph.output] == ["images"]
    props = {p.key: json.loads(p.value) for p in model.metadata_props}
    assert props == {
        "tfcmgen_task": "text2image", "image_size": 32, "max_length": 6, "noise_dim": 8
    }

    assert sorted(os.listdir(onnx_folder)) == [
        "generator.onnx", "tfcmgen_export.json", "tokenizer.json", "vocab.txt"
    ]
    with open(os.path.join(onnx_folder, "tokenizer.json"), encoding="utf-8") as stream:
        settings = json.load(stream)
    assert settings["max_length"] == tiny_run.max_length and settings["vocabulary"] == "vocab.txt"
    assert (settings["pad_id"], settings["unk_id"]) == (0, 1)
    assert settings["onnx_inputs"]["token_ids"] == {"dtype": "int32", "shape": [-1, 6]}
    # The settings alone rebuild the tokenizer that feeds the model.
    tokenizer = PurePythonTokenizer(
        os.path.join(onnx_folder, settings["vocabulary"]), max_length=settings["max_length"]
    )
    expected = tiny_run.tokenizer(tf.constant(list(tiny_run.captions))).numpy()
    np.testing.assert_array_equal(tokenizer.encode(list(tiny_run.captions)), expected)


def test_onnxruntime_matches_tensorflow(onnx_folder, tiny_run):
    session = onnxruntime.InferenceSession(
        os.path.join(onnx_folder, "generator.onnx"), providers=["CPUExecutionProvider"]
    )
    rng = np.random.default_rng(0)
    ids = rng.integers(0, len(tiny_run.vocabulary), (5, tiny_run.max_length)).astype("int32")
    noise = rng.normal(size=(5, tiny_run.noise_dim)).astype("float32")
    expected = np.asarray(tiny_run.model({"token_ids": ids, "noise": noise}, training=False))
    actual = session.run(["images"], {"token_ids": ids, "noise": noise})[0]
    assert actual.shape == expected.shape == (5, 32, 32, 3)
    assert np.abs(actual - expected).max() <= 1e-4
    assert expected.std() > 1e-3  # a constant output would match anything


def test_seed_gives_the_savedmodel_images(onnx_generator, savedmodel, keras_images, tiny_run):
    captions = list(tiny_run.captions)
    for seed in (0, 5):
        images = onnx_generator.generate(captions, seed=seed)
        assert images.dtype == np.uint8 and images.shape == (3, 32, 32, 3)
        # At most a rounding step where TF and ONNX land on either side of a .5.
        assert np.abs(images.astype(int) - keras_images(captions, seed)).max() <= 1
        assert np.abs(images.astype(int) - savedmodel.generate(captions, seed=seed)).max() <= 1


def test_unknown_words_empty_batch_and_bad_input(onnx_generator, caplog):
    with caplog.at_level(logging.WARNING, logger="tfcmgen.export"):
        images = onnx_generator.generate(["qwerty"], seed=0)
    assert images.shape == (1, 32, 32, 3)
    assert any("'qwerty' has no word the model knows" in r.getMessage() for r in caplog.records)
    assert onnx_generator.generate([], seed=0).shape == (0, 32, 32, 3)
    with pytest.raises(ValueError, match="captions must be strings; received float"):
        onnx_generator.generate([1.5])
    with pytest.raises(ValueError, match="token_ids must be integers"):
        onnx_generator.run(np.zeros((1, 6), "float32"), np.zeros((1, 8), "float32"))


def test_not_an_export_reported(tiny_run, exported):
    with pytest.raises(ExportError, match="training run folder"):
        OnnxGenerator(tiny_run.path)
    with pytest.raises(ExportError, match="holds savedmodel, not onnx"):
        OnnxGenerator(os.path.join(exported.out, "1"))
    # The .onnx file itself is accepted and finds its settings beside it.
    assert OnnxGenerator(os.path.join(exported.out, "onnx", "generator.onnx")).max_length == 6


def test_opset_below_17_rejected(tiny_run, tmp_path):
    with pytest.raises(ValueError, match="opset must be an int from 17 .* received opset=13"):
        export_onnx(tiny_run.model, tiny_run.vocabulary, str(tmp_path / "o"), opset=13)
    assert not (tmp_path / "o").exists()


def test_example_writes_a_png_without_importing_tensorflow(exported, tmp_path, run_python):
    import cv2

    out = str(tmp_path / "grid.png")
    result = run_python(
        ["-X", "importtime", EXAMPLE, "--model", exported.out, "a red circle", "zzz",
         "-n", "2", "--seed", "3", "-o", out]
    )
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if "|" in line}
    assert "onnxruntime" in imported  # the import log was read
    heavy = sorted(m for m in imported if m.split(".")[0] in ("tensorflow", "keras", "tf2onnx"))
    assert heavy == [], f"the ONNX example imported {heavy[:5]}"
    grid = cv2.cvtColor(cv2.imread(out), cv2.COLOR_BGR2RGB)
    assert grid.shape == (64, 64, 3)
    expected = OnnxGenerator(exported.out).generate(
        ["a red circle", "zzz"], num_per_caption=2, seed=3
    )
    np.testing.assert_array_equal(grid[:32, 32:], expected[1])
    np.testing.assert_array_equal(grid[32:, :32], expected[2])
