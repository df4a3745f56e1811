"""Evaluation: an attribute classifier trained on real shapes images, and the figures it gives.

`AttributeClassifier` reads colour, shape, size, position and background from an image; the
functions of `quality` turn its predictions and features into attribute accuracy, FID, KID and a
diversity figure, and `evaluate_generator` runs them all on a text-to-image generator.
"""

from tfcmgen.metrics.attribute_classifier import AttributeClassifier, shapes_attribute_values
from tfcmgen.metrics.quality import (
    attribute_accuracy,
    evaluate_generator,
    frechet_distance,
    kernel_inception_distance,
    mean_pairwise_distance,
    shapes_evaluation_set,
)

__all__ = [
    "AttributeClassifier",
    "attribute_accuracy",
    "evaluate_generator",
    "frechet_distance",
    "kernel_inception_distance",
    "mean_pairwise_distance",
    "shapes_attribute_values",
    "shapes_evaluation_set",
]
