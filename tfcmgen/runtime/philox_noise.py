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
    # The key is a pair of ints, or of uint64 arrays (one key per counter: `stateless_normal_rows`).
    key0, key1 = (np.asarray(part, np.uint64) for part in key)
    for _ in range(_ROUNDS):
        product0 = np.uint64(_MULTIPLIERS[0]) * words[0]
        product1 = np.uint64(_MULTIPLIERS[1]) * words[2]
        words = [
            (product1 >> np.uint64(32)) ^ words[1] ^ key0,
            product1 & _MASK32,
            (product0 >> np.uint64(32)) ^ words[3] ^ key1,
            product0 & _MASK32,
        ]
        key0 = (key0 + np.uint64(_ROUND_KEY_INCREMENTS[0])) & _MASK32
        key1 = (key1 + np.uint64(_ROUND_KEY_INCREMENTS[1])) & _MASK32
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


def stateless_normal_rows(seeds, rows, columns: int) -> np.ndarray:
    """Row `rows[i]` of `stateless_normal((R, columns), seed=(seeds[i], 0))` for every i, at once.

    A batching server merges requests with different seeds into one model call; this draws all
    their noise rows in one vectorised pass instead of one `stateless_normal` call per request
    (whose fixed cost, about 0.5 ms, was the largest per-request cost of `tfcmgen serve`).
    The values equal `stateless_normal`'s (the same Philox words and Box-Muller steps).

    Args:
        seeds: int array [N]. First seed of each row (the second is 0), each from 0 to 2**63 - 1.
        rows: int array [N]. Which row of its seed's noise each row is.
        columns: int. Values per row (the noise size).

    Returns:
        np.ndarray float32 [N, columns].
    """
    seeds = np.asarray(seeds, np.uint64).reshape(-1)
    rows = np.asarray(rows, np.uint64).reshape(-1)
    if seeds.shape != rows.shape:
        raise ValueError(f"seeds and rows must have one value per row; received {seeds.shape} "
                         f"and {rows.shape}")
    # Step 1 per seed: the key and the start counter's high words.
    zeros = np.zeros_like(seeds)
    mixed = _philox([seeds & _MASK32, seeds >> np.uint64(32), zeros, zeros], _SCRAMBLE_KEY)
    # Step 2 per value: its Philox call and its word in that call's output.
    columns = int(columns)
    element = rows[:, None] * np.uint64(columns) + np.arange(columns, dtype=np.uint64)[None, :]
    calls, lane = element // np.uint64(4), (element % np.uint64(4)).astype(np.int64)
    expand = [np.broadcast_to(word[:, None], element.shape) for word in mixed]
    words = _philox(
        [calls & _MASK32, calls >> np.uint64(32), expand[2], expand[3]], (expand[0], expand[1])
    )
    # Step 3: lanes 0, 1 use words (0, 1), lanes 2, 3 words (2, 3); even lanes sin, odd cos.
    first = np.where(lane < 2, words[0], words[2])
    second = np.where(lane < 2, words[1], words[3])
    radius_uniform = np.maximum(_uniform(first), _BOX_MULLER_EPSILON)
    radius = np.sqrt(-2.0 * np.log(radius_uniform.astype(np.float64)))
    angle = 2.0 * np.pi * _uniform(second).astype(np.float64)
    values = np.where(lane % 2 == 0, np.sin(angle), np.cos(angle)) * radius
    return values.astype(np.float32)
