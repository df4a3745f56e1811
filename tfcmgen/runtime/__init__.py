"""The runtime layer: what running a trained model needs, without TensorFlow or training code.

Image conversion (`images`), the tokenizer twin, Philox noise and export metadata live here, at
the bottom of the package: the ONNX path, the SavedModel and Keras wrappers and the trainer all
import it, and it imports none of them (checked by import-linter, see pyproject.toml).
"""
