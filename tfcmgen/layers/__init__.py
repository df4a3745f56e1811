"""Keras layers of tfcmgen: image features, text features, conditioning and their fusion."""

from tfcmgen.layers.conditioning_augmentation import ConditioningAugmentation
from tfcmgen.layers.feature_fusion import FeatureFusion
from tfcmgen.layers.text_encoder import TextEncoder
from tfcmgen.layers.vgg16_feature_extractor import VGG16FeatureExtractor

__all__ = [
    "ConditioningAugmentation",
    "FeatureFusion",
    "TextEncoder",
    "VGG16FeatureExtractor",
]
