"""Export of the edit model: `edit` signature, ONNX, runtime helpers, `generate --image EXPORT`."""

import json
import os

import cv2
import numpy as np
import onnx
import onnxruntime
import pytest
import tensorflow as tf

from tfcmgen.editing import prepare_source_images
from tfcmgen.export import ExportError, ExportMetadata, OnnxGenerator, load_savedmodel
from tfcmgen.export.source_images import center_square
from tfcmgen.generation import TextToImageGenerator


def _smooth_images(shape, seed=0):
    """uint8 RGB random images [N, H, W, 3], blurred like photos (pure noise is not typical)."""
    noise = np.random.default_rng(seed).integers(0, 256, shape, np.uint8)
    return np.stack([cv2.GaussianBlur(image, (5, 5), 1.5) for image in noise])


def _max_difference(a, b):
    return int(np.abs(np.asarray(a, np.int64) - np.asarray(b, np.int64)).max())


@pytest.fixture(scope="module")
def source_images():
    """uint8 [3, 32, 32, 3] at the editor's size: no resize on any path."""
    return _smooth_images((3, 32, 32, 3), seed=1)


@pytest.fixture(scope="module")
def edit_savedmodel(edit_exported):
    return load_savedmodel(edit_exported.out)


@pytest.fixture(scope="module")
def edit_onnx(edit_exported):
    return OnnxGenerator(edit_exported.out)


@pytest.fixture(scope="module")
def keras_edit(tiny_edit_run):
    """The editor in this process (Keras, `prepare_source_images`): (images, captions) -> uint8."""
    return TextToImageGenerator(tiny_edit_run.model, tiny_edit_run.tokenizer, "edit-run").edit


def test_signatures_metadata_and_saved_variables(edit_savedmodel, edit_exported, tiny_edit_run):
    signatures = edit_savedmodel.signatures
    assert set(signatures) == {"serving_default", "edit", "edit_from_tokens"}
    for name in ("serving_default", "edit"):
        _, inputs = signatures[name].structured_input_signature
        assert inputs["images"].dtype == tf.uint8
        assert inputs["images"].shape.as_list() == [None, None, None, 3]
        assert inputs["captions"].dtype == tf.string
        assert inputs["captions"].shape.as_list() == [None]
    _, inputs = signatures["edit_from_tokens"].structured_input_signature
    assert inputs["images"].dtype == tf.float32
    assert inputs["images"].shape.as_list() == [None, 32, 32, 3]
    assert inputs["token_ids"].dtype == tf.int32
    assert inputs["token_ids"].shape.as_list() == [None, 6]
    for signature in signatures.values():
        images = signature.structured_outputs["images"]
        assert images.dtype == tf.uint8 and images.shape.as_list() == [None, 32, 32, 3]

    root = ExportMetadata.load(edit_exported.out)
    assert (root.task, root.image_size, root.max_length, root.noise_dim) == ("edit", 32, 6, None)
    assert root.signatures == ("serving_default", "edit", "edit_from_tokens")
    # The editor's variables, not the discriminator's.
    saved = {v.name.removesuffix(":0") for v in edit_savedmodel.loaded.serving_variables}
    assert {v.path for v in tiny_edit_run.model.generator_variables} <= saved
    assert not any(name.startswith("discriminator") for name in saved)


def test_edit_gives_the_keras_images(edit_savedmodel, keras_edit, source_images, tiny_edit_run):
    captions = list(tiny_edit_run.captions)
    expected = keras_edit(source_images, captions)
    # The edits are real: most pixels change, and the caption changes them.
    assert np.mean(expected != source_images) > 0.5
    assert not np.array_equal(expected[0], keras_edit(source_images[0], captions[1:2])[0])
    assert _max_difference(edit_savedmodel.edit(source_images, captions), expected) <= 1
    # One image for several captions, as `edit_images` pairs them.
    one = edit_savedmodel.edit(source_images[0], captions)
    assert one.shape == (3, 32, 32, 3)
    assert _max_difference(one, keras_edit(source_images[0], captions)) <= 1

    ids = tiny_edit_run.tokenizer(tf.constant(captions)).numpy()
    floats = source_images.astype(np.float32) / 127.5 - 1.0
    assert _max_difference(edit_savedmodel.edit_from_tokens(floats, ids), expected) <= 1


@pytest.mark.parametrize(
    "height, width", [(32, 32), (41, 60), (64, 64), (96, 129), (256, 256), (21, 30), (1, 1)],
    ids=["same", "shrink", "shrink2x", "shrink3x_wide", "shrink8x", "enlarge", "one_pixel"],
)
def test_in_graph_resize_agrees_with_prepare_source_images(height, width):
    images = _smooth_images((2, height, width, 3)) if min(height, width) >= 5 else np.full(
        (2, height, width, 3), 77, np.uint8
    )
    expected = prepare_source_images(images, 32)
    actual = center_square(tf.constant(images), 32).numpy()
    assert actual.shape == expected.shape == (2, 32, 32, 3)
    # OpenCV rounds exact .5 averages of its 4x and 8x area paths to even, the graph up.
    assert _max_difference(actual, expected) <= 1
    assert np.mean(actual != expected) <= 0.05


def test_non_square_grey_and_rgba_sources_are_converted(edit_savedmodel, edit_onnx, keras_edit):
    grey = _smooth_images((1, 45, 70, 3), seed=2)[0, ..., 0]  # [H, W]
    rgba = np.concatenate(
        [_smooth_images((1, 80, 64, 3), seed=3)[0], np.full((80, 64, 1), 128, np.uint8)], axis=-1
    )
    for image in (grey, rgba):
        expected = keras_edit(image, ["a red circle"])
        assert expected.shape == (1, 32, 32, 3)
        assert _max_difference(edit_savedmodel.edit(image, ["a red circle"]), expected) <= 1
        assert _max_difference(edit_onnx.edit(image, ["a red circle"]), expected) <= 1


def test_onnx_matches_tensorflow(edit_exported, edit_onnx, edit_savedmodel, tiny_edit_run,
                                 source_images):
    folder = os.path.join(edit_exported.out, "onnx")
    model = onnx.load(os.path.join(folder, "generator.onnx"))
    inputs = {i.name: i.type.tensor_type.elem_type for i in model.graph.input}
    assert inputs == {"source_images": onnx.TensorProto.FLOAT, "token_ids": onnx.TensorProto.INT32}
    assert [o.name for o in model.graph.output] == ["images"]
    props = {p.key: json.loads(p.value) for p in model.metadata_props}
    assert props == {"tfcmgen_task": "edit", "image_size": 32, "max_length": 6, "noise_dim": None}
    with open(os.path.join(folder, "tokenizer.json"), encoding="utf-8") as stream:
        settings = json.load(stream)
    assert set(settings["onnx_inputs"]) == {"source_images", "token_ids"}
    assert "prepare_source_images" in settings["source_images"] and "noise" not in settings

    session = onnxruntime.InferenceSession(
        os.path.join(folder, "generator.onnx"), providers=["CPUExecutionProvider"]
    )
    ids = tiny_edit_run.tokenizer(tf.constant(list(tiny_edit_run.captions))).numpy()
    floats = source_images.astype(np.float32) / 127.5 - 1.0
    expected = np.asarray(tiny_edit_run.model({"image": floats, "token_ids": ids}))
    actual = session.run(["images"], {"source_images": floats, "token_ids": ids})[0]
    assert actual.shape == expected.shape == (3, 32, 32, 3)
    assert np.abs(actual - expected).max() <= 1e-4
    assert np.abs(expected - floats).mean() > 1e-2  # the identity would match anything
    captions = list(tiny_edit_run.captions)
    assert _max_difference(
        edit_onnx.edit(source_images, captions), edit_savedmodel.edit(source_images, captions)
    ) <= 1


_FRESH_PROCESS = r"""
import json, sys
import numpy as np
export, images, captions, out = sys.argv[1:]
images, captions = np.load(images), json.loads(captions)
from tfcmgen.export import OnnxGenerator
onnx_images = OnnxGenerator(export).edit(images, captions)
onnx_without_tensorflow = "tensorflow" not in sys.modules
from tfcmgen.export import load_savedmodel
np.savez(out, onnx=onnx_images, savedmodel=load_savedmodel(export).edit(images, captions))
print(json.dumps({"onnx_without_tensorflow": onnx_without_tensorflow}))
"""


def test_fresh_process_gives_the_keras_images(edit_exported, keras_edit, tiny_edit_run, tmp_path,
                                              run_python):
    images = _smooth_images((2, 48, 40, 3), seed=4)  # non-square, shrunk in the graph
    np.save(tmp_path / "images.npy", images)
    captions = list(tiny_edit_run.captions[:2])
    result = run_python(["-c", _FRESH_PROCESS, edit_exported.out, str(tmp_path / "images.npy"),
                         json.dumps(captions), str(tmp_path / "out.npz")])
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"onnx_without_tensorflow": True}
    outputs = np.load(tmp_path / "out.npz")
    expected = keras_edit(images, captions)
    assert _max_difference(outputs["savedmodel"], expected) <= 1
    assert _max_difference(outputs["onnx"], expected) <= 1


def test_saved_model_cli_lists_the_edit_signatures(edit_exported, saved_model_cli):
    text = saved_model_cli(os.path.join(edit_exported.out, "1"))
    for name in ("serving_default", "edit", "edit_from_tokens"):
        assert f"signature_def['{name}']" in text
    edit = text.split("signature_def['edit']")[1].split("signature_def[")[0]
    for kind, name, dtype, shape in (
        ("inputs", "images", "DT_UINT8", "(-1, -1, -1, 3)"),
        ("inputs", "captions", "DT_STRING", "(-1)"),
        ("outputs", "images", "DT_UINT8", "(-1, 32, 32, 3)"),
    ):
        indent = "\n        "
        assert f"{kind}['{name}'] tensor_info:{indent}dtype: {dtype}{indent}shape: {shape}" in edit


def test_each_task_refuses_the_other(edit_savedmodel, edit_onnx, savedmodel, exported, tiny_run,
                                     source_images):
    edit_made = "made for task 'edit' \\(call edit\\(images, captions\\) on it\\); generate"
    for call in (
        lambda: edit_savedmodel.generate(["a red circle"]),
        lambda: edit_savedmodel.generate_from_tokens(np.ones((1, 6), "int32"), np.zeros((1, 8))),
        lambda: edit_onnx.generate(["a red circle"]),
        lambda: edit_onnx.run(np.ones((1, 6), "int32"), np.zeros((1, 8), "float32")),
    ):
        with pytest.raises(ExportError, match=edit_made + ".* needs an export of task 'text2"):
            call()
    text2image_made = "made for task 'text2image' \\(call generate\\(captions\\) on it\\); edit"
    for call in (
        lambda: savedmodel.edit(source_images, ["a red circle"]),
        lambda: savedmodel.edit_from_tokens(np.zeros((1, 32, 32, 3), "float32"), np.ones((1, 6))),
        lambda: OnnxGenerator(exported.out).edit(source_images, ["a red circle"]),
    ):
        with pytest.raises(ExportError, match=text2image_made + ".* needs an export of task 'ed"):
            call()
    run_folder = TextToImageGenerator(tiny_run.model, tiny_run.tokenizer, source="runs/t2i")
    with pytest.raises(ValueError, match="'runs/t2i' was trained for task 'text2image'"):
        run_folder.edit(source_images, ["a red circle"])


def test_empty_batch_gives_empty_result(edit_savedmodel, edit_onnx):
    empty = np.zeros((0, 40, 50, 3), np.uint8)
    assert edit_savedmodel.edit(empty, []).shape == (0, 32, 32, 3)
    assert edit_onnx.edit(empty, []).shape == (0, 32, 32, 3)
    # The signatures themselves, as TF Serving runs them (images of no size at all, too).
    for images in (tf.constant(empty), tf.zeros([0, 0, 0, 3], tf.uint8)):
        captions = tf.constant([], tf.string)
        result = edit_savedmodel.signatures["edit"](images=images, captions=captions)
        assert result["images"].shape == (0, 32, 32, 3) and result["images"].dtype == tf.uint8
    result = edit_savedmodel.signatures["edit_from_tokens"](
        images=tf.zeros([0, 32, 32, 3]), token_ids=tf.zeros([0, 6], tf.int32)
    )
    assert result["images"].shape == (0, 32, 32, 3)


def test_bad_input_rejected_clearly(edit_savedmodel, edit_onnx, source_images):
    edit = edit_savedmodel.signatures["edit"]
    with pytest.raises(tf.errors.InvalidArgumentError, match="images and captions must have"):
        edit(images=tf.constant(source_images), captions=tf.constant(["a red circle"]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="at least 1x1 pixels"):
        edit(images=tf.zeros([1, 0, 5, 3], tf.uint8), captions=tf.constant(["a red circle"]))
    for generator in (edit_savedmodel, edit_onnx):
        with pytest.raises(ValueError, match="images must be uint8"):
            generator.edit(source_images.astype(np.float32), ["a red circle"] * 3)
        with pytest.raises(ValueError, match="received 3 images and 2 captions"):
            generator.edit(source_images, ["a red circle", "a blue square"])
        with pytest.raises(ValueError, match="images must be float \\[batch=3, 32, 32, 3\\]"):
            generator.edit_from_tokens(source_images, np.ones((3, 6), "int32"))
        with pytest.raises(ValueError, match="images must be in \\[-1, 1\\]"):
            generator.edit_from_tokens(source_images.astype(np.float32), np.ones((3, 6), "int32"))


def test_generate_command_edits_with_an_export(edit_exported, edit_savedmodel, tiny_edit_run,
                                               tmp_path):
    from tfcmgen.cli import main
    from tfcmgen.data import read_image
    from tfcmgen.editing import edit_images

    source = str(tmp_path / "source.png")
    cv2.imwrite(source, _smooth_images((1, 50, 40, 3), seed=5)[0])
    grids = {}
    for name, model in (("export", edit_exported.out), ("run", tiny_edit_run.path)):
        grids[name] = str(tmp_path / f"{name}.png")
        assert main(["generate", "--model", model, "--image", source, "a red circle",
                     "a small blue square on the left", "-o", grids[name]]) == 0
    export_grid, run_grid = cv2.imread(grids["export"]), cv2.imread(grids["run"])
    assert export_grid.shape == run_grid.shape and export_grid.shape[1] >= 3 * 32
    assert _max_difference(export_grid, run_grid) <= 1
    # The library call takes the export folder too.
    edited = edit_images(edit_exported.out, read_image(source), "a red circle")
    expected = edit_savedmodel.edit(read_image(source), ["a red circle"])
    np.testing.assert_array_equal(edited, expected)
