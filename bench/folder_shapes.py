"""The built-in shapes as a user's folder: paraphrased captions, no attributes reach the trainer.

Writes the shapes training split as a captions.csv folder whose captions come from five templates
(several word orders) with synonyms ("big"/"large", "disc"/"circle", "centre"/"middle", ...); the
held-out colour+shape pairs of the shapes benchmark never appear. Then `tfcmgen train --data
FOLDER`, `tfcmgen export`, images drawn through the exported SavedModel, and judged by the shapes
attribute classifier (colour and shape; trained once on rendered shapes and cached).

Prints joint colour+shape accuracy on seen and held-out pairs, diversity within one caption against
real images, and accuracy per phrasing variant (the training phrasing, a new word order, upper case,
misspelt filler words, extra unknown words).

Usage:

    python bench/folder_shapes.py                          # 15 minutes at 64x64
    python bench/folder_shapes.py --minutes 3 --max-steps 1000 --out /tmp/fshapes
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys

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

SYNONYMS = {
    "small": ("small", "little", "tiny"),
    "large": ("large", "big"),
    "circle": ("circle", "disc"),
    "square": ("square", "box"),
    "diamond": ("diamond", "rhombus"),
    "top left": ("top left", "upper left"),
    "top right": ("top right", "upper right"),
    "bottom left": ("bottom left", "lower left"),
    "bottom right": ("bottom right", "lower right"),
    "center": ("center", "centre", "middle"),
}
TEMPLATES = (
    "a {size} {colour} {shape} in the {position}",
    "in the {position}, a {colour} {shape} ({size})",
    "there is a {size} {shape} coloured {colour} at the {position}",
    "{size} {colour} {shape}, {position}",
    "a {colour} {shape} of {size} size, {position}",
)


def paraphrase(attrs: dict, template: int, rng=None) -> str:
    def word(key):
        options = SYNONYMS.get(attrs[key], (attrs[key],))
        return options[0] if rng is None else options[rng.integers(len(options))]

    return TEMPLATES[template].format(size=word("size"), colour=attrs["colour"],
                                      shape=word("shape"), position=word("position"))


def variant(name: str, attrs: dict) -> str:
    training = paraphrase(attrs, 0)
    content = {attrs["colour"], attrs["shape"], attrs["size"], *attrs["position"].split()}
    return {
        "training phrasing": training,
        # Shape before colour and size last: an order no template has.
        "new word order": (f"in the {attrs['position']} a {attrs['shape']} {attrs['colour']} "
                           f"{attrs['size']}"),
        "upper case": upper_case(training),
        "misspelt fillers": misspell_fillers(paraphrase(attrs, 2), content),
        "extra unknown words": extra_unknown_words(training),
    }[name]


def judge(image_size: int, path: str, minutes: float):
    """The colour+shape attribute classifier, trained on rendered shapes (cached at `path`)."""
    from tfcmgen.metrics.attribute_classifier import AttributeClassifier

    if os.path.isfile(path):
        return AttributeClassifier.load(path)
    classifier = AttributeClassifier.train_on_shapes(
        image_size, attributes=("colour", "shape"), minutes=minutes, verbose=0)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    classifier.save(path)
    return classifier


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=15.0)
    p.add_argument("--max-steps", type=int, default=100_000, help="step budget (default: time)")
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--num-images", type=int, default=4000)
    p.add_argument("--out", default="bench/out/folder_shapes")
    p.add_argument("--judge", default="bench/out/shapes_colour_shape_judge.keras")
    p.add_argument("--judge-minutes", type=float, default=3.0)
    p.add_argument("--per-caption", type=int, default=10, help="images per pair and variant")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--train-option", action="append", default=[],
                   help="extra `tfcmgen train` flag, e.g. --train-option=--augment=none")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from tfcmgen.data.shapes import COLOURS, DEFAULT_HELD_OUT, POSITIONS, SHAPES, SIZES, load_shapes

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores (shared with other work)")
    print(f"command: {' '.join([sys.executable] + sys.argv)}")
    if os.path.isdir(args.out):
        shutil.rmtree(args.out)
    os.makedirs(args.out)
    data = load_shapes(num_images=args.num_images, image_size=args.image_size, seed=args.seed,
                       split="train", captions_per_image=1)
    rng = np.random.default_rng(args.seed + 1)
    captions = [[paraphrase(a, t, rng) for t in rng.choice(len(TEMPLATES), 3, replace=False)]
                for a in data.attributes]
    folder = write_caption_folder(os.path.join(args.out, "folder"), data.images, captions)
    print(f"wrote {folder}: {len(captions)} images, {sum(map(len, captions))} captions; "
          f"held-out pairs {DEFAULT_HELD_OUT}")
    classifier = judge(args.image_size, args.judge, args.judge_minutes)
    real = classifier.predict_attributes(data.images)
    real_joint = np.mean([(c, s) == (a["colour"], a["shape"])
                          for c, s, a in zip(real["colour"], real["shape"], data.attributes)])
    print(f"judge: joint colour+shape accuracy {real_joint:.3f} on the real training images")

    run, export = os.path.join(args.out, "run"), os.path.join(args.out, "export")
    with open(os.path.join(args.out, "train.log"), "w") as log:
        seconds, steps = train_and_export(folder, run, export, args.image_size, args.minutes,
                                          args.max_steps, extra=args.train_option, log=log)
    with open(os.path.join(run, "config.json"), encoding="utf-8") as f:
        augment = json.load(f).get("augment")
    print(f"trained through the CLI: {seconds / 60:.1f} min wall clock (start-up included), "
          f"{steps} steps, augment={augment!r}")

    results = {"judge_real_joint": float(real_joint), "train_seconds": seconds, "steps": steps,
               "augment": augment}
    pairs = [(c, s) for c in COLOURS for s in SHAPES]
    eval_rng = np.random.default_rng(args.seed + 2)
    targets = [{"colour": c, "shape": s, "size": SIZES[eval_rng.integers(len(SIZES))],
                "position": POSITIONS[eval_rng.integers(len(POSITIONS))]} for c, s in pairs]
    for name in VARIANTS:
        texts = [variant(name, t) for t in targets]
        generated = generate(export, texts, args.per_caption, seed=args.seed)
        truth = np.repeat(np.arange(len(pairs)), args.per_caption)
        predicted = classifier.predict_attributes(generated)
        joint = np.array([(predicted["colour"][i], predicted["shape"][i]) == pairs[t]
                          for i, t in enumerate(truth)])
        held = np.array([pairs[t] in DEFAULT_HELD_OUT for t in truth])
        row = {"seen": float(joint[~held].mean()), "held_out": float(joint[held].mean())}
        if name == "training phrasing":
            row["diversity"] = within_group_diversity(generated, truth)
            keys = [(a["colour"], a["shape"], a["size"], a["position"]) for a in data.attributes]
            row["real_diversity"] = within_group_diversity(data.images, [str(k) for k in keys])
            from tfcmgen.data import caption_grid

            pick = np.flatnonzero(held)
            caption_grid(generated[pick], [texts[t] for t in truth[pick]],
                         os.path.join(args.out, "held_out.png"), cols=args.per_caption)
        results[name] = row
        print(f"{name:<22} joint seen {row['seen']:.3f}  held-out {row['held_out']:.3f}"
              + (f"  diversity {row['diversity']:.3f} vs real {row['real_diversity']:.3f}"
                 if "diversity" in row else ""), flush=True)
    with open(os.path.join(args.out, "results.json"), "w", encoding="utf-8") as f:
        json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
