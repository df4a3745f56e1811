"""Adversarial losses as paired pure functions: `<kind>_generator_loss` / `<kind>_discriminator_loss`.

Every function takes discriminator logits and returns the loss **per example** (shape `[B]`, any
further axes averaged), so the caller decides the reduction. Under `tf.distribute` the caller must
average over the *global* batch (`tf.nn.compute_average_loss`), because Keras sums gradients across
replicas; a per-replica `reduce_mean` would scale gradients by the replica count.

The discriminator losses follow the matching-aware scheme of GAN-CLS (Reed et al. 2016): besides
real and generated images, the discriminator sees real images with *mismatched* captions and must
call them fake. When `mismatched_logits` is given the fake side is the mean of the two fake terms:
`loss = L_real(real) + (L_fake(fake) + L_fake(mismatched)) / 2`.

Example:

>>> import numpy as np
>>> from tfcmgen import losses
>>> g_loss_fn, d_loss_fn = losses.get("hinge")
>>> d = d_loss_fn(np.array([2.0, 0.5]), np.array([-2.0, 0.0]))
>>> [round(float(v), 3) for v in d]
[0.0, 1.5]

References:
    Reed et al. 2016, "Generative Adversarial Text to Image Synthesis" (GAN-CLS).
    Lim and Ye 2017, "Geometric GAN"; Miyato et al. 2018 (hinge loss).
    Goodfellow et al. 2014, "Generative Adversarial Nets" (non-saturating BCE).
    Arjovsky et al. 2017, "Wasserstein GAN"; Gulrajani et al. 2017, "Improved Training of
    Wasserstein GANs" (the gradient penalty that `"wgan-gp"` adds, see
    `CrossModalGAN.gradient_penalty`).
"""

from __future__ import annotations

import tensorflow as tf


def _per_example(values) -> tf.Tensor:
    """Logits of shape [B] or [B, ...] -> float32 [B] (extra axes averaged)."""
    values = tf.convert_to_tensor(values, dtype_hint=tf.float32)
    values = tf.cast(values, tf.float32)
    if values.shape.rank is not None and values.shape.rank > 1:
        values = tf.reduce_mean(values, axis=list(range(1, values.shape.rank)))
    return values


def _matching_aware(real_term, fake_term, mismatched_term):
    if mismatched_term is None:
        return real_term + fake_term
    return real_term + 0.5 * (fake_term + mismatched_term)


def hinge_generator_loss(fake_logits) -> tf.Tensor:
    """Hinge generator loss: `-D(G(z))`."""
    return -_per_example(fake_logits)


def hinge_discriminator_loss(real_logits, fake_logits, mismatched_logits=None) -> tf.Tensor:
    """Hinge discriminator loss: `relu(1 - D(x)) + relu(1 + D(G(z)))`."""
    real = tf.nn.relu(1.0 - _per_example(real_logits))
    fake = tf.nn.relu(1.0 + _per_example(fake_logits))
    mismatched = None
    if mismatched_logits is not None:
        mismatched = tf.nn.relu(1.0 + _per_example(mismatched_logits))
    return _matching_aware(real, fake, mismatched)


def bce_generator_loss(fake_logits) -> tf.Tensor:
    """Non-saturating generator loss: `-log sigmoid(D(G(z))) = softplus(-D(G(z)))`."""
    return tf.nn.softplus(-_per_example(fake_logits))


def bce_discriminator_loss(real_logits, fake_logits, mismatched_logits=None) -> tf.Tensor:
    """Binary cross-entropy on logits: `softplus(-D(x)) + softplus(D(G(z)))`."""
    real = tf.nn.softplus(-_per_example(real_logits))
    fake = tf.nn.softplus(_per_example(fake_logits))
    mismatched = None
    if mismatched_logits is not None:
        mismatched = tf.nn.softplus(_per_example(mismatched_logits))
    return _matching_aware(real, fake, mismatched)


def wgan_generator_loss(fake_logits) -> tf.Tensor:
    """Wasserstein generator loss: `-D(G(z))`."""
    return -_per_example(fake_logits)


def wgan_discriminator_loss(real_logits, fake_logits, mismatched_logits=None) -> tf.Tensor:
    """Wasserstein critic loss: `D(G(z)) - D(x)` (add a gradient penalty for WGAN-GP)."""
    real = -_per_example(real_logits)
    fake = _per_example(fake_logits)
    mismatched = None if mismatched_logits is None else _per_example(mismatched_logits)
    return _matching_aware(real, fake, mismatched)


# name -> (generator loss, discriminator loss). "wgan-gp" is the Wasserstein pair; the model adds
# the gradient penalty when it is compiled with that name.
LOSSES = {
    "hinge": (hinge_generator_loss, hinge_discriminator_loss),
    "bce": (bce_generator_loss, bce_discriminator_loss),
    "wgan": (wgan_generator_loss, wgan_discriminator_loss),
    "wgan-gp": (wgan_generator_loss, wgan_discriminator_loss),
}


def get(name: str):
    """Returns the `(generator_loss, discriminator_loss)` pair registered under `name`.

    Args:
        name: str. One of `"hinge"`, `"bce"`, `"wgan"`, `"wgan-gp"`.
    """
    if name not in LOSSES:
        shown = ", ".join(repr(k) for k in LOSSES)
        raise ValueError(f"loss must be one of {shown}; received loss={name!r}")
    return LOSSES[name]


def contrastive_loss(image_embeddings, text_embeddings, temperature=0.1, all_images=None,
                     all_texts=None, offset=0, hard_negatives=None) -> tf.Tensor:
    """Symmetric image-text InfoNCE loss per example (shape `[B]`).

    Row i of `image_embeddings` and `text_embeddings` is one image and its own caption,
    L2-normalised. Every image is scored against every caption of the batch (`cos / temperature`);
    example i's loss is the mean of the cross-entropies of picking caption i for image i and image
    i for caption i; the batch's other captions (images) are the negatives.

    Under `tf.distribute`, pass the embeddings of the whole global batch as `all_images` /
    `all_texts` (`ReplicaContext.all_gather`, whose gradient reaches the other replicas) and this
    replica's first index in it as `offset`: the negatives are then the global batch's, and N
    replicas compute the loss of one device.

    `hard_negatives` (`[B, D]`, L2-normalised, optional): one more caption per image that it
    must not pick, e.g. the embedding of its mismatched caption; it joins only that image's
    image-to-caption softmax. In-batch negatives rarely differ from the caption in just one
    attribute; a near-miss caption (see `make_dataset(near_miss=...)`) makes the hard attributes
    count.

    Reference: Zhang et al. 2021, "Cross-Modal Contrastive Learning for Text-to-Image Generation"
    (XMC-GAN), image-sentence term; Oord et al. 2018 (InfoNCE).

    Example:

    >>> import numpy as np
    >>> eye = np.eye(2, dtype="float32")
    >>> [round(float(v), 4) for v in contrastive_loss(eye, eye, temperature=1.0)]
    [0.3133, 0.3133]
    """
    image_embeddings = tf.convert_to_tensor(image_embeddings, tf.float32)
    text_embeddings = tf.convert_to_tensor(text_embeddings, tf.float32)
    all_images = image_embeddings if all_images is None else all_images
    all_texts = text_embeddings if all_texts is None else all_texts
    labels = tf.range(tf.shape(image_embeddings)[0]) + offset
    image_to_text = tf.matmul(image_embeddings, all_texts, transpose_b=True) / temperature
    if hard_negatives is not None:
        hard = tf.reduce_sum(image_embeddings * tf.convert_to_tensor(hard_negatives, tf.float32),
                             axis=1, keepdims=True)
        image_to_text = tf.concat([image_to_text, hard / temperature], axis=1)
    text_to_image = tf.matmul(text_embeddings, all_images, transpose_b=True) / temperature
    return 0.5 * (
        tf.nn.sparse_softmax_cross_entropy_with_logits(labels, image_to_text)
        + tf.nn.sparse_softmax_cross_entropy_with_logits(labels, text_to_image)
    )


def diversity_loss(images, other_images, noise, other_noise, cap=0.2) -> tf.Tensor:
    """Diversity-sensitive generator loss per example (shape `[B]`): `-min(ratio, cap)`.

    Row i of `images` and `other_images` are two images generated for the same caption from the
    noise vectors `noise[i]` and `other_noise[i]`; `ratio = mean|image - other| / mean|noise -
    other noise|`. Minimising the loss pulls apart the images of different noise, so a
    conditional generator cannot ignore its noise (mode collapse); the cap stops the reward once
    the images differ as much as real images sharing a caption do (on the shapes data, mean L1
    0.22 on the [-1, 1] scale for a mean noise distance of 1.13). Either side may be a constant
    (`tf.stop_gradient`): the gradient through the other side alone still pushes apart.

    References: Yang et al. 2019, "Diversity-Sensitive Conditional Generative Adversarial
    Networks" (DSGAN: the capped form); Mao et al. 2019, "Mode Seeking Generative Adversarial
    Networks for Diverse and Realistic Image Synthesis" (MSGAN: the ratio).

    Example:

    >>> import numpy as np
    >>> a, b = np.zeros((2, 4, 4, 3), "float32"), np.full((2, 4, 4, 3), 0.1, "float32")
    >>> z, w = np.zeros((2, 8), "float32"), np.ones((2, 8), "float32")
    >>> [round(float(v), 3) for v in diversity_loss(a, b, z, w)]
    [-0.1, -0.1]
    >>> [round(float(v), 3) for v in diversity_loss(a, b + 1.0, z, w)]  # capped
    [-0.2, -0.2]
    """
    # Cast, not convert: under mixed precision the images arrive as float16 / bfloat16.
    images, other_images, noise, other_noise = (
        tf.cast(tf.convert_to_tensor(x), tf.float32)
        for x in (images, other_images, noise, other_noise)
    )
    batch = tf.shape(images)[0]
    image_distance = tf.reduce_mean(tf.abs(tf.reshape(images - other_images, [batch, -1])), axis=1)
    noise_distance = tf.reduce_mean(tf.abs(noise - other_noise), axis=1)
    return -tf.minimum(image_distance / (noise_distance + 1e-8), cap)
