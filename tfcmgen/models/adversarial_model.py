"""`AdversarialModel`: what `CrossModalGAN` and `TextImageEditor` share as two-player models.

Two optimizers (one per player) built on their variables inside the strategy scope, loss-scale
wrapping under `mixed_float16`, the loss trackers, the compile config that lets `.keras` files
restore both optimizers, and the arguments, checks and text encoders both constructors share.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from tfcmgen import layers as tfcm_layers
from tfcmgen import losses as tfcm_losses
from tfcmgen import registry
from tfcmgen.models.diff_augment import check_policy, diff_augment
from tfcmgen.models.generator import check_image_size, check_positive_int
from tfcmgen.models.presets import PresetMixin


def check_choice(name, value, choices):
    """Raises ValueError naming the argument unless `value` is one of `choices`."""
    if value not in choices:
        shown = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {shown}; received {name}={value!r}")


def check_weight(name, value):
    """A loss weight as float; ValueError naming the argument unless it is a number >= 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValueError(f"{name} must be a number >= 0; received {name}={value!r}")
    return float(value)


class AdversarialModel(PresetMixin, keras.Model):
    """A `keras.Model` trained by two optimizers: `g_optimizer` (generator side) and
    `d_optimizer` (discriminator side).

    Subclasses define `generator_variables`, `discriminator_variables`, the adversarial losses
    they accept (`LOSSES`), their loss trackers (`TRACKERS`), and call `_compile_players` from
    their `compile`.
    """

    LOSSES = tuple(registry.LOSSES)
    # What `compile()` uses for "auto": Adam's (generator learning rate, discriminator learning
    # rate, beta_1, beta_2), and the loss. Subclasses set what they train best with.
    AUTO_ADAM = (4e-4, 8e-4, 0.0, 0.99)
    AUTO_LOSS = "hinge"
    # The loss trackers as (attribute, metric name): `compile` creates them as
    # `keras.metrics.Mean` in this order and `metrics` lists them in it (those `_tracks`).
    TRACKERS: tuple = ()

    def _set_text_arguments(self, vocabulary_size, max_length, image_size, embedding_dim,
                            embedding_matrix, text_pooling):
        """Checks and sets the arguments both models share; returns the embedding matrix as
        float32 [vocabulary_size, embedding_dim] (or None)."""
        self.vocabulary_size = check_positive_int("vocabulary_size", vocabulary_size, minimum=2)
        self.max_length = check_positive_int("max_length", max_length)
        self.image_size = check_image_size(image_size)
        self.embedding_dim = check_positive_int("embedding_dim", embedding_dim)
        if embedding_matrix is not None:
            embedding_matrix = np.asarray(embedding_matrix, dtype="float32")
            expected = (self.vocabulary_size, self.embedding_dim)
            if embedding_matrix.shape != expected:
                raise ValueError(
                    f"embedding_matrix must have shape (vocabulary_size, embedding_dim) = "
                    f"{expected}; received embedding_matrix with shape {embedding_matrix.shape}"
                )
        check_choice("text_pooling", text_pooling, tuple(registry.TEXT_POOLINGS))
        self.text_pooling = text_pooling
        return embedding_matrix

    def _text_config(self) -> dict:
        """The `get_config` entries of the arguments `_set_text_arguments` set."""
        return {
            "vocabulary_size": self.vocabulary_size,
            "max_length": self.max_length,
            "image_size": self.image_size,
            "embedding_dim": self.embedding_dim,
            # The initial word vectors live on in the saved weights; the config stays small.
            "embedding_matrix": None,
            "text_pooling": self.text_pooling,
        }

    def _text_encoder(self, embedding_matrix, name, **kwargs):
        """A `TextEncoder` over the model's vocabulary and text pooling (`kwargs` passed on)."""
        return tfcm_layers.TextEncoder(
            vocabulary_size=self.vocabulary_size,
            embedding_dim=self.embedding_dim,
            embedding_matrix=embedding_matrix,
            pooling=self.text_pooling,
            name=name,
            **kwargs,
        )

    def _set_randomness(self, diff_augment, seed):
        """Checks and sets `diff_augment` and `seed`; creates `seed_generator`, the model's one
        source of training randomness."""
        self.diff_augment = check_policy(diff_augment)
        self.seed = check_positive_int("seed", seed, minimum=0)
        self.seed_generator = keras.random.SeedGenerator(self.seed, name="seed_generator")

    def fit(self, x=None, *args, **kwargs):
        self._check_batch_size(x)
        return super().fit(x, *args, **kwargs)

    def _check_batch_size(self, dataset):
        """Fails before training when a known batch size is smaller than the replica count."""
        replicas = self.distribute_strategy.num_replicas_in_sync
        spec = getattr(dataset, "element_spec", None)
        if replicas == 1 or not isinstance(spec, dict) or "image" not in spec:
            return
        batch_size = spec["image"].shape[0]
        if batch_size is not None and batch_size < replicas:
            raise ValueError(
                f"batch_size must be at least the number of replicas ({replicas}) so every "
                f"replica gets an example; received batch_size={batch_size}"
            )

    def _auto_optimizer(self, optimizer, player):
        """`optimizer`, or for "auto" a new Adam with the class's `AUTO_ADAM` settings."""
        if not (isinstance(optimizer, str) and optimizer == "auto"):
            return optimizer
        g_rate, d_rate, beta_1, beta_2 = self.AUTO_ADAM
        rate = g_rate if player == "g" else d_rate
        return keras.optimizers.Adam(rate, beta_1=beta_1, beta_2=beta_2, name=f"{player}_adam")

    def _compile_players(self, g_optimizer, d_optimizer, loss, **kwargs):
        """Checks and stores the two optimizers and the loss; builds the optimizers now; creates
        the loss trackers (`TRACKERS`).

        `"auto"` optimizers are Adam with `AUTO_ADAM`'s settings, the `"auto"` loss `AUTO_LOSS`.
        Sets `g_optimizer`, `d_optimizer`, `loss_name`, `g_loss_fn`, `d_loss_fn`.
        """
        if loss == "auto":
            loss = self.AUTO_LOSS
        check_choice("loss", loss, self.LOSSES)
        g_optimizer = self._auto_optimizer(g_optimizer, "g")
        d_optimizer = self._auto_optimizer(d_optimizer, "d")
        g_optimizer = keras.optimizers.get(g_optimizer)
        d_optimizer = keras.optimizers.get(d_optimizer)
        if g_optimizer is d_optimizer:
            raise ValueError(
                "g_optimizer and d_optimizer must be two optimizer instances (each keeps its "
                "own slots and step count); received the same object twice"
            )
        replicas = self.distribute_strategy.num_replicas_in_sync
        if kwargs.get("jit_compile") is True and replicas > 1:
            # Measured on TF 2.21: the XLA-compiled step fails to read the mirrored variables of
            # the other devices ("Trying to access resource ... located in device CPU:1").
            raise ValueError(
                f"jit_compile=True is not supported with more than one replica; received "
                f"jit_compile=True under a strategy with {replicas} replicas"
            )
        super().compile(optimizer=None, **kwargs)
        self.loss_name = loss
        self.g_loss_fn, self.d_loss_fn = tfcm_losses.get(loss)
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer
        if self.dtype_policy.name == "mixed_float16":
            self.g_optimizer = keras.optimizers.LossScaleOptimizer(g_optimizer)
            self.d_optimizer = keras.optimizers.LossScaleOptimizer(d_optimizer)
        # Optimizer slots are built here, inside the model's strategy scope: under MirroredStrategy,
        # slots created lazily inside the first distributed step fail ("You must feed a value for
        # placeholder ... replica_1/Initializer").
        with self.distribute_strategy.scope():
            self.g_optimizer.build(self.generator_variables)
            self.d_optimizer.build(self.discriminator_variables)
        for attribute, name in self.TRACKERS:
            setattr(self, attribute, keras.metrics.Mean(name=name))

    def _tracks(self, attribute) -> bool:
        """Whether `metrics` lists the tracker `attribute` of `TRACKERS`. Defaults to all."""
        return True

    @property
    def metrics(self):
        trackers = (getattr(self, attribute, None) for attribute, _ in self.TRACKERS
                    if self._tracks(attribute))
        return [t for t in trackers if t is not None]

    def get_compile_config(self):
        if getattr(self, "g_optimizer", None) is None:
            return None
        return {
            "g_optimizer": keras.optimizers.serialize(self._inner(self.g_optimizer)),
            "d_optimizer": keras.optimizers.serialize(self._inner(self.d_optimizer)),
            "loss": self.loss_name,
            "jit_compile": bool(self.jit_compile),
        }

    def compile_from_config(self, config):
        config = dict(config)
        config["g_optimizer"] = keras.optimizers.deserialize(config["g_optimizer"])
        config["d_optimizer"] = keras.optimizers.deserialize(config["d_optimizer"])
        self.compile(**config)

    def _replica_batch(self, images):
        """(local batch, global batch, offset of this replica's examples in the global batch)."""
        local = tf.shape(images)[0]
        replicas = self.distribute_strategy.num_replicas_in_sync
        if replicas == 1:
            return local, local, tf.zeros([], tf.int32)
        context = tf.distribute.get_replica_context()
        sizes = context.all_gather(tf.reshape(local, [1]), axis=0)
        replica = tf.cast(context.replica_id_in_sync_group, tf.int32)
        offset = tf.reduce_sum(sizes[:replica])
        global_batch = tf.reduce_sum(sizes)
        tf.debugging.assert_greater_equal(
            global_batch,
            replicas,
            message=(
                f"batch_size must be at least the number of replicas ({replicas}) so every "
                "replica gets an example; the global batch received is smaller"
            ),
        )
        return local, global_batch, offset

    def _draw(self, kind, batch, width):
        """Random numbers for the global batch, sliced to this replica's examples.

        Drawing for the global batch (same seed on every replica) and slicing makes example i of
        the global batch see the same numbers on one device and on N replicas.
        """
        local, global_batch, offset = batch
        shape = tf.stack([global_batch, width])
        if kind == "normal":
            values = keras.random.normal(shape, seed=self.seed_generator)
        else:
            values = keras.random.uniform(shape, seed=self.seed_generator)
        return values[offset : offset + local]

    def _augment(self, images, batch):
        """DiffAugment (`self.diff_augment` policy) with numbers drawn as `_draw` does."""
        if not self.diff_augment:
            return images
        uniform = self._draw("uniform", batch, 2 * len(self.diff_augment))
        return diff_augment(images, self.diff_augment, uniform)

    @property
    def _multi_worker(self) -> bool:
        return isinstance(self.distribute_strategy, tf.distribute.MultiWorkerMirroredStrategy)

    def _step_logs(self):
        """The trackers' results, as `train_step` and `test_step` return them.

        Under MultiWorkerMirroredStrategy, Keras 3.15's `fit` averages the step's logs over the
        workers with `reduce(MEAN, axis=0)`, which fails for scalars ("Invalid reduction
        dimension 0 for input with 0 dimensions", tensorflow/tensorflow#72388, measured with
        tests/test_multiworker.py); logs of shape [1] average correctly.
        """
        logs = {m.name: m.result() for m in self.metrics}
        if self._multi_worker:
            logs = {name: tf.reshape(value, [1]) for name, value in logs.items()}
        return logs

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        """Skips Keras 3.15's symbolic build at the start of `fit` / `evaluate` under a strategy.

        These models create every variable in `__init__`, so there is nothing to build. The
        build would read one batch from a throwaway iterator: that advances tf.data's
        reshuffling counters by however far it prefetched (a run would then see other batches
        than a resumed or single-process one), and under MultiWorkerMirroredStrategy it fails for
        dict batches ("Attempt to convert a value ({'image': PerReplica ...}) to a Tensor").
        Keras itself skips it when no strategy is set.
        """
        return None

    def gradient_penalty(self, real, fake, sentence, uniform):
        """WGAN-GP per example: `(||grad_x D(x_hat, s)||_2 - 1)^2`, `x_hat = real + a (fake - real)`.

        `a` ~ U[0, 1) per example (`uniform` [B, 1]). Weighted by `gp_weight` by the caller.
        Reference: Gulrajani et al. 2017, "Improved Training of Wasserstein GANs".
        """
        alpha = tf.reshape(uniform, [-1, 1, 1, 1])
        interpolated = real + alpha * (fake - real)
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(interpolated)
            logits = self.discriminator([interpolated, sentence], training=True)
        gradients = tape.gradient(logits, interpolated)
        norm = tf.sqrt(tf.reduce_sum(tf.square(gradients), axis=[1, 2, 3]) + 1e-12)
        return tf.square(norm - 1.0)

    @staticmethod
    def _inner(optimizer):
        """The optimizer a `LossScaleOptimizer` wraps (or the optimizer itself)."""
        return getattr(optimizer, "inner_optimizer", optimizer)
