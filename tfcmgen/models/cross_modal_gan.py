"""The text-to-image GAN: text encoder, conditioning, generator (+ EMA copy), discriminator
(its training step is in `gan_training.py`)."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from tfcmgen import layers as tfcm_layers
from tfcmgen import registry
from tfcmgen.models.adversarial_model import AdversarialModel, check_choice, check_weight
from tfcmgen.models.discriminator import Discriminator
from tfcmgen.models.gan_training import GANTrainingSteps
from tfcmgen.models.generator import Generator, check_positive_int
from tfcmgen.models.presets import is_text
from tfcmgen.runtime.images import to_uint8

FUSIONS = tuple(registry.FUSIONS)
TEXT_POOLINGS = tuple(registry.TEXT_POOLINGS)


@keras.saving.register_keras_serializable(package="tfcmgen")
class CrossModalGAN(GANTrainingSteps, AdversarialModel):
    """Text-to-image GAN trained with `fit()`: matching-aware discriminator, conditioned generator.

    Captions (token ids) pass through a `TextEncoder` to a sentence vector; Conditioning
    Augmentation (or a dense projection) turns it into the generator's condition; the generator
    draws an image from condition and noise. The discriminator judges (image, sentence) pairs as in
    GAN-CLS: a real image with its caption is real; a real image with a mismatched caption and a
    generated image with its caption are fake. The text encoder learns with the discriminator (its
    gradients teach it which words tell images apart); the generator sees the sentence as a
    constant. An exponential moving average of the generator side (conditioning, fusion, generator)
    makes the samples, `call()` and exports.

    `call(inputs)` takes token ids int32 [B, L] or a dict `{"token_ids": ..., "noise": ...}` (noise
    float32 [B, noise_dim]; drawn when absent) and returns EMA-generator images float32
    [B, S, S, 3] in [-1, 1]. `generate(token_ids, seed)` draws the noise as
    `tf.random.stateless_normal([B, noise_dim], seed=[seed, 0])`, so an export can reproduce it.

    Under `tf.distribute.MirroredStrategy` every loss is averaged over the global batch, batch norm
    statistics are synchronised, and the random numbers of a step are drawn for the global batch
    and sliced per replica, so N replicas take the same step as one device (up to the conditioning
    augmentation noise, which the `ConditioningAugmentation` layer draws itself).

    Args:
        vocabulary_size: int. Token ids are in [0, vocabulary_size); 0 is padding.
        max_length: int. Caption length in tokens. Defaults to 16.
        image_size: int. 32, 64, 128 or 256. Defaults to 64.
        embedding_dim: int. Word vector size. Defaults to 64.
        embedding_matrix: array [vocabulary_size, embedding_dim] or None. Initial word vectors
            (e.g. Word2Vec); not stored in the config (the trained weights are saved instead).
        trainable_embeddings: bool. Fine-tune the word vectors. Defaults to True.
        text_pooling: str. `"mean"`, `"bigru"`, `"attention"` or `"transformer"`. Defaults to
            `"transformer"`, which keeps word order and which attribute goes with which thing
            (see `TextEncoder`); models saved before it load with their own pooling.
        mask_unknown: bool. The text encoder leaves `[UNK]` out of the sentence vector, as it does
            `[PAD]` (see `TextEncoder`). Defaults to True (models saved before it load with False).
        condition_dim: int. Size of the generator's condition. Defaults to 128.
        noise_dim: int. Defaults to 64.
        fusion: str. How the condition enters the generator: `"film"` (FiLM / conditional batch
            norm in every block, condition also concatenated to the noise) or a `FeatureFusion`
            mode (`"add"`, `"multiply"`, `"concat"`, `"gated"`) combining condition and noise at the
            input only. Defaults to `"film"`.
        generator_width: int. Generator channel multiplier (8w, 4w, 2w, w from 4x4 up).
            Defaults to 16: at 64x64 it trains ~2.7x faster than width 32 on a CPU
            (`bench/train_throughput.py`: ~480 vs ~175 images per second of both cores).
        discriminator_width: int. Discriminator channel multiplier. Defaults to 16.
        discriminator_head: str. `"projection"` or `"matching"`. Defaults to `"projection"`.
        spectral_norm: bool. Spectral normalisation in the discriminator. Defaults to False: on
            the shapes benchmark, with the contrastive loss, the discriminator without it gave
            FID 10.3 instead of 13.6 and twice the sample diversity at equal attribute accuracy,
            and trains ~10% faster (saved_models/README.md has the ablation).
        use_ca: bool. Conditioning Augmentation (StackGAN) instead of a dense projection.
            Defaults to False: on the shapes benchmark its sampling noise drowned the colour
            words (colour accuracy 0.40 with CA, 1.00 without, same steps; saved_models/README.md
            has the ablation). It suits captions that describe an image only loosely.
        kl_weight: float. Weight of the CA KL term (summed over the condition's dimensions) in
            the generator loss. StackGAN's 2.0 on a per-dimension mean is 2 / condition_dim here;
            a large weight pulls every caption's condition towards the same point. Defaults to
            0.01.
        ma_gp_weight: float. Matching-aware gradient penalty weight (DF-GAN uses 2.0); 0 disables.
            Defaults to 0.0.
        gp_weight: float. WGAN-GP penalty weight, used when compiled with `loss="wgan-gp"`.
            Defaults to 10.0.
        gan_int_weight: float. Weight of the generator loss on interpolated sentences (GAN-INT);
            0 disables. Defaults to 0.0.
        contrastive_weight: float. Weight of the image-text contrastive loss (XMC-GAN): the
            discriminator embeds real images and captions so that each image picks its own caption
            among the batch's (this is what teaches the text encoder colour and shape words fast),
            and the generator is rewarded when its image picks its caption the same way. 0
            disables. Defaults to 1.0.
        contrastive_mismatched: bool. Each image's mismatched caption joins its contrastive
            softmax as one more negative (for both networks). With near-miss mismatches
            (`make_dataset(near_miss=...)`) these are captions that differ in one attribute
            only, which in-batch negatives rarely are. Defaults to True: on the shapes
            benchmark (with `near_miss=0.5`) it raised joint colour+shape accuracy from 0.74 to
            0.79 on seen and from 0.64 to 0.77 on held-out pairs at equal steps.
        diversity_weight: float. Weight of the diversity-sensitive generator loss
            (`tfcmgen.losses.diversity_loss`, DSGAN / MSGAN): the generator's images for a caption
            are pushed apart from the ones it drew for the same captions with other noise in the
            discriminator half of the step (no extra generator pass), up to real images'
            diversity. Without it a conditional generator tends to ignore its noise (on the
            shapes benchmark, weight 2 raised the diversity of samples for one caption from 0.020
            to 0.096, real images 0.156, at equal attribute accuracy; saved_models/README.md).
            0 disables. Defaults to 2.0.
        diversity_cap: float. The image-to-noise distance ratio past which more diversity earns
            nothing. Defaults to 0.2: on the shapes data, the mean L1 distance of real images
            sharing a caption (0.22 on the [-1, 1] scale) over that of two standard normal noise
            vectors (1.13).
        ema_decay: float in [0, 1). Generator EMA decay (warmed up as min(decay, (1+t)/(10+t)));
            0 makes the EMA a copy. Defaults to 0.999.
        diff_augment: tuple of str. Caption-preserving DiffAugment policy, from `"translation"`
            and `"cutout"`; empty disables. Defaults to `("translation", "cutout")`.
        seed: int. Seed of the model's `SeedGenerator` (noise, augmentation). Defaults to 0.
        **kwargs: passed on to `keras.Model` (e.g. `name`).

    Example:

    >>> import numpy as np, keras
    >>> gan = CrossModalGAN(vocabulary_size=20, max_length=6, image_size=32, embedding_dim=8,
    ...                     condition_dim=8, noise_dim=8, generator_width=4,
    ...                     discriminator_width=4)
    >>> gan.compile(keras.optimizers.Adam(2e-4, beta_1=0.0, beta_2=0.9),
    ...             keras.optimizers.Adam(4e-4, beta_1=0.0, beta_2=0.9), loss="hinge")
    >>> tuple(gan.generate(np.ones((2, 6), "int32"), seed=0).shape)
    (2, 32, 32, 3)

    References:
        Reed et al. 2016, "Generative Adversarial Text to Image Synthesis" (GAN-CLS, GAN-INT).
        Zhang et al. 2017, "StackGAN" (Conditioning Augmentation).
        Tao et al. 2022, "DF-GAN" (matching-aware gradient penalty, text fusion in every block).
        Zhang et al. 2021, "Cross-Modal Contrastive Learning for Text-to-Image Generation"
        (XMC-GAN: image-text contrastive losses for both networks).
        Miyato and Koyama 2018, "cGANs with Projection Discriminator".
        Heusel et al. 2017 (TTUR); Yazici et al. 2019, "The Unusual Effectiveness of Averaging in
        GAN Training" (generator EMA); Zhao et al. 2020 (DiffAugment).
    """

    AUTO_ADAM = (4e-4, 8e-4, 0.0, 0.99)
    AUTO_LOSS = "hinge"
    TRACKERS = (
        ("d_loss_tracker", "d_loss"),
        ("g_loss_tracker", "g_loss"),
        ("kl_tracker", "kl"),
        ("d_real_tracker", "d_real"),
        ("d_fake_tracker", "d_fake"),
        ("penalty_tracker", "gp"),
        ("contrastive_tracker", "contrastive"),
        ("diversity_tracker", "diversity"),
    )
    # DF-GAN's MA-GP exponent p in k * E[||grad||^p].
    MA_GP_EXPONENT = 6.0
    # XMC-GAN's embedding width and softmax temperature for the contrastive loss.
    CONTRASTIVE_DIM = 128
    CONTRASTIVE_TEMPERATURE = 0.1

    def __init__(
        self,
        vocabulary_size,
        max_length=16,
        image_size=64,
        embedding_dim=64,
        embedding_matrix=None,
        trainable_embeddings=True,
        text_pooling="transformer",
        mask_unknown=True,
        condition_dim=128,
        noise_dim=64,
        fusion="film",
        generator_width=16,
        discriminator_width=16,
        discriminator_head="projection",
        spectral_norm=False,
        use_ca=False,
        kl_weight=0.01,
        ma_gp_weight=0.0,
        gp_weight=10.0,
        gan_int_weight=0.0,
        contrastive_weight=1.0,
        contrastive_mismatched=True,
        diversity_weight=2.0,
        diversity_cap=0.2,
        ema_decay=0.999,
        diff_augment=("translation", "cutout"),
        seed=0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        embedding_matrix = self._set_text_arguments(
            vocabulary_size, max_length, image_size, embedding_dim, embedding_matrix, text_pooling
        )
        self.trainable_embeddings = bool(trainable_embeddings)
        self.mask_unknown = bool(mask_unknown)
        self.condition_dim = check_positive_int("condition_dim", condition_dim)
        self.noise_dim = check_positive_int("noise_dim", noise_dim)
        check_choice("fusion", fusion, FUSIONS)
        self.fusion = fusion
        self.generator_width = check_positive_int("generator_width", generator_width)
        self.discriminator_width = check_positive_int("discriminator_width", discriminator_width)
        self.discriminator_head = discriminator_head
        self.spectral_norm = bool(spectral_norm)
        self.use_ca = bool(use_ca)
        self.kl_weight = check_weight("kl_weight", kl_weight)
        self.ma_gp_weight = check_weight("ma_gp_weight", ma_gp_weight)
        self.gp_weight = check_weight("gp_weight", gp_weight)
        self.gan_int_weight = check_weight("gan_int_weight", gan_int_weight)
        self.contrastive_weight = check_weight("contrastive_weight", contrastive_weight)
        self.contrastive_mismatched = bool(contrastive_mismatched)
        self.diversity_weight = check_weight("diversity_weight", diversity_weight)
        self.diversity_cap = check_weight("diversity_cap", diversity_cap)
        ema_decay = check_weight("ema_decay", ema_decay)
        if ema_decay >= 1.0:
            raise ValueError(f"ema_decay must be in [0, 1); received ema_decay={ema_decay}")
        self.ema_decay = ema_decay
        self._set_randomness(diff_augment, seed)

        self.text_encoder = self._text_encoder(
            embedding_matrix, "text_encoder", trainable_embeddings=self.trainable_embeddings,
            mask_unknown=self.mask_unknown,
        )
        self.discriminator = Discriminator(
            image_size=self.image_size,
            base_width=self.discriminator_width,
            spectral_norm=self.spectral_norm,
            head=discriminator_head,
            contrastive_dim=self.CONTRASTIVE_DIM if self.contrastive_weight > 0 else 0,
            name="discriminator",
        )
        # The generator side exists twice: the live copy trained by the optimizer and the EMA copy
        # that makes samples and exports (never trained, only averaged).
        self.condition_encoder, self.fusion_layer, self.generator = self._generator_side("")
        self.ema_condition_encoder, self.ema_fusion_layer, self.ema_generator = (
            self._generator_side("ema_")
        )
        for layer in (self.ema_condition_encoder, self.ema_fusion_layer, self.ema_generator):
            if layer is not None:
                layer.trainable = False
        self._build_all()
        self.g_optimizer = None
        self.d_optimizer = None

    # ----------------------------------------------------------------------------------------
    # Construction
    # ----------------------------------------------------------------------------------------

    def _generator_side(self, prefix):
        if self.use_ca:
            condition_encoder = tfcm_layers.ConditioningAugmentation(
                self.condition_dim, seed=self.seed + 1, name=f"{prefix}conditioning_augmentation"
            )
        else:
            condition_encoder = keras.layers.Dense(
                self.condition_dim, name=f"{prefix}condition_projection"
            )
        if self.fusion == "film":
            fusion_layer = None
            generator_args = {"noise_dim": self.noise_dim, "condition_dim": self.condition_dim}
        else:
            fusion_layer = tfcm_layers.FeatureFusion(
                self.fusion, self.noise_dim, name=f"{prefix}fusion"
            )
            # The fused vector is the generator's only input; its width is known after a call.
            fused_dim = int(
                fusion_layer(
                    [tf.zeros([1, self.condition_dim]), tf.zeros([1, self.noise_dim])]
                ).shape[-1]
            )
            generator_args = {"noise_dim": fused_dim, "condition_dim": 0}
        generator = Generator(
            image_size=self.image_size,
            base_width=self.generator_width,
            film=self.fusion == "film",
            name=f"{prefix}generator",
            **generator_args,
        )
        return condition_encoder, fusion_layer, generator

    def _build_all(self):
        """Creates every variable now, so optimizers can be built in `compile` (see there)."""
        token_ids = tf.ones([1, self.max_length], tf.int32)
        sentence, _ = self.text_encoder(token_ids)
        noise = tf.zeros([1, self.noise_dim])
        for side in (self._live_side(), self._ema_side()):
            self._generate_from_sentence(sentence, noise, side, training=False)
        self.discriminator.build([(None, self.image_size, self.image_size, 3), sentence.shape])
        self._copy_weights(self._ema_side(), self._live_side())
        self.built = True

    def _live_side(self):
        return (self.condition_encoder, self.fusion_layer, self.generator)

    def _ema_side(self):
        return (self.ema_condition_encoder, self.ema_fusion_layer, self.ema_generator)

    @staticmethod
    def _side_weights(side):
        """Float weights of the generator side (trainable and batch-norm statistics)."""
        return [
            w
            for layer in side
            if layer is not None
            for w in layer.weights
            if "float" in str(w.dtype)
        ]

    def _copy_weights(self, target_side, source_side):
        for target, source in zip(self._side_weights(target_side), self._side_weights(source_side)):
            target.assign(source)

    @property
    def generator_variables(self):
        """Variables the generator optimizer trains: conditioning, fusion, generator."""
        return [w for layer in self._live_side() if layer is not None for w in layer.trainable_weights]

    @property
    def discriminator_variables(self):
        """Variables the discriminator optimizer trains: discriminator and text encoder."""
        return self.discriminator.trainable_weights + self.text_encoder.trainable_weights

    # ----------------------------------------------------------------------------------------
    # Generation
    # ----------------------------------------------------------------------------------------

    def _condition(self, sentence, side, training):
        """Sentence -> (condition, KL term). Without CA the KL term is 0."""
        encoder = side[0]
        if self.use_ca:
            condition, kl = encoder(sentence, training=training)
            return condition, kl
        return encoder(sentence), tf.zeros([])

    def _generate_from_condition(self, condition, noise, side, training):
        _, fusion_layer, generator = side
        if fusion_layer is None:
            return generator([noise, condition], training=training)
        return generator(fusion_layer([condition, noise]), training=training)

    def _generate_from_sentence(self, sentence, noise, side, training):
        condition, _ = self._condition(sentence, side, training)
        return self._generate_from_condition(condition, noise, side, training)

    def call(self, inputs, training=False):
        if isinstance(inputs, dict):
            token_ids = inputs["token_ids"]
            noise = inputs.get("noise")
        else:
            token_ids, noise = inputs, None
        token_ids = tf.convert_to_tensor(token_ids)
        if noise is None:
            noise = keras.random.normal(
                (tf.shape(token_ids)[0], self.noise_dim), seed=self.seed_generator
            )
        sentence, _ = self.text_encoder(token_ids, training=False)
        # Samples and exports come from the EMA generator, in inference mode.
        return self._generate_from_sentence(sentence, noise, self._ema_side(), training=False)

    def generate(self, token_ids, seed=0):
        """EMA-generator images for `token_ids` int32 [B, L] with noise fixed by `seed`.

        The noise is `tf.random.stateless_normal([B, noise_dim], seed=[seed, 0])`; the same seed
        gives the same images, in this process, after save/load and in an export.

        Given caption strings instead (a model from `from_preset`, or after `attach_tokenizer`),
        returns uint8 images [B, S, S, 3], one per caption.
        """
        if is_text(token_ids):
            return to_uint8(np.asarray(self.generate(self.caption_ids(token_ids), seed=seed)))
        token_ids = tf.convert_to_tensor(token_ids, dtype=tf.int32)
        if token_ids.shape.rank != 2 or token_ids.shape[1] != self.max_length:
            raise ValueError(
                f"token_ids must have shape [batch, max_length={self.max_length}]; "
                f"received shape {token_ids.shape}"
            )
        noise = tf.random.stateless_normal(
            [tf.shape(token_ids)[0], self.noise_dim], seed=[seed, 0], dtype=tf.float32
        )
        return self({"token_ids": token_ids, "noise": noise}, training=False)

    # ----------------------------------------------------------------------------------------
    # Compile
    # ----------------------------------------------------------------------------------------

    def compile(self, g_optimizer="auto", d_optimizer="auto", loss="auto", **kwargs):
        """Sets the two optimizers (TTUR: separate learning rates) and the adversarial loss.

        Args:
            g_optimizer: keras optimizer (or its name / config) for the generator side, or
                `"auto"`: Adam(4e-4, beta_1=0, beta_2=0.99), `TrainConfig`'s defaults. Defaults
                to `"auto"`.
            d_optimizer: keras optimizer for the discriminator and the text encoder. Must be a
                different instance from `g_optimizer`. `"auto"`: Adam(8e-4, beta_1=0,
                beta_2=0.99). Defaults to `"auto"`.
            loss: str. One of `tfcmgen.registry.LOSSES`: `"hinge"`, `"bce"`, `"wgan"` or
                `"wgan-gp"` (Wasserstein loss plus gradient penalty weighted by `gp_weight`), or
                `"auto"` (`"hinge"`). Defaults to `"auto"`.
            **kwargs: passed on to `keras.Model.compile` (e.g. `jit_compile`,
                `steps_per_execution`).
        """
        self._compile_players(g_optimizer, d_optimizer, loss, **kwargs)

    def _tracks(self, attribute) -> bool:
        # The optional terms' trackers only where their weight is on.
        if attribute == "penalty_tracker":
            return self._penalty_weight() > 0
        if attribute == "contrastive_tracker":
            return self.contrastive_weight > 0
        if attribute == "diversity_tracker":
            return self.diversity_weight > 0
        return True

    # ----------------------------------------------------------------------------------------
    # Serialization
    # ----------------------------------------------------------------------------------------

    def get_config(self):
        config = super().get_config()
        config.update(self._text_config())
        config.update(
            {
                "trainable_embeddings": self.trainable_embeddings,
                "mask_unknown": self.mask_unknown,
                "condition_dim": self.condition_dim,
                "noise_dim": self.noise_dim,
                "fusion": self.fusion,
                "generator_width": self.generator_width,
                "discriminator_width": self.discriminator_width,
                "discriminator_head": self.discriminator_head,
                "spectral_norm": self.spectral_norm,
                "use_ca": self.use_ca,
                "kl_weight": self.kl_weight,
                "ma_gp_weight": self.ma_gp_weight,
                "gp_weight": self.gp_weight,
                "gan_int_weight": self.gan_int_weight,
                "contrastive_weight": self.contrastive_weight,
                "contrastive_mismatched": self.contrastive_mismatched,
                "diversity_weight": self.diversity_weight,
                "diversity_cap": self.diversity_cap,
                "ema_decay": self.ema_decay,
                "diff_augment": list(self.diff_augment),
                "seed": self.seed,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        # Models saved before the contrastive loss existed have no such head in their weights;
        # models saved before the diversity loss existed keep training without it; models saved
        # before [UNK] masking keep averaging [UNK] in, so their outputs do not change.
        return cls(**{"contrastive_weight": 0.0, "contrastive_mismatched": False,
                      "diversity_weight": 0.0, "mask_unknown": False, "text_pooling": "mean",
                      **config})
