"""Two objects per caption: does each colour land on its own shape, on the side the caption says?

The path a user takes, end to end:

1. writes the two-object shapes (`tfcmgen.data.two_object_shapes`, 64x64: two shapes side by side
   or one above the other, six phrasings of the relation, some naming it only by word order,
   colour+shape pairs held out) as a `captions.csv` folder, no attributes;
2. trains with `tfcmgen train --data FOLDER` (a subprocess) for `--minutes` or `--steps`;
3. exports with `tfcmgen export` and generates through the exported SavedModel;
4. judges each object in its own half of the image (`tfcmgen.metrics.two_object_judge`, a
   classifier trained on real renders of every pair, held-out ones included): "both right" means
   both objects have the asked shape and colour, each on its asked side.

Figures: both-right per phrasing on seen pairs and on held-out pairs (at least one object of a
held-out pair), and on *swapped* captions, training captions with the two colours exchanged
("a blue circle left of a red square" for a trained "a red circle left of a blue square"). The
judge's own accuracy on real renders of the same captions is printed beside them.

Usage (the machine is shared: hold the bench lock; a step budget makes runs comparable):

    flock /tmp/tfcmgen-bench.lock .venv/bin/python bench/two_object_quality.py --minutes 15
    flock /tmp/tfcmgen-bench.lock .venv/bin/python bench/two_object_quality.py --minutes 15 \\
        --steps 3000 --out bench/out/two_object_mean -- --text-pooling mean --swap-negatives 0

Arguments after `--` go to `tfcmgen train` unchanged. Figures only; nothing here is asserted.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=15.0, help="training budget (default 15)")
    p.add_argument("--steps", type=int, default=None,
                   help="also stop after this many training steps (whichever comes first)")
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--num-images", type=int, default=4000, help="training images (default 4000)")
    p.add_argument("--out", default="bench/out/two_object", help="run folder (replaced)")
    p.add_argument("--data-dir", default=None,
                   help="captions.csv folder to write / reuse (default bench/out/two_object_data_"
                        "<size>_<n>)")
    p.add_argument("--judge", default=None,
                   help="per-object judge .keras (default bench/out/two_object_judge_<size>.keras;"
                        " trained, about 1 min, if missing)")
    p.add_argument("--per-phrasing", type=int, default=150,
                   help="captions judged per phrasing and split (default 150)")
    p.add_argument("--eval-only", action="store_true", help="judge an existing --out run")
    p.add_argument("train_args", nargs="*", help="after --: extra `tfcmgen train` flags")
    return p.parse_args(argv)


def _cli(*args):
    """`tfcmgen ARGS` in a subprocess (the user's path); returns seconds taken."""
    started = time.monotonic()
    command = [sys.executable, "-m", "tfcmgen.cli", *args]
    print("$ tfcmgen " + " ".join(args), flush=True)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [REPO,
                                                                  os.environ.get("PYTHONPATH")])))
    subprocess.run(command, check=True, cwd=REPO, env=env)
    return time.monotonic() - started


def write_data(args):
    from tfcmgen.data.two_object_shapes import load_two_object_shapes, write_caption_folder

    folder = args.data_dir or os.path.join(
        REPO, "bench", "out", f"two_object_data_{args.image_size}_{args.num_images}")
    if os.path.isfile(os.path.join(folder, "captions.csv")):
        print(f"data: reusing {folder}")
        return folder
    data = load_two_object_shapes(args.num_images, args.image_size, seed=0, split="train")
    write_caption_folder(data, folder)
    print(f"data: wrote {len(data)} images, {len(data.all_captions())} captions to {folder}")
    return folder


def export_dir(args) -> str:
    """The export folder: beside the run (an export may not go inside the run it reads)."""
    return args.out.rstrip("/") + "-export"


def trained_steps(run: str) -> int:
    """Steps the run took: the generator optimizer's iteration count in model.keras."""
    import keras

    import tfcmgen.models  # noqa: F401  (registers CrossModalGAN for load_model)

    model = keras.saving.load_model(os.path.join(run, "model.keras"), compile=True)
    return int(model.g_optimizer.iterations.numpy())


def train(args, folder):
    flags = ["train", "--data", folder, "--out", args.out, "--image-size", str(args.image_size),
             "--minutes", str(args.minutes), "--augment", "none"]
    if args.steps:
        # Steps as epochs of 100 steps (the folder has ~ 4000 / 32 = 125 batches per epoch).
        per_epoch = min(100, args.steps)
        flags += ["--steps-per-epoch", str(per_epoch), "--epochs",
                  str(math.ceil(args.steps / per_epoch))]
    else:
        flags += ["--epochs", "100000"]
    seconds = _cli(*flags, *args.train_args)
    return seconds


def load_judge(args):
    from tfcmgen.metrics.attribute_classifier import AttributeClassifier
    from tfcmgen.metrics.two_object_judge import train_object_judge

    path = args.judge or os.path.join(REPO, "bench", "out",
                                      f"two_object_judge_{args.image_size}.keras")
    if os.path.isfile(path):
        return AttributeClassifier.load(path)
    started = time.monotonic()
    judge = train_object_judge(args.image_size, verbose=0)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    judge.save(path)
    print(f"judge: trained in {time.monotonic() - started:.0f} s, saved to {path}")
    return judge


def evaluation_sets(per_phrasing: int, train_attributes):
    """{(split, phrasing): (attributes, captions)} plus swapped captions of training images."""
    import numpy as np

    from tfcmgen.data.shapes import DEFAULT_HELD_OUT
    from tfcmgen.data.two_object_shapes import (
        PHRASINGS,
        caption_in,
        sample_attributes,
        swap_colours,
    )

    rng = np.random.default_rng(12345)  # apart from the training data's seed
    sets = {}
    for split in ("train", "held_out"):
        for phrasing, (layout, _) in PHRASINGS.items():
            attrs = sample_attributes(per_phrasing, rng, DEFAULT_HELD_OUT, split, (layout,))
            sets[("seen" if split == "train" else "held-out", phrasing)] = (
                attrs, [caption_in(a, phrasing) for a in attrs])
    held = set(DEFAULT_HELD_OUT)
    for phrasing, (layout, _) in PHRASINGS.items():
        pool = [a for a in train_attributes if a["layout"] == layout]
        swapped = []
        for i in rng.permutation(len(pool)):
            s = swap_colours(pool[i])
            if {(s["colour_a"], s["shape_a"]), (s["colour_b"], s["shape_b"])} & held:
                continue
            swapped.append(s)
            if len(swapped) == per_phrasing:
                break
        sets[("swapped", phrasing)] = (swapped, [caption_in(a, phrasing) for a in swapped])
    return sets


def evaluate(args, judge, train_attributes):
    import numpy as np

    from tfcmgen.data.two_object_shapes import render_two_objects
    from tfcmgen.export import load_savedmodel
    from tfcmgen.metrics.two_object_judge import judge_two_objects

    generator = load_savedmodel(export_dir(args))
    results = {}
    for (split, phrasing), (attrs, captions) in evaluation_sets(args.per_phrasing,
                                                                train_attributes).items():
        images = np.concatenate([generator.generate(captions[i:i + 64], seed=7 + i)
                                 for i in range(0, len(captions), 64)])
        verdict = judge_two_objects(judge, images, attrs)
        real = np.stack([render_two_objects(a, args.image_size, 10_000 + i)
                         for i, a in enumerate(attrs)])
        results[(split, phrasing)] = {
            "both": float(verdict["both"].mean()),
            "colour": float(np.mean([verdict["colour_a"], verdict["colour_b"]])),
            "shape": float(np.mean([verdict["shape_a"], verdict["shape_b"]])),
            "judge_on_real": float(judge_two_objects(judge, real, attrs)["both"].mean()),
            "n": len(captions),
        }
    return results


def report(results):
    splits = ("seen", "held-out", "swapped")
    phrasings = sorted({p for _, p in results}, key=lambda p: list(
        __import__("tfcmgen.data.two_object_shapes", fromlist=["PHRASINGS"]).PHRASINGS).index(p))
    print(f"\n{'both objects right':<22}" + "".join(f"{s:>10}" for s in splits))
    for phrasing in phrasings:
        print(f"{phrasing:<22}" + "".join(f"{results[(s, phrasing)]['both']:>10.3f}"
                                          for s in splits))
    means = {s: sum(results[(s, p)]["both"] for p in phrasings) / len(phrasings) for s in splits}
    print(f"{'mean':<22}" + "".join(f"{means[s]:>10.3f}" for s in splits))
    print(f"{'worst phrasing':<22}" + "".join(
        f"{min(results[(s, p)]['both'] for p in phrasings):>10.3f}" for s in splits))
    for name in ("colour", "shape", "judge_on_real"):
        print(f"{name + ' (mean)':<22}" + "".join(
            f"{sum(results[(s, p)][name] for p in phrasings) / len(phrasings):>10.3f}"
            for s in splits))
    return means


def main(argv=None) -> int:
    args = parse_args(argv)
    args.out = os.path.abspath(args.out)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores (shared with other jobs), "
          f"python {platform.python_version()}")
    print(f"command: {' '.join([sys.executable] + sys.argv)}")
    folder = write_data(args)
    seconds = None
    if not args.eval_only:
        for old in (args.out, export_dir(args)):
            if os.path.isdir(old):
                shutil.rmtree(old)
        seconds = train(args, folder)
        _cli("export", "--model", args.out, "--out", export_dir(args), "--format", "savedmodel")
    steps = trained_steps(args.out)
    with open(os.path.join(args.out, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    print(f"trained: {steps} steps" + (f", {seconds / 60:.1f} min wall clock (train command, "
                                       "start-up included)" if seconds else ""))
    print(f"config: text_pooling={config.get('text_pooling')} swap_negatives="
          f"{config.get('swap_negatives')} augment={config.get('augment')} "
          f"batch={config.get('batch_size')}")
    from tfcmgen.data.two_object_shapes import load_two_object_shapes

    judge = load_judge(args)
    train_attributes = load_two_object_shapes(args.num_images, 16, seed=0).attributes
    results = evaluate(args, judge, train_attributes)
    means = report(results)
    summary = {"steps": steps, "train_seconds": seconds, "config": config, "means": means,
               "results": {f"{s}/{p}": v for (s, p), v in results.items()}}
    with open(os.path.join(args.out, "two_object_quality.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
