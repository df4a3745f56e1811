"""Tiny folder datasets in the three formats, a tiny run trained on nothing, a tiny matcher setting.

The datasets are shapes rendered at 32x32 with canonical captions ("a small red circle in the top
left"), written as users would: PNG files plus captions.csv, captions.jsonl or the CUB layout.
"""

from __future__ import annotations

import dataclasses
import json
import os
import types

import cv2
import numpy as np
import pytest

IMAGE_SIZE = 32
MAX_LENGTH = 10
NUM_IMAGES = 120


def shapes_records(num_images: int, seed: int = 0, image_size: int = IMAGE_SIZE):
    """(uint8 RGB images, canonical captions) of `num_images` rendered shapes."""
    from tfcmgen.data import caption_for, load_shapes

    data = load_shapes(num_images=num_images, image_size=image_size, seed=seed, split="all",
                       captions_per_image=1)
    return data.images, [caption_for(a) for a in data.attributes]


def write_folder(root, fmt: str, images, captions) -> str:
    """Writes images and captions as a `csv`, `jsonl` or `cub` dataset folder; returns it."""
    root = str(root)
    os.makedirs(root, exist_ok=True)
    rows = []
    for i, (image, caption) in enumerate(zip(images, captions)):
        if fmt == "cub":
            klass = f"{i % 3:03d}.class"
            relative = os.path.join("images", klass, f"img_{i:04d}.png")
            text = os.path.join(root, "text", klass, f"img_{i:04d}.txt")
            os.makedirs(os.path.dirname(text), exist_ok=True)
            with open(text, "w", encoding="utf-8") as f:
                f.write(caption + "\n")
        else:
            relative = os.path.join("images", f"img_{i:04d}.png")
        path = os.path.join(root, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        cv2.imwrite(path, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        rows.append((relative, caption))
    if fmt == "csv":
        with open(os.path.join(root, "captions.csv"), "w", encoding="utf-8") as f:
            f.write("image,caption\n")
            f.writelines(f"{image},\"{caption}\"\n" for image, caption in rows)
    elif fmt == "jsonl":
        with open(os.path.join(root, "captions.jsonl"), "w", encoding="utf-8") as f:
            f.writelines(json.dumps({"image": i, "caption": c}) + "\n" for i, c in rows)
    return root


def folder_snapshot(root) -> dict:
    """{relative path: (size, mtime_ns)} of every file under `root`: to show nothing was written."""
    snapshot = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            stat = os.stat(path)
            snapshot[os.path.relpath(path, root)] = (stat.st_size, stat.st_mtime_ns)
    return snapshot


def save_tiny_run(root, data: str, captions, image_size: int = IMAGE_SIZE, **config_changes):
    """A finished run folder of an untrained tiny GAN whose vocabulary is built from `captions`."""
    from tfcmgen.config import TrainConfig
    from tfcmgen.models import CrossModalGAN
    from tfcmgen.text import Vocabulary

    os.makedirs(root, exist_ok=True)
    vocabulary = Vocabulary.build(list(captions))
    config = TrainConfig(data=data, out=str(root), image_size=image_size, max_length=MAX_LENGTH,
                         noise_dim=8, base_width=4, embedding_dim=8, validation_fraction=0.25,
                         **config_changes)
    model = CrossModalGAN(
        vocabulary_size=len(vocabulary), max_length=MAX_LENGTH, image_size=image_size,
        embedding_dim=8, condition_dim=8, noise_dim=8, generator_width=4, discriminator_width=4,
    )
    model.generate(np.ones((1, MAX_LENGTH), "int32"), seed=0)
    config.save(os.path.join(root, "config.json"))
    vocabulary.save(os.path.join(root, "vocab.txt"))
    model.save(os.path.join(root, "model.keras"))
    return str(root)


@pytest.fixture(scope="session")
def helpers():
    """The functions of this file, for tests (conftest modules are not imported by name)."""
    return types.SimpleNamespace(shapes_records=shapes_records, write_folder=write_folder,
                                 folder_snapshot=folder_snapshot, save_tiny_run=save_tiny_run,
                                 untrained_matcher_folder=untrained_matcher_folder)


@pytest.fixture(scope="session")
def tiny_records():
    return shapes_records(NUM_IMAGES)


@pytest.fixture(scope="session")
def csv_folder(tmp_path_factory, tiny_records):
    return write_folder(tmp_path_factory.mktemp("csv"), "csv", *tiny_records)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, csv_folder, tiny_records):
    """An untrained tiny GAN whose run config names `csv_folder` (split 0.25, seed 0)."""
    return save_tiny_run(tmp_path_factory.mktemp("run"), csv_folder, tiny_records[1])


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory):
    """A matcher cache shared by the tests that only need some matcher for the tiny data."""
    return str(tmp_path_factory.mktemp("shared-cache"))


def untrained_matcher_folder(folder, captions, image_size: int) -> str:
    """A matcher folder holding an untrained tiny matcher (for checks that need no training)."""
    from tfcmgen.evaluation.image_text_matcher import ImageTextMatcher
    from tfcmgen.evaluation.matcher_cache import MatcherSettings, save_matcher
    from tfcmgen.text import Vocabulary

    vocabulary = Vocabulary.build(list(captions))
    settings = MatcherSettings(width=4, embedding_dim=8, feature_dim=8, projection_dim=8,
                               steps=1)
    model = ImageTextMatcher(vocabulary_size=len(vocabulary), image_size=image_size, width=4,
                             embedding_dim=8, feature_dim=8, projection_dim=8)
    model((np.zeros((1, image_size, image_size, 3), "float32"), np.ones((1, 16), "int32")))
    save_matcher(str(folder), model, vocabulary,
                 {"fingerprint": "untrained", "settings": dataclasses.asdict(settings)})
    return str(folder)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty matcher cache for this test ($TFCMGEN_CACHE)."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("TFCMGEN_CACHE", str(folder))
    return str(folder)
