"""StackGAN's conditioning augmentation: `ConditioningAugmentation`."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="tfcmgen")
class ConditioningAugmentation(keras.layers.Layer):
    """Turns a sentence vector into a Gaussian and samples the generator's condition from it.

    A Dense layer predicts a mean `mu` and a log-variance `logvar`, each `output_dim` wide. In
    training the condition is `mu + eps * exp(logvar / 2)` with `eps ~ N(0, I)` drawn from the
    layer's own `keras.random.SeedGenerator`; at inference it is `mu`. The layer also returns
    the per-example KL divergence to `N(0, I)` (`kl_divergence`) and adds no loss itself: the
    model decides how much the KL term weighs.

    Args:
        output_dim: int. Width of the condition.
        seed: int or None. Seed of the noise generator, for reproducible training. Defaults to
            None.
        **kwargs: passed on to `keras.layers.Layer`.

    Call arguments:
        sentence: float tensor `[batch, dim]`.
        training: bool. Sample (True) or return the mean (False/None).

    Returns:
        `(condition, kl)`: `condition` `[batch, output_dim]` in the compute dtype and `kl`
        `[batch]`, always float32.

    Example:

    >>> import numpy as np
    >>> from tfcmgen.layers import ConditioningAugmentation
    >>> augment = ConditioningAugmentation(output_dim=4, seed=0)
    >>> condition, kl = augment(np.ones((2, 8), "float32"), training=True)
    >>> tuple(condition.shape), tuple(kl.shape)
    ((2, 4), (2,))

    References:
        Zhang et al. 2017, "StackGAN: Text to Photo-realistic Image Synthesis with Stacked
        Generative Adversarial Networks", section 3.1.
    """

    def __init__(self, output_dim, seed=None, **kwargs):
        if isinstance(output_dim, bool) or not isinstance(output_dim, int) or output_dim <= 0:
            raise ValueError(
                f"output_dim must be a positive integer; received output_dim={output_dim!r}"
            )
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"seed must be an integer or None; received seed={seed!r}")
        super().__init__(**kwargs)
        self.output_dim = output_dim
        self.seed = seed
        self.statistics = keras.layers.Dense(
            2 * output_dim, name="statistics", dtype=self.dtype_policy
        )
        self.seed_generator = keras.random.SeedGenerator(seed, name="seed_generator")

    def build(self, sentence_shape):
        if len(sentence_shape) != 2:
            raise ValueError(
                "ConditioningAugmentation expects sentence vectors [batch, dim]; "
                f"received sentence shape {tuple(sentence_shape)}"
            )
        self.statistics.build(sentence_shape)
        self.built = True

    @staticmethod
    def kl_divergence(mu, logvar):
        """KL(N(mu, exp(logvar)) || N(0, I)) per example.

        `0.5 * sum(exp(logvar) + mu^2 - 1 - logvar)` over the last axis (Kingma and Welling 2014,
        appendix B; StackGAN's regulariser).
        """
        return 0.5 * ops.sum(ops.exp(logvar) + ops.square(mu) - 1.0 - logvar, axis=-1)

    def call(self, sentence, training=None):
        mu, logvar = ops.split(self.statistics(sentence), 2, axis=-1)
        # float32 whatever the policy: exp(logvar) overflows float16 long before it matters here.
        kl = self.kl_divergence(ops.cast(mu, "float32"), ops.cast(logvar, "float32"))
        if not training:
            return mu, kl
        eps = keras.random.normal(ops.shape(mu), dtype=mu.dtype, seed=self.seed_generator)
        return mu + eps * ops.exp(0.5 * logvar), kl

    def get_config(self):
        config = super().get_config()
        config.update({"output_dim": self.output_dim, "seed": self.seed})
        return config
