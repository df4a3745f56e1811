"""Flips never make a caption false: captions that place two things only by word order keep
their images unmirrored (`flippable_captions`, `Augmentation(flippable=)`, the pipeline, the
"auto" decision)."""

import itertools

import numpy as np
import tensorflow as tf

from tfcmgen.data import CaptionedImages
from tfcmgen.data.augmentation import Augmentation, decide_augmentation, flippable_captions
from tfcmgen.data.pipeline import make_dataset

# A two-object folder's captions and what a mirror image (with "left"/"right" swapped) does to
# each: True where the caption stays true.
CAPTIONS = {
    "a red circle and a blue square": False,  # the circle is on the left only by word order
    "a blue square and a red circle": False,
    "a red circle to the left of a blue square": True,  # becomes "... to the right of ..."
    "a red circle on the left, a blue square on the right": True,
    "a red circle above a blue square": True,  # a mirror image keeps "above" true
    "A Red Circle And A Blue Square.": False,  # case and punctuation do not matter
    "a red circle and a red circle": True,  # two equal things: the mirror image is alike
    "a red circle above a blue square and a green star": False,  # square..star by order only
    # One thing: always flippable; these also teach the kinds (red/blue/green, circle/square/star).
    "a red circle": True,
    "a blue circle": True,
    "a green circle": True,
    "a red square": True,
    "a red star": True,
    "a big red circle": True,
    "a big circle": True,  # big~red join one kind here; "big red" still names one thing
}


def test_flippable_flags_of_a_two_object_caption_set():
    flags = flippable_captions(list(CAPTIONS))
    assert dict(zip(CAPTIONS, flags.tolist())) == CAPTIONS


def _tokenizer(strings):
    words = tf.strings.split(strings).to_tensor(shape=[None, 12])
    return tf.cast(tf.strings.to_hash_bucket_fast(words, 100), tf.int32)


def test_augmentation_flips_only_flippable_examples_with_flip_probability_one():
    images = tf.reshape(tf.range(16, dtype=tf.float32), [2, 2, 4, 1])
    captions = tf.constant(["a red circle and a blue square",
                            "a red circle to the left of a blue square"])
    flippable = flippable_captions(list(CAPTIONS) + [c.decode() for c in captions.numpy()])[-2:]
    aug = Augmentation(flip_probability=1.0)
    out, swapped = aug(images, captions, seed=[0, 0], flippable=tf.constant(flippable))
    np.testing.assert_array_equal(out[0].numpy(), images[0].numpy())
    np.testing.assert_array_equal(out[1].numpy(), images[1].numpy()[:, ::-1])
    assert [c.decode() for c in swapped.numpy()] == [
        "a red circle and a blue square", "a red circle to the right of a blue square"]
    # Standalone, without flags, every example may flip (unseen captions are flippable).
    out, _ = aug(images, captions, seed=[0, 0])
    np.testing.assert_array_equal(out.numpy(), images.numpy()[:, :, ::-1])


def test_pipeline_never_mirrors_an_order_only_caption():
    captions = list(CAPTIONS)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(len(captions), 8, 8, 3), dtype=np.uint8)
    data = CaptionedImages(images, [[c] for c in captions], name="two objects")
    ds = make_dataset(data, _tokenizer, image_size=8, batch_size=len(captions), shuffle=False,
                      deterministic=True, augment=Augmentation(flip_probability=1.0),
                      include_captions=True)
    for epoch in range(2):
        batch = next(iter(ds))
        original = images.astype(np.float32) / 127.5 - 1.0
        for i, caption in enumerate(captions):
            image, got = batch["image"][i].numpy(), batch["caption"][i].numpy().decode()
            if CAPTIONS[caption]:
                np.testing.assert_allclose(image, original[i][:, ::-1], atol=1e-6)
                assert got == caption.replace("left", "\0").replace("right", "left") \
                    .replace("\0", "right")
            else:
                np.testing.assert_allclose(image, original[i], atol=1e-6)
                assert got == caption


def _order_only_captions():
    """Every "X and Y" caption of two things differing in colour and shape (36 captions)."""
    things = [f"{colour} {shape}" for colour, shape in
              itertools.product(("red", "green", "blue"), ("circle", "square", "star"))]
    return [f"a {a} and a {b}" for a, b in itertools.permutations(things, 2)
            if a.split()[0] != b.split()[0] and a.split()[1] != b.split()[1]]


def test_auto_reports_the_share_of_captions_that_keep_their_flips():
    order_only = _order_only_captions()
    one_thing = ["a red circle", "a blue circle", "a red square", "a green star"]
    images = np.random.default_rng(1).integers(0, 256, size=(128, 8, 8, 3), dtype=np.uint8)
    captions = [[order_only[i % len(order_only)]] if i % 2 else [one_thing[i % 4]]
                for i in range(128)]
    decision = decide_augmentation(images, captions, seed=0, size=8)
    assert (decision.flip_captions, decision.caption_count) == (64, 128)
    assert decision.flip_share == 0.5
    assert decision.flip_accuracy is not None  # flips are still possible: the mirror test ran
    assert "64 of 128 captions (50%)" in str(decision)


def test_auto_has_no_flip_at_all_when_every_caption_is_order_only():
    order_only = _order_only_captions()
    images = np.random.default_rng(2).integers(0, 256, size=(128, 8, 8, 3), dtype=np.uint8)
    # Per image, all its captions: the decision looks at every one.
    captions = [[order_only[i % len(order_only)], order_only[(i + 1) % len(order_only)]]
                for i in range(128)]
    decision = decide_augmentation(images, captions, seed=0, size=8)
    assert (decision.flip_captions, decision.caption_count) == (0, 256)
    assert "flip" not in decision.augment and decision.flip_accuracy is None
    text = str(decision)
    assert "no flip at all" in text and "(0%)" in text


def test_the_kinds_are_learnt_once_per_caption_set(monkeypatch):
    # Training asks twice (the "auto" decision, then make_dataset); learning the kinds takes
    # seconds on 100,000 captions.
    import tfcmgen.data.augmentation as augmentation

    calls = []
    learn = augmentation.word_classes
    monkeypatch.setattr(augmentation, "word_classes",
                        lambda *args, **kwargs: calls.append(1) or learn(*args, **kwargs))
    augmentation._flippable_with_learnt_kinds.cache_clear()
    captions = [*CAPTIONS, "a green square and a red star"]
    first = flippable_captions(captions)
    first[:] = False  # the caller's copy: the cached flags stay as they were
    second = flippable_captions(list(captions))
    assert len(calls) == 1
    assert dict(zip(CAPTIONS, second.tolist())) == CAPTIONS
    flippable_captions(captions[:-1])
    assert len(calls) == 2
