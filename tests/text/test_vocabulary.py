"""Vocabulary: build order, save/load round trip, atomic writes and clear errors."""

import os

import pytest

from tfcmgen.text import PAD_ID, UNK_ID, Vocabulary
from tfcmgen.text.vocabulary import as_vocabulary

CAPTIONS = [
    "a red circle",
    "A red square!",
    "a blue circle",
    "the blue square",
    "a green triangle",
]


def test_build_orders_by_count_then_alphabetically():
    vocab = Vocabulary.build(CAPTIONS)
    # a:4; blue, circle, red, square: 2 each (alphabetical); green, the, triangle: 1 each.
    assert vocab.tokens == [
        "[PAD]", "[UNK]", "a", "blue", "circle", "red", "square", "green", "the", "triangle",
    ]
    assert len(vocab) == 10
    assert PAD_ID == 0 and UNK_ID == 1


def test_build_does_not_depend_on_caption_order():
    assert Vocabulary.build(CAPTIONS) == Vocabulary.build(list(reversed(CAPTIONS)))


def test_build_min_count_and_max_size():
    assert Vocabulary.build(CAPTIONS, min_count=2).tokens[2:] == [
        "a", "blue", "circle", "red", "square",
    ]
    assert Vocabulary.build(CAPTIONS, max_size=4).tokens == ["[PAD]", "[UNK]", "a", "blue"]
    assert Vocabulary.build(CAPTIONS, max_size=2).tokens == ["[PAD]", "[UNK]"]
    assert Vocabulary.build([]).tokens == ["[PAD]", "[UNK]"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"min_count": 0}, "min_count must be an int >= 1; received min_count=0"),
        ({"min_count": 1.5}, "min_count=1.5"),
        ({"max_size": 1}, "max_size must be None or an int >= 2.*received max_size=1"),
    ],
)
def test_build_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Vocabulary.build(CAPTIONS, **kwargs)


def test_build_rejects_a_single_string():
    with pytest.raises(ValueError, match="not a single str"):
        Vocabulary.build("a red circle")


def test_lookup():
    vocab = Vocabulary(["[PAD]", "[UNK]", "red", "circle"])
    assert vocab.lookup("red") == 2
    assert vocab.lookup("circle") == 3
    assert vocab.lookup("blue") == UNK_ID
    assert vocab.lookup("[PAD]") == UNK_ID
    assert "red" in vocab and "blue" not in vocab


@pytest.mark.parametrize(
    "tokens, message",
    [
        (["[UNK]", "[PAD]", "red"], r"must start with \['\[PAD\]', '\[UNK\]'\]"),
        (["[PAD]", "[UNK]", "red", "red"], "'red' appears twice, at indices 2 and 3"),
        (["[PAD]", "[UNK]", "Red"], "'Red' is not a normalised word"),
        (["[PAD]", "[UNK]", "red circle"], "not a normalised word"),
        (["[PAD]", "[UNK]", ""], "not a normalised word"),
        ("[PAD]", "tokens must be a list of str"),
    ],
)
def test_constructor_rejects_bad_tokens(tokens, message):
    with pytest.raises(ValueError, match=message):
        Vocabulary(tokens)


def test_save_load_round_trip(tmp_path):
    vocab = Vocabulary.build(CAPTIONS + ["straße 東京 café ὀδυσσεύς"])
    path = tmp_path / "vocab.txt"
    vocab.save(path)
    assert path.read_bytes().decode("utf-8").splitlines()[:3] == ["[PAD]", "[UNK]", "a"]
    assert Vocabulary.load(path) == vocab
    assert Vocabulary.load(str(path)) == vocab
    assert as_vocabulary(str(path)) == vocab
    assert as_vocabulary(vocab.tokens) == vocab


def test_save_replaces_atomically_and_leaves_no_temporary_files(tmp_path, monkeypatch):
    path = tmp_path / "vocab.txt"
    Vocabulary(["[PAD]", "[UNK]", "red"]).save(path)
    before = path.read_bytes()

    def failing_replace(source, target):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="simulated"):
        Vocabulary(["[PAD]", "[UNK]", "blue"]).save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["vocab.txt"]
    Vocabulary(["[PAD]", "[UNK]", "blue"]).save(path)
    assert Vocabulary.load(path).tokens == ["[PAD]", "[UNK]", "blue"]
    assert os.listdir(tmp_path) == ["vocab.txt"]


def test_load_accepts_crlf_and_a_byte_order_mark(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_bytes(b"\xef\xbb\xbf[PAD]\r\n[UNK]\r\nred\r\n")
    assert Vocabulary.load(path).tokens == ["[PAD]", "[UNK]", "red"]


@pytest.mark.parametrize(
    "content, message",
    [
        (b"[PAD]\n[UNK]\nred\nbl\xffue\n", r"vocab.txt, line 4: not valid UTF-8"),
        (b"red\n[PAD]\n[UNK]\n", r"vocab.txt, line 1: expected '\[PAD\]'.*received 'red'"),
        (b"[PAD]\nred\n", r"vocab.txt, line 2: expected '\[UNK\]'.*received 'red'"),
        (b"[PAD]\n", r"vocab.txt, line 2: file ends before"),
        (b"", r"vocab.txt, line 1: file ends before"),
        (b"[PAD]\n[UNK]\nred\n\nblue\n", r"vocab.txt, line 4: token '' is not a normalised word"),
        (
            b"[PAD]\n[UNK]\nred\nblue\nred\n",
            r"vocab.txt, line 5: token 'red' already appears on line 3",
        ),
        (b"[PAD]\n[UNK]\nRed\n", r"vocab.txt, line 3: token 'Red' is not a normalised word"),
    ],
)
def test_load_errors_name_file_and_line(tmp_path, content, message):
    path = tmp_path / "vocab.txt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        Vocabulary.load(path)


def test_load_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        Vocabulary.load(tmp_path / "missing.txt")


def test_as_vocabulary_rejects_other_types():
    with pytest.raises(ValueError, match="received int"):
        as_vocabulary(3)
