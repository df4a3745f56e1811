"""Trains the colour+shape judge that `tfcmgen demo` bundles for one image size.

Writes `tfcmgen/pretrained/shapes_judge{SIZE}.keras`: an `AttributeClassifier` trained for a few
minutes on rendered shapes of every colour+shape pair (held-out pairs included: they are held out of
the GAN, and the judge must read them), then prints its joint accuracy on freshly rendered images it
never saw.

Usage:

    python tools/make_demo_judge.py --image-size 32 --minutes 3
"""

from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--minutes", type=float, default=3.0)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    import numpy as np

    from tfcmgen.data.shapes import load_shapes
    from tfcmgen.demo import JUDGE_PATTERN
    from tfcmgen.metrics.attribute_classifier import AttributeClassifier

    judge = AttributeClassifier.train_on_shapes(args.image_size, attributes=("colour", "shape"),
                                                minutes=args.minutes, seed=args.seed, verbose=0)
    fresh = load_shapes(num_images=2000, image_size=args.image_size, seed=args.seed + 12345,
                        held_out=())
    predicted = judge.predict_attributes(fresh.images)
    truth = [(a["colour"], a["shape"]) for a in fresh.attributes]
    right = np.mean([(c, s) == t for c, s, t in zip(predicted["colour"], predicted["shape"],
                                                     truth)])
    path = JUDGE_PATTERN.format(size=args.image_size)
    judge.save(path)
    print(f"{path}: joint colour+shape accuracy {right:.3f} on 2,000 fresh rendered images")
    return 0


if __name__ == "__main__":
    sys.exit(main())
