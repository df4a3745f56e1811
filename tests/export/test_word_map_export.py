"""Unknown words in exports: the run's word map reaches the SavedModel graph (raw strings in) and
the Python loaders of both formats map spelling and neighbours as `generate` does."""

import os
import shutil

import numpy as np
import pytest

from tfcmgen.text.word_mapping import WORD_MAP_FILE, save_word_map


@pytest.fixture(scope="module")
def word_map_export(tiny_run, tmp_path_factory):
    from tfcmgen.config import ExportConfig
    from tfcmgen.export import export_run

    run = tmp_path_factory.mktemp("word-map-run") / "run"
    shutil.copytree(tiny_run.path, run)
    # As `train --word-vectors` writes it: "crimson" is near "red"; "zebra" is a real word.
    save_word_map(run / WORD_MAP_FILE, {"crimson": "red"}, {"crimson", "zebra"})
    out = str(tmp_path_factory.mktemp("exports") / "word_map")
    export_run(ExportConfig(model=str(run), out=out, format="all"))
    return out


def test_the_served_graph_maps_word_vector_neighbours(word_map_export, tiny_run):
    import tensorflow as tf

    from tfcmgen.export import load_savedmodel

    loaded = load_savedmodel(word_map_export)
    serve = loaded.signatures["serving_default"]

    def raw(caption):  # what TF Serving runs: raw strings straight into the graph
        return serve(captions=tf.constant([caption]), seed=tf.constant(4, tf.int64))["images"]

    np.testing.assert_array_equal(raw("a CRIMSON circle"), raw("a red circle"))
    assert not np.array_equal(raw("a blue circle"), raw("a red circle"))  # the test can fail
    assert os.path.isfile(os.path.join(word_map_export, WORD_MAP_FILE))


@pytest.mark.parametrize("loader", ["savedmodel", "onnx"])
def test_python_loaders_map_typos_and_neighbours(word_map_export, loader, caplog):
    from tfcmgen.export import OnnxGenerator, load_savedmodel

    generator = load_savedmodel(word_map_export) if loader == "savedmodel" else \
        OnnxGenerator(os.path.join(word_map_export, "onnx"))
    expected = generator.generate(["a red circle"], seed=2)
    for variant in ("a crimson circle", "a red cirlce", "A RED circle, zebra!"):
        np.testing.assert_array_equal(generator.generate([variant], seed=2), expected)
    assert "'cirlce' -> 'circle' (spelling)" in caplog.text
    assert "'zebra' unknown (left out)" in caplog.text  # a real word: never spell-corrected
