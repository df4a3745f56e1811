"""Quality of text-to-image training on the built-in shapes: train for a time budget, then judge.

Trains with `tfcmgen.train` (the same code path as `tfcmgen train`) on shapes at 64x64 for
`--minutes` of wall-clock time, then scores the EMA generator with the attribute classifier
(bench/quality_classifier.py trains it; this script trains one if none is given): colour, shape,
size, position and joint colour+shape accuracy, separately for seen and held-out colour+shape pairs,
FID / KID on the classifier's features, and diversity (mean pairwise distance of samples of one
caption) against the same figures for real images. Extra `--set KEY=VALUE` pairs change TrainConfig
fields and `--model-option KEY=VALUE` pairs its `model_options` (CrossModalGAN arguments), for
ablations; the run's config.json holds both, so `tfcmgen train --config` reproduces the run.

Usage:

    python bench/quality.py                                   # 15 minutes at 64x64, default model
    python bench/quality.py --minutes 5 --set fusion=concat --out /tmp/ablation-concat
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=15.0, help="training budget (default 15)")
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--out", default="bench/out/quality_run", help="run folder (replaced)")
    p.add_argument("--classifier", default="bench/out/attribute_classifier.keras",
                   help="judge; trained (about 4 min) if the file does not exist")
    p.add_argument("--eval-images", type=int, default=1000)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a TrainConfig field (JSON value), e.g. --set base_width=48")
    p.add_argument("--model-option", action="append", default=[], metavar="KEY=VALUE",
                   help="override a CrossModalGAN constructor argument (JSON value), e.g. "
                        "--model-option use_ca=false")
    p.add_argument("--keep", action="store_true", help="resume an existing run folder")
    return p.parse_args(argv)


def _parse_pairs(items):
    pairs = {}
    for item in items:
        key, _, value = item.partition("=")
        try:
            pairs[key] = json.loads(value)
        except json.JSONDecodeError:
            pairs[key] = value
    return pairs


def main(argv=None) -> int:
    args = parse_args(argv)
    import shutil

    from tfcmgen.config import TrainConfig
    from tfcmgen.evaluation import evaluate_run, format_report, load_or_train_classifier
    from tfcmgen.jobs.runner import train

    overrides = _parse_pairs(args.set)
    model_options = _parse_pairs(args.model_option)
    settings = {"data": "shapes", "image_size": args.image_size, "minutes": args.minutes,
                "epochs": 100_000, "out": args.out,
                "model_options": {**overrides.pop("model_options", {}), **model_options}}
    config = TrainConfig(**{**settings, **overrides})
    if os.path.isdir(args.out) and not args.keep:
        shutil.rmtree(args.out)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}")
    print(f"command: {' '.join([sys.executable] + sys.argv)}")
    print(f"config: {config.to_json()}")
    print(f"model options: {json.dumps(model_options)}")

    result = train(config, verbose=2)
    steps = sum(1 for _ in result.history.get("g_loss", []))
    print(f"trained {result.seconds / 60:.1f} min ({steps} epochs)")

    started = time.monotonic()
    classifier_path = args.classifier
    if not os.path.isfile(classifier_path):
        classifier = load_or_train_classifier(args.image_size)
        os.makedirs(os.path.dirname(classifier_path) or ".", exist_ok=True)
        classifier.save(classifier_path)
    report = evaluate_run(args.out, num_images=args.eval_images, classifier_path=classifier_path)
    print(f"evaluated in {time.monotonic() - started:.0f} s on {args.eval_images} fresh captions")
    print(format_report(report))
    summary = {"config": config.to_dict(), "model_options": model_options,
               "train_seconds": result.seconds, "report": report}
    with open(os.path.join(args.out, "quality.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=2, default=float)
    return 0


if __name__ == "__main__":
    sys.exit(main())
