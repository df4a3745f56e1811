"""Generator: shapes, range, FiLM conditioning, argument errors, the shared layer checks."""

import numpy as np
import pytest

from tfcmgen.models import Generator
from tfcmgen.models.generator import generator_widths

RNG = np.random.default_rng(0)
NOISE = RNG.normal(size=(2, 8)).astype("float32")
CONDITION = RNG.normal(size=(2, 6)).astype("float32")


@pytest.mark.parametrize("film", [True, False])
def test_generator_passes_layer_test(layer_test, film):
    outputs = layer_test(
        Generator,
        {"image_size": 32, "noise_dim": 8, "condition_dim": 6, "base_width": 4, "film": film},
        [NOISE, CONDITION],
        expected_output_shape=(2, 32, 32, 3),
        expected_output_dtype="float32",
    )
    assert np.all(np.abs(outputs[0]) <= 1.0), "tanh output must stay in [-1, 1]"


def test_unconditional_generator_takes_noise_alone(layer_test):
    layer_test(
        Generator,
        {"image_size": 32, "noise_dim": 8, "condition_dim": 0, "base_width": 4, "film": False},
        NOISE,
        expected_output_shape=(2, 32, 32, 3),
    )


@pytest.mark.parametrize("image_size", [32, 64, 128, 256])
def test_every_supported_resolution_builds_to_its_size(image_size):
    generator = Generator(image_size=image_size, noise_dim=4, condition_dim=2, base_width=1)
    images = generator([NOISE[:, :4], CONDITION[:, :2]])
    assert tuple(images.shape) == (2, image_size, image_size, 3)
    # One block per doubling from 4x4 to size / 2; the last doubling writes RGB.
    assert len(generator.up_convs) == len(generator.up_norms) == int(np.log2(image_size // 4)) - 1


def test_widths_halve_as_resolution_doubles():
    assert generator_widths(64, 32) == [256, 128, 64, 32]
    assert generator_widths(256, 32) == [256, 256, 256, 128, 64, 32]


def test_film_lets_the_condition_change_every_block():
    generator = Generator(image_size=32, noise_dim=8, condition_dim=6, base_width=4, film=True)
    generator([NOISE, CONDITION])
    # FiLM heads start at zero (plain batch norm); give them weights so the condition matters.
    for norm in [generator.stem_norm, *generator.up_norms]:
        norm.gamma.kernel.assign(RNG.normal(size=norm.gamma.kernel.shape).astype("float32"))
    same_noise = np.repeat(NOISE[:1], 2, axis=0)
    images = np.asarray(generator([same_noise, CONDITION], training=False))
    assert np.abs(images[0] - images[1]).max() > 1e-3
    assert len(generator.up_norms) == 2 and all(n.film for n in generator.up_norms)


@pytest.mark.parametrize("image_size", [48, 16, 512, "64", True])
def test_unsupported_resolution_names_the_argument(image_size):
    with pytest.raises(ValueError, match=r"image_size must be one of 32, 64, 128, 256; received "
                                         r"image_size=" + repr(image_size).replace("'", ".")):
        Generator(image_size=image_size)


def test_missing_condition_is_an_error():
    generator = Generator(image_size=32, noise_dim=8, condition_dim=6, base_width=4)
    with pytest.raises(ValueError, match="condition"):
        generator(NOISE)
