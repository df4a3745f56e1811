"""The batching server draws the noise of many requests in one pass (`stateless_normal_rows`):
each row must equal the row `stateless_normal` gives for its own seed, bit for bit, or merged
requests would get other images than alone."""

import numpy as np
import pytest

from tfcmgen.runtime.philox_noise import stateless_normal, stateless_normal_rows


@pytest.mark.parametrize("columns", [64, 8, 7, 3, 1])
def test_rows_equal_stateless_normal_for_their_seed(columns):
    seeds = [0, 5, 2**63 - 1, 12345, 5, 2**32, 2**32 - 1]
    rows = [0, 3, 1, 0, 0, 2, 5]
    got = stateless_normal_rows(seeds, rows, columns)
    assert got.shape == (len(seeds), columns) and got.dtype == np.float32
    for index, (seed, row) in enumerate(zip(seeds, rows)):
        expected = stateless_normal((row + 1, columns), (seed, 0))[row]
        np.testing.assert_array_equal(got[index], expected)


def test_rows_are_checked():
    assert stateless_normal_rows([], [], 4).shape == (0, 4)
    with pytest.raises(ValueError, match="one value per row"):
        stateless_normal_rows([1, 2], [0], 4)
