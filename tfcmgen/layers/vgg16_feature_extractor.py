"""VGG16 image features for editing and feature-matching: `VGG16FeatureExtractor`."""

from __future__ import annotations

import os

import keras
from keras import ops

# The blocks a feature map can be taken from, and the channel count each one ends with.
OUTPUT_LAYERS = {
    "block1_pool": 64,
    "block2_pool": 128,
    "block3_pool": 256,
    "block4_pool": 512,
    "block5_pool": 512,
}

GLOBAL_POOLINGS = {
    None: None,
    "avg": keras.layers.GlobalAveragePooling2D,
    "max": keras.layers.GlobalMaxPooling2D,
}

# The ImageNet file keras.applications.VGG16(include_top=False) downloads, with its published hash.
IMAGENET_WEIGHTS_FILE = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
IMAGENET_WEIGHTS_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/" + IMAGENET_WEIGHTS_FILE
)
IMAGENET_WEIGHTS_HASH = "6d6bbae143d832006294945121d1f1fc"

# Per-channel means of the ImageNet training set in BGR order: the "caffe" preprocessing the
# original VGG weights were trained with (keras.applications.vgg16.preprocess_input).
BGR_MEAN = (103.939, 116.779, 123.68)


@keras.saving.register_keras_serializable(package="tfcmgen")
class VGG16FeatureExtractor(keras.layers.Layer):
    """VGG16 convolutional features of images in [-1, 1], cut at a chosen block.

    The layer wraps `keras.applications.VGG16(include_top=False)` truncated after `output_layer`
    and applies VGG's own preprocessing inside (from [-1, 1] RGB to [0, 255] BGR minus the ImageNet
    channel means), so it takes the generator's images as they are. Any image size works; each
    pooling block halves it.

    `get_config()` always reports `weights=None`: the loaded values live in the layer's variables,
    which `.keras` files store, so reloading a saved model never reads a weights file.
    `from_config` refuses any other value: a crafted config naming `"imagenet"` or a path must not
    make loading a model read files or reach the network. Cloning an unsaved layer from its config
    therefore starts from random weights, as for any Keras layer.

    Nothing is ever downloaded: `weights="imagenet"` reads the ImageNet file from Keras' cache
    (`~/.keras/models/`, or `$KERAS_HOME/models/`) and fails with what to do when it is not there.

    Args:
        output_layer: str. The VGG16 layer whose output is returned, one of `"block1_pool"`,
            `"block2_pool"`, `"block3_pool"`, `"block4_pool"`, `"block5_pool"`. Early blocks
            keep more spatial detail (editing); late ones are more semantic. Defaults to
            `"block4_pool"`.
        pooling: str or None. `None` returns the feature map `[B, H/2^k, W/2^k, C]`; `"avg"` or
            `"max"` pool it globally to `[B, C]`. Defaults to None.
        weights: str or None. `"imagenet"` reads Keras' ImageNet weights from the Keras cache
            (never downloads; when missing, the error names the file to fetch), a path loads a
            local file (the standard
            `vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5`, or any legacy `.h5` file holding
            the VGG16 layers by name, or a `.weights.h5` file saved from
            `keras.applications.VGG16(include_top=False, weights=None)`), and None keeps random
            weights (then train the layer, `trainable=True`, or cut it early). Defaults to
            `"imagenet"`.
        trainable: bool. Whether the VGG16 weights are trained. Defaults to False (frozen).
        **kwargs: passed on to `keras.layers.Layer` (e.g. `name`, `dtype`).

    Example:

    >>> import numpy as np
    >>> from tfcmgen.layers import VGG16FeatureExtractor
    >>> extractor = VGG16FeatureExtractor("block2_pool", weights=None)
    >>> tuple(extractor(np.zeros((2, 32, 32, 3), "float32")).shape)
    (2, 8, 8, 128)

    References:
        Simonyan and Zisserman 2015, "Very Deep Convolutional Networks for Large-Scale Image
        Recognition". Dong et al. 2017, "Semantic Image Synthesis via Adversarial Learning"
        (VGG image encoder for text-guided editing).
    """

    def __init__(
        self,
        output_layer="block4_pool",
        pooling=None,
        weights="imagenet",
        trainable=False,
        **kwargs,
    ):
        if output_layer not in OUTPUT_LAYERS:
            shown = ", ".join(repr(name) for name in OUTPUT_LAYERS)
            raise ValueError(
                f"output_layer must be one of {shown}; received output_layer={output_layer!r}"
            )
        if pooling not in GLOBAL_POOLINGS:
            shown = ", ".join(repr(name) for name in GLOBAL_POOLINGS)
            raise ValueError(f"pooling must be one of {shown}; received pooling={pooling!r}")
        if weights is not None and not isinstance(weights, (str, os.PathLike)):
            raise ValueError(
                "weights must be 'imagenet', a path to a weights file or None; "
                f"received weights={weights!r}"
            )
        if weights is not None and weights != "imagenet" and not os.path.isfile(weights):
            raise FileNotFoundError(
                f"weights file not found: received weights={os.fspath(weights)!r}. Pass the path "
                f"of {IMAGENET_WEIGHTS_FILE} (or another VGG16 weights file), 'imagenet' to "
                "download it, or None for random weights."
            )
        super().__init__(trainable=trainable, **kwargs)
        self.output_layer = output_layer
        self.pooling = pooling
        # Layer.weights is Keras' list of variables, so the argument is kept under another name.
        self.weights_source = None if weights is None else os.fspath(weights)

        full = keras.applications.VGG16(
            include_top=False, weights=None, input_shape=(None, None, 3)
        )
        if self.weights_source == "imagenet":
            _load_weights_file(full, _cached_imagenet_weights(), output_layer)
        elif self.weights_source is not None:
            _load_weights_file(full, self.weights_source, output_layer)
        self.backbone = keras.Model(
            full.input, full.get_layer(output_layer).output, name="vgg16_backbone"
        )
        pooling_cls = GLOBAL_POOLINGS[pooling]
        self.global_pool = None if pooling_cls is None else pooling_cls(name=f"{pooling}_pool")

    @property
    def output_channels(self):
        """Channel count of the returned features (64, 128, 256 or 512)."""
        return OUTPUT_LAYERS[self.output_layer]

    @property
    def downsampling(self):
        """Factor by which the feature map is smaller than the image (2 for block1 ... 32)."""
        return 2 ** (list(OUTPUT_LAYERS).index(self.output_layer) + 1)

    def build(self, input_shape):
        if len(input_shape) != 4 or input_shape[-1] != 3:
            raise ValueError(
                "VGG16FeatureExtractor expects RGB images [batch, height, width, 3]; "
                f"received input_shape={tuple(input_shape)}"
            )
        for size in input_shape[1:3]:
            if size is not None and size < self.downsampling:
                raise ValueError(
                    f"images must be at least {self.downsampling} pixels wide and high for "
                    f"output_layer={self.output_layer!r}; received input_shape="
                    f"{tuple(input_shape)}"
                )
        self.built = True

    def preprocess(self, images):
        """Maps RGB images in [-1, 1] to VGG's input: [0, 255] BGR minus the ImageNet means."""
        pixels = (ops.cast(images, self.compute_dtype) + 1.0) * 127.5
        bgr = ops.flip(pixels, axis=-1)
        return bgr - ops.convert_to_tensor(BGR_MEAN, dtype=self.compute_dtype)

    def call(self, images):
        features = self.backbone(self.preprocess(images))
        if self.global_pool is not None:
            features = self.global_pool(features)
        return features

    def compute_output_shape(self, input_shape):
        if self.global_pool is not None:
            return (input_shape[0], self.output_channels)
        spatial = [None if size is None else size // self.downsampling for size in input_shape[1:3]]
        return (input_shape[0], *spatial, self.output_channels)

    @classmethod
    def from_config(cls, config):
        if config.get("weights") is not None:
            raise ValueError(
                "a saved VGG16FeatureExtractor config must have weights=None (its values are in "
                "the saved variables); refusing to read or fetch weights while loading a model; "
                f"received weights={config.get('weights')!r}"
            )
        return super().from_config(config)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "output_layer": self.output_layer,
                "pooling": self.pooling,
                # The values are in the variables (saved with the model); see the class docstring.
                "weights": None,
            }
        )
        return config


def imagenet_cache_path() -> str:
    """Where Keras keeps the ImageNet file: `$KERAS_HOME/models/` or `~/.keras/models/`."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return os.path.join(home, "models", IMAGENET_WEIGHTS_FILE)


def _cached_imagenet_weights():
    """The ImageNet file from Keras' cache, checked against its published MD5; never downloads.

    tfcmgen reaches no network at run time: a model being loaded or trained must not fetch code
    or data, so the file comes from the cache or from a path the user passes.
    """
    import hashlib

    path = imagenet_cache_path()
    fetch = (
        f"fetch {IMAGENET_WEIGHTS_URL} on a machine with internet access and pass its local path "
        "as weights='/path/to/" + IMAGENET_WEIGHTS_FILE + "' (tfcmgen train --vgg-weights PATH), "
        "or pass weights=None for random weights (then set trainable=True or use an early "
        "output_layer such as 'block2_pool')"
    )
    if not os.path.isfile(path):
        raise RuntimeError(
            f"VGG16FeatureExtractor(weights='imagenet') reads {path} from the Keras cache and it "
            f"is not there; tfcmgen never downloads: {fetch}"
        )
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != IMAGENET_WEIGHTS_HASH:
        raise RuntimeError(
            f"{path} in the Keras cache is damaged (MD5 {digest.hexdigest()}, expected "
            f"{IMAGENET_WEIGHTS_HASH}); delete it and {fetch}"
        )
    return path


def _load_weights_file(model, path, output_layer):
    """Loads `path` into the full notop VGG16 `model`, by the loader its file name calls for."""
    path = os.fspath(path)
    # Longest suffix first: ".weights.h5" also ends with ".h5".
    for suffix in sorted(WEIGHTS_LOADERS, key=len, reverse=True):
        if path.endswith(suffix):
            WEIGHTS_LOADERS[suffix](model, path, output_layer)
            return
    shown = ", ".join(repr(suffix) for suffix in WEIGHTS_LOADERS)
    raise ValueError(
        f"weights must be a file ending in {shown} (such as {IMAGENET_WEIGHTS_FILE}); "
        f"received weights={path!r}"
    )


def _load_keras_weights(model, path, output_layer):
    # Keras 3 weights files are matched by structure, so they must come from the same full model.
    model.load_weights(path)


def _load_legacy_h5_weights(model, path, output_layer):
    missing = _missing_layers(model, path, output_layer)
    if missing:
        raise ValueError(
            f"weights file {path!r} has no weights for the VGG16 layers {missing} needed up to "
            f"output_layer={output_layer!r}; pass {IMAGENET_WEIGHTS_FILE} or another VGG16 "
            "weights file"
        )
    # By name: the standard notop file and full-model files (with or without the top) both work.
    model.load_weights(path, by_name=True)


def _missing_layers(model, path, output_layer):
    """Names of weighted VGG16 layers up to `output_layer` that the legacy h5 file lacks."""
    import h5py  # Keras' own dependency for .h5 files; imported here as only this path needs it.

    with h5py.File(path, "r") as handle:
        group = handle["model_weights"] if "model_weights" in handle else handle
        stored = {
            name.decode("utf8") if isinstance(name, bytes) else str(name)
            for name in group.attrs.get("layer_names", [])
        }
    needed = []
    for layer in model.layers:
        if layer.weights:
            needed.append(layer.name)
        if layer.name == output_layer:
            break
    return [name for name in needed if name not in stored]


WEIGHTS_LOADERS = {
    ".weights.h5": _load_keras_weights,
    ".h5": _load_legacy_h5_weights,
    ".hdf5": _load_legacy_h5_weights,
}
