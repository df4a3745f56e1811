"""The SavedModel export: signatures, same images as Keras, TF Serving op set, bad input."""

import json
import logging
import os

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from tfcmgen.export import ExportError, export_savedmodel, load_savedmodel
from tfcmgen.text import SERVING_TEXT_OPS


def _saved_model_proto(folder):
    proto = saved_model_pb2.SavedModel()
    with open(os.path.join(folder, "saved_model.pb"), "rb") as stream:
        proto.ParseFromString(stream.read())
    return proto


def _graph_op_types(folder):
    graph = _saved_model_proto(folder).meta_graphs[0].graph_def
    ops = {node.op for node in graph.node}
    for function in graph.library.function:
        ops.update(node.op for node in function.node_def)
    return ops


def test_signatures_inputs_outputs_and_dtypes(savedmodel, tiny_run):
    signatures = savedmodel.signatures
    assert set(signatures) == {"serving_default", "generate_from_tokens"}
    serving = signatures["serving_default"]
    _, inputs = serving.structured_input_signature
    assert inputs["captions"].dtype == tf.string and inputs["captions"].shape.as_list() == [None]
    assert inputs["seed"].dtype == tf.int64 and inputs["seed"].shape.as_list() == []
    images = serving.structured_outputs["images"]
    assert images.dtype == tf.uint8 and images.shape.as_list() == [None, 32, 32, 3]

    tokens = signatures["generate_from_tokens"]
    _, inputs = tokens.structured_input_signature
    assert inputs["token_ids"].dtype == tf.int32
    assert inputs["token_ids"].shape.as_list() == [None, tiny_run.max_length]
    assert inputs["noise"].dtype == tf.float32
    assert inputs["noise"].shape.as_list() == [None, tiny_run.noise_dim]
    images = tokens.structured_outputs["images"]
    assert images.dtype == tf.uint8 and images.shape.as_list() == [None, 32, 32, 3]


def test_saves_only_the_text_encoder_and_ema_generator(savedmodel, tiny_run):
    saved = sorted(v.name.removesuffix(":0") for v in savedmodel.loaded.serving_variables)
    expected = sorted(
        w.path for w in tiny_run.model.weights if w.path.startswith(("ema_", "text_encoder/"))
    )
    assert saved == expected
    assert not any(name.startswith(("discriminator/", "generator/")) for name in saved)


def test_seed_is_optional_with_default_zero(exported, savedmodel):
    # TF Serving fills inputs a request leaves out from the SignatureDef's defaults.
    signature = _saved_model_proto(os.path.join(exported.out, "1")).meta_graphs[0]
    defaults = signature.signature_def["serving_default"].defaults
    assert set(defaults) == {"seed"}
    assert tf.make_ndarray(defaults["seed"]) == 0
    assert defaults["seed"].dtype == tf.int64.as_datatype_enum
    # In Python the attached function applies the default too.
    captions = tf.constant(["a red circle"])
    without_seed = savedmodel.loaded.serving_default(captions)["images"].numpy()
    np.testing.assert_array_equal(without_seed, savedmodel.generate(["a red circle"], seed=0))


def test_same_images_as_keras_in_process(savedmodel, keras_images, tiny_run):
    captions = list(tiny_run.captions)
    for seed in (0, 7):
        np.testing.assert_array_equal(
            savedmodel.generate(captions, seed=seed), keras_images(captions, seed)
        )
    assert not np.array_equal(
        savedmodel.generate(captions, seed=0), savedmodel.generate(captions, seed=7)
    )


def test_generate_from_tokens_matches_keras(savedmodel, tiny_run):
    from tfcmgen.generation import to_uint8

    ids = tiny_run.tokenizer(tf.constant(list(tiny_run.captions))).numpy()
    noise = np.random.default_rng(0).normal(size=(len(ids), tiny_run.noise_dim)).astype("float32")
    expected = to_uint8(tiny_run.model({"token_ids": ids, "noise": noise}, training=False))
    np.testing.assert_array_equal(savedmodel.generate_from_tokens(ids, noise), expected)
    with pytest.raises(ValueError, match="noise must be float \\[batch=3, noise_dim=8\\]"):
        savedmodel.generate_from_tokens(ids, noise[:2])
    with pytest.raises(ValueError, match="token ids must be in \\[0, "):
        savedmodel.generate_from_tokens(ids + 1000, noise)


def test_num_per_caption_repeats_each_caption(savedmodel):
    images = savedmodel.generate(["a red circle", "a blue square"], num_per_caption=2, seed=3)
    assert images.shape == (4, 32, 32, 3) and images.dtype == np.uint8


def test_unknown_word_caption_still_generates_and_warns(savedmodel, keras_images, caplog):
    with caplog.at_level(logging.WARNING, logger="tfcmgen.export"):
        images = savedmodel.generate(["zebra xylophone", "a red circle"], seed=1)
    np.testing.assert_array_equal(images, keras_images(["zebra xylophone", "a red circle"], 1))
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "'zebra xylophone' has no word the model knows" in warnings[0]


def test_empty_batch_gives_empty_result(savedmodel, tiny_run):
    assert savedmodel.generate([], seed=0).shape == (0, 32, 32, 3)
    # The signature itself, as TF Serving runs it, not only the Python wrapper's shortcut.
    images = savedmodel.signatures["serving_default"](
        captions=tf.constant([], tf.string), seed=tf.constant(0, tf.int64)
    )["images"]
    assert images.shape == (0, 32, 32, 3) and images.dtype == tf.uint8
    images = savedmodel.signatures["generate_from_tokens"](
        token_ids=tf.zeros([0, tiny_run.max_length], tf.int32),
        noise=tf.zeros([0, tiny_run.noise_dim]),
    )["images"]
    assert images.shape == (0, 32, 32, 3)


def test_non_string_input_rejected_clearly(savedmodel):
    with pytest.raises(ValueError, match="captions must be strings; received int 5 at index 1"):
        savedmodel.generate(["a red circle", 5])
    with pytest.raises(ValueError, match="not a single str"):
        savedmodel.generate("a red circle")
    message = "expected to be a string tensor but is a int32"
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        savedmodel.signatures["serving_default"](
            captions=tf.constant([1, 2]), seed=tf.constant(0, tf.int64)
        )
    with pytest.raises(ValueError, match="seed must be an int from 0"):
        savedmodel.generate(["a red circle"], seed=-1)


def test_folder_that_is_not_an_export_is_reported(tiny_run, tmp_path):
    with pytest.raises(ExportError, match="training run folder"):
        load_savedmodel(tiny_run.path)
    with pytest.raises(ExportError, match="does not exist"):
        load_savedmodel(str(tmp_path / "missing"))


def test_onnx_only_export_has_no_savedmodel(exported):
    with pytest.raises(ExportError, match="holds onnx, not savedmodel"):
        load_savedmodel(os.path.join(exported.out, "onnx"))


def test_standalone_export_and_vocabulary_check(tiny_run, tmp_path):
    out = str(tmp_path / "sm")
    assert export_savedmodel(tiny_run.model, tiny_run.vocabulary, out) == [out]
    generator = load_savedmodel(out)
    assert generator.generate(["a red circle"], seed=2).shape == (1, 32, 32, 3)
    with pytest.raises(FileExistsError, match="already exists"):
        export_savedmodel(tiny_run.model, tiny_run.vocabulary, out)
    with pytest.raises(ValueError, match="the vocabulary has 3 tokens but the model was built"):
        export_savedmodel(tiny_run.model, ["[PAD]", "[UNK]", "red"], str(tmp_path / "other"))
    assert not (tmp_path / "other").exists()


_FRESH_PROCESS = r"""
import json, sys
import numpy as np
import tensorflow as tf
from tensorflow.python.framework import op_def_registry

export, ops, captions, seed, out = sys.argv[1:]
ops, captions, seed = json.loads(ops), json.loads(captions), int(seed)
# Before tensorflow_text is imported: which of the graph's ops does core TensorFlow lack?
beyond_core = sorted(op for op in ops if op_def_registry.get(op) is None)
from tfcmgen.export import load_savedmodel
np.save(out, load_savedmodel(export).generate(captions, seed=seed))
print(json.dumps({"beyond_core": beyond_core}))
"""


@pytest.fixture(scope="module")
def fresh_process(exported, tiny_run, tmp_path_factory, run_python):
    """Loads the export in a new Python process: its images and the graph's non-core ops."""
    ops = sorted(_graph_op_types(os.path.join(exported.out, "1")))
    out = str(tmp_path_factory.mktemp("fresh") / "images.npy")
    result = run_python(
        ["-c", _FRESH_PROCESS, exported.out, json.dumps(ops), json.dumps(list(tiny_run.captions)),
         "11", out]
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    return {"images": np.load(out), "beyond_core": report["beyond_core"], "ops": ops}


def test_same_images_as_keras_in_a_fresh_process(fresh_process, keras_images, tiny_run):
    np.testing.assert_array_equal(fresh_process["images"], keras_images(tiny_run.captions, 11))


def test_text_ops_list_matches_the_exported_graph(fresh_process, exported):
    from tfcmgen.export import ExportMetadata

    # Case folding is core hash-table lookups now (tfcmgen.text.case_folding), not TF Text.
    assert "CaseFoldUTF8" not in fresh_process["ops"]
    assert "LookupTableFindV2" in fresh_process["ops"]
    assert fresh_process["beyond_core"] == sorted(SERVING_TEXT_OPS) == []
    assert list(ExportMetadata.load(exported.out).serving_text_ops) == sorted(SERVING_TEXT_OPS)


def test_saved_model_cli_lists_both_signatures(exported, saved_model_cli):
    text = saved_model_cli(os.path.join(exported.out, "1"))
    assert "signature_def['serving_default']" in text
    assert "signature_def['generate_from_tokens']" in text
    serving = text.split("signature_def['serving_default']")[1]
    indent = "\n        "
    assert f"inputs['captions'] tensor_info:{indent}dtype: DT_STRING{indent}shape: (-1)" in serving
    assert f"inputs['seed'] tensor_info:{indent}dtype: DT_INT64{indent}shape: ()" in serving
    images = f"outputs['images'] tensor_info:{indent}dtype: DT_UINT8{indent}shape: (-1, 32, 32, 3)"
    assert images in serving


def test_task_without_an_export_is_refused(tmp_path):
    from tfcmgen.export.export_tasks import EXPORT_TASKS, model_task

    class SegmentationModel:
        task = "segment"

    assert model_task(object()) == "text2image"
    assert set(EXPORT_TASKS) == {"text2image", "edit"}
    with pytest.raises(ExportError, match="no export is defined for models of task 'segment'"):
        export_savedmodel(SegmentationModel(), ["[PAD]", "[UNK]"], str(tmp_path / "segment"))
    assert not (tmp_path / "segment").exists()
