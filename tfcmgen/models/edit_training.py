"""The training half of `TextImageEditor`: the reconstruction mask, the editor and
discriminator losses, `train_step` and `test_step`.

A mixin so that `text_image_editor.py` holds the model's structure (construction, editing,
compile, serialization) and this file what one training step computes.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from tfcmgen.models.edit_blocks import PIXEL_LOSSES, per_example_l1


class EditTrainingSteps:
    """Losses and `train_step` / `test_step` of `TextImageEditor`."""

    # ----------------------------------------------------------------------------------------
    # Training
    # ----------------------------------------------------------------------------------------

    def reconstruction_mask(self, batch):
        """float32 [local batch]: 1 for the examples edited towards their own caption.

        `floor((i + 1) f) > floor(i f)` for global index i marks exactly `f` of the examples, evenly
        spaced, with no random draw: the same examples on one device and on N replicas.
        """
        local, _, offset = batch
        index = tf.cast(tf.range(local) + offset, tf.float32)
        fraction = self.reconstruction_fraction
        marked = tf.floor((index + 1.0) * fraction) > tf.floor(index * fraction)
        return tf.cast(marked, tf.float32)

    def _mean(self, per_example, global_batch):
        return tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)

    def _generator_loss(self, data, training):
        """Every term of one step except the discriminator update; returns (g_loss, logs, parts)."""
        source = tf.convert_to_tensor(data["image"], tf.float32)
        token_ids = data["token_ids"]
        edit_token_ids = data["edit_token_ids"] if "edit_token_ids" in data else data[
            "mismatched_token_ids"]
        batch = self._replica_batch(source)
        _, global_batch, _ = batch
        is_reconstruction = self.reconstruction_mask(batch)
        is_edit = 1.0 - is_reconstruction
        captions = tf.where(is_reconstruction[:, None] > 0, token_ids, edit_token_ids)

        edited = self.edit(source, captions, training=training)
        sentence, _ = self.discriminator_text_encoder(captions, training=training)
        features = self.discriminator.features(self._augment(edited, batch), training=training)
        logits = self.discriminator.head_logits(features, sentence, training=training)
        adversarial = self._mean(self.adversarial_weight * self.g_loss_fn(logits), global_batch)
        pixel_loss = PIXEL_LOSSES[self.pixel_loss]
        reconstruction = self._mean(is_reconstruction * pixel_loss(edited, source), global_batch)
        # L1, whatever `pixel_loss` is: a sparse, minimal-change prior (change few pixels).
        content = self._mean(is_edit * per_example_l1(edited, source), global_batch)
        g_loss = (adversarial + self.reconstruction_weight * reconstruction
                  + self.content_weight * content)
        paired = tf.zeros([])
        if "target_image" in data and self.paired_weight > 0:
            paired = self._mean(is_edit * pixel_loss(edited, data["target_image"]), global_batch)
            g_loss += self.paired_weight * paired
        logs = {"g_loss": adversarial, "reconstruction": reconstruction, "content": content,
                "paired": paired}
        parts = (source, token_ids, edit_token_ids, captions, edited, batch)
        return g_loss, logs, parts

    def _discriminator_loss(self, source, token_ids, edit_token_ids, captions, edited, batch,
                            training):
        """Matching-aware loss: (source, own caption) real; (source, edit caption), (edit) fake."""
        local, global_batch, _ = batch
        sentences, _ = self.discriminator_text_encoder(
            tf.concat([token_ids, edit_token_ids, captions], axis=0), training=training
        )
        sentence, mismatched, edit_sentence = (
            sentences[:local], sentences[local : 2 * local], sentences[2 * local :]
        )
        # One trunk pass over real and edited images; the text only enters the cheap head.
        features = self.discriminator.features(
            tf.concat([self._augment(source, batch), self._augment(edited, batch)], axis=0),
            training=training,
        )
        real_features, fake_features = features[:local], features[local:]
        real_logits = self.discriminator.head_logits(real_features, sentence, training=training)
        mismatched_logits = self.discriminator.head_logits(
            real_features, mismatched, training=training
        )
        fake_logits = self.discriminator.head_logits(
            fake_features, edit_sentence, training=training
        )
        per_example = self.d_loss_fn(real_logits, fake_logits, mismatched_logits)
        logs = {"d_loss": self._mean(per_example, global_batch),
                "d_real": self._mean(real_logits, global_batch),
                "d_fake": self._mean(fake_logits, global_batch)}
        d_loss = logs["d_loss"]
        if self.loss_name == "wgan-gp" and self.gp_weight > 0:
            # Between each source and its edit, judged with the edit's caption.
            uniform = self._draw("uniform", batch, 1)
            real_aug, fake_aug = self._augment(source, batch), self._augment(edited, batch)
            gp = self.gradient_penalty(real_aug, fake_aug, edit_sentence, uniform)
            d_loss += self.gp_weight * self._mean(gp, global_batch)
        return d_loss, logs

    def _update_trackers(self, logs):
        # Each value is this replica's share of a global-batch mean; times the replica count it is
        # this replica's mean, which Mean then averages over replicas.
        replicas = float(self.distribute_strategy.num_replicas_in_sync)
        for name, tracker in (("g_loss", self.g_loss_tracker), ("d_loss", self.d_loss_tracker),
                              ("reconstruction", self.reconstruction_tracker),
                              ("paired", self.paired_tracker), ("content", self.content_tracker),
                              ("d_real", self.d_real_tracker), ("d_fake", self.d_fake_tracker)):
            tracker.update_state(logs[name] * replicas)

    def train_step(self, data):
        # train_on_batch packs its argument as (x,); fit on a dataset of dicts passes the dict.
        data, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        # ---- Editor: reconstruct with the own caption, fool D with the edit caption ----
        with tf.GradientTape() as tape:
            g_loss, g_logs, parts = self._generator_loss(data, training=True)
            scaled = self.g_optimizer.scale_loss(g_loss)
        variables = self.generator_variables
        gradients = tape.gradient(scaled, variables)
        self.g_optimizer.apply_gradients(zip(gradients, variables))

        # ---- Discriminator: judges the edits just made (detached), and the sources ----
        source, token_ids, edit_token_ids, captions, edited, batch = parts
        with tf.GradientTape() as tape:
            d_loss, d_logs = self._discriminator_loss(
                source, token_ids, edit_token_ids, captions, tf.stop_gradient(edited), batch,
                training=True,
            )
            scaled = self.d_optimizer.scale_loss(d_loss)
        variables = self.discriminator_variables
        gradients = tape.gradient(scaled, variables)
        self.d_optimizer.apply_gradients(zip(gradients, variables))

        self._update_trackers({**g_logs, **d_logs})
        return self._step_logs()

    def test_step(self, data):
        data, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        _, g_logs, parts = self._generator_loss(data, training=False)
        _, d_logs = self._discriminator_loss(*parts, training=False)
        self._update_trackers({**g_logs, **d_logs})
        return self._step_logs()
