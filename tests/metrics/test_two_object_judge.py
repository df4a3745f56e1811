"""The per-object judge of two-object images: regions read on the caption's sides."""

import numpy as np
import pytest

from tfcmgen.data.shapes import COLOUR_RGB, COLOURS, SHAPES
from tfcmgen.data.two_object_shapes import load_two_object_shapes, render_two_objects, swap_colours
from tfcmgen.metrics.two_object_judge import judge_two_objects, train_object_judge


class _ColourOracle:
    """Reads a region's colour exactly (the brightest pixel's nearest palette colour); its shape
    is always "circle". Enough to check which region the judge reads for which object."""

    def predict_attributes(self, crops):
        colours = []
        for crop in np.asarray(crops, np.float32):
            pixel = crop.reshape(-1, 3)[crop.reshape(-1, 3).sum(-1).argmax()]
            colours.append(min(COLOURS, key=lambda c: np.abs(np.subtract(COLOUR_RGB[c],
                                                                         pixel)).sum()))
        return {"colour": colours, "shape": ["circle"] * len(colours)}


ATTRS = [{"colour_a": "red", "shape_a": "circle", "colour_b": "blue", "shape_b": "square",
          "layout": layout} for layout in ("horizontal", "vertical")]


def test_each_object_is_read_from_its_own_side():
    images = np.stack([render_two_objects(a, 64, seed=i) for i, a in enumerate(ATTRS)])
    verdict = judge_two_objects(_ColourOracle(), images, ATTRS)
    np.testing.assert_array_equal(verdict["colour_a"], [True, True])
    np.testing.assert_array_equal(verdict["colour_b"], [True, True])
    np.testing.assert_array_equal(verdict["object_a"], [True, True])  # circle, as asked
    np.testing.assert_array_equal(verdict["shape_b"], [False, False])  # not a circle
    np.testing.assert_array_equal(verdict["both"], [False, False])
    # The colours on the wrong objects: both objects are wrong.
    swapped = judge_two_objects(_ColourOracle(), images, [swap_colours(a) for a in ATTRS])
    assert not swapped["colour_a"].any() and not swapped["colour_b"].any()


def test_lengths_must_agree():
    with pytest.raises(ValueError, match="same length"):
        judge_two_objects(_ColourOracle(), np.zeros((2, 64, 64, 3), np.uint8), ATTRS[:1])


@pytest.mark.slow
def test_trained_judge_reads_real_renders_and_rejects_swapped_colours():
    judge = train_object_judge(image_size=32, num_images=1500, epochs=3, verbose=0)
    assert judge.image_size == 16
    assert judge.attribute_values == {"colour": list(COLOURS), "shape": list(SHAPES)}
    data = load_two_object_shapes(200, 32, seed=99, split="all")
    verdict = judge_two_objects(judge, data.images, data.attributes)
    assert verdict["both"].mean() > 0.9
    swapped = judge_two_objects(judge, data.images, [swap_colours(a) for a in data.attributes])
    assert swapped["both"].mean() < 0.05
