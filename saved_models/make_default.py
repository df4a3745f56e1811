"""Rebuilds the pretrained default model that ships with tfcmgen.

Steps (the exact commands are in saved_models/README.md):
1. `tfcmgen train` on the built-in shapes dataset (unless --run names an existing run folder).
2. The run's model is copied without its optimizer state into `tfcmgen/pretrained/shapes64/`
   (config.json, vocab.txt, model.keras), which `tfcmgen generate` uses when no --model is given.
3. `tfcmgen export --format all` writes the SavedModel and ONNX exports to `saved_models/shapes64/`.

Usage:

    python saved_models/make_default.py --minutes 15 --batch-size 32 --run runs/default64
    python saved_models/make_default.py --run runs/default64 --skip-train
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE_COPY = os.path.join(REPO, "tfcmgen", "pretrained", "shapes64")
EXPORT_DIR = os.path.join(REPO, "saved_models", "shapes64")


def slim_copy(run_dir: str, dest: str) -> None:
    """Copies a run's config, vocabulary and model (weights only, no optimizer state) to `dest`."""
    import keras

    import tfcmgen.models  # noqa: F401  (registers the model classes)
    from tfcmgen.atomic import atomic_path

    model = keras.saving.load_model(os.path.join(run_dir, "model.keras"))
    slim = model.__class__.from_config(model.get_config())
    slim.set_weights(model.get_weights())
    os.makedirs(dest, exist_ok=True)
    for name in ("config.json", "vocab.txt"):
        shutil.copyfile(os.path.join(run_dir, name), os.path.join(dest, name))
    with atomic_path(os.path.join(dest, "model.keras"), suffix=".keras") as temporary:
        slim.save(temporary)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", default="runs/default64", help="run folder to train or reuse")
    p.add_argument("--minutes", type=float, default=15.0)
    p.add_argument("--base-width", type=int, default=16)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--replicas", type=int, default=1,
                   help="logical devices to mirror over (2 is faster on a 2-core CPU)")
    p.add_argument("--skip-train", action="store_true", help="reuse an existing --run")
    args = p.parse_args(argv)
    tfcmgen = [sys.executable, "-m", "tfcmgen.cli"]
    if not args.skip_train:
        subprocess.run(tfcmgen + ["train", "--data", "shapes", "--image-size", "64",
                                  "--minutes", str(args.minutes), "--epochs", "100000",
                                  "--base-width", str(args.base_width),
                                  "--batch-size", str(args.batch_size),
                                  "--replicas", str(args.replicas), "--out", args.run],
                       check=True)
    slim_copy(args.run, PACKAGE_COPY)
    subprocess.run(tfcmgen + ["export", "--model", args.run, "--format", "all", "--out",
                              EXPORT_DIR, "--overwrite"], check=True)
    print(f"package copy: {PACKAGE_COPY}\nexports: {EXPORT_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
