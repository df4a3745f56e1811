"""The training half of `CrossModalGAN`: its regularisers, losses, `train_step` and `test_step`.

A mixin so that `cross_modal_gan.py` holds the model's structure (construction, generation,
compile, serialization) and this file what one training step computes. Every size, weight and
switch it reads is an attribute `CrossModalGAN.__init__` sets.
"""

from __future__ import annotations

import contextlib

import keras
import tensorflow as tf

from tfcmgen import losses as tfcm_losses


class GANTrainingSteps:
    """Regularisers (KL, MA-GP, contrastive), the discriminator and generator losses, the EMA
    update and `train_step` / `test_step` of `CrossModalGAN`."""

    # ----------------------------------------------------------------------------------------
    # Regularisers
    # ----------------------------------------------------------------------------------------

    def kl_loss(self, kl, global_batch):
        """Conditioning Augmentation KL term, `KL(N(mu, sigma^2) || N(0, I))`, global-batch mean.

        Reference: Zhang et al. 2017, "StackGAN". A per-example vector is averaged over the global
        batch; a scalar (the layer's own mean over the local batch) is divided by the replica count
        so the replicas' sum is the global mean.
        """
        kl = tf.cast(kl, tf.float32)
        if kl.shape.rank == 0:
            return kl / tf.cast(self.distribute_strategy.num_replicas_in_sync, tf.float32)
        return tf.nn.compute_average_loss(kl, global_batch_size=global_batch)

    def matching_aware_gradient_penalty(self, gradients_images, gradients_sentence):
        """MA-GP per example: `(||dD/dx||^2 + ||dD/ds||^2)^(p/2)` at real images with their captions.

        Multiplied by `ma_gp_weight` (k) by the caller: `k * E[||grad_(x,s) D(x, s)||^p]`, p = 6.
        It smooths the discriminator around matching real pairs, which makes its judgement of
        text-image agreement easier for the generator to follow.
        Reference: Tao et al. 2022, "DF-GAN: A Simple and Effective Baseline for Text-to-Image
        Synthesis", section 3.3.
        """
        squared = tf.reduce_sum(tf.square(gradients_images), axis=[1, 2, 3])
        squared += tf.reduce_sum(tf.square(gradients_sentence), axis=-1)
        return tf.pow(squared + 1e-12, self.MA_GP_EXPONENT / 2.0)

    def _contrastive(self, features, sentence, batch, mismatched_sentence=None):
        """Per-example image-text contrastive loss of D's embeddings (see `contrastive_weight`).

        The negatives are the whole global batch: under a distribution strategy the embeddings
        are all-gathered (the gather's gradient reaches every replica), so N replicas take the
        step of one device. With `contrastive_mismatched`, each image's mismatched caption is
        one more negative of its own.
        """
        image, text = self.discriminator.contrastive_embed(features, sentence)
        hard = None
        if self.contrastive_mismatched and mismatched_sentence is not None:
            hard = self.discriminator.contrastive_text_embed(mismatched_sentence)
        all_images, all_texts, offset = image, text, 0
        if self.distribute_strategy.num_replicas_in_sync > 1:
            context = tf.distribute.get_replica_context()
            all_images = context.all_gather(image, axis=0)
            all_texts = context.all_gather(text, axis=0)
            offset = batch[2]
        return tfcm_losses.contrastive_loss(
            image, text, self.CONTRASTIVE_TEMPERATURE, all_images, all_texts, offset, hard
        )

    def _penalty_weight(self):
        if getattr(self, "loss_name", None) == "wgan-gp":
            return self.gp_weight + self.ma_gp_weight
        return self.ma_gp_weight

    # ----------------------------------------------------------------------------------------
    # Training
    # ----------------------------------------------------------------------------------------

    def _encode(self, token_ids, mismatched_token_ids, training):
        """One text-encoder pass over captions and mismatched captions together."""
        local = tf.shape(token_ids)[0]
        sentences, _ = self.text_encoder(
            tf.concat([token_ids, mismatched_token_ids], axis=0), training=training
        )
        return sentences[:local], sentences[local:]

    def _discriminator_loss(self, real, sentence, mismatched_sentence, fake, batch):
        """Matching-aware discriminator loss on one batch; returns (loss, logs)."""
        local, global_batch, _ = batch
        real_aug = self._augment(real, batch)
        fake_aug = self._augment(fake, batch)
        # The MA-GP needs dD/d(real, sentence); the inner tape only records when it is used.
        penalty_tape = tf.GradientTape(watch_accessed_variables=False)
        with penalty_tape if self.ma_gp_weight > 0 else contextlib.nullcontext():
            if self.ma_gp_weight > 0:
                penalty_tape.watch([real_aug, sentence])
            # One trunk pass over real and fake; the text only enters the cheap head, so the
            # mismatched pair reuses the real images' features.
            features = self.discriminator.features(
                tf.concat([real_aug, fake_aug], axis=0), training=True
            )
            real_features, fake_features = features[:local], features[local:]
            real_logits = self.discriminator.head_logits(real_features, sentence, training=True)
        mismatched_logits = self.discriminator.head_logits(
            real_features, mismatched_sentence, training=True
        )
        fake_logits = self.discriminator.head_logits(fake_features, sentence, training=True)
        per_example = self.d_loss_fn(real_logits, fake_logits, mismatched_logits)
        d_loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)

        penalty = tf.zeros([])
        if self.ma_gp_weight > 0:
            # A vector target sums the per-example gradients; each example's logit depends only
            # on its own inputs, so these are per-example gradients.
            grad_images, grad_sentence = penalty_tape.gradient(real_logits, [real_aug, sentence])
            ma_gp = self.matching_aware_gradient_penalty(grad_images, grad_sentence)
            penalty += self.ma_gp_weight * tf.nn.compute_average_loss(
                ma_gp, global_batch_size=global_batch
            )
        if self.loss_name == "wgan-gp" and self.gp_weight > 0:
            gp = self.gradient_penalty(
                real_aug, fake_aug, sentence, self._draw("uniform", batch, 1)
            )
            penalty += self.gp_weight * tf.nn.compute_average_loss(
                gp, global_batch_size=global_batch
            )
        logs = {
            "d_loss": per_example,
            "d_real": real_logits,
            "d_fake": fake_logits,
            "gp": penalty,
        }
        if self.contrastive_weight > 0:
            contrastive = self._contrastive(real_features, sentence, batch, mismatched_sentence)
            logs["contrastive"] = contrastive
            d_loss += self.contrastive_weight * tf.nn.compute_average_loss(
                contrastive, global_batch_size=global_batch
            )
        return d_loss + penalty, logs

    def _generator_loss(self, token_ids, mismatched_token_ids, batch, training, other=None):
        """Adversarial generator loss (+ contrastive, GAN-INT, diversity, CA KL) on one batch;
        returns (loss, logs).

        `other` is `(images, noise)` drawn for the same captions in the discriminator half of the
        step (constants here), for the diversity loss.
        """
        local, global_batch, _ = batch
        # The sentence is a constant for the generator: the text encoder learns with D.
        sentence, mismatched_sentence = self._encode(token_ids, mismatched_token_ids, training)
        sentence = tf.stop_gradient(sentence)
        noise = self._draw("normal", batch, self.noise_dim)
        if self.gan_int_weight > 0:
            # GAN-INT: interpolated sentences lie near the data manifold of captions; the
            # generator must make them look real too (Reed et al. 2016, section 4.3).
            interpolated = 0.5 * (sentence + tf.stop_gradient(mismatched_sentence))
            sentences = tf.concat([sentence, interpolated], axis=0)
            noise = tf.concat([noise, self._draw("normal", batch, self.noise_dim)], axis=0)
        else:
            sentences = sentence
        condition, kl = self._condition(sentences, self._live_side(), training)
        fake = self._generate_from_condition(condition, noise, self._live_side(), training)
        if self.gan_int_weight > 0:
            fake_aug = tf.concat(
                [self._augment(fake[:local], batch), self._augment(fake[local:], batch)], axis=0
            )
        else:
            fake_aug = self._augment(fake, batch)
        fake_features = self.discriminator.features(fake_aug, training=training)
        logits = self.discriminator.head_logits(fake_features, sentences, training=training)
        per_example = self.g_loss_fn(logits[:local])
        g_loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
        if self.contrastive_weight > 0:
            g_loss += self.contrastive_weight * tf.nn.compute_average_loss(
                self._contrastive(
                    fake_features[:local], sentence, batch, tf.stop_gradient(mismatched_sentence)
                ),
                global_batch_size=global_batch,
            )
        if self.gan_int_weight > 0:
            g_loss += self.gan_int_weight * tf.nn.compute_average_loss(
                self.g_loss_fn(logits[local:]), global_batch_size=global_batch
            )
        diversity = tf.zeros([local])
        if self.diversity_weight > 0 and other is not None:
            other_images, other_noise = other
            diversity = tfcm_losses.diversity_loss(
                fake[:local], tf.stop_gradient(other_images), noise[:local], other_noise,
                self.diversity_cap,
            )
            g_loss += self.diversity_weight * tf.nn.compute_average_loss(
                diversity, global_batch_size=global_batch
            )
        kl_term = self.kl_loss(kl, global_batch) if self.use_ca else tf.zeros([])
        logs = {"g_loss": per_example, "kl": kl_term, "diversity": -diversity}
        return g_loss + self.kl_weight * kl_term, logs

    def _update_ema(self):
        """`ema = d * ema + (1 - d) * w` with `d = min(ema_decay, (1 + t) / (10 + t))`.

        The warm-up lets the average follow the fast early changes of short runs.
        Reference: Yazici et al. 2019; Karras et al. 2018 (generator EMA for sampling).
        """
        step = tf.cast(self.g_optimizer.iterations, tf.float32)
        decay = tf.minimum(self.ema_decay, (1.0 + step) / (10.0 + step))
        for ema, live in zip(self._side_weights(self._ema_side()),
                             self._side_weights(self._live_side())):
            ema.assign(decay * ema + (1.0 - decay) * tf.cast(live, ema.dtype))

    def _update_trackers(self, logs, replicas):
        self.d_loss_tracker.update_state(logs["d_loss"])
        self.g_loss_tracker.update_state(logs["g_loss"])
        self.d_real_tracker.update_state(logs["d_real"])
        self.d_fake_tracker.update_state(logs["d_fake"])
        # Scalars averaged over the global batch are 1/replicas of the global value on each
        # replica; times the replica count they are this replica's mean, which Mean averages.
        self.kl_tracker.update_state(logs["kl"] * replicas)
        if self._penalty_weight() > 0:
            self.penalty_tracker.update_state(logs["gp"] * replicas)
        if self.contrastive_weight > 0:
            self.contrastive_tracker.update_state(logs["contrastive"])
        if self.diversity_weight > 0:
            self.diversity_tracker.update_state(logs["diversity"])

    def train_step(self, data):
        # train_on_batch packs its argument as (x,); fit on a dataset of dicts passes the dict.
        data, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        real = tf.convert_to_tensor(data["image"], tf.float32)
        token_ids = data["token_ids"]
        mismatched_token_ids = data["mismatched_token_ids"]
        batch = self._replica_batch(real)
        replicas = self.distribute_strategy.num_replicas_in_sync

        # ---- Discriminator: real+caption = real, real+mismatched = fake, fake+caption = fake ----
        noise = self._draw("normal", batch, self.noise_dim)
        with tf.GradientTape() as tape:
            sentence, mismatched_sentence = self._encode(token_ids, mismatched_token_ids, True)
            # The fake images are constants for D: not recording the generator saves memory.
            with tape.stop_recording():
                fake = self._generate_from_sentence(
                    sentence, noise, self._live_side(), training=True
                )
            d_loss, d_logs = self._discriminator_loss(
                real, sentence, mismatched_sentence, fake, batch
            )
            scaled = self.d_optimizer.scale_loss(d_loss)
        gradients = tape.gradient(scaled, self.discriminator_variables)
        self.d_optimizer.apply_gradients(zip(gradients, self.discriminator_variables))

        # ---- Generator: fake+caption should look real to the updated discriminator ----
        with tf.GradientTape() as tape:
            g_loss, g_logs = self._generator_loss(
                token_ids, mismatched_token_ids, batch, True, other=(fake, noise)
            )
            scaled = self.g_optimizer.scale_loss(g_loss)
        gradients = tape.gradient(scaled, self.generator_variables)
        self.g_optimizer.apply_gradients(zip(gradients, self.generator_variables))
        self._update_ema()

        self._update_trackers({**d_logs, **g_logs}, replicas)
        return self._step_logs()

    def test_step(self, data):
        data, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        real = tf.convert_to_tensor(data["image"], tf.float32)
        token_ids = data["token_ids"]
        mismatched_token_ids = data["mismatched_token_ids"]
        batch = self._replica_batch(real)
        sentence, mismatched_sentence = self._encode(token_ids, mismatched_token_ids, False)
        noise = self._draw("normal", batch, self.noise_dim)
        fake = self._generate_from_sentence(sentence, noise, self._live_side(), False)
        _, d_logs = self._discriminator_loss(real, sentence, mismatched_sentence, fake, batch)
        _, g_logs = self._generator_loss(
            token_ids, mismatched_token_ids, batch, False, other=(fake, noise)
        )
        self._update_trackers(
            {**d_logs, **g_logs}, self.distribute_strategy.num_replicas_in_sync
        )
        return self._step_logs()
