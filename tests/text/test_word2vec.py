"""Word2Vec training, pretrained vector files and embedding matrix files."""

import os
import subprocess
import sys

import numpy as np
import pytest
from gensim.models import KeyedVectors

from tfcmgen.text import (
    Vocabulary,
    load_embedding_matrix,
    load_word_vectors,
    save_embedding_matrix,
    train_word2vec,
)

COLOURS = ["red", "crimson", "blue", "navy", "green"]
SHAPES = ["circle", "disc", "square", "box", "triangle"]
CAPTIONS = [
    f"a {size} {colour} {shape} in the {place}"
    for size in ("small", "large")
    for colour in COLOURS
    for shape in SHAPES
    for place in ("top left", "bottom right")
]
TRAIN_ARGS = {"vector_size": 8, "window": 3, "epochs": 3, "seed": 7}


@pytest.fixture(scope="module")
def vocabulary():
    return Vocabulary(Vocabulary.build(CAPTIONS).tokens + ["zebra"])  # "zebra": never in captions


@pytest.fixture(scope="module")
def trained(vocabulary):
    return train_word2vec(CAPTIONS, vocabulary, **TRAIN_ARGS)


def test_matrix_is_aligned_with_the_vocabulary(vocabulary, trained):
    assert trained.shape == (len(vocabulary), 8) and trained.dtype == np.float32
    assert np.all(trained[0] == 0.0)  # [PAD]
    words = [vocabulary.lookup(w) for w in vocabulary.tokens[2:] if w != "zebra"]
    np.testing.assert_allclose(trained[1], trained[words].mean(axis=0), rtol=1e-5, atol=1e-6)
    zebra = trained[vocabulary.lookup("zebra")]
    assert 0 < np.abs(zebra).max() < np.abs(trained[words]).max()  # small random, not zero
    assert len({row.tobytes() for row in trained[2:]}) == len(vocabulary) - 2


def test_same_seed_gives_identical_matrices(vocabulary, trained):
    again = train_word2vec(CAPTIONS, vocabulary, **TRAIN_ARGS)
    np.testing.assert_array_equal(trained, again)
    other = train_word2vec(CAPTIONS, vocabulary, **{**TRAIN_ARGS, "seed": 8})
    assert not np.array_equal(trained, other)


def test_same_seed_gives_identical_matrices_in_another_process(vocabulary, trained, tmp_path):
    # Python's str hash differs between processes; the vectors must not depend on it.
    vocabulary.save(tmp_path / "vocab.txt")
    code = (
        "import sys, numpy as np\n"
        "from tfcmgen.text import train_word2vec\n"
        f"captions = {CAPTIONS!r}\n"
        f"matrix = train_word2vec(captions, sys.argv[1], **{TRAIN_ARGS!r})\n"
        "np.save(sys.argv[2], matrix)\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "vocab.txt"), str(tmp_path / "m.npy")],
        capture_output=True, text=True, timeout=120, env=env,
    )
    assert result.returncode == 0, result.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "m.npy"), trained)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"vector_size": 0}, "vector_size must be an int >= 1; received vector_size=0"),
        ({"window": -1}, "window=-1"),
        ({"epochs": 2.5}, "epochs=2.5"),
        ({"workers": 0}, "workers=0"),
        ({"seed": -1}, "seed must be an int >= 0"),
    ],
)
def test_train_rejects_bad_arguments(vocabulary, kwargs, message):
    with pytest.raises(ValueError, match=message):
        train_word2vec(CAPTIONS, vocabulary, **kwargs)


def test_train_rejects_captions_without_words(vocabulary):
    with pytest.raises(ValueError, match="captions contain no words"):
        train_word2vec(["", "!!!"], vocabulary)


# Pretrained vector files ------------------------------------------------------------

VECTORS = {
    "red": [0.5, -1.0, 2.0],
    "Circle": [1.0, 0.0, -0.25],  # cased key: serves the word "circle"
    "circle": [3.0, 3.0, 3.0],  # exact key wins over the cased one
    "Blue": [0.0, 0.75, 1.5],
    "unused": [9.0, 9.0, 9.0],
}
WORDS = ["[PAD]", "[UNK]", "red", "circle", "blue", "square"]


def _keyed_vectors():
    keyed = KeyedVectors(vector_size=3)
    keyed.add_vectors(list(VECTORS), np.array(list(VECTORS.values()), dtype=np.float32))
    return keyed


def _glove_text(keys=VECTORS):
    return "".join(f"{key} {' '.join(repr(v) for v in VECTORS[key])}\n" for key in keys)


def _check_loaded(matrix, coverage):
    assert matrix.shape == (6, 3) and matrix.dtype == np.float32
    assert coverage == pytest.approx(3 / 4)
    np.testing.assert_array_equal(matrix[0], 0.0)
    np.testing.assert_array_equal(matrix[2], VECTORS["red"])
    np.testing.assert_array_equal(matrix[3], VECTORS["circle"])
    np.testing.assert_array_equal(matrix[4], VECTORS["Blue"])
    np.testing.assert_allclose(matrix[1], matrix[2:5].mean(axis=0))
    assert 0 < np.abs(matrix[5]).max() < 1  # "square": not in the file, small random


@pytest.mark.parametrize("binary", [True, False])
def test_load_gensim_word2vec_files(tmp_path, binary):
    path = tmp_path / ("vectors.bin" if binary else "vectors.txt")
    _keyed_vectors().save_word2vec_format(str(path), binary=binary)
    _check_loaded(*load_word_vectors(path, WORDS))
    _check_loaded(*load_word_vectors(str(path), WORDS, binary=binary))


def test_load_hand_written_word2vec_text_and_glove(tmp_path):
    word2vec = tmp_path / "word2vec.txt"
    word2vec.write_text(f"{len(VECTORS)} 3\n" + _glove_text(), encoding="utf-8")
    _check_loaded(*load_word_vectors(word2vec, WORDS))
    glove = tmp_path / "glove.6B.3d.txt"
    glove.write_text(_glove_text(), encoding="utf-8")
    _check_loaded(*load_word_vectors(glove, WORDS))
    _check_loaded(*load_word_vectors(glove, WORDS, binary=False))
    # glove.840B has keys with spaces (". . ."); they are read, not mistaken for numbers.
    glove.write_text(_glove_text() + ". . . 1.0 2.0 3.0\n", encoding="utf-8")
    _check_loaded(*load_word_vectors(glove, WORDS))


def test_load_is_seeded_and_reports_zero_coverage(tmp_path):
    glove = tmp_path / "glove.txt"
    glove.write_text(_glove_text(["unused"]), encoding="utf-8")
    first, coverage = load_word_vectors(glove, WORDS, seed=3)
    assert coverage == 0.0
    np.testing.assert_array_equal(first, load_word_vectors(glove, WORDS, seed=3)[0])
    assert not np.array_equal(first, load_word_vectors(glove, WORDS, seed=4)[0])


def _truncated_binary(tmp_path):
    path = tmp_path / "vectors.bin"
    _keyed_vectors().save_word2vec_format(str(path), binary=True)
    path.write_bytes(path.read_bytes()[:-10])
    return path


@pytest.mark.parametrize(
    "content, kwargs, message",
    [
        (b"", {}, "the word vector file is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", {}, "line 1: not a word2vec header"),
        (b"red 0.5 x 2.0\n", {}, "line 1: not a word2vec header"),
        (b"red 0.5 1.0\ncircle 1.0\n", {}, "line 2: expected a word and 2 numbers"),
        (b"red 0.5 1.0\ncircle 1.0 2.0 3.0\n", {}, "line 2: expected a word and 2 numbers"),
        (b"2 3\nred 0.5 1.0 2.0\nblue 1 2 three\n", {}, "line 3: could not convert .*'three'"),
        (b"3 3\nred 0.5 1.0 2.0\nblue 1 2 3\n", {}, "announces 3 vectors but the file holds 2"),
        (b"red 0.5 1.0 2.0\nbl\xe9u 1 2 3\n", {}, "line 2: not valid UTF-8"),
        (b"red 0.5 1.0 2.0\n", {"binary": True}, "binary=True but line 1 is not a word2vec header"),
        (None, {}, "could not read it as a word2vec binary file"),
    ],
)
def test_unreadable_vector_files_give_clear_errors(tmp_path, content, kwargs, message):
    if content is None:
        path = _truncated_binary(tmp_path)
    else:
        path = tmp_path / "vectors.txt"
        path.write_bytes(content)
    with pytest.raises(ValueError, match=message) as error:
        load_word_vectors(path, WORDS, **kwargs)
    assert str(path) in str(error.value)


def test_missing_vector_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="word vector file not found: .*nothing.txt"):
        load_word_vectors(tmp_path / "nothing.txt", WORDS)


# Embedding matrix files ------------------------------------------------------------


def test_embedding_matrix_round_trip_and_atomic_write(tmp_path):
    matrix = np.arange(12, dtype=np.float64).reshape(4, 3)
    path = tmp_path / "embeddings.npy"
    save_embedding_matrix(path, matrix)
    save_embedding_matrix(path, matrix * 2)  # replaces the old file
    loaded = load_embedding_matrix(path)
    assert loaded.dtype == np.float32
    np.testing.assert_array_equal(loaded, matrix * 2)
    assert os.listdir(tmp_path) == ["embeddings.npy"]


def test_embedding_matrix_errors(tmp_path):
    with pytest.raises(ValueError, match=r"2-D numeric array; received shape \(3,\)"):
        save_embedding_matrix(tmp_path / "m.npy", np.zeros(3))
    path = tmp_path / "m.npy"
    save_embedding_matrix(path, np.ones((5, 4)))
    path.write_bytes(path.read_bytes()[:60])  # truncated
    with pytest.raises(ValueError, match="m.npy: not a readable .npy embedding matrix"):
        load_embedding_matrix(path)
    np.save(tmp_path / "v.npy", np.zeros(3))
    with pytest.raises(ValueError, match="v.npy: expected a 2-D embedding matrix"):
        load_embedding_matrix(tmp_path / "v.npy")
    with pytest.raises(FileNotFoundError, match="missing.npy"):
        load_embedding_matrix(tmp_path / "missing.npy")
