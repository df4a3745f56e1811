"""The loss trackers both models list in `metrics` (what `fit` logs, in this order).

Pinned so that the trackers `AdversarialModel` now creates from each class's `TRACKERS` stay what
each model created itself before: none before `compile`; the GAN's optional terms only where
their weight is on.
"""

from __future__ import annotations

import pytest

from .conftest import TINY

GAN_ALWAYS = ["d_loss", "g_loss", "kl", "d_real", "d_fake"]


@pytest.mark.parametrize("loss, overrides, optional", [
    ("hinge", {}, ["contrastive", "diversity"]),
    ("wgan-gp", {}, ["gp", "contrastive", "diversity"]),
    ("hinge", {"contrastive_weight": 0.0, "diversity_weight": 0.0}, []),
    ("hinge", {"ma_gp_weight": 1.0, "diversity_weight": 0.0}, ["gp", "contrastive"]),
])
def test_gan_lists_its_trackers_after_compile(loss, overrides, optional):
    from tfcmgen.models import CrossModalGAN

    gan = CrossModalGAN(**{**TINY, **overrides})
    assert gan.metrics == []
    gan.compile(loss=loss)
    assert [m.name for m in gan.metrics] == GAN_ALWAYS + optional
    assert gan.penalty_tracker.name == "gp"  # created even where not listed


def test_editor_lists_its_trackers_after_compile():
    from tfcmgen.models import TextImageEditor

    editor = TextImageEditor(vocabulary_size=10, max_length=6, image_size=32, embedding_dim=8,
                             width=8, num_blocks=1, discriminator_width=4)
    assert editor.metrics == []
    editor.compile()
    assert [m.name for m in editor.metrics] == [
        "g_loss", "d_loss", "reconstruction", "paired", "content", "d_real", "d_fake"]
