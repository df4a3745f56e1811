"""Shared by the folder benchmarks (bench/folder_shapes.py, bench/colored_mnist.py) and by the
evaluation-agreement bench: write a captions.csv folder, train / export through the CLI, generate
through the exported SavedModel, and score phrasing variants.

The benchmarks take the path a user takes: `tfcmgen train --data FOLDER` sees only images and
captions (no attributes), `tfcmgen export` writes a SavedModel, and images are drawn by loading that
export. Ground truth stays in the bench script, for its judge.

Import from another bench script as `from caption_folders import ...` after putting `bench/` on
`sys.path` (bench/ is not a package), or as `bench.caption_folders` from the repository root.
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
import time

import numpy as np

# How a user rewrites a training caption. Each takes the training phrasing and returns the variant.
# "misspelt fillers" touches only words that carry no content ("the", "written", "is", "at", ...),
# "extra unknown words" adds words no training caption has.
_TYPOS = {"the": "teh", "written": "writen", "handwritten": "handwriten", "there": "thre",
          "coloured": "colored", "digit": "digt", "shape": "shpae", "number": "numbr"}


def misspell_fillers(caption: str, content_words) -> str:
    words = caption.split()
    return " ".join(_TYPOS.get(w, w) if w not in content_words else w for w in words)


def upper_case(caption: str) -> str:
    return caption.upper() + "!"


def extra_unknown_words(caption: str) -> str:
    return f"please draw {caption} for me, thanks"


VARIANTS = ("training phrasing", "new word order", "upper case", "misspelt fillers",
            "extra unknown words")


def write_caption_folder(root: str, images: np.ndarray, captions: list[list[str]]) -> str:
    """Writes images as PNGs and one `captions.csv` row per caption; returns the folder."""
    import cv2

    os.makedirs(os.path.join(root, "images"), exist_ok=True)
    rows = []
    for index, (image, image_captions) in enumerate(zip(images, captions)):
        name = f"images/{index:05d}.png"
        cv2.imwrite(os.path.join(root, name), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        rows += [(name, caption) for caption in image_captions]
    with open(os.path.join(root, "captions.csv"), "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["image", "caption"])
        writer.writerows(rows)
    return root


def tfcmgen(*args, log=None) -> float:
    """Runs `tfcmgen ARGS` (this interpreter's package); returns its wall-clock seconds."""
    command = [sys.executable, "-m", "tfcmgen.cli", *map(str, args)]
    print("$ " + " ".join(command[2:]).replace("tfcmgen.cli", "tfcmgen"), flush=True)
    started = time.monotonic()
    result = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT if log else None)
    if result.returncode:
        raise SystemExit(f"tfcmgen {args[0]} failed with exit code {result.returncode}")
    return time.monotonic() - started


def train_and_export(folder, run, export, image_size, minutes, max_steps, extra=(), log=None):
    """`tfcmgen train` (time and step budget) then `tfcmgen export --format savedmodel`.

    The step budget is `--epochs` of `--steps-per-epoch 100`: whichever of it and `--minutes`
    comes first ends the run. Returns (train seconds, steps taken).
    """
    epochs = max(1, int(np.ceil(max_steps / 100)))
    seconds = tfcmgen("train", "--data", folder, "--out", run, "--image-size", image_size,
                      "--minutes", minutes, "--epochs", epochs, "--steps-per-epoch", 100,
                      *extra, log=log)
    tfcmgen("export", "--model", run, "--out", export, "--format", "savedmodel", "--overwrite",
            log=log)
    return seconds, steps_taken(run)


def steps_taken(run: str) -> int | None:
    """Global step of the run's last backup (None if unknown)."""
    import h5py

    from tfcmgen.backup import BACKUP_FILE

    path = os.path.join(run, "backup", BACKUP_FILE)
    if not os.path.isfile(path):
        return None
    with h5py.File(path, "r") as stored:
        return int(stored.attrs["tfcmgen_step"])


def generate(export: str, captions: list[str], per_caption: int, seed: int = 0,
             batch: int = 256) -> np.ndarray:
    """uint8 images from the exported SavedModel, `per_caption` per caption in order."""
    import logging

    from tfcmgen.export import load_savedmodel

    # One line per caption with unknown words is right for a user, noise for a bench.
    logging.getLogger("tfcmgen.text.word_mapping").setLevel(logging.ERROR)
    generator = load_savedmodel(export)
    parts = []
    step = max(1, batch // per_caption)
    for start in range(0, len(captions), step):
        parts.append(generator.generate(captions[start:start + step], per_caption,
                                        seed=seed + start))
    return np.concatenate(parts)


def mean_pairwise_distance(images: np.ndarray) -> float:
    """Mean L2 distance between images of one group, pixels in [0, 1] (per-pixel RMS)."""
    x = images.reshape(len(images), -1).astype(np.float32) / 255.0
    squared = (x ** 2).sum(1)
    d2 = np.maximum(squared[:, None] + squared[None, :] - 2 * x @ x.T, 0.0)
    n = len(x)
    return float(np.sqrt(d2[~np.eye(n, dtype=bool)]).mean() / np.sqrt(x.shape[1]))


def within_group_diversity(images: np.ndarray, groups) -> float:
    """Average over groups of `mean_pairwise_distance` (groups with >= 2 images)."""
    groups = np.asarray(groups)
    values = [mean_pairwise_distance(images[groups == g]) for g in np.unique(groups)
              if (groups == g).sum() >= 2]
    return float(np.mean(values))


def print_table(title: str, rows: dict) -> None:
    print(f"\n{title}")
    for name, value in rows.items():
        print(f"  {name:<28} {value}")


def words_of(caption: str) -> list[str]:
    return re.findall(r"\w+", caption.lower())
