"""Text-guided image editing: VGG16 features of a source image, fused with a caption, decoded
(its training step is in `edit_training.py`, its blocks in `edit_blocks.py`)."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from tfcmgen import layers as tfcm_layers
from tfcmgen import registry
from tfcmgen.models.adversarial_model import AdversarialModel, check_choice, check_weight
from tfcmgen.models.discriminator import Discriminator
from tfcmgen.models.edit_blocks import OUTPUTS, PIXEL_LOSSES, FusedResidualBlock, UpsamplingBlock
from tfcmgen.models.edit_training import EditTrainingSteps
from tfcmgen.models.generator import check_positive_int
from tfcmgen.models.presets import is_text
from tfcmgen.runtime.images import pair_captions, prepare_source_images, to_float, to_uint8

# Every fusion mode works on feature maps inside a residual block (the block keeps its width).
EDIT_FUSIONS = tuple(registry.FUSIONS)
TEXT_POOLINGS = tuple(registry.TEXT_POOLINGS)
# Early VGG16 blocks only: editing needs the spatial detail, and with random weights they still
# learn (or, frozen, are a rich random projection of local patches) within a CPU budget.
ENCODER_LAYERS = ("block1_pool", "block2_pool", "block3_pool")
ADVERSARIAL_LOSSES = tuple(registry.LOSSES)


@keras.saving.register_keras_serializable(package="tfcmgen")
class TextImageEditor(EditTrainingSteps, AdversarialModel):
    """Edits an image so that it matches a caption, keeping what the caption does not change.

    The editor (generator) encodes the source image with an early cut of `VGG16FeatureExtractor`
    and a small trainable adapter (strided to 1/4 resolution after `"block1_pool"`), fuses the
    caption's sentence vector into the feature maps in residual blocks (`FeatureFusion`, FiLM or
    gated), and decodes with upsampling blocks that fuse the text again; the source joins the last
    features at full resolution. The output head (`output_mode`, `OUTPUTS`) turns them into the
    image: `"masked_residual"` adds a tanh change to the source inside a predicted soft mask (what
    the caption does not concern is the zero change), `"residual"` adds it everywhere, `"blend"`
    mixes a tanh image with the source by a mask (GANimation, Pumarola et al. 2018), `"direct"`
    draws a tanh image.

    A matching-aware discriminator (`Discriminator` with the `"matching"` head and its own text
    encoder) judges (image, caption) pairs as in SISGAN: the source with its own caption is real;
    the source with the edit caption (it does not match), and an edited image with the caption it
    was edited towards, are fake.

    Training (`fit` on batches `{"image", "token_ids", "edit_token_ids"}` and optionally
    `"target_image"`; `"mismatched_token_ids"` is accepted for `"edit_token_ids"`, so the text-to-
    image pipeline of `tfcmgen.data.make_dataset` trains an editor unpaired) computes, per step:

    - Generator: a fraction `reconstruction_fraction` of the examples (evenly spaced in the global
      batch) is edited towards its *own* caption and must give the source back (`pixel_loss`,
      weight `reconstruction_weight`); the others are edited towards the edit caption and must
      fool the discriminator (weight `adversarial_weight`), while an L1 term to the source
      (weight `content_weight`) keeps everything the edit does not need to change (a
      minimal-change prior). This is the unpaired SISGAN objective, the general path.
    - Paired supervision, synthetic data only: when the batch holds `"target_image"` (the true
      edited image, which the shapes renderer can draw) a `pixel_loss` term to it (weight
      `paired_weight`) is added for the edited examples. Real photos never come with such
      targets.
    - Discriminator: the matching-aware loss on (source, own caption) = real, (source, edit
      caption) = fake, (edited, edit caption) = fake.

    The generator step runs first and the discriminator then judges the very images it produced
    (detached): one editor pass per step instead of two, which matters on a CPU.

    Under `tf.distribute.MirroredStrategy` every loss is averaged over the global batch with
    `tf.nn.compute_average_loss`, batch norm statistics are synchronised, and random numbers are
    drawn for the global batch and sliced per replica.

    `call({"image": float32 [B, S, S, 3] in [-1, 1], "token_ids": int32 [B, L]})` returns the
    edited images float32 [B, S, S, 3] in [-1, 1]. `task` is `"edit"`.

    Args:
        vocabulary_size: int. Token ids are in [0, vocabulary_size); 0 is padding.
        max_length: int. Caption length in tokens. Defaults to 16.
        image_size: int. 32, 64, 128 or 256. Defaults to 64.
        embedding_dim: int. Word vector size. Defaults to 64.
        embedding_matrix: array [vocabulary_size, embedding_dim] or None. Initial word vectors of
            both text encoders (e.g. Word2Vec); not stored in the config (the weights are).
        text_pooling: str. One of `tfcmgen.registry.TEXT_POOLINGS`. Defaults to `"mean"`.
        fusion: str. How the text enters the feature maps, one of `tfcmgen.registry.FUSIONS`
            (see `FeatureFusion`). Defaults to `"film"`.
        encoder_layer: str. Where VGG16 is cut: `"block1_pool"` (1/2 resolution),
            `"block2_pool"` (1/4) or `"block3_pool"` (1/8). Defaults to `"block1_pool"`.
        encoder_weights: str or None. `"imagenet"`, a local VGG16 weights file, or None (random).
            Used at construction only; the config stores None (the values are in the weights).
        encoder_trainable: bool or None. Train the VGG16 layers. None means: trainable exactly
            when `encoder_weights` is None. Defaults to None.
        width: int. Channels of the fused feature maps. Defaults to 64.
        num_blocks: int. Residual fusion blocks. Defaults to 4.
        output_mode: str. `"masked_residual"`, `"residual"`, `"blend"` or `"direct"` (see
            above). Defaults to `"masked_residual"`.
        discriminator_width: int. Discriminator channel multiplier. Defaults to 32.
        spectral_norm: bool. Spectral normalisation in the discriminator. Defaults to True.
        reconstruction_fraction: float in [0, 1]. Share of examples edited towards their own
            caption. Defaults to 0.25.
        pixel_loss: str. `"mse"` or `"l1"`, per pixel, for the reconstruction and paired terms.
            Defaults to `"mse"` (see `PIXEL_LOSSES` for why).
        reconstruction_weight: float. Defaults to 100.0 (pix2pix weighs its L1 term 100 against
            the adversarial loss).
        paired_weight: float. Weight of the pixel loss to `"target_image"` when given. Defaults to
            100.0.
        content_weight: float. Weight of the L1 between edit and source (always L1: a sparse
            prior changes few pixels). Defaults to 1.0.
        adversarial_weight: float. Weight of the editor's adversarial loss. Defaults to 1.0.
        gp_weight: float. WGAN-GP penalty weight, used when compiled with `loss="wgan-gp"`.
            Defaults to 10.0.
        diff_augment: tuple of str. Caption-preserving DiffAugment policy for the discriminator's
            inputs (`"translation"`, `"cutout"`). Defaults to `("translation",)`.
        seed: int. Seed of the model's `SeedGenerator`. Defaults to 0.
        **kwargs: passed on to `keras.Model`.

    Example:

    >>> import numpy as np, keras
    >>> editor = TextImageEditor(vocabulary_size=20, max_length=6, image_size=32,
    ...                          embedding_dim=8, width=8, num_blocks=1, discriminator_width=4)
    >>> editor.compile(keras.optimizers.Adam(2e-4), keras.optimizers.Adam(4e-4))
    >>> edited = editor({"image": np.zeros((2, 32, 32, 3), "float32"),
    ...                  "token_ids": np.ones((2, 6), "int32")})
    >>> tuple(edited.shape)
    (2, 32, 32, 3)

    References:
        Dong et al. 2017, "Semantic Image Synthesis via Adversarial Learning" (SISGAN).
        Nam et al. 2018, "Text-Adaptive Generative Adversarial Networks" (TAGAN).
        Li et al. 2020, "ManiGAN: Text-Guided Image Manipulation".
        Perez et al. 2018, "FiLM"; Pumarola et al. 2018, "GANimation" (attention-mask blending).
        Reed et al. 2016, "Generative Adversarial Text to Image Synthesis" (matching-aware D).
    """

    task = "edit"

    LOSSES = ADVERSARIAL_LOSSES
    # The edit task's defaults (`tfcmgen.tasks.edit.EditTask.defaults`, measured by
    # bench/edit_quality.py): the editor learns from a reconstruction target and takes larger
    # learning rates than the GAN.
    AUTO_ADAM = (1e-3, 2e-3, 0.5, 0.999)
    AUTO_LOSS = "hinge"
    TRACKERS = (
        ("g_loss_tracker", "g_loss"),
        ("d_loss_tracker", "d_loss"),
        ("reconstruction_tracker", "reconstruction"),
        ("paired_tracker", "paired"),
        ("content_tracker", "content"),
        ("d_real_tracker", "d_real"),
        ("d_fake_tracker", "d_fake"),
    )

    def __init__(
        self,
        vocabulary_size,
        max_length=16,
        image_size=64,
        embedding_dim=64,
        embedding_matrix=None,
        text_pooling="mean",
        fusion="film",
        encoder_layer="block1_pool",
        encoder_weights=None,
        encoder_trainable=None,
        width=64,
        num_blocks=4,
        output_mode="masked_residual",
        discriminator_width=32,
        spectral_norm=True,
        reconstruction_fraction=0.25,
        pixel_loss="mse",
        reconstruction_weight=100.0,
        paired_weight=100.0,
        content_weight=1.0,
        adversarial_weight=1.0,
        gp_weight=10.0,
        diff_augment=("translation",),
        seed=0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        embedding_matrix = self._set_text_arguments(
            vocabulary_size, max_length, image_size, embedding_dim, embedding_matrix, text_pooling
        )
        check_choice("fusion", fusion, EDIT_FUSIONS)
        self.fusion = fusion
        check_choice("encoder_layer", encoder_layer, ENCODER_LAYERS)
        self.encoder_layer = encoder_layer
        if encoder_trainable is None:
            encoder_trainable = encoder_weights is None
        self.encoder_trainable = bool(encoder_trainable)
        self.width = check_positive_int("width", width)
        self.num_blocks = check_positive_int("num_blocks", num_blocks, minimum=0)
        check_choice("output_mode", output_mode, tuple(registry.OUTPUT_MODES))
        self.output_mode = output_mode
        self.discriminator_width = check_positive_int("discriminator_width", discriminator_width)
        self.spectral_norm = bool(spectral_norm)
        fraction = check_weight("reconstruction_fraction", reconstruction_fraction)
        if fraction > 1.0:
            raise ValueError(
                f"reconstruction_fraction must be in [0, 1]; received {reconstruction_fraction}"
            )
        self.reconstruction_fraction = fraction
        check_choice("pixel_loss", pixel_loss, tuple(PIXEL_LOSSES))
        self.pixel_loss = pixel_loss
        self.reconstruction_weight = check_weight("reconstruction_weight", reconstruction_weight)
        self.paired_weight = check_weight("paired_weight", paired_weight)
        self.content_weight = check_weight("content_weight", content_weight)
        self.adversarial_weight = check_weight("adversarial_weight", adversarial_weight)
        self.gp_weight = check_weight("gp_weight", gp_weight)
        self._set_randomness(diff_augment, seed)

        # ---- Editor (generator) ----
        self.text_encoder = self._text_encoder(embedding_matrix, "text_encoder")
        self.encoder = tfcm_layers.VGG16FeatureExtractor(
            self.encoder_layer,
            weights=encoder_weights,
            trainable=self.encoder_trainable,
            name="image_encoder",
        )
        # The fusion blocks work at 1/4 resolution at most (16x16 for 64x64 images): a strided
        # adapter after block1_pool, whose full-resolution maps would make them 4x dearer.
        self.adapter_strides = max(1, 4 // self.encoder.downsampling)
        self.adapter = keras.layers.Conv2D(
            self.width, 3, strides=self.adapter_strides, padding="same", name="adapter"
        )
        self.adapter_norm = keras.layers.BatchNormalization(
            momentum=0.9, synchronized=True, name="adapter_norm"
        )
        self.blocks = [
            FusedResidualBlock(self.width, fusion, name=f"residual{i}")
            for i in range(self.num_blocks)
        ]
        self.up_blocks = []
        channels = self.width
        downsampling = self.encoder.downsampling * self.adapter_strides
        for i in range(downsampling.bit_length() - 1):
            channels = max(8, channels // 2)
            self.up_blocks.append(UpsamplingBlock(channels, fusion, name=f"up{i}"))
        self.output_head = OUTPUTS[output_mode](name=f"{output_mode}_output")

        # ---- Matching-aware discriminator, with its own text encoder ----
        self.discriminator_text_encoder = self._text_encoder(
            embedding_matrix, "discriminator_text_encoder"
        )
        self.discriminator = Discriminator(
            image_size=self.image_size,
            base_width=self.discriminator_width,
            spectral_norm=self.spectral_norm,
            head="matching",
            name="discriminator",
        )
        self._build_all()
        self.g_optimizer = None
        self.d_optimizer = None

    # ----------------------------------------------------------------------------------------
    # Construction
    # ----------------------------------------------------------------------------------------

    def _build_all(self):
        """Creates every variable now, so optimizers can be built in `compile` (see there)."""
        images = tf.zeros([1, self.image_size, self.image_size, 3])
        token_ids = tf.ones([1, self.max_length], tf.int32)
        self.edit(images, token_ids, training=False)
        sentence, _ = self.discriminator_text_encoder(token_ids)
        self.discriminator([images, sentence])
        self.built = True

    @property
    def generator_variables(self):
        """Variables the editor optimizer trains: its text encoder, VGG16 if trainable, the rest."""
        layers = [self.text_encoder, self.encoder, self.adapter, self.adapter_norm,
                  *self.blocks, *self.up_blocks, self.output_head]
        return [w for layer in layers for w in layer.trainable_weights]

    @property
    def discriminator_variables(self):
        """Variables the discriminator optimizer trains: discriminator and its text encoder."""
        return (self.discriminator.trainable_weights
                + self.discriminator_text_encoder.trainable_weights)

    # ----------------------------------------------------------------------------------------
    # Editing
    # ----------------------------------------------------------------------------------------

    def edit(self, images, token_ids, training=False):
        """Edited images float32 [B, S, S, 3] for `images` in [-1, 1] and caption `token_ids`.

        Given caption strings instead (a model from `from_preset`, or after `attach_tokenizer`),
        takes uint8 images of any size (grey, RGB or RGBA; one per caption, one for all, or many
        for one caption) and returns uint8 edited images [N, S, S, 3].
        """
        if is_text(token_ids):
            images, captions = pair_captions(
                prepare_source_images(images, self.image_size),
                [token_ids] if isinstance(token_ids, str) else list(token_ids),
            )
            edited = self.edit(to_float(images), self.caption_ids(captions), training=False)
            return to_uint8(np.asarray(edited))
        images = ops.cast(images, "float32")
        sentence, _ = self.text_encoder(token_ids, training=training)
        features = self.encoder(images, training=training)
        x = ops.relu(self.adapter_norm(self.adapter(features), training=training))
        for block in self.blocks:
            x = block(x, sentence, training=training)
        for block in self.up_blocks:
            x = block(x, sentence, training=training)
        # The source joins again at full resolution: exact copies of fine detail need it.
        return self.output_head(ops.concatenate([x, images], axis=-1), images)

    def call(self, inputs, training=False):
        if not isinstance(inputs, dict) or "image" not in inputs or "token_ids" not in inputs:
            received = sorted(inputs) if isinstance(inputs, dict) else type(inputs).__name__
            raise ValueError(
                "TextImageEditor takes a dict {'image': float32 [B, S, S, 3] in [-1, 1], "
                f"'token_ids': int32 [B, max_length]}}; received {received}"
            )
        images = tf.convert_to_tensor(inputs["image"], tf.float32)
        token_ids = tf.convert_to_tensor(inputs["token_ids"])
        expected = (self.image_size, self.image_size, 3)
        if images.shape.rank != 4 or tuple(images.shape[1:]) != expected:
            raise ValueError(
                f"image must have shape [batch, {self.image_size}, {self.image_size}, 3]; "
                f"received shape {images.shape}"
            )
        if token_ids.shape.rank != 2 or token_ids.shape[1] != self.max_length:
            raise ValueError(
                f"token_ids must have shape [batch, max_length={self.max_length}]; "
                f"received shape {token_ids.shape}"
            )
        return self.edit(images, token_ids, training=training)

    # ----------------------------------------------------------------------------------------
    # Compile
    # ----------------------------------------------------------------------------------------

    def compile(self, g_optimizer="auto", d_optimizer="auto", loss="auto", **kwargs):
        """Sets the editor and discriminator optimizers and the adversarial loss.

        Args:
            g_optimizer: keras optimizer for the editor (its text encoder included), or
                `"auto"`: Adam(1e-3, beta_1=0.5, beta_2=0.999), the edit task's default. Defaults
                to `"auto"`.
            d_optimizer: keras optimizer for the discriminator and its text encoder; a different
                instance from `g_optimizer`. `"auto"`: Adam(2e-3, beta_1=0.5, beta_2=0.999).
                Defaults to `"auto"`.
            loss: str. One of `tfcmgen.registry.LOSSES`: `"hinge"`, `"bce"`, `"wgan"` or
                `"wgan-gp"` (plus the gradient penalty weighted by `gp_weight`; see
                `tfcmgen.losses`), or `"auto"` (`"hinge"`). Defaults to `"auto"`.
            **kwargs: passed on to `keras.Model.compile` (e.g. `jit_compile`).
        """
        self._compile_players(g_optimizer, d_optimizer, loss, **kwargs)

    # ----------------------------------------------------------------------------------------
    # Serialization
    # ----------------------------------------------------------------------------------------

    def get_config(self):
        config = super().get_config()
        config.update(self._text_config())
        config.update(
            {
                "fusion": self.fusion,
                "encoder_layer": self.encoder_layer,
                # The initial VGG weights live on in the saved weights.
                "encoder_weights": None,
                "encoder_trainable": self.encoder_trainable,
                "width": self.width,
                "num_blocks": self.num_blocks,
                "output_mode": self.output_mode,
                "discriminator_width": self.discriminator_width,
                "spectral_norm": self.spectral_norm,
                "reconstruction_fraction": self.reconstruction_fraction,
                "pixel_loss": self.pixel_loss,
                "reconstruction_weight": self.reconstruction_weight,
                "paired_weight": self.paired_weight,
                "content_weight": self.content_weight,
                "adversarial_weight": self.adversarial_weight,
                "gp_weight": self.gp_weight,
                "diff_augment": list(self.diff_augment),
                "seed": self.seed,
            }
        )
        return config
