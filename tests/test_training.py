"""The training job end to end on tiny shapes: run folder, resume, time budget, generation."""

import json
import os

import numpy as np
import pytest

from tfcmgen.config import ConfigError, TrainConfig
from tfcmgen.generation import load_generator
from tfcmgen.runs import RunFolder, RunFolderError
from tfcmgen.training import train


def tiny_config(out, **changes):
    values = dict(data="shapes", out=str(out), image_size=32, num_images=48, batch_size=8,
                  epochs=1, steps_per_epoch=2, base_width=4, noise_dim=8, embedding_dim=8,
                  word2vec_epochs=1, max_length=12, seed=3)
    values.update(changes)
    return TrainConfig(**values)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    result = train(tiny_config(out), verbose=0)
    return out, result


def test_run_folder_holds_everything(finished_run):
    out, result = finished_run
    run = RunFolder(str(out))
    run.check_complete()
    assert json.load(open(run.config_path))["image_size"] == 32
    assert open(run.vocab_path, encoding="utf-8").read().split("\n")[:2] == ["[PAD]", "[UNK]"]
    matrix = np.load(run.embeddings_path)
    vocab_size = len(open(run.vocab_path, encoding="utf-8").read().split())
    assert matrix.shape == (vocab_size, 8)
    assert sorted(os.listdir(run.samples_dir)) == ["epoch_0001.png"]
    assert os.listdir(run.backup_dir)
    assert np.isfinite(result.history["g_loss"]).all() and np.isfinite(result.history["d_loss"]).all()
    assert not [n for n in os.listdir(out) if n.startswith(".")], "temporary files left behind"


def test_generated_images_follow_the_seed(finished_run):
    out, _ = finished_run
    generator = load_generator(str(out))
    a = generator.generate(["a red circle", "a big blue square"], num_per_caption=2, seed=5)
    b = generator.generate(["a red circle", "a big blue square"], num_per_caption=2, seed=5)
    c = generator.generate(["a red circle", "a big blue square"], num_per_caption=2, seed=6)
    assert a.shape == (4, 32, 32, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert np.abs(a.astype(int) - c.astype(int)).max() > 0
    assert generator.generate([], 3).shape == (0, 32, 32, 3)


def test_unknown_words_still_generate_with_a_warning(finished_run, caplog):
    out, _ = finished_run
    images = load_generator(str(out)).generate(["qwzx vbnm"], num_per_caption=1)
    assert images.shape == (1, 32, 32, 3)
    assert "has no word the model knows" in caplog.text


def test_same_folder_with_a_different_config_is_refused(finished_run):
    out, _ = finished_run
    with pytest.raises(ConfigError, match="different configuration.*fusion"):
        train(tiny_config(out, fusion="concat"), verbose=0)


def test_more_epochs_resume_from_the_backup(tmp_path):
    first = train(tiny_config(tmp_path), verbose=0)
    assert len(first.history["g_loss"]) == 1
    second = train(tiny_config(tmp_path, epochs=2), verbose=0)
    # BackupAndRestore restored epoch 1, so only epoch 2 ran.
    assert len(second.history["g_loss"]) == 1
    assert sorted(os.listdir(RunFolder(str(tmp_path)).samples_dir)) == [
        "epoch_0001.png", "epoch_0002.png"]


def test_time_budget_stops_and_still_saves(tmp_path):
    result = train(tiny_config(tmp_path, epochs=1000, minutes=1e-4, steps_per_epoch=None),
                   verbose=0)
    assert result.stopped_by_budget
    assert len(result.history["g_loss"]) == 1
    assert os.path.isfile(RunFolder(str(tmp_path)).model_path)


def test_vocabulary_that_does_not_match_the_model_is_reported(finished_run, tmp_path):
    import shutil

    out, _ = finished_run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    with open(copy / "vocab.txt", "a", encoding="utf-8") as f:
        f.write("extraword\n")
    with pytest.raises(RunFolderError, match="vocabulary does not belong to this model"):
        load_generator(str(copy))


def test_not_a_run_folder_is_reported(tmp_path):
    with pytest.raises(RunFolderError, match="not a finished tfcmgen run: missing config.json"):
        load_generator(str(tmp_path))


def test_trains_on_a_csv_folder_dataset(tmp_path):
    import cv2

    from tfcmgen.data.shapes import make_captions, render_shape

    root = tmp_path / "data"
    root.mkdir()
    rows = ["image,caption"]
    for i, (colour, shape) in enumerate([("red", "circle"), ("blue", "square")] * 6):
        attrs = {"colour": colour, "shape": shape, "size": "large", "position": "center",
                 "background": "black"}
        cv2.imwrite(str(root / f"{i}.png"), render_shape(attrs, 40, seed=i)[..., ::-1])
        rows += [f"{i}.png,{c}" for c in make_captions(attrs, i, n=2)]
    (root / "captions.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    result = train(tiny_config(tmp_path / "run", data=str(root), steps_per_epoch=1), verbose=0)
    assert os.path.isfile(result.run.model_path)
    vocab = open(result.run.vocab_path, encoding="utf-8").read().split()
    assert {"red", "blue", "circle"} <= set(vocab)


def test_demo_trains_and_draws_the_held_out_captions(tmp_path):
    """`tfcmgen demo` end to end on a tiny config: the README's main job."""
    import cv2

    from tfcmgen.data.shapes import DEFAULT_HELD_OUT
    from tfcmgen.demo import held_out_captions, run_demo

    config = tiny_config(tmp_path / "demo")
    captions = held_out_captions(config)
    assert len(captions) == 2 * len(DEFAULT_HELD_OUT)
    for (colour, shape), pair in zip(DEFAULT_HELD_OUT, zip(captions[::2], captions[1::2])):
        assert all(f"{colour} {shape}" in caption for caption in pair)
    result = run_demo(config, samples_per_caption=2)
    path = result.grid
    assert path == os.path.join(config.out, "held_out.png")
    # Judged only where a judge of the model's size is bundled; never a figure from another size.
    from tfcmgen.demo import JUDGE_PATTERN

    if os.path.isfile(JUDGE_PATTERN.format(size=32)):
        assert 0.0 <= result.held_out_accuracy <= 1.0 and result.judged_images == 96
    else:
        assert result.held_out_accuracy is None and result.judged_images == 0
    assert "steps in" in result.summary
    grid = cv2.imread(path)
    assert grid is not None and grid.shape[0] > 32 * len(captions) and grid.shape[1] >= 2 * 32



@pytest.mark.parametrize("flags, expected", [
    ("fpu avx2 avx512f avx512_bf16 fma", "mixed_bfloat16"),
    ("fpu avx2 amx_bf16 amx_tile", "mixed_bfloat16"),
    ("fpu avx2 avx512f fma", "float32"),
])
def test_demo_trains_in_bfloat16_only_where_the_cpu_has_it(tmp_path, flags, expected):
    from tfcmgen.demo import fast_precision

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nmodel name\t: x\nflags\t\t: {flags}\n")
    assert fast_precision(str(cpuinfo)) == expected
    assert fast_precision(str(tmp_path / "missing")) == "float32"


def test_demo_dry_run_shows_the_precision_it_chose(capsys):
    from tfcmgen.cli import main
    from tfcmgen.demo import fast_precision

    assert main(["demo", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f'"precision": "{fast_precision()}"' in out
    assert '"ema_decay": 0.99\n' in out  # the demo's short-run generator average
    assert main(["demo", "--dry-run", "--precision", "float32"]) == 0
    assert '"precision": "float32"' in capsys.readouterr().out
