"""Draw images from captions with onnxruntime alone: no TensorFlow is imported.

Needs an ONNX export (`tfcmgen export --model RUN_DIR --format onnx --out DIR`) and only numpy,
onnxruntime, opencv and tfcmgen's pure-Python tokenizer. Writes one row per caption.

Usage:
    python examples/onnx_generate.py --model exports/shapes64 "a small red circle in the top left"
    python examples/onnx_generate.py --model exports/shapes64/onnx "a blue square" -n 4 -o grid.png
"""

import argparse
import sys

import cv2
import numpy as np

from tfcmgen.export import OnnxGenerator


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("captions", nargs="+", help="captions to draw, one row each")
    parser.add_argument("--model", required=True, help="export folder (or its onnx/ folder)")
    parser.add_argument("-o", "--out", default="onnx_generated.png", help="PNG to write")
    parser.add_argument("-n", "--num", type=int, default=1, help="images per caption")
    parser.add_argument("--seed", type=int, default=0, help="noise seed (same seed, same images)")
    args = parser.parse_args(argv)

    generator = OnnxGenerator(args.model)
    images = generator.generate(args.captions, num_per_caption=args.num, seed=args.seed)
    size = generator.image_size
    rows = images.reshape(len(args.captions), args.num, size, size, 3)
    grid = np.concatenate([np.concatenate(list(row), axis=1) for row in rows], axis=0)
    # OpenCV writes BGR; the model draws RGB.
    if not cv2.imwrite(args.out, cv2.cvtColor(grid, cv2.COLOR_RGB2BGR)):
        print(f"could not write {args.out}", file=sys.stderr)
        return 1
    print(f"wrote {args.out} ({len(images)} images of {size}x{size})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
