"""Images per second through the data pipeline, from PNG files on disk to training batches.

Writes `--num-images` PNG files (shapes images at `--source-size`) and a captions.csv into a
temporary folder, then measures:

1. decode: `load_folder(..., image_size=S)`: read, check, decode, centre-crop and resize every file
   once (thread pool), into memory;
2. first epoch: `make_dataset` with the real `CaptionTokenizer`, including tracing the map function;
3. steady state: the mean of the following epochs (caption choice, mismatched captions,
   augmentation, tokenisation, batching), which is what training sees from its second epoch on.

Goal (issue 2): at least 2,000 images/s at 64x64 on 2 cores, so data never limits training.

    python bench/data_pipeline.py --num-images 4000 --image-size 64 --batch-size 64 --augment auto
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import sys
import tempfile
import time

import cv2


def write_dataset(folder: str, num_images: int, source_size: int, seed: int) -> None:
    from tfcmgen.data import load_shapes

    data = load_shapes(num_images=num_images, image_size=source_size, seed=seed,
                       captions_per_image=2, split="all")
    with open(os.path.join(folder, "captions.csv"), "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["image", "caption"])
        for i, (image, captions) in enumerate(zip(data.images, data.captions)):
            name = f"img_{i:06d}.png"
            cv2.imwrite(os.path.join(folder, name), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
            for caption in captions:
                writer.writerow([name, caption])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--num-images", type=int, default=4000)
    parser.add_argument("--source-size", type=int, default=64, help="side of the PNG files")
    parser.add_argument("--image-size", type=int, default=64, help="side of the training images")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=4, help="first epoch + steady-state epochs")
    parser.add_argument("--augment", default="auto", choices=["none", "flip", "auto"])
    parser.add_argument("--deterministic", action="store_true")
    parser.add_argument("--workers", type=int, default=None, help="decode threads")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for name in ("num_images", "source_size", "image_size", "batch_size", "epochs"):
        if getattr(args, name) < (2 if name == "epochs" else 1):
            parser.error(f"--{name.replace('_', '-')} is too small: {getattr(args, name)}")

    import tensorflow as tf

    from tfcmgen.data import load_folder, make_dataset
    from tfcmgen.text import CaptionTokenizer, Vocabulary

    print(f"settings: {' '.join(sys.argv[1:]) or '(defaults)'} -> {vars(args)}")
    print(f"machine: {os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.2f}, "
          f"python {platform.python_version()}, tensorflow {tf.__version__}, "
          f"opencv {cv2.__version__}")
    with tempfile.TemporaryDirectory(prefix="tfcmgen-bench-") as folder:
        start = time.perf_counter()
        write_dataset(folder, args.num_images, args.source_size, args.seed)
        print(f"wrote {args.num_images} PNG files ({args.source_size}x{args.source_size}) in "
              f"{time.perf_counter() - start:.1f} s")

        start = time.perf_counter()
        data = load_folder(folder, image_size=args.image_size, workers=args.workers)
        decode_s = time.perf_counter() - start
        tokenizer = CaptionTokenizer(Vocabulary.build(data.all_captions()), max_length=16)
        dataset = make_dataset(data, tokenizer, image_size=args.image_size,
                               batch_size=args.batch_size, augment=args.augment, seed=args.seed,
                               deterministic=args.deterministic)
        rates = []
        for _ in range(args.epochs):
            start, count = time.perf_counter(), 0
            for batch in dataset:
                count += int(batch["image"].shape[0])
            rates.append((count, time.perf_counter() - start))
    n = len(data)
    first_count, first_s = rates[0]
    steady = rates[1:]
    steady_rate = sum(c for c, _ in steady) / sum(s for _, s in steady)
    print(f"decode (load_folder, once):      {n / decode_s:9.0f} images/s  ({decode_s:.2f} s)")
    print(f"first epoch (incl. tracing):     {first_count / first_s:9.0f} images/s  "
          f"({first_s:.2f} s)")
    print(f"first pass incl. decode:         {first_count / (decode_s + first_s):9.0f} images/s")
    print(f"steady state ({len(steady)} epochs):         {steady_rate:9.0f} images/s  "
          f"(per epoch: {', '.join(f'{c / s:.0f}' for c, s in steady)})")
    print(f"goal >= 2000 images/s in steady state: {'met' if steady_rate >= 2000 else 'NOT met'}")


if __name__ == "__main__":
    main()
