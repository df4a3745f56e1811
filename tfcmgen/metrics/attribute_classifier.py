"""A small CNN that reads the attributes of a shapes image: judge of generated and edited images."""

from __future__ import annotations

import os
from collections.abc import Sequence

import cv2
import keras
import numpy as np
import tensorflow as tf

from tfcmgen.callbacks import TimeBudget

DEFAULT_ATTRIBUTES = ("colour", "shape", "size", "position", "background")
_SMALLEST_MAP = 4


def shapes_attribute_values(attributes: Sequence[str] = DEFAULT_ATTRIBUTES) -> dict:
    """The values each named attribute takes in the built-in shapes dataset.

    Args:
        attributes: names among "colour", "shape", "size", "position", "background".

    Returns:
        dict from attribute name to the list of its values, in the dataset's order.
    """
    # Read from the dataset when a classifier is made, so the judge always knows exactly the
    # values the renderer can draw, in the renderer's order.
    from tfcmgen.data.shapes import ATTRIBUTE_VALUES

    values = {}
    for name in attributes:
        if name not in ATTRIBUTE_VALUES:
            raise ValueError(
                f"attributes must be among {list(ATTRIBUTE_VALUES)}; received {name!r}"
            )
        values[name] = [str(v) for v in ATTRIBUTE_VALUES[name]]
    return values


def blur_some(images: np.ndarray, fraction: float, seed: int = 0) -> np.ndarray:
    """Returns a copy of `images` where a random `fraction` of them is Gaussian-blurred.

    Sigma is drawn uniformly from 0.5 to 1.5 pixels at 64x64, scaled with the image side.
    Measured on a classifier trained without it: size accuracy fell from 1.00 to 0.96 on real
    images blurred with sigma 1.5, the softness typical of GAN samples.

    Args:
        images: float32 [N, S, S, 3].
        fraction: float in [0, 1]. Share of images to blur.
        seed: int. Chooses the images and their sigmas. Defaults to 0.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"blur_fraction must be in [0, 1]; received {fraction!r}")
    out = np.array(images, dtype=np.float32, copy=True)
    rng = np.random.default_rng(seed)
    chosen = np.flatnonzero(rng.random(len(out)) < fraction)
    sigmas = rng.uniform(0.5, 1.5, len(chosen)) * out.shape[1] / 64.0
    for index, sigma in zip(chosen, sigmas, strict=True):
        out[index] = cv2.GaussianBlur(out[index], (0, 0), float(sigma))
    return out


@keras.saving.register_keras_serializable(package="tfcmgen")
class AttributeClassifier(keras.Model):
    """Predicts the attributes of a shapes image (colour, shape, size, position, background).

    A small VGG-style CNN (Simonyan and Zisserman 2015) with batch normalisation: pairs of 3x3
    convolutions, the second of each pair strided, down to a 4x4 map, which is flattened (so the
    position of the shape is kept, unlike after global pooling) into a `feature_dim` embedding, then
    one softmax head per attribute. The embedding, times a scalar `feature_scale` fitted on real
    images after training, is what `features` returns: FID and KID are computed on it. Trained on
    real rendered images, it scores generated images against the attributes named in their
    captions, and edited images against the attributes they should change or keep.

    Args:
        attribute_values: dict from attribute name to the list of its values (class names), in a
            fixed order. `shapes_attribute_values()` gives the built-in dataset's.
        image_size: int. Side of the square input images, a power of two >= 8. Images of another
            size are resized to it by `predict_attributes` and `features`. Defaults to 64.
        width: int. Channels of the first convolutions; doubled at each stage up to 4x. Defaults
            to 32.
        feature_dim: int. Width of the embedding before the heads. Defaults to 128.
        noise_stddev: float. Gaussian noise added to training inputs, so that slightly noisy
            generated images are still read correctly. Defaults to 0.05.
        **kwargs: passed to `keras.Model`.

    Example:

    >>> clf = AttributeClassifier({"colour": ["red", "blue"], "shape": ["circle", "square"]},
    ...                           image_size=16, width=4, feature_dim=8)
    >>> import numpy as np
    >>> images = np.zeros((2, 16, 16, 3), dtype=np.uint8)
    >>> sorted(clf.predict_attributes(images))
    ['colour', 'shape']
    >>> clf.features(images).shape
    (2, 8)

    References:
        Heusel et al. 2017 (FID) and Binkowski et al. 2018 (KID) use a pretrained classifier's
        features; here the classifier is trained on the domain itself, as no weights can be
        downloaded.
    """

    def __init__(
        self,
        attribute_values: dict,
        image_size: int = 64,
        width: int = 32,
        feature_dim: int = 128,
        noise_stddev: float = 0.05,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(attribute_values, dict) or not attribute_values:
            raise ValueError(
                "attribute_values must be a non-empty dict from attribute name to its values; "
                f"received {attribute_values!r}"
            )
        for name, values in attribute_values.items():
            if not isinstance(values, (list, tuple)) or len(values) < 2:
                raise ValueError(
                    f"attribute_values[{name!r}] must list at least 2 values; received {values!r}"
                )
            if len(set(values)) != len(values):
                raise ValueError(f"attribute_values[{name!r}] has duplicates: {list(values)}")
        if (isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 8
                or image_size & (image_size - 1)):
            raise ValueError(f"image_size must be a power of two >= 8; received {image_size!r}")
        for arg, value in (("width", width), ("feature_dim", feature_dim)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{arg} must be a positive integer; received {arg}={value!r}")
        if not 0.0 <= noise_stddev < 1.0:
            raise ValueError(f"noise_stddev must be in [0, 1); received {noise_stddev!r}")
        self.attribute_values = {str(k): [str(v) for v in vs] for k, vs in attribute_values.items()}
        self.image_size = image_size
        self.width = width
        self.feature_dim = feature_dim
        self.noise_stddev = noise_stddev

        self.noise = keras.layers.GaussianNoise(noise_stddev, name="input_noise")
        self.blocks = []
        size, channels, stage = image_size, width, 0
        while size > _SMALLEST_MAP:
            for strides in (1, 2):
                self.blocks += [
                    keras.layers.Conv2D(channels, 3, strides=strides, padding="same",
                                        use_bias=False, name=f"conv{stage}_{strides}"),
                    # Momentum 0.9, not Keras's 0.99: the moving statistics must settle within
                    # the few hundred steps of a short run, or inference reads garbage
                    # (measured: 60 steps at 0.99 gave chance-level test accuracy).
                    keras.layers.BatchNormalization(momentum=0.9, name=f"bn{stage}_{strides}"),
                    keras.layers.ReLU(name=f"relu{stage}_{strides}"),
                ]
            size, stage = size // 2, stage + 1
            channels = min(channels * 2, width * 4)
        self.flatten = keras.layers.Flatten(name="flatten")
        self.embedding = keras.layers.Dense(feature_dim, activation="relu", name="features")
        self.heads = {
            name: keras.layers.Dense(len(values), activation="softmax", name=name)
            for name, values in self.attribute_values.items()
        }
        self.build((None, image_size, image_size, 3))

    def build(self, input_shape):
        # Building eagerly at construction means a fresh or reloaded classifier has weights before
        # the first call, which `save` / `load_model` rely on.
        self._features(keras.KerasTensor(input_shape), training=False)
        for head in self.heads.values():
            head.build((None, self.feature_dim))
        if not hasattr(self, "feature_scale"):
            # Set by `fit_attributes` so that real features have unit root-mean-square per
            # dimension (see `features`); saved with the weights.
            self.feature_scale = self.add_weight(shape=(), initializer="ones", trainable=False,
                                                 name="feature_scale")
        self.built = True

    def _features(self, images, training=False):
        x = self.noise(images, training=training)
        for layer in self.blocks:
            x = layer(x, training=training)
        return self.embedding(self.flatten(x))

    def call(self, images, training=False):
        features = self._features(images, training=training)
        return {name: head(features) for name, head in self.heads.items()}

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "attribute_values": {k: list(v) for k, v in self.attribute_values.items()},
                "image_size": self.image_size,
                "width": self.width,
                "feature_dim": self.feature_dim,
                "noise_stddev": self.noise_stddev,
            }
        )
        return config

    # ------------------------------------------------------------------ input handling

    def prepare_images(self, images) -> np.ndarray:
        """uint8 [0, 255] or float [-1, 1] images [N, H, W, 3] -> float32 [-1, 1] at `image_size`.

        Images of another size are resized (area-averaged when shrinking), so a 128x128 generator
        can be judged by a 64x64 classifier.
        """
        images = np.asarray(images)
        if images.ndim == 3:
            images = images[None]
        if images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(
                f"images must have shape [N, H, W, 3] (RGB); received shape {images.shape}"
            )
        if images.dtype == np.uint8:
            images = images.astype(np.float32) / 127.5 - 1.0
        elif np.issubdtype(images.dtype, np.floating):
            images = images.astype(np.float32)
            low, high = (float(images.min()), float(images.max())) if images.size else (0, 0)
            # A little slack for round-off; [0, 255] floats are the mistake this catches.
            if low < -1.05 or high > 1.05:
                raise ValueError(
                    "float images must be in [-1, 1] (uint8 images in [0, 255]); received values "
                    f"from {low:.3g} to {high:.3g}"
                )
        else:
            raise ValueError(
                f"images must be uint8 or float in [-1, 1]; received dtype {images.dtype}"
            )
        if images.shape[1:3] != (self.image_size, self.image_size):
            images = tf.image.resize(
                images, (self.image_size, self.image_size), method="area"
                if images.shape[1] > self.image_size else "bilinear",
            ).numpy()
        return images

    def _batched(self, images, batch_size: int, fn) -> list:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer; received {batch_size!r}")
        images = self.prepare_images(images)
        return [fn(tf.constant(images[i : i + batch_size])) for i in range(0, len(images),
                                                                          batch_size)]

    # ------------------------------------------------------------------ inference

    def predict_probabilities(self, images, batch_size: int = 256) -> dict:
        """Softmax outputs: dict from attribute name to float32 [N, num_values]."""
        parts = self._batched(images, batch_size, lambda x: self(x, training=False))
        return {
            name: np.concatenate([keras.ops.convert_to_numpy(p[name]) for p in parts])
            for name in self.attribute_values
        }

    def predict_attributes(self, images, batch_size: int = 256) -> dict:
        """Most likely value of each attribute: dict from attribute name to a list of N strings.

        Args:
            images: [N, H, W, 3] uint8 in [0, 255] or float in [-1, 1].
            batch_size: int. Images per forward pass. Defaults to 256.
        """
        probabilities = self.predict_probabilities(images, batch_size=batch_size)
        return {
            name: [self.attribute_values[name][i] for i in np.argmax(p, axis=-1)]
            for name, p in probabilities.items()
        }

    def features(self, images, batch_size: int = 256) -> np.ndarray:
        """The embedding before the heads, float32 [N, feature_dim]: the space of FID and KID.

        Multiplied by one scalar, `feature_scale`, fitted after training so that the features of
        real training images have a root-mean-square of 1 per dimension, the scale of Inception
        features. Unscaled, the cubic KID kernel of values near 50 made the estimate noise
        (measured: KID of two real sets 3.5 +- 3.8 unscaled, 0.002 +- 0.002 scaled). A single
        scalar rescales FID by a constant and keeps the geometry.
        """
        parts = self._batched(images, batch_size, lambda x: self._features(x, training=False))
        features = np.concatenate([keras.ops.convert_to_numpy(p) for p in parts])
        return features * keras.ops.convert_to_numpy(self.feature_scale)

    def fit_feature_scale(self, images, batch_size: int = 256) -> float:
        """Sets `feature_scale` so these (real) images' features have unit RMS; returns it."""
        self.feature_scale.assign(1.0)
        raw = self.features(images, batch_size=batch_size)
        rms = float(np.sqrt(np.mean(np.square(raw, dtype=np.float64))))
        if rms <= 0.0:
            raise ValueError("every feature is zero on these images: the classifier is not trained")
        self.feature_scale.assign(1.0 / rms)
        return 1.0 / rms

    # ------------------------------------------------------------------ training

    def encode_labels(self, attributes: Sequence[dict]) -> dict:
        """Attribute dicts -> dict from attribute name to int32 class indices [N]."""
        labels = {}
        for name, values in self.attribute_values.items():
            index = {v: i for i, v in enumerate(values)}
            column = []
            for row, attrs in enumerate(attributes):
                value = attrs.get(name) if isinstance(attrs, dict) else None
                if value not in index:
                    raise ValueError(
                        f"attributes[{row}][{name!r}] must be one of {values}; received "
                        f"{value!r}"
                    )
                column.append(index[value])
            labels[name] = np.asarray(column, dtype=np.int32)
        return labels

    def fit_attributes(
        self,
        images,
        attributes: Sequence[dict],
        epochs: int = 5,
        batch_size: int = 64,
        learning_rate: float = 2e-3,
        minutes: float | None = None,
        blur_fraction: float = 0.25,
        seed: int = 0,
        verbose: int | str = "auto",
    ) -> keras.callbacks.History:
        """Compiles and trains the classifier on labelled images.

        Adam with a cosine-decayed learning rate (over `epochs`); one sparse cross-entropy per head.
        Afterwards `fit_feature_scale` runs on (up to 2048 of) the training images.

        Args:
            images: [N, H, W, 3] uint8 or float in [-1, 1].
            attributes: list of N dicts holding every attribute of `attribute_values`.
            epochs: int. Passes over the data. Defaults to 5.
            batch_size: int. Defaults to 64.
            learning_rate: float. Peak learning rate. Defaults to 2e-3.
            minutes: float or None. Stops at the end of the batch where this wall-clock budget
                runs out. Defaults to None.
            blur_fraction: float in [0, 1]. Share of the training images blurred (see
                `blur_some`), so that soft generated images are still read. Defaults to 0.25.
            seed: int. Seeds the shuffling and the blur. Defaults to 0.
            verbose: passed to `fit`.

        Returns:
            the `keras.callbacks.History` of the run.
        """
        if len(images) != len(attributes):
            raise ValueError(
                f"images and attributes must have the same length; received {len(images)} images "
                f"and {len(attributes)} attribute dicts"
            )
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise ValueError(f"epochs must be a positive integer; received {epochs!r}")
        x = self.prepare_images(images)
        y = self.encode_labels(attributes)
        train_x = blur_some(x, blur_fraction, seed=seed)
        steps = epochs * -(-len(x) // batch_size)
        schedule = keras.optimizers.schedules.CosineDecay(learning_rate, steps, alpha=0.01)
        self.compile(
            optimizer=keras.optimizers.Adam(schedule),
            loss={name: "sparse_categorical_crossentropy" for name in self.attribute_values},
            metrics={name: ["accuracy"] for name in self.attribute_values},
        )
        dataset = (
            tf.data.Dataset.from_tensor_slices((train_x, y))
            .shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
            .batch(batch_size)
            .prefetch(tf.data.AUTOTUNE)
        )
        callbacks = [] if minutes is None else [TimeBudget(minutes=minutes)]
        history = self.fit(dataset, epochs=epochs, callbacks=callbacks, verbose=verbose,
                           shuffle=False)
        # A sample is enough for one scalar; it keeps the cost a small part of an epoch.
        sample = np.random.default_rng(seed).permutation(len(x))[:2048]
        self.fit_feature_scale(x[sample])
        return history

    @classmethod
    def train_on_shapes(
        cls,
        image_size: int = 64,
        num_images: int = 20000,
        epochs: int = 5,
        batch_size: int = 64,
        seed: int = 0,
        attributes: Sequence[str] = DEFAULT_ATTRIBUTES,
        minutes: float | None = None,
        verbose: int | str = "auto",
        **kwargs,
    ) -> AttributeClassifier:
        """Renders real shapes images of every attribute combination and trains a classifier.

        Held-out colour+shape pairs are included: they are held out of the GAN's training, and the
        judge must still read them.

        Args:
            image_size: int. Side of the rendered images. Defaults to 64.
            num_images: int. Images rendered for training. Defaults to 20000.
            epochs: int. Defaults to 5.
            batch_size: int. Defaults to 64.
            seed: int. Seeds rendering and training. Defaults to 0.
            attributes: names of the attributes to predict. Defaults to all five.
            minutes: float or None. Wall-clock training budget. Defaults to None.
            verbose: passed to `fit`.
            **kwargs: constructor arguments (`width`, `feature_dim`, `noise_stddev`).

        Example:

        >>> clf = AttributeClassifier.train_on_shapes(32, 256, epochs=1)  # doctest: +SKIP
        >>> clf.save("attribute_classifier.keras")  # doctest: +SKIP
        """
        from tfcmgen.data.shapes import load_shapes

        keras.utils.set_random_seed(seed)
        classifier = cls(shapes_attribute_values(attributes), image_size=image_size, **kwargs)
        data = load_shapes(num_images=num_images, image_size=image_size, seed=seed,
                           captions_per_image=1, split="all")
        classifier.fit_attributes(data.images, data.attributes, epochs=epochs,
                                  batch_size=batch_size, minutes=minutes, seed=seed,
                                  verbose=verbose)
        return classifier

    def save(self, filepath, overwrite: bool = True, include_optimizer: bool = False, **kwargs):
        """Saves to a `.keras` file, by default without the optimizer state.

        A judge is not trained further, and Adam's two slots per weight would triple the file
        (measured: 10.3 MB with them, 3.4 MB without for the default 64x64 classifier).

        Args:
            filepath: str. Path ending in `.keras`.
            overwrite: bool. Replace an existing file. Defaults to True.
            include_optimizer: bool. Keep the optimizer state too. Defaults to False.
            **kwargs: passed to `keras.Model.save`.
        """
        if include_optimizer or getattr(self, "optimizer", None) is None:
            return super().save(filepath, overwrite=overwrite, **kwargs)
        # An uncompiled copy with the same weights has no optimizer to save.
        copy = type(self).from_config(self.get_config())
        copy.set_weights(self.get_weights())
        return keras.Model.save(copy, filepath, overwrite=overwrite, **kwargs)

    @classmethod
    def load(cls, path: str) -> AttributeClassifier:
        """Loads a classifier saved with `save(path)` (a `.keras` file)."""
        if not os.path.exists(path):
            raise FileNotFoundError(f"no attribute classifier file at {path}")
        model = keras.saving.load_model(path, compile=False)
        if not isinstance(model, cls):
            raise TypeError(f"{path} holds a {type(model).__name__}, not an {cls.__name__}")
        return model
