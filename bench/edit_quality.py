"""Edit quality on shapes, where the true answer is known: train an editor, score its edits.

Trains a `TextImageEditor` on 64x64 shapes for a wall-clock budget (20 minutes by default), then
renders fresh edit pairs (one attribute changed; the renderer draws the exact target) and reports,
for the editor and for two baselines measured in the same run:

- changed: accuracy of the attribute the caption changes (attribute classifier on the output);
- preserved: accuracy of the attributes it does not change (each one scored on its own);
- preserved_all: share of outputs keeping every unchanged attribute;
- L1: mean absolute pixel difference to the true target, in [0, 1] units;
- SSIM: structural similarity to the true target (`tf.image.ssim`, 255 range).

It also writes `OUT/edit_examples.png` (source, edit, true target) and `OUT/edit_quality.json`.

Baselines: `source` returns the source unchanged; `text2image` draws the edit caption alone with a
text-to-image run (`--text2image-run RUN`; left out when not given).

The judge is `AttributeClassifier` from `bench/out/attribute_classifier.keras` (written by
`bench/quality_classifier.py`) or `--classifier PATH`; without one, a classifier is trained and
cached by `tfcmgen.evaluation.load_or_train_classifier`.

Usage:

    python bench/edit_quality.py --minutes 20 --out bench/out/edit64 \
        [--text2image-run runs/shapes64] [--supervision paired|unpaired] [--skip-train]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

from tfcmgen.tasks.edit import EditTask

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CLASSIFIER = os.path.join(HERE, "out", "attribute_classifier.keras")
# The editor's training defaults, the ones `tfcmgen train --task edit` uses.
EDIT_DEFAULTS = EditTask.defaults
# Evaluation shapes come from a seed no training run uses.
EVAL_SEED = 7919


def score_edits(classifier, outputs, pairs) -> dict:
    """Changed / preserved attribute accuracy, L1 and SSIM of `outputs` against `pairs`.

    Args:
        classifier: AttributeClassifier (any object with `predict_attributes`).
        outputs: uint8 [N, S, S, 3], one output per pair.
        pairs: `tfcmgen.editing.EditPairs`.
    """
    import tensorflow as tf

    predicted = classifier.predict_attributes(outputs)
    names = [n for n in predicted if n in pairs.source_attributes[0]]
    changed_hits, kept_hits, kept_all = [], [], []
    per_changed: dict = {}
    for i, name in enumerate(pairs.changed):
        hit = predicted[name][i] == pairs.target_attributes[i][name]
        changed_hits.append(hit)
        per_changed.setdefault(name, []).append(hit)
        kept = [predicted[n][i] == pairs.source_attributes[i][n] for n in names if n != name]
        kept_hits += kept
        kept_all.append(all(kept))
    outputs_f = outputs.astype(np.float32)
    targets_f = pairs.target_images.astype(np.float32)
    ssim = tf.image.ssim(tf.constant(outputs_f), tf.constant(targets_f), max_val=255.0)
    result = {
        "changed": float(np.mean(changed_hits)),
        "preserved": float(np.mean(kept_hits)),
        "preserved_all": float(np.mean(kept_all)),
        "L1": float(np.mean(np.abs(outputs_f - targets_f)) / 255.0),
        "SSIM": float(np.mean(ssim.numpy())),
    }
    for name, hits in sorted(per_changed.items()):
        result[f"changed[{name}]"] = float(np.mean(hits))
    return result


def format_table(rows: dict) -> str:
    """A Markdown table: one row per method, one column per figure."""
    columns = []
    for figures in rows.values():
        columns += [c for c in figures if c not in columns]
    lines = ["| method | " + " | ".join(columns) + " |",
             "|---" * (len(columns) + 1) + "|"]
    for method, figures in rows.items():
        cells = [f"{figures[c]:.3f}" if c in figures else "-" for c in columns]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_examples(pairs, edited, path, count: int = 8) -> None:
    """A before/after grid: source, edit (captioned with the edit caption), true target."""
    from tfcmgen.data import caption_grid

    tiles, labels = [], []
    for i in range(min(count, len(pairs))):
        tiles += [pairs.source_images[i], edited[i], pairs.target_images[i]]
        labels += ["source", pairs.edit_captions[i], "true target"]
    caption_grid(np.stack(tiles), labels, path, cols=6)


def load_classifier(path: str | None, image_size: int):
    from tfcmgen.evaluation import load_or_train_classifier
    from tfcmgen.metrics import AttributeClassifier

    if path is None and os.path.isfile(DEFAULT_CLASSIFIER):
        path = DEFAULT_CLASSIFIER
    if path is not None:
        return AttributeClassifier.load(path)
    return load_or_train_classifier(image_size)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--out", default=os.path.join(HERE, "out", "edit64"))
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=EDIT_DEFAULTS["batch_size"])
    parser.add_argument("--g-learning-rate", type=float, default=EDIT_DEFAULTS["g_learning_rate"])
    parser.add_argument("--d-learning-rate", type=float, default=EDIT_DEFAULTS["d_learning_rate"])
    parser.add_argument("--num-images", type=int, default=4000)
    parser.add_argument("--base-width", type=int, default=EDIT_DEFAULTS["base_width"])
    parser.add_argument("--fusion", default="film")
    parser.add_argument("--supervision", choices=("paired", "unpaired"), default=None)
    parser.add_argument("--num-eval", type=int, default=500)
    parser.add_argument("--text2image-run", default=None)
    parser.add_argument("--classifier", default=None)
    parser.add_argument("--skip-train", action="store_true", help="score the run in --out as it is")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from tfcmgen.config import TrainConfig
    from tfcmgen.editing import edit_images, render_edit_pairs, train_editor

    started = time.monotonic()
    if not args.skip_train:
        config = TrainConfig(
            task="edit", data="shapes", out=args.out, image_size=args.image_size,
            minutes=args.minutes, epochs=10_000, batch_size=args.batch_size,
            num_images=args.num_images, base_width=args.base_width, fusion=args.fusion,
            g_learning_rate=args.g_learning_rate, d_learning_rate=args.d_learning_rate,
            seed=args.seed,
        )
        result = train_editor(config, verbose=2, supervision=args.supervision)
        print(f"trained {result.seconds / 60:.1f} min, {len(result.history.get('g_loss', []))} "
              "epochs", flush=True)

    classifier = load_classifier(args.classifier, args.image_size)
    pairs = render_edit_pairs(args.num_eval, args.image_size, seed=EVAL_SEED)
    rows = {}
    edited = edit_images(args.out, pairs.source_images, pairs.edit_captions)
    rows["editor"] = score_edits(classifier, edited, pairs)
    rows["source (unchanged)"] = score_edits(classifier, pairs.source_images, pairs)
    if args.text2image_run:
        from tfcmgen.generation import load_generator

        generator = load_generator(args.text2image_run)
        drawn = np.concatenate([
            generator.generate(pairs.edit_captions[i : i + 64], 1, seed=args.seed + i)
            for i in range(0, len(pairs), 64)
        ])
        rows["text2image (caption only)"] = score_edits(classifier, drawn, pairs)
    write_examples(pairs, edited, os.path.join(args.out, "edit_examples.png"))
    table = format_table(rows)
    print(f"\nedit quality, {len(pairs)} fresh {args.image_size}x{args.image_size} shapes edits "
          f"({time.monotonic() - started:.0f} s in all):\n{table}")
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "edit_quality.json"), "w", encoding="utf-8") as f:
        json.dump(rows, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
