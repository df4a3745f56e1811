"""`tfcmgen demo`: train on the built-in shapes for a few minutes, then draw held-out captions.

The held-out colour+shape pairs never appear in training, so the final grid shows whether the model
composes attributes it only saw separately.

Example:

>>> from tfcmgen.config import TrainConfig
>>> from tfcmgen.demo import run_demo
>>> run_demo(TrainConfig(out="runs/demo", minutes=5)).grid  # doctest: +SKIP
'runs/demo/held_out.png'
"""

from __future__ import annotations

import dataclasses
import os

from tfcmgen.config import TrainConfig


# CPU flags of native bfloat16 arithmetic (Intel AVX512-BF16 and AMX, which oneDNN uses).
NATIVE_BFLOAT16_FLAGS = ("avx512_bf16", "amx_bf16")


def fast_precision(cpuinfo_path: str = "/proc/cpuinfo") -> str:
    """`"mixed_bfloat16"` where the CPU computes bfloat16 natively, else `"float32"`.

    The demo's five minutes are short: on the 2-core reference machine (AVX512-BF16) a demo step
    took about 0.07 s in mixed bfloat16 against 0.10 s in float32 (3,809 against ~2,900 steps in
    five minutes), and held-out colour+shape pairs drawn right went from 0.14-0.31 to 0.75.
    Without native support bfloat16 is emulated and slower, so float32 stays. Reads only the
    flags line of `cpuinfo_path` (Linux); elsewhere float32.

    Example:

    >>> fast_precision("/nonexistent")
    'float32'
    """
    try:
        with open(cpuinfo_path, encoding="utf-8", errors="replace") as f:
            flags = next((line.split(":", 1)[1].split() for line in f
                          if line.startswith("flags")), [])
    except OSError:
        return "float32"
    return "mixed_bfloat16" if any(flag in flags for flag in NATIVE_BFLOAT16_FLAGS) \
        else "float32"


# The demo's generator average. Its five minutes are short: an EMA that averages the last ~500
# steps (the default 0.999 after its warm-up) still holds the blobs of a generator that is drawing
# shapes fast, so the demo averages ~100 steps. Measured on the reference machine, five minutes in
# mixed bfloat16 (`python -m tfcmgen.cli demo [--model-option ema_decay=0.99]`): held-out pairs
# right 0.79 with 0.999 (the raw generator of that run: 0.94) and 0.96 with 0.99 (raw: 0.95).
DEMO_EMA_DECAY = 0.99


def held_out_captions(config: TrainConfig, per_pair: int = 2) -> list[str]:
    """Canonical captions for the run's held-out colour+shape pairs, in a few sizes and places."""
    from tfcmgen.data.shapes import DEFAULT_HELD_OUT, POSITIONS, SIZES, caption_for

    pairs = config.held_out if config.held_out is not None else DEFAULT_HELD_OUT
    captions = []
    for i, (colour, shape) in enumerate(pairs):
        for j in range(per_pair):
            attrs = {
                "colour": colour,
                "shape": shape,
                "size": SIZES[(i + j) % len(SIZES)],
                "position": POSITIONS[(i + 2 * j) % len(POSITIONS)],
            }
            captions.append(caption_for(attrs))
    return captions


# Colour+shape attribute classifiers for shapes of each size, shipped with the package so the demo
# can say what it got without training a judge (`AttributeClassifier.train_on_shapes(size,
# attributes=("colour", "shape"), minutes=3)`, as bench/folder_shapes.py trains it).
JUDGE_PATTERN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pretrained",
                             "shapes_judge{size}.keras")


@dataclasses.dataclass
class DemoResult:
    """What `run_demo` made: the grid, and the judged held-out accuracy (None without a judge)."""

    grid: str
    held_out_accuracy: float | None
    judged_images: int
    summary: str


def judge_held_out(generator, config: TrainConfig, per_pair: int = 32,
                   judge_pattern: str = JUDGE_PATTERN):
    """Joint colour+shape accuracy of `per_pair` images for each held-out pair, judged by the
    bundled classifier of the model's image size; (None, 0) when there is none."""
    judge_path = judge_pattern.format(size=generator.image_size)
    if not os.path.isfile(judge_path):
        return None, 0
    from tfcmgen.data.shapes import DEFAULT_HELD_OUT, POSITIONS, SIZES, caption_for
    from tfcmgen.metrics.attribute_classifier import AttributeClassifier

    judge = AttributeClassifier.load(judge_path)
    pairs = config.held_out if config.held_out is not None else DEFAULT_HELD_OUT
    captions, truth = [], []
    for i, (colour, shape) in enumerate(pairs):
        for j in range(per_pair):
            captions.append(caption_for({"colour": colour, "shape": shape,
                                         "size": SIZES[j % len(SIZES)],
                                         "position": POSITIONS[(i + j) % len(POSITIONS)]}))
            truth.append((colour, shape))
    images = generator.generate(captions, num_per_caption=1, seed=config.seed + 1)
    predicted = judge.predict_attributes(images)
    right = [(c, s) == t for c, s, t in zip(predicted["colour"], predicted["shape"], truth)]
    return sum(right) / len(right), len(right)


def run_demo(config: TrainConfig, samples_per_caption: int = 6) -> DemoResult:
    """Trains as `config` says, writes `<out>/held_out.png` and judges the held-out pairs."""
    from tfcmgen.data import caption_grid
    from tfcmgen.generation import load_generator
    from tfcmgen.jobs.runner import run_summary, train

    result = train(config)
    generator = load_generator(config.out)
    captions = held_out_captions(config)
    images = generator.generate(captions, num_per_caption=samples_per_caption, seed=config.seed)
    path = os.path.join(config.out, "held_out.png")
    labels = [c for c in captions for _ in range(samples_per_caption)]
    caption_grid(images, labels, path, cols=samples_per_caption)
    accuracy, count = judge_held_out(generator, config)
    return DemoResult(path, accuracy, count, run_summary(config, result))
