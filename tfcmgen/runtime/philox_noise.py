"""`tf.random.stateless_normal` in NumPy, so runtimes without TensorFlow draw the same noise.

`CrossModalGAN.generate(token_ids, seed)` and the SavedModel's `serving_default` draw their noise
as `tf.random.stateless_normal([B, noise_dim], seed=[seed, 0])`. On CPU and GPU TensorFlow uses
the Philox4x32-10 counter-based generator for it; this module reimplements the same steps, so
`OnnxGenerator.generate(captions, seed=s)` gives the SavedModel's images for seed `s`. The values
agree with TensorFlow to within a few float32 ulps (TensorFlow computes the Box-Muller transform
in float32 with `sincosf`, this module in float64), far below what changes a uint8 pixel.

The steps, as in TensorFlow's `stateless_random_ops.cc` (GenerateKey), `philox_random.h` and
`random_distributions.h` (NormalDistribution, BoxMullerFloat):

1. The two 64-bit seeds form a 128-bit counter, scrambled by one Philox call under a fixed key;
   that output's first two words are the key, its last two the high words of the start counter.
2. Output element i comes from Philox call i // 4 (the start counter plus i // 4, as a 128-bit
   number); its four 32-bit words make four uniforms in [0, 1) from their 23 low bits.
3. Box-Muller on pairs (w0, w1) and (w2, w3): `sqrt(-2 log max(u0, 1e-7))` times `sin(2 pi u1)`
   and `cos(2 pi u1)`.

Example:

>>> stateless_normal((2, 3), seed=(0, 0)).shape
(2, 3)

References:
    Salmon et al. 2011, "Parallel Random Numbers: As Easy as 1, 2, 3" (Philox4x32-10).
    Box and Muller 1958, "A Note on the Generation of Random Normal Deviates".
"""

from __future__ import annotations

import numpy as np

_MASK32 = np.uint64(0xFFFFFFFF)
_ROUND_KEY_INCREMENTS = (0x9E3779B9, 0xBB67AE85)
_MULTIPLIERS = (0xD2511F53, 0xCD9E8D57)
_SCRAMBLE_KEY = (0x3EC8F720, 0x02461E29)
_ROUNDS = 10
_BOX_MULLER_EPSILON = np.float32(1.0e-7)


def _philox(counter: list, key: tuple) -> list:
    """Philox4x32-10 on a batch of counters: four uint64 arrays holding 32-bit words."""
    words = [np.asarray(word, np.uint64) for word in counter]
    key0, key1 = key
    for _ in range(_ROUNDS):
        product0 = np.uint64(_MULTIPLIERS[0]) * words[0]
        product1 = np.uint64(_MULTIPLIERS[1]) * words[2]
        words = [
            (product1 >> np.uint64(32)) ^ words[1] ^ np.uint64(key0),
            product1 & _MASK32,
            (product0 >> np.uint64(32)) ^ words[3] ^ np.uint64(key1),
            product0 & _MASK32,
        ]
        key0 = (key0 + _ROUND_KEY_INCREMENTS[0]) & 0xFFFFFFFF
        key1 = (key1 + _ROUND_KEY_INCREMENTS[1]) & 0xFFFFFFFF
    return words


def _uniform(words: np.ndarray) -> np.ndarray:
    """float32 in [0, 1) from the 23 low bits of each word (TensorFlow's Uint32ToFloat)."""
    bits = (words & np.uint64(0x7FFFFF)) | np.uint64(127 << 23)
    return bits.astype(np.uint32).view(np.float32) - np.float32(1.0)


def stateless_normal(shape, seed) -> np.ndarray:
    """Standard normal float32 values equal to `tf.random.stateless_normal(shape, seed)` on CPU.

    Args:
        shape: tuple of int. Output shape.
        seed: pair of int. The two seeds (each taken modulo 2**64, as TensorFlow does).

    Returns:
        np.ndarray float32 of `shape`.
    """
    shape = tuple(int(size) for size in shape)
    if any(size < 0 for size in shape):
        raise ValueError(f"shape must hold sizes >= 0; received shape={shape}")
    seed = tuple(seed)
    if len(seed) != 2 or not all(isinstance(s, (int, np.integer)) for s in seed):
        raise ValueError(f"seed must be a pair of ints; received seed={seed!r}")
    seed0, seed1 = (int(s) % 2**64 for s in seed)
    start = [
        np.array([value], np.uint64)
        for value in (seed0 & 0xFFFFFFFF, seed0 >> 32, seed1 & 0xFFFFFFFF, seed1 >> 32)
    ]
    mixed = [int(word[0]) for word in _philox(start, _SCRAMBLE_KEY)]
    key = (mixed[0], mixed[1])

    size = int(np.prod(shape, dtype=np.int64))
    calls = np.arange((size + 3) // 4, dtype=np.uint64)
    # Start counter (0, 0, mixed[2], mixed[3]) plus the call index; the index stays below 2**64,
    # so the carry never reaches the two high words.
    counter = [
        calls & _MASK32,
        calls >> np.uint64(32),
        np.full(calls.shape, mixed[2], np.uint64),
        np.full(calls.shape, mixed[3], np.uint64),
    ]
    words = _philox(counter, key)
    values = np.empty((calls.size, 4), np.float32)
    for first, second in ((0, 1), (2, 3)):
        radius_uniform = np.maximum(_uniform(words[first]), _BOX_MULLER_EPSILON)
        radius = np.sqrt(-2.0 * np.log(radius_uniform.astype(np.float64)))
        angle = 2.0 * np.pi * _uniform(words[second]).astype(np.float64)
        values[:, first] = np.sin(angle) * radius
        values[:, second] = np.cos(angle) * radius
    return values.reshape(-1)[:size].reshape(shape)
