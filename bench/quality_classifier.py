"""Trains the attribute classifier (the judge of generated images) and reports how far to trust it.

Renders real shapes images of every attribute combination, trains `AttributeClassifier` on them,
then scores it on freshly rendered images it never saw (another seed): accuracy per attribute,
separately for seen colour+shape pairs and for the pairs held out of GAN training, the most common
confusions, and the FID / KID between two disjoint sets of real images (the floor that a generator's
figures are compared with). Saves the classifier, and a JSON copy of the report beside it, where
`tfcmgen evaluate` and bench/quality.py can reuse it.

Usage:

    python bench/quality_classifier.py                      # 64x64, about 6 minutes on 2 cores
    python bench/quality_classifier.py --minutes 2 --out /tmp/judge.keras
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import sys
import time

import cv2
import numpy as np


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="bench/out/attribute_classifier.keras",
                        help="where to save the classifier (.keras); the report goes beside it")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--num-images", type=int, default=10000, help="training images")
    parser.add_argument("--test-images", type=int, default=4000, help="fresh test images")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--minutes", type=float, default=None,
                        help="stop training when this wall-clock budget runs out")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--feature-dim", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def top_confusions(classifier, images, attributes, limit=3):
    """The most frequent (true -> predicted) mistakes per attribute."""
    predicted = classifier.predict_attributes(images)
    confusions = {}
    for name, values in predicted.items():
        counts = collections.Counter(
            (a[name], p) for a, p in zip(attributes, values, strict=True) if a[name] != p
        )
        confusions[name] = [f"{t}->{p} x{n}" for (t, p), n in counts.most_common(limit)]
    return confusions


def main(argv=None):
    args = parse_args(argv)
    import keras

    from tfcmgen.data import shapes
    from tfcmgen.metrics import (
        AttributeClassifier,
        attribute_accuracy,
        frechet_distance,
        kernel_inception_distance,
        shapes_attribute_values,
    )

    keras.utils.set_random_seed(args.seed)
    start = time.monotonic()
    train = shapes.load_shapes(num_images=args.num_images, image_size=args.image_size,
                               seed=args.seed, captions_per_image=1, split="all")
    render_seconds = time.monotonic() - start

    classifier = AttributeClassifier(
        shapes_attribute_values(),
        image_size=args.image_size, width=args.width, feature_dim=args.feature_dim,
    )
    start = time.monotonic()
    history = classifier.fit_attributes(train.images, train.attributes, epochs=args.epochs,
                                        batch_size=args.batch_size, minutes=args.minutes,
                                        seed=args.seed, verbose=2)
    train_seconds = time.monotonic() - start
    epochs_run = len(history.history["loss"])

    # Fresh images: another seed, every combination; and a set made only of held-out pairs.
    test = shapes.load_shapes(num_images=args.test_images, image_size=args.image_size,
                              seed=args.seed + 1000, captions_per_image=1, split="all")
    held_out_test = shapes.load_shapes(num_images=max(args.test_images // 4, 100),
                                       image_size=args.image_size, seed=args.seed + 2000,
                                       captions_per_image=1, split="held_out")
    held_out_pairs = {tuple(p) for p in shapes.DEFAULT_HELD_OUT}
    is_held = np.array([(a["colour"], a["shape"]) in held_out_pairs for a in test.attributes])
    seen_images = test.images[~is_held]
    seen_attributes = [a for a, h in zip(test.attributes, is_held, strict=True) if not h]

    report = {
        "command": " ".join([os.path.basename(sys.executable)] + sys.argv),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "image_size": args.image_size,
        "train_images": len(train),
        "epochs_run": epochs_run,
        "render_seconds": round(render_seconds, 1),
        "train_seconds": round(train_seconds, 1),
        "parameters": int(classifier.count_params()),
        "accuracy_all": attribute_accuracy(classifier, test.images, test.attributes),
        "accuracy_seen_pairs": attribute_accuracy(classifier, seen_images, seen_attributes),
        "accuracy_held_out_pairs": attribute_accuracy(classifier, held_out_test.images,
                                                      held_out_test.attributes),
        "num_test": {"all": len(test), "seen": len(seen_attributes),
                     "held_out": len(held_out_test)},
        "confusions": top_confusions(classifier, test.images, test.attributes),
    }
    # Robustness: generated images are rarely sharp or clean, and the judge must still read them.
    blurred = np.stack([cv2.GaussianBlur(image, (0, 0), 1.5) for image in test.images])
    noise = np.random.default_rng(args.seed).normal(0.0, 0.1, test.images.shape)
    noisy = np.clip(test.images / 127.5 - 1.0 + noise, -1.0, 1.0).astype(np.float32)
    report["accuracy_blurred"] = attribute_accuracy(classifier, blurred, test.attributes)
    report["accuracy_noisy"] = attribute_accuracy(classifier, noisy, test.attributes)

    # FID / KID scale, every pair at the same sample size (FID is biased upwards for small sets):
    # two halves of the real test set (the floor), real against blurred real, and real against a
    # mode-collapsed set (the same 8 images repeated).
    half = len(test) // 2
    first = classifier.features(test.images[:half])
    others = {
        "real": test.images[half : 2 * half],
        "blurred": blurred[half : 2 * half],
        "collapsed": test.images[np.arange(half) % 8 + half],
    }
    report["fid_kid_vs_real"] = {}
    for name, images in others.items():
        features = classifier.features(images)
        kid, kid_std = kernel_inception_distance(first, features, num_subsets=50,
                                                 subset_size=1000)
        report["fid_kid_vs_real"][name] = {"fid": frechet_distance(first, features),
                                           "kid": kid, "kid_std": kid_std, "n": half}

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    classifier.save(args.out)
    report_path = os.path.splitext(args.out)[0] + ".json"
    with open(report_path, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)

    print(f"\ntrained on {len(train)} images at {args.image_size}x{args.image_size}: "
          f"{epochs_run} epochs in {train_seconds:.0f} s (rendering {render_seconds:.0f} s), "
          f"{report['parameters']:,} parameters")
    names = list(report["accuracy_all"])
    print(f"{'test set':<24}{'n':>6}" + "".join(f"{n:>12}" for n in names))
    for label, key, n in (("all combinations", "accuracy_all", len(test)),
                          ("seen colour+shape", "accuracy_seen_pairs", len(seen_attributes)),
                          ("held-out colour+shape", "accuracy_held_out_pairs",
                           len(held_out_test)),
                          ("blurred (sigma 1.5 px)", "accuracy_blurred", len(test)),
                          ("noisy (sigma 0.1)", "accuracy_noisy", len(test))):
        print(f"{label:<24}{n:>6}" + "".join(f"{report[key][k]:>12.4f}" for k in names))
    for name, mistakes in report["confusions"].items():
        if mistakes:
            print(f"  most common {name} mistakes: {', '.join(mistakes)}")
    print(f"FID / KID against {half} real images, each set of {half}:")
    for name, figures in report["fid_kid_vs_real"].items():
        print(f"  {name:<10} FID {figures['fid']:8.3f}   KID {figures['kid']:.5f} "
              f"+- {figures['kid_std']:.5f}")
    print(f"saved {args.out} and {report_path}")
    return report


if __name__ == "__main__":
    main()
