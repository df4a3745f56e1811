"""PurePythonTokenizer: ids, padding and truncation, and no TensorFlow import."""

import os
import subprocess
import sys

import numpy as np
import pytest

from tfcmgen.text import PurePythonTokenizer, Vocabulary

TOKENS = ["[PAD]", "[UNK]", "a", "red", "circle", "in", "the", "top", "left"]


def test_encode_pads_and_truncates_at_the_end():
    tokenizer = PurePythonTokenizer(TOKENS, max_length=4)
    ids = tokenizer.encode(["a red circle", "A RED circle in the top left", "", "a green circle"])
    assert ids.dtype == np.int32
    assert ids.tolist() == [
        [2, 3, 4, 0],
        [2, 3, 4, 5],  # first four words kept
        [0, 0, 0, 0],
        [2, 1, 4, 0],  # unknown word -> [UNK]
    ]


def test_encode_empty_list_and_sizes(tmp_path):
    Vocabulary(TOKENS).save(tmp_path / "vocab.txt")
    tokenizer = PurePythonTokenizer(str(tmp_path / "vocab.txt"), max_length=7)
    assert tokenizer.vocabulary_size == len(TOKENS)
    assert tokenizer.encode([]).shape == (0, 7)
    assert tokenizer(["red"]).tolist() == [[3, 0, 0, 0, 0, 0, 0]]


def test_encode_rejects_a_single_string():
    with pytest.raises(ValueError, match="wrap it in a list"):
        PurePythonTokenizer(TOKENS).encode("a red circle")


@pytest.mark.parametrize("max_length", [0, -1, 2.0, True, None])
def test_rejects_bad_max_length(max_length):
    with pytest.raises(ValueError, match="max_length must be an int >= 1"):
        PurePythonTokenizer(TOKENS, max_length=max_length)


def test_importing_the_pure_tokenizer_does_not_import_tensorflow():
    code = (
        "import sys, tfcmgen.text.pure_tokenizer, tfcmgen.text\n"
        "from tfcmgen.text import PurePythonTokenizer, Vocabulary, split_words\n"
        "tokenizer = PurePythonTokenizer(['[PAD]', '[UNK]', 'red'], 2)\n"
        "assert tokenizer.encode(['Red']).tolist() == [[2, 0]]\n"
        "assert 'tensorflow' not in sys.modules, 'tensorflow imported'\n"
        "assert 'gensim' not in sys.modules, 'gensim imported'\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
