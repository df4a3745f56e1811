"""Unknown words: spelling and word-vector neighbours (`tfcmgen.text.word_mapping`), and the
promise of issue 12 pinned on a tiny model: a caption in a new word order, in upper case, with
misspelt filler words or with extra unknown words draws what the training phrasing draws."""

import numpy as np
import pytest

from tfcmgen.text import PurePythonTokenizer, Vocabulary
from tfcmgen.text.word_mapping import (
    WordMapper,
    build_neighbours,
    load_word_map,
    mapper_for_folder,
    save_word_map,
)

TRAINING = ["the digit seven written in red", "the digit four written in blue",
            "a red handwritten seven", "a blue handwritten four"]
VOCABULARY = Vocabulary.build(TRAINING)


def test_typos_map_by_spelling_and_short_words_only_by_a_swap():
    mapper = WordMapper(VOCABULARY)
    assert mapper.map_word("teh") == ("the", "spelling")        # adjacent swap
    assert mapper.map_word("bleu") == ("blue", "spelling")
    assert WordMapper(["[PAD]", "[UNK]", "white"]).map_word("whte") == ("white", "spelling")
    # ...but a word that begins a vocabulary word is another form of it, not a typo.
    assert WordMapper(["[PAD]", "[UNK]", "drawn"]).map_word("draw") == (None, "unknown")
    assert mapper.map_word("writen") == ("written", "spelling")  # one letter left out
    assert mapper.map_word("handwriten") == ("handwritten", "spelling")
    # "for" is one insertion from "four": short words map only by a swap of two letters (or a
    # letter left out of a word of five or more).
    assert mapper.map_word("for") == (None, "unknown")
    assert mapper.map_word("please") == (None, "unknown")
    assert mapper.map_word("me") == (None, "unknown")
    assert mapper.map_word("red") == ("red", "known")


def test_real_words_the_vectors_know_are_never_spell_corrected():
    # "blues" is one edit from "blue", but a real word the vectors know stays itself.
    mapper = WordMapper(VOCABULARY, known={"blues"})
    assert mapper.map_word("blues") == (None, "unknown")
    assert WordMapper(VOCABULARY).map_word("blues") == ("blue", "spelling")


def test_map_captions_ignores_case_and_punctuation_and_reports_every_unknown_word():
    mapper = WordMapper(VOCABULARY, neighbours={"crimson": "red"})
    mapped, mappings = mapper.map_captions(["Teh DIGIT seven, writen in CRIMSON -- please!"])
    assert mapped == ["the digit seven written in red please"]
    assert [(m.word, m.target, m.how) for m in mappings] == [
        ("teh", "the", "spelling"), ("writen", "written", "spelling"),
        ("crimson", "red", "neighbour"), ("please", None, "unknown")]


def _write_glove(path, vectors):
    path.write_text("".join(f"{w} {' '.join(str(x) for x in v)}\n" for w, v in vectors.items()),
                    encoding="utf-8")
    return str(path)


def test_neighbours_come_from_the_vectors_and_round_trip_through_word_map(tmp_path):
    vectors = {"red": [1, 0, 0], "blue": [0, 1, 0], "seven": [0, 0, 1],
               "Crimson": [0.9, 0.1, 0], "azure": [0.1, 0.95, 0.05], "please": [0.5, 0.5, 0.5],
               "seventh": [0.1, 0, 0.9]}
    neighbours, known = build_neighbours(VOCABULARY, _write_glove(tmp_path / "v.txt", vectors))
    # Case does not matter ("Crimson"); "please" is near nothing (cosine 0.57 at most): unknown.
    assert neighbours == {"crimson": "red", "azure": "blue", "seventh": "seven"}
    assert "please" in known
    save_word_map(tmp_path / "word_map.tsv", neighbours, known)
    assert load_word_map(tmp_path / "word_map.tsv") == (neighbours, known)
    mapper = mapper_for_folder(str(tmp_path), VOCABULARY)
    assert mapper.map_word("azure") == ("blue", "neighbour")
    assert mapper.map_word("please") == (None, "unknown")


def test_tokenizers_map_aliases_to_the_same_ids():
    from tfcmgen.text import CaptionTokenizer

    aliases = {"crimson": "red"}
    graph = CaptionTokenizer(VOCABULARY, max_length=6, aliases=aliases)
    python = PurePythonTokenizer(VOCABULARY, max_length=6, aliases=aliases)
    ids = graph(["a CRIMSON seven", "a red seven"]).numpy()
    np.testing.assert_array_equal(ids[0], ids[1])
    np.testing.assert_array_equal(python.encode(["a CRIMSON seven"]), ids[:1])
    assert CaptionTokenizer.from_config(graph.get_config()).aliases == aliases
    with pytest.raises(ValueError, match="alias 'crimson' must map to a vocabulary word"):
        CaptionTokenizer(VOCABULARY, aliases={"crimson": "scarlet"})


VARIANTS = {
    "new word order": "written in red the digit seven",
    "upper case": "THE DIGIT SEVEN WRITTEN IN RED",
    "misspelt fillers": "teh digit seven writen in red",
    "extra unknown words": "please the digit seven written in red for me",
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_caption_variants_draw_what_the_training_phrasing_draws(variant):
    # A tiny, untrained GAN (mean pooling): the condition depends only on which known words a
    # caption holds, so every variant must give the training phrasing's images exactly.
    from tfcmgen.generation import TextToImageGenerator
    from tfcmgen.models import CrossModalGAN
    from tfcmgen.text import CaptionTokenizer

    # Word vectors of unit scale (seeded), so that two captions' sentences clearly differ.
    vectors = np.random.default_rng(0).normal(size=(len(VOCABULARY), 8)).astype("float32")
    gan = CrossModalGAN(vocabulary_size=len(VOCABULARY), max_length=10, image_size=32,
                        embedding_dim=8, embedding_matrix=vectors, condition_dim=8, noise_dim=8,
                        generator_width=4, discriminator_width=4, text_pooling="mean")
    generator = TextToImageGenerator(gan, CaptionTokenizer(VOCABULARY, max_length=10))

    def draw(caption):
        # The caption's way in: mapping and tokenising as `generate` does, then the encoder.
        ids = generator.token_ids([caption])
        sentence = np.asarray(gan.text_encoder(ids)[0])
        return sentence, np.asarray(gan.generate(np.repeat(ids, 2, axis=0), seed=3))

    sentence, images = draw(TRAINING[0])
    variant_sentence, variant_images = draw(VARIANTS[variant])
    np.testing.assert_allclose(variant_sentence, sentence, atol=1e-6)
    np.testing.assert_allclose(variant_images, images, atol=1e-5)
    other_sentence, other_images = draw(TRAINING[1])  # another caption differs: the test can fail
    assert np.abs(other_sentence - sentence).max() > 1e-2
    assert np.abs(other_images - images).max() > 1e-4
