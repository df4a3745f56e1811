"""Text features: caption normalisation, vocabulary, tokenizers (in-graph, pure Python), Word2Vec.

`CaptionTokenizer` and `SERVING_TEXT_OPS` import TensorFlow, so they load on first use: importing
this package (or `tfcmgen.text.pure_tokenizer`) does not import TensorFlow.
"""

from tfcmgen.text.normalize import split_words
from tfcmgen.text.pure_tokenizer import PurePythonTokenizer
from tfcmgen.text.vocabulary import PAD_ID, UNK_ID, Vocabulary
from tfcmgen.text.word2vec import (
    load_embedding_matrix,
    load_word_vectors,
    save_embedding_matrix,
    train_word2vec,
)

_LAZY = {"CaptionTokenizer", "SERVING_TEXT_OPS"}

__all__ = [
    "PAD_ID",
    "SERVING_TEXT_OPS",
    "UNK_ID",
    "CaptionTokenizer",
    "PurePythonTokenizer",
    "Vocabulary",
    "load_embedding_matrix",
    "load_word_vectors",
    "save_embedding_matrix",
    "split_words",
    "train_word2vec",
]


def __getattr__(name):
    # PEP 562: TensorFlow is imported only when the in-graph tokenizer is asked for.
    if name in _LAZY:
        from tfcmgen.text import caption_tokenizer

        return getattr(caption_tokenizer, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | _LAZY)
