"""How long `tfcmgen evaluate` takes on a 1,000-image 64x64 folder: first run, then cached.

Writes a captions.csv folder of 1,000 rendered shapes at 64x64 (one canonical caption each, e.g.
"a small red circle in the top left"), then runs `tfcmgen evaluate --model MODEL --data FOLDER`
twice in fresh processes with an empty matcher cache: the first run trains the matcher (default
1,000 steps), the second loads it. Goals (issue 14): < 5 min first, < 1 min cached, on 2 cores.

Usage:

    flock /tmp/tfcmgen-bench.lock python bench/evaluation_speed.py
    python bench/evaluation_speed.py --model runs/my_run --out /tmp/evaluation_speed
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from caption_folders import write_caption_folder  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=os.path.join(ROOT, "tfcmgen", "pretrained", "shapes64"),
                   help="a 64x64 text-to-image run or export (default: the bundled model)")
    p.add_argument("--out", default="bench/out/evaluation_speed")
    p.add_argument("--num-images", type=int, default=1000)
    args = p.parse_args(argv)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores (shared with other work)")
    print(f"command: {' '.join([sys.executable] + sys.argv)}")
    from tfcmgen.data import caption_for, load_shapes

    if os.path.isdir(args.out):
        shutil.rmtree(args.out)
    data = load_shapes(num_images=args.num_images, image_size=64, seed=4242, split="all",
                       captions_per_image=1)
    folder = write_caption_folder(os.path.join(args.out, "folder"), data.images,
                                  [[caption_for(a)] for a in data.attributes])
    env = dict(os.environ, TFCMGEN_CACHE=os.path.join(args.out, "cache"))
    results = {}
    for name in ("first run (matcher trained)", "second run (matcher cached)"):
        report = os.path.join(args.out, f"report_{len(results)}.json")
        command = [sys.executable, "-m", "tfcmgen.cli", "evaluate", "--model", args.model,
                   "--data", folder, "--json", report]
        started = time.monotonic()
        subprocess.run(command, check=True, env=env, cwd=ROOT)
        seconds = time.monotonic() - started
        with open(report, encoding="utf-8") as f:
            scores = json.load(f)
        results[name] = {"seconds": seconds, "from_cache": scores["matcher"]["from_cache"],
                         "r_precision": scores["r_precision"]["validation"]}
        print(f"{name}: {seconds:.0f} s wall clock (process start included)", flush=True)
    with open(os.path.join(args.out, "results.json"), "w", encoding="utf-8") as f:
        json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
