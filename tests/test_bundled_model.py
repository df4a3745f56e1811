"""The model bundled in the package (`tfcmgen generate` without --model) has the default encoder."""

import numpy as np
import pytest


@pytest.fixture(scope="module")
def bundled():
    from tfcmgen.jobs.generate import load_generator

    return load_generator()


def test_bundled_model_reads_word_order_and_masks_unknown_words(bundled):
    encoder = bundled.model.text_encoder
    assert encoder.pooling == "transformer"
    assert encoder.mask_unknown


def test_words_the_bundled_vocabulary_lacks_change_nothing(bundled):
    plain = bundled.generate(["a large green triangle in the center"], 4, seed=5)
    padded = bundled.generate(["Please draw a large, green triangle in teh center for me!"], 4,
                              seed=5)
    np.testing.assert_array_equal(padded, plain)
