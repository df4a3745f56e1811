"""Bounded work (issue 11): batched generation, grid pages, linear caption loading.

The 10,000-caption memory figure is a bench (bench/generate_memory.py); here the mechanisms:
batches give the images of one pass, many captions become several pages each within the limit,
and loading 100,000 distinct captions stays linear.
"""

from __future__ import annotations

import os
import time

import cv2
import numpy as np
import pytest

from tfcmgen import paged_generation
from tfcmgen.config import GenerateConfig, TrainConfig
from tfcmgen.generation import TextToImageGenerator, generate_grid
from tfcmgen.paged_generation import grid_pages, page_paths

CAPTIONS = ["a red circle", "a small blue square on the left", "a green triangle",
            "a yellow star at the bottom", "a big red square", "a blue circle in the top left"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A finished run folder of an untrained tiny GAN (32x32, widths of 4)."""
    from tfcmgen.models import CrossModalGAN
    from tfcmgen.text import Vocabulary

    root = tmp_path_factory.mktemp("run")
    vocabulary = Vocabulary.build(CAPTIONS)
    TrainConfig(out=str(root), image_size=32, max_length=6, noise_dim=8, base_width=4,
                embedding_dim=8).save(str(root / "config.json"))
    vocabulary.save(str(root / "vocab.txt"))
    model = CrossModalGAN(vocabulary_size=len(vocabulary), max_length=6, image_size=32,
                          embedding_dim=8, condition_dim=8, noise_dim=8, generator_width=4,
                          discriminator_width=4)
    model.generate(np.ones((1, 6), "int32"), seed=0)
    model.save(str(root / "model.keras"))
    return root


def test_batches_give_the_images_of_one_pass(tiny_run):
    from tfcmgen.generation import load_generator

    generator = load_generator(str(tiny_run))
    assert isinstance(generator, TextToImageGenerator)
    ids = generator.token_ids(CAPTIONS)
    one_pass = generator.model.generate(np.repeat(ids, 3, axis=0), seed=7)
    expected = np.clip(np.rint((np.asarray(one_pass) + 1) * 127.5), 0, 255).astype(np.uint8)
    batches = list(paged_generation.keras_batches(generator, CAPTIONS, 3, seed=7, batch_size=4))
    assert [len(b) for b in batches] == [4, 4, 4, 4, 2]
    got = np.concatenate(batches)
    # Float sums may round differently with another batch size: at most one level, rarely.
    assert np.abs(got.astype(int) - expected).max() <= 1
    assert np.mean(got != expected) < 0.01
    np.testing.assert_array_equal(generator.generate(CAPTIONS, 3, seed=7), got)


def test_pages_stay_within_the_limit_and_one_row_always_fits():
    # 10,000 captions x 8 at 64 pixels: many pages, each within PAGE_PIXELS.
    pages = grid_pages(10_000, 8, 64)
    assert len(pages) > 1 and sum(len(p) for p in pages) == 10_000
    assert pages[0].start == 0 and pages[-1].stop == 10_000
    row = 8 * (128 + 4) * (128 + 100)
    assert max(len(p) for p in pages) * row <= paged_generation.PAGE_PIXELS
    # The widest request (1024 per caption, 256 pixels): one caption a page, still encodable.
    assert [len(p) for p in grid_pages(3, 1024, 256)] == [1, 1, 1]
    assert page_paths("out/grid.png", 1) == ["out/grid.png"]
    assert page_paths("g.jpg", 3) == ["g-0001.jpg", "g-0002.jpg", "g-0003.jpg"]


def test_many_captions_are_written_as_pages(tiny_run, tmp_path, monkeypatch):
    # A small page limit stands in for 10,000 captions: 6 captions -> 3 pages of 2 rows.
    monkeypatch.setattr(paged_generation, "PAGE_PIXELS", 2 * 2 * (128 + 4) * (128 + 100))
    out = str(tmp_path / "grid.png")
    printed = generate_grid(GenerateConfig(captions=tuple(CAPTIONS), model=str(tiny_run),
                                           out=out, num_per_caption=2, seed=1))
    paths = page_paths(out, 3)
    assert printed == f"3 pages: {paths[0]} ... {paths[-1]}"
    assert sorted(os.listdir(tmp_path)) == sorted(os.path.basename(p) for p in paths)
    single = str(tmp_path / "single.png")
    monkeypatch.setattr(paged_generation, "PAGE_PIXELS", 1 << 25)
    assert generate_grid(GenerateConfig(captions=tuple(CAPTIONS), model=str(tiny_run),
                                        out=single, num_per_caption=2, seed=1)) == single
    # The pages stacked are the single grid: same images, same seed, same layout.
    pages = [cv2.imread(p) for p in paths]
    whole = cv2.imread(single)
    np.testing.assert_array_equal(np.concatenate(pages), whole)


def test_caption_loading_is_linear_in_the_rows(tmp_path):
    from tfcmgen.data import load_folder

    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((8, 8, 3), np.uint8))
    rows = [f"a.png,caption number {i}" for i in range(100_000)] + ["a.png,caption number 7"]
    (tmp_path / "captions.csv").write_text("image,caption\n" + "\n".join(rows) + "\n",
                                           encoding="utf-8")
    started = time.monotonic()
    with pytest.warns(UserWarning, match="ignored 1 duplicate"):
        data = load_folder(str(tmp_path))
    seconds = time.monotonic() - started
    assert data.captions[0][:3] == ["caption number 0", "caption number 1", "caption number 2"]
    assert len(data.captions[0]) == 100_000
    # A list search took 52 s here (quadratic); a set takes well under a second.
    assert seconds < 10, f"loading 100,000 captions took {seconds:.1f} s"
