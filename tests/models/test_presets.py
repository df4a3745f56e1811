"""keras-hub's task shape: from_preset / save_to_preset, and the models taking raw captions and
uint8 images."""

import os

import numpy as np
import pytest

from tfcmgen.models import CrossModalGAN, TextImageEditor

CAPTIONS = ["a small red circle in the top left", "a large blue square in the center"]


@pytest.fixture(scope="module")
def bundled():
    return CrossModalGAN.from_preset("shapes64")


def test_bundled_preset_generates_what_load_generator_does(bundled):
    from tfcmgen import load_generator

    images = bundled.generate(CAPTIONS, seed=3)
    assert images.shape == (2, 64, 64, 3) and images.dtype == np.uint8
    np.testing.assert_array_equal(images, load_generator().generate(CAPTIONS, 1, seed=3))
    np.testing.assert_array_equal(bundled.generate(CAPTIONS[0], seed=3), images[:1])


def test_save_to_preset_round_trips_and_never_overwrites(bundled, tmp_path):
    folder = str(tmp_path / "preset")
    bundled.save_to_preset(folder)
    assert sorted(os.listdir(folder)) == ["model.keras", "vocab.txt"]
    again = CrossModalGAN.from_preset(folder)
    np.testing.assert_array_equal(again.generate(CAPTIONS, seed=1),
                                  bundled.generate(CAPTIONS, seed=1))
    before = os.path.getmtime(os.path.join(folder, "model.keras"))
    with pytest.raises(ValueError, match="new or empty folder"):
        bundled.save_to_preset(folder)
    assert os.path.getmtime(os.path.join(folder, "model.keras")) == before


def test_from_preset_names_what_is_wrong(tmp_path):
    with pytest.raises(ValueError, match="preset must be one of \\['shapes64'\\]"):
        CrossModalGAN.from_preset("shapes65")
    (tmp_path / "vocab.txt").write_text("[PAD]\n[UNK]\n")
    with pytest.raises(ValueError, match="missing model.keras"):
        CrossModalGAN.from_preset(str(tmp_path))
    with pytest.raises(ValueError, match="holds a CrossModalGAN .*TextImageEditor"):
        TextImageEditor.from_preset("shapes64")
    gan = CrossModalGAN(vocabulary_size=20, max_length=6, image_size=32, embedding_dim=8,
                        condition_dim=8, noise_dim=8, generator_width=4, discriminator_width=4)
    with pytest.raises(ValueError, match="has no tokenizer"):
        gan.generate(["a red circle"])


def test_editor_edits_uint8_images_towards_caption_strings():
    from tfcmgen.text import Vocabulary

    vocabulary = Vocabulary.build(["a red circle", "a blue square"])
    editor = TextImageEditor(vocabulary_size=len(vocabulary), max_length=6, image_size=32,
                             embedding_dim=8, width=8, num_blocks=1, discriminator_width=4)
    editor.attach_tokenizer(vocabulary)
    source = np.full((48, 40, 3), 200, np.uint8)  # any size: centre-cropped and resized
    edited = editor.edit(source, ["a blue square", "a red circle"])
    assert edited.shape == (2, 32, 32, 3) and edited.dtype == np.uint8
    ids = editor.caption_ids(["a blue square"])
    from tfcmgen.runtime.images import prepare_source_images, to_float, to_uint8

    expected = to_uint8(np.asarray(editor.edit(to_float(prepare_source_images(source, 32)), ids)))
    np.testing.assert_array_equal(edited[:1], expected)
