"""Peak memory of `tfcmgen generate` with many captions (issue: 10,000 captions took 8.7 GB).

Runs the real command line in a child process on the bundled 64x64 model (or --model) with
`--captions` distinct captions and `-n` images each, and prints the child's peak resident set size
(`getrusage(RUSAGE_CHILDREN).ru_maxrss`), the wall-clock time and the grid pages written. Goal:
10,000 captions at the default `-n 8` under 1.5 GB.

Usage:

    flock /tmp/tfcmgen-bench.lock .venv/bin/python bench/generate_memory.py --captions 10000 -n 8
"""

from __future__ import annotations

import argparse
import itertools
import os
import resource
import subprocess
import sys
import tempfile
import time

COLOURS = ("red", "green", "blue", "yellow", "purple", "orange", "white", "cyan")
SHAPES = ("circle", "square", "triangle", "star", "cross", "heart")
SIZES = ("small", "big", "medium")
PLACES = ("in the top left", "in the top right", "in the bottom left", "in the bottom right",
          "in the centre", "at the top", "at the bottom", "on the left", "on the right")


def captions(count: int) -> list[str]:
    """`count` captions in the shapes vocabulary, distinct while the combinations last."""
    combos = itertools.cycle(itertools.product(SIZES, COLOURS, SHAPES, PLACES))
    return [f"a {s} {c} {shape} {p} #{i}" for i, (s, c, shape, p) in
            zip(range(count), combos)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--captions", type=int, default=10_000)
    parser.add_argument("-n", type=int, default=8, help="images per caption (CLI default 8)")
    parser.add_argument("--model", help="run or export folder (default: the bundled model)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        out = os.path.join(folder, "grid.png")
        argv = [sys.executable, "-m", "tfcmgen.cli", "generate", *captions(args.captions),
                "-n", str(args.n), "-o", out]
        if args.model:
            argv += ["--model", args.model]
        started = time.monotonic()
        result = subprocess.run(argv, capture_output=True, text=True)
        seconds = time.monotonic() - started
        peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
        pages = sorted(name for name in os.listdir(folder) if name.endswith(".png"))
        sizes = sum(os.path.getsize(os.path.join(folder, name)) for name in pages)
    if result.returncode != 0:
        print(result.stderr[-2000:], file=sys.stderr)
        print(f"generate failed with exit code {result.returncode}")
        return 1
    print(f"captions: {args.captions}, images per caption: {args.n}, "
          f"images: {args.captions * args.n}")
    print(f"peak RSS of the generate process: {peak_kib / 1024 ** 2:.2f} GiB "
          f"({peak_kib / 1024:.0f} MiB); goal < 1.5 GB")
    print(f"wall clock: {seconds:.1f} s; grid pages written: {len(pages)} "
          f"({sizes / 1e6:.1f} MB of PNG)")
    print(f"last line printed: {result.stdout.strip().splitlines()[-1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
