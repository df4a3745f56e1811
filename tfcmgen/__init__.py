"""tfcmgen: cross-modal image generation (text-to-image and text-guided editing) for Keras 3."""

__version__ = "0.1.0"
