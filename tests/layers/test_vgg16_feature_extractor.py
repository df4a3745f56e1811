import hashlib
import os

import h5py
import keras
import numpy as np
import pytest

from tfcmgen.layers import VGG16FeatureExtractor
from tfcmgen.layers import vgg16_feature_extractor as vgg_module

IMAGES = np.random.default_rng(0).uniform(-1, 1, size=(2, 32, 32, 3)).astype("float32")


def _reference_features(vgg, images, output_layer):
    """What the extractor must compute: Keras' own VGG preprocessing, then the truncated VGG16."""
    truncated = keras.Model(vgg.input, vgg.get_layer(output_layer).output)
    pixels = keras.applications.vgg16.preprocess_input((images + 1.0) * 127.5)
    return np.asarray(truncated(pixels))


def _write_legacy_notop_file(vgg, path, skip=()):
    """Writes weights the way the standard notop .h5 file stores them: by layer name."""
    with h5py.File(path, "w") as handle:
        names = [layer.name for layer in vgg.layers if layer.name not in skip]
        handle.attrs["layer_names"] = [name.encode("utf8") for name in names]
        for layer in vgg.layers:
            if layer.name in skip:
                continue
            group = handle.create_group(layer.name)
            weight_names = [f"{layer.name}_{kind}_1:0" for kind in ("W", "b")][: len(layer.weights)]
            group.attrs["weight_names"] = [name.encode("utf8") for name in weight_names]
            for name, weight in zip(weight_names, layer.get_weights()):
                group.create_dataset(name, data=weight)


@pytest.fixture(scope="module")
def full_vgg():
    return keras.applications.VGG16(include_top=False, weights=None, input_shape=(None, None, 3))


def test_trainable_extractor_passes_layer_test(layer_test):
    layer_test(
        VGG16FeatureExtractor,
        dict(output_layer="block1_pool", weights=None, trainable=True),
        IMAGES,
        expected_output_shape=(2, 16, 16, 64),
        expected_output_dtype="float32",
        expected_num_trainable_weights=4,
        atol=1e-4,
    )


def test_frozen_pooled_extractor_passes_layer_test(layer_test):
    layer_test(
        VGG16FeatureExtractor,
        dict(output_layer="block2_pool", pooling="max", weights=None),
        IMAGES,
        expected_output_shape=(2, 128),
        expected_num_trainable_weights=0,
        expected_num_non_trainable_weights=8,
        run_training_check=False,
        atol=1e-4,
    )


@pytest.mark.parametrize(
    "output_layer, size, shape",
    [
        ("block1_pool", 32, (2, 16, 16, 64)),
        ("block2_pool", 32, (2, 8, 8, 128)),
        ("block3_pool", 32, (2, 4, 4, 256)),
        ("block4_pool", 32, (2, 2, 2, 512)),
        ("block5_pool", 32, (2, 1, 1, 512)),
        ("block3_pool", 48, (2, 6, 6, 256)),
    ],
)
def test_output_shape_per_block(output_layer, size, shape):
    extractor = VGG16FeatureExtractor(output_layer, weights=None)
    images = np.zeros((2, size, size, 3), "float32")
    assert tuple(extractor(images).shape) == shape
    assert extractor.compute_output_shape(images.shape) == shape
    assert extractor.output_channels == shape[-1]


@pytest.mark.parametrize("pooling", ["avg", "max"])
def test_global_pooling(pooling):
    extractor = VGG16FeatureExtractor("block2_pool", pooling=pooling, weights=None)
    feature_map = np.asarray(extractor.backbone(extractor.preprocess(IMAGES)))
    reduce = np.mean if pooling == "avg" else np.max
    np.testing.assert_allclose(extractor(IMAGES), reduce(feature_map, axis=(1, 2)), rtol=1e-5)


def test_preprocessing_matches_keras_vgg16_preprocess_input():
    extractor = VGG16FeatureExtractor("block1_pool", weights=None)
    expected = keras.applications.vgg16.preprocess_input((IMAGES + 1.0) * 127.5)
    np.testing.assert_allclose(extractor.preprocess(IMAGES), expected, atol=1e-4)
    np.testing.assert_allclose(
        extractor(IMAGES), extractor.backbone(expected), rtol=1e-5, atol=1e-4
    )


def test_frozen_by_default_and_trainable_on_request():
    frozen = VGG16FeatureExtractor("block2_pool", weights=None)
    assert frozen.trainable_weights == [] and len(frozen.non_trainable_weights) == 8
    trainable = VGG16FeatureExtractor("block2_pool", weights=None, trainable=True)
    assert len(trainable.trainable_weights) == 8


def test_loads_a_keras_weights_file(full_vgg, tmp_path):
    path = str(tmp_path / "vgg16_notop.weights.h5")
    full_vgg.save_weights(path)
    extractor = VGG16FeatureExtractor("block3_pool", weights=path)
    expected = _reference_features(full_vgg, IMAGES, "block3_pool")
    np.testing.assert_allclose(extractor(IMAGES), expected, rtol=1e-5, atol=1e-4)


def test_loads_a_legacy_h5_file_by_layer_name(full_vgg, tmp_path):
    path = str(tmp_path / vgg_module.IMAGENET_WEIGHTS_FILE)
    _write_legacy_notop_file(full_vgg, path)
    extractor = VGG16FeatureExtractor("block2_pool", weights=path)
    expected = _reference_features(full_vgg, IMAGES, "block2_pool")
    np.testing.assert_allclose(extractor(IMAGES), expected, rtol=1e-5, atol=1e-4)


def test_legacy_file_missing_needed_layers_is_refused(full_vgg, tmp_path):
    path = str(tmp_path / "partial.h5")
    _write_legacy_notop_file(full_vgg, path, skip=("block3_conv2",))
    # Layers after the cut are not needed...
    VGG16FeatureExtractor("block2_pool", weights=path)
    # ...layers before it are.
    with pytest.raises(ValueError, match="block3_conv2"):
        VGG16FeatureExtractor("block3_pool", weights=path)


def test_imagenet_reads_the_keras_cache_and_never_downloads(full_vgg, tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    path = vgg_module.imagenet_cache_path()
    assert path == str(tmp_path / "models" / vgg_module.IMAGENET_WEIGHTS_FILE)
    os.makedirs(os.path.dirname(path))
    _write_legacy_notop_file(full_vgg, path)

    def no_download(*args, **kwargs):
        raise AssertionError("VGG16FeatureExtractor tried to download")

    monkeypatch.setattr(keras.utils, "get_file", no_download)
    # Our file is not the published one: its MD5 differs, and the error says so.
    with pytest.raises(RuntimeError, match="is damaged .*MD5"):
        VGG16FeatureExtractor("block1_pool", weights="imagenet")
    with open(path, "rb") as stream:
        digest = hashlib.md5(stream.read()).hexdigest()
    monkeypatch.setattr(vgg_module, "IMAGENET_WEIGHTS_HASH", digest)
    extractor = VGG16FeatureExtractor("block1_pool", weights="imagenet")
    expected = _reference_features(full_vgg, IMAGES, "block1_pool")
    np.testing.assert_allclose(extractor(IMAGES), expected, rtol=1e-5, atol=1e-4)


def test_imagenet_missing_from_the_cache_explains_what_to_pass(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(RuntimeError) as error:
        VGG16FeatureExtractor("block1_pool", weights="imagenet")
    message = str(error.value)
    assert "never downloads" in message and vgg_module.IMAGENET_WEIGHTS_FILE in message
    assert "--vgg-weights PATH" in message and "weights=None" in message


@pytest.mark.parametrize("weights", ["imagenet", "/etc/passwd.h5"])
def test_from_config_never_reads_or_fetches_weights(weights):
    config = VGG16FeatureExtractor("block1_pool", weights=None).get_config()
    config["weights"] = weights
    with pytest.raises(ValueError, match="must have weights=None .*refusing to read or fetch"):
        VGG16FeatureExtractor.from_config(config)


def test_saved_model_reloads_without_the_weights_file(full_vgg, tmp_path):
    weights_path = tmp_path / "vgg16_notop.weights.h5"
    full_vgg.save_weights(str(weights_path))
    extractor = VGG16FeatureExtractor("block1_pool", weights=str(weights_path))
    assert extractor.get_config()["weights"] is None
    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, extractor(inputs))
    model.save(tmp_path / "extractor.keras")
    weights_path.unlink()
    loaded = keras.saving.load_model(tmp_path / "extractor.keras")
    expected = _reference_features(full_vgg, IMAGES, "block1_pool")
    np.testing.assert_allclose(loaded(IMAGES), expected, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(output_layer="block3_conv1"), ValueError, "output_layer='block3_conv1'"),
        (dict(pooling="sum"), ValueError, "pooling='sum'"),
        (dict(weights=3), ValueError, "weights=3"),
        (dict(weights="/no/such/vgg16.h5"), FileNotFoundError, "/no/such/vgg16.h5"),
    ],
)
def test_bad_arguments_raise_naming_them(kwargs, error, message):
    with pytest.raises(error, match=message):
        VGG16FeatureExtractor(**kwargs)


def test_unsupported_weights_file_format_is_refused(tmp_path):
    path = tmp_path / "vgg16.npz"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match=r"'.weights.h5'.*received weights=.*vgg16.npz"):
        VGG16FeatureExtractor(weights=str(path))


@pytest.mark.parametrize(
    "shape, message",
    [((2, 16, 16, 3), "at least 32 pixels"), ((2, 32, 32, 1), r"\[batch, height, width, 3\]")],
)
def test_bad_images_raise(shape, message):
    extractor = VGG16FeatureExtractor("block5_pool", weights=None)
    with pytest.raises(ValueError, match=message):
        extractor(np.zeros(shape, "float32"))
