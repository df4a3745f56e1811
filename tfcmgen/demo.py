"""`tfcmgen demo`: train on the built-in shapes for a few minutes, then draw held-out captions.

The held-out colour+shape pairs never appear in training, so the final grid shows whether the model
composes attributes it only saw separately.

Example:

>>> from tfcmgen.config import TrainConfig
>>> from tfcmgen.demo import run_demo
>>> run_demo(TrainConfig(out="runs/demo", minutes=5, epochs=1000))  # doctest: +SKIP
'runs/demo/held_out.png'
"""

from __future__ import annotations

import os

from tfcmgen.config import TrainConfig


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


def run_demo(config: TrainConfig, samples_per_caption: int = 6) -> str:
    """Trains as `config` says, then writes `<out>/held_out.png`; returns its path."""
    from tfcmgen.data import caption_grid
    from tfcmgen.generation import load_generator
    from tfcmgen.training import train

    train(config)
    generator = load_generator(config.out)
    captions = held_out_captions(config)
    images = generator.generate(captions, num_per_caption=samples_per_caption, seed=config.seed)
    path = os.path.join(config.out, "held_out.png")
    labels = [c for c in captions for _ in range(samples_per_caption)]
    caption_grid(images, labels, path, cols=samples_per_caption)
    return path
