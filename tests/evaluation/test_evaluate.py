"""`tfcmgen evaluate` on csv, jsonl and CUB folders: report, determinism, caching, bad input."""

from __future__ import annotations

import json
import os

import pytest

# Tiny but complete: 20 generated images in 2 folds, a matcher trained for 15 steps.
FAST = ["--num-images", "20", "--repeats", "2", "--matcher-steps", "15"]


def _evaluate(argv, capsys):
    from tfcmgen.cli import main

    code = main(["evaluate", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("fmt", ["csv", "jsonl", pytest.param("cub", marks=pytest.mark.slow)])
def test_cli_scores_every_folder_format_and_writes_nothing_into_it(
    fmt, tmp_path, tiny_records, helpers, capsys, shared_cache,
):
    folder = helpers.write_folder(tmp_path / fmt, fmt, *tiny_records)
    run = helpers.save_tiny_run(str(tmp_path / "run"), folder, tiny_records[1])
    before = helpers.folder_snapshot(folder)
    report_path = str(tmp_path / "report.json")
    code, out, err = _evaluate(["--model", run, "--data", folder, "--json", report_path,
                                "--cache-dir", shared_cache, *FAST], capsys)
    assert code == 0, err
    assert helpers.folder_snapshot(folder) == before  # the user's folder is left alone
    with open(report_path) as f:
        report = json.load(f)
    validation = report["r_precision"]["validation"]
    for side in ("generated", "real"):
        assert validation[side]["num_candidates"] == 100
        assert validation[side]["num_images"] == 20
        assert 0.0 <= validation[side]["mean"] <= 1.0
    assert report["matcher"]["path"].startswith(shared_cache)
    assert report["matcher_features"]["generated"]["fid"] >= 0.0
    assert report["diversity"]["real"] is not None  # canonical captions repeat across images
    assert report["split"] == {"validation_fraction": 0.25, "seed": 0, "from_run": True}
    for label in ("R-precision validation", "FID (matcher features)", "diversity"):
        assert label in out


def test_same_seed_same_numbers(tiny_run, csv_folder, shared_cache):
    """Two runs with one seed agree to 1e-6 (the matcher's own training is pinned in
    test_image_text_matcher.py: same seed, same weights)."""
    from tfcmgen.evaluation import EvaluateConfig, evaluate

    config = EvaluateConfig(model=tiny_run, data=csv_folder, num_images=20, repeats=2,
                            matcher_steps=15, cache_dir=shared_cache, held_out=("red",))
    reports = [evaluate(config), evaluate(config)]

    def numbers(value, path=""):
        if isinstance(value, dict):
            for key, item in value.items():
                if key != "seconds":
                    yield from numbers(item, f"{path}/{key}")
        elif isinstance(value, float):
            yield path, value

    first, second = dict(numbers(reports[0])), dict(numbers(reports[1]))
    assert first.keys() == second.keys() and "/r_precision/held_out/real/mean" in first
    assert "/matcher_features/generated/kid" in first and "/diversity/generated" in first
    for key in first:
        assert abs(first[key] - second[key]) <= 1e-6, key


@pytest.mark.slow
def test_train_matcher_without_a_model(csv_folder, shared_cache, capsys):
    code, out, err = _evaluate(["--train-matcher", "--data", csv_folder, "--image-size", "32",
                                "--cache-dir", shared_cache, *FAST], capsys)
    assert code == 0, err
    assert "trained now" in out and "R-precision validation" in out
    assert "-  " in out  # no generated column without a model


def test_model_trained_on_another_vocabulary(tmp_path, csv_folder, helpers, cache, capsys):
    other = ["the quick brown fox jumps", "over the lazy dog", "lorem ipsum dolor sit amet"]
    run = helpers.save_tiny_run(str(tmp_path / "other"), csv_folder, other)
    code, _, err = _evaluate(["--model", run, "--data", csv_folder, *FAST], capsys)
    assert code == 1
    assert err.count("\n") == 1
    assert "the model was trained on another vocabulary" in err and "unknown to it" in err


def test_fewer_than_100_captions_says_why(tmp_path, helpers, cache, capsys):
    images, captions = helpers.shapes_records(60, seed=1)
    folder = helpers.write_folder(tmp_path / "small", "csv", images, captions)
    run = helpers.save_tiny_run(str(tmp_path / "run"), folder, captions)
    code, _, err = _evaluate(["--model", run, "--data", folder, *FAST], capsys)
    assert code == 1 and err.count("\n") == 1
    assert "distinct captions after normalisation" in err
    assert "99 different captions" in err and "at least 100" in err
    assert not os.path.exists(os.path.join(cache, "matchers"))  # refused before any training


def test_image_size_mismatch(tiny_run, csv_folder, cache, capsys):
    code, _, err = _evaluate(["--model", tiny_run, "--data", csv_folder, "--image-size", "64",
                              *FAST], capsys)
    assert code == 1 and err.count("\n") == 1
    assert "image_size=64 but the model" in err and "draws 32x32 images" in err


def test_matcher_of_another_image_size(tiny_run, csv_folder, tiny_records, helpers, tmp_path,
                                      capsys):
    matcher = helpers.untrained_matcher_folder(tmp_path / "m64", tiny_records[1], 64)
    code, _, err = _evaluate(["--model", tiny_run, "--data", csv_folder, "--matcher", matcher,
                              *FAST], capsys)
    assert code == 1 and err.count("\n") == 1
    assert "scores 64x64 images but the model draws 32x32" in err


@pytest.mark.slow
def test_export_without_serving_default(tiny_run, csv_folder, tmp_path, shared_cache, capsys):
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (the export's tokenizer ops)

    from tfcmgen.config import ExportConfig
    from tfcmgen.export import export_run
    from tfcmgen.export.export_metadata import ExportMetadata

    out = str(tmp_path / "export")
    export_run(ExportConfig(model=tiny_run, out=out, format="savedmodel"))
    # An intact export is scored like its run (the split comes from the run it names).
    code, _, err = _evaluate(["--model", out, "--data", csv_folder, "--cache-dir", shared_cache,
                              "--json", str(tmp_path / "r.json"), *FAST], capsys)
    assert code == 0, err
    with open(tmp_path / "r.json") as f:
        assert json.load(f)["split"]["from_run"] is True
    metadata = ExportMetadata.load(out)
    path = metadata.path_of(out, "savedmodel")
    loaded = tf.saved_model.load(path)
    kept = {"generate_from_tokens": loaded.signatures["generate_from_tokens"]}
    stripped = str(tmp_path / "stripped")
    tf.saved_model.save(loaded, stripped, signatures=kept)
    tf.io.gfile.rmtree(path)
    tf.io.gfile.rename(stripped, path)
    metadata.replace(signatures=("generate_from_tokens",)).save(out)
    code, _, err = _evaluate(["--model", out, "--data", csv_folder, *FAST], capsys)
    assert code == 1 and err.count("\n") == 1
    assert "has no 'serving_default' signature" in err


@pytest.mark.slow
def test_inception_features_from_a_local_weights_file(tmp_path, tiny_run, csv_folder,
                                                      shared_cache):
    import keras
    import numpy as np

    from tfcmgen.evaluation import EvaluateConfig, InceptionFeatures, evaluate

    # Random weights stand in for the ImageNet file (nothing may be downloaded in tests).
    weights = str(tmp_path / "inception_notop.weights.h5")
    keras.applications.InceptionV3(include_top=False, weights=None, pooling="avg",
                                   input_shape=(299, 299, 3)).save_weights(weights)
    features = InceptionFeatures(weights)(np.zeros((3, 32, 32, 3), np.uint8))
    assert features.shape == (3, 2048) and np.all(np.isfinite(features))
    report = evaluate(EvaluateConfig(model=tiny_run, data=csv_folder, num_images=20, repeats=2,
                                     matcher_steps=15, cache_dir=shared_cache,
                                     inception_weights=weights))
    assert report["inception_features"]["generated"]["fid"] >= 0.0
    with pytest.raises(FileNotFoundError, match="nothing is downloaded"):
        InceptionFeatures(str(tmp_path / "missing.h5"))
