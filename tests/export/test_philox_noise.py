"""NumPy Philox noise equals tf.random.stateless_normal, so ONNX generation can reproduce a seed."""

import numpy as np
import pytest
import tensorflow as tf

from tfcmgen.export.philox_noise import stateless_normal


@pytest.mark.parametrize(
    "shape, seed",
    [
        ((3, 8), (0, 0)),
        ((5, 64), (7, 0)),
        ((32, 64), (123456, 0)),
        ((1, 3), (2**31 - 1, 0)),
        ((2, 5), (2**40, 3)),
        ((7,), (-1, 0)),
        ((4, 3, 5), (11, 2**63 - 1)),
    ],
)
def test_matches_tensorflow(shape, seed):
    expected = tf.random.stateless_normal(shape, seed=tf.constant(seed, tf.int64)).numpy()
    actual = stateless_normal(shape, seed)
    assert actual.dtype == np.float32 and actual.shape == shape
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=2e-6)


def test_matches_generate_seed_convention():
    # CrossModalGAN.generate passes a Python list, which becomes an int32 seed tensor.
    expected = tf.random.stateless_normal([2, 8], seed=[5, 0]).numpy()
    np.testing.assert_allclose(stateless_normal((2, 8), (5, 0)), expected, atol=2e-6)


def test_empty_and_bad_arguments():
    assert stateless_normal((0, 8), (1, 0)).shape == (0, 8)
    with pytest.raises(ValueError, match="seed must be a pair of ints; received seed=\\(1,\\)"):
        stateless_normal((2, 2), (1,))
    with pytest.raises(ValueError, match="shape must hold sizes >= 0"):
        stateless_normal((-1, 2), (1, 0))
