"""AttributeClassifier: construction, input handling, save/load, and learning on real shapes."""

import os

import keras
import numpy as np
import pytest

from tfcmgen.metrics import AttributeClassifier, attribute_accuracy, shapes_attribute_values

VALUES = {"colour": ["red", "green", "blue"], "shape": ["circle", "square"]}


def _tiny(**kwargs):
    return AttributeClassifier(VALUES, image_size=16, width=4, feature_dim=8, **kwargs)


def _images(n=6, size=16, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, size, size, 3)).astype(np.uint8)


def test_outputs_one_softmax_per_attribute_and_features_of_feature_dim():
    classifier = _tiny()
    probabilities = classifier.predict_probabilities(_images())
    assert {k: v.shape for k, v in probabilities.items()} == {"colour": (6, 3), "shape": (6, 2)}
    for p in probabilities.values():
        np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)
    predicted = classifier.predict_attributes(_images())
    assert set(predicted["colour"]) <= set(VALUES["colour"]) and len(predicted["shape"]) == 6
    features = classifier.features(_images())
    assert features.shape == (6, 8) and features.dtype == np.float32


def test_uint8_and_float_inputs_agree_and_batching_does_not_matter():
    classifier = _tiny()
    images = _images(5)
    as_float = images.astype(np.float32) / 127.5 - 1.0
    np.testing.assert_allclose(
        classifier.features(images, batch_size=2), classifier.features(as_float), atol=1e-5
    )


def test_other_image_sizes_are_resized():
    classifier = _tiny()
    assert classifier.features(_images(3, size=32)).shape == (3, 8)
    # A flat image resized stays the same flat image.
    flat = np.full((1, 32, 32, 3), 200, np.uint8)
    np.testing.assert_allclose(
        classifier.features(flat), classifier.features(flat[:, :16, :16]), atol=1e-5
    )


def test_bad_images_are_rejected_with_what_was_received():
    classifier = _tiny()
    with pytest.raises(ValueError, match=r"\[N, H, W, 3\].*\(2, 16, 16, 1\)"):
        classifier.features(np.zeros((2, 16, 16, 1), np.uint8))
    with pytest.raises(ValueError, match=r"\[-1, 1\].*255"):
        classifier.features(np.full((2, 16, 16, 3), 255.0, np.float32))
    with pytest.raises(ValueError, match="dtype int64"):
        classifier.features(np.zeros((2, 16, 16, 3), np.int64))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"attribute_values": {}}, "non-empty dict"),
        ({"attribute_values": {"colour": ["red"]}}, "at least 2 values"),
        ({"attribute_values": {"colour": ["red", "red"]}}, "duplicates"),
        ({"attribute_values": VALUES, "image_size": 24}, "power of two.*24"),
        ({"attribute_values": VALUES, "width": 0}, "width=0"),
        ({"attribute_values": VALUES, "noise_stddev": -0.1}, "noise_stddev"),
    ],
)
def test_bad_constructor_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AttributeClassifier(**kwargs)


def test_unknown_attribute_value_is_named():
    with pytest.raises(ValueError, match=r"attributes\[1\]\['colour'\].*'purple'"):
        _tiny().encode_labels([
            {"colour": "red", "shape": "circle"},
            {"colour": "purple", "shape": "circle"},
        ])


def test_config_round_trip():
    classifier = _tiny(noise_stddev=0.1)
    clone = AttributeClassifier.from_config(classifier.get_config())
    assert clone.get_config() == classifier.get_config()
    assert clone.attribute_values == VALUES and clone.noise_stddev == 0.1


def test_save_and_load_without_custom_objects(tmp_path):
    classifier = _tiny()
    images = _images(8)
    attributes = [{"colour": VALUES["colour"][i % 3], "shape": VALUES["shape"][i % 2]}
                  for i in range(8)]
    classifier.fit_attributes(images, attributes, epochs=1, batch_size=4, verbose=0)
    path = str(tmp_path / "judge.keras")
    classifier.save(path)

    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, AttributeClassifier)
    np.testing.assert_allclose(loaded.features(images), classifier.features(images), atol=1e-6)
    assert loaded.predict_attributes(images) == classifier.predict_attributes(images)
    assert AttributeClassifier.load(path).get_config() == classifier.get_config()
    # The judge is saved without its optimizer state, unless asked.
    with_optimizer = str(tmp_path / "with_optimizer.keras")
    classifier.save(with_optimizer, include_optimizer=True)
    assert os.path.getsize(path) < os.path.getsize(with_optimizer)
    # A loaded judge was never compiled, and saves again.
    loaded.save(str(tmp_path / "again.keras"))
    np.testing.assert_allclose(AttributeClassifier.load(str(tmp_path / "again.keras"))
                               .features(images), classifier.features(images), atol=1e-6)


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.keras"):
        AttributeClassifier.load(str(tmp_path / "missing.keras"))
    path = str(tmp_path / "other.keras")
    keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]).save(path)
    with pytest.raises(TypeError, match="other.keras holds a Sequential"):
        AttributeClassifier.load(path)


def test_feature_scale_gives_unit_rms_and_only_rescales():
    classifier = _tiny()
    images = _images(16)
    raw = classifier.features(images)
    scale = classifier.fit_feature_scale(images)
    scaled = classifier.features(images)
    assert np.sqrt(np.mean(scaled.astype(np.float64) ** 2)) == pytest.approx(1.0, rel=1e-5)
    np.testing.assert_allclose(scaled, raw * scale, rtol=1e-5, atol=1e-7)


def test_time_budget_stops_training_early():
    classifier = _tiny()
    images = _images(64)
    attributes = [{"colour": "red", "shape": "circle"}] * 64
    history = classifier.fit_attributes(images, attributes, epochs=50, batch_size=8,
                                        minutes=1e-6, verbose=0)
    assert len(history.history["loss"]) == 1


# ------------------------------------------------------------------------ on real shapes images


def test_shapes_attribute_values_come_from_the_dataset():
    from tfcmgen.data import shapes

    values = shapes_attribute_values(("colour", "position"))
    assert values == {"colour": list(shapes.COLOURS), "position": list(shapes.POSITIONS)}
    with pytest.raises(ValueError, match="'texture'"):
        shapes_attribute_values(("texture",))


def test_learns_shapes_well_above_chance():
    from tfcmgen.data.shapes import load_shapes

    classifier = AttributeClassifier.train_on_shapes(
        image_size=32, num_images=640, epochs=3, batch_size=32, seed=0, width=16,
        attributes=("colour", "shape", "position"), verbose=0,
    )
    test = load_shapes(num_images=200, image_size=32, seed=123, captions_per_image=1,
                       split="all")
    accuracy = attribute_accuracy(classifier, test.images, test.attributes)
    print(accuracy)
    # Chance is 1/8 for colour, 1/6 for shape, 1/5 for position. Colour and position are learnt
    # first; shape needs more than three short epochs, so its margin is smaller.
    assert accuracy["colour"] > 0.8, accuracy
    assert accuracy["position"] > 0.9, accuracy
    assert accuracy["shape"] > 1 / 6 + 0.1, accuracy


@pytest.mark.slow
def test_reads_held_out_pairs_almost_perfectly_after_longer_training(tmp_path):
    from tfcmgen.data.shapes import load_shapes

    classifier = AttributeClassifier.train_on_shapes(
        image_size=32, num_images=4000, epochs=4, batch_size=64, seed=0, width=16, verbose=0,
    )
    # The colour+shape pairs held out of GAN training are in the classifier's training data,
    # so it reads them like any other pair.
    test = load_shapes(num_images=300, image_size=32, seed=7, captions_per_image=1,
                       split="held_out")
    accuracy = attribute_accuracy(classifier, test.images, test.attributes)
    for name in ("colour", "shape", "position", "size"):
        assert accuracy[name] >= 0.95, accuracy
    path = str(tmp_path / "judge.keras")
    classifier.save(path)
    assert attribute_accuracy(AttributeClassifier.load(path), test.images,
                              test.attributes) == accuracy


def test_blur_some_blurs_the_chosen_share_and_leaves_the_input_alone():
    from tfcmgen.metrics.attribute_classifier import blur_some

    images = np.random.default_rng(0).uniform(-1, 1, size=(200, 64, 64, 3)).astype(np.float32)
    before = images.copy()
    out = blur_some(images, 0.25, seed=1)
    np.testing.assert_array_equal(images, before)
    changed = np.any(out != images, axis=(1, 2, 3))
    assert 30 <= changed.sum() <= 70
    # Blurring smooths: the changed images lose high-frequency variance.
    assert out[changed].std() < 0.8 * images[changed].std()
    np.testing.assert_array_equal(blur_some(images, 0.0), images)
    with pytest.raises(ValueError, match="blur_fraction.*1.5"):
        blur_some(images, 1.5)
