"""ONNX export with tf2onnx: token ids + noise (edit models: + source images) in, float images out.

String ops do not convert to ONNX, so the `.onnx` model starts at token ids; beside it are
`vocab.txt` and `tokenizer.json` (the settings `PurePythonTokenizer` needs), and the marker
`tfcmgen_export.json`. `OnnxGenerator` puts them together without TensorFlow.

Example:

>>> export_onnx(gan, vocabulary, "exports/demo_onnx", opset=17)  # doctest: +SKIP
['/abs/exports/demo_onnx/generator.onnx', '/abs/exports/demo_onnx/tokenizer.json', ...]
"""

from __future__ import annotations

import contextlib
import json
import logging
import os

import tfcmgen
from tfcmgen.config import write_text_atomic
from tfcmgen.export.export_metadata import VOCABULARY_FILE, ExportMetadata
from tfcmgen.export.export_tasks import EXPORT_TASKS, model_task
from tfcmgen.export.savedmodel_export import check_vocabulary, optional_int
from tfcmgen.export.staging import staged_folder
from tfcmgen.text.vocabulary import PAD_ID, UNK_ID

ONNX_FILE = "generator.onnx"
TOKENIZER_FILE = "tokenizer.json"
MIN_OPSET = 17


def supported_opsets() -> range:
    """Opsets this exporter writes: 17 up to the newest the installed tf2onnx knows."""
    from tf2onnx import constants

    return range(MIN_OPSET, max(constants.OPSET_TO_IR_VERSION) + 1)


def check_opset(opset) -> int:
    """Returns `opset`; raises ValueError unless it is in `supported_opsets()`."""
    opsets = supported_opsets()
    if isinstance(opset, bool) or not isinstance(opset, int) or opset not in opsets:
        raise ValueError(
            f"opset must be an int from {opsets.start} to {opsets.stop - 1} (the newest the "
            f"installed tf2onnx converts to); received opset={opset!r}"
        )
    return opset


@contextlib.contextmanager
def _quiet_tensorflow_logger():
    """Hides TensorFlow's warnings while tf2onnx runs grappler on the function.

    Grappler exports the default graph's collections, and the eager lookup table of a
    CaptionTokenizer made earlier in the process sits in its "table_initializer" collection
    without a name: TensorFlow warns "Issue encountered when serializing table_initializer"
    twice, harmlessly (the ONNX graph starts at token ids and holds no table).
    """
    import tensorflow as tf

    logger = tf.get_logger()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _spec_json(spec) -> dict:
    return {"dtype": spec.dtype.name, "shape": [-1 if d is None else int(d) for d in spec.shape]}


def write_onnx(model, vocabulary, folder: str, opset: int = MIN_OPSET,
               source: str = "") -> ExportMetadata:
    """Writes `generator.onnx`, `vocab.txt`, `tokenizer.json` and the marker into `folder`.

    The model's inputs and `tokenizer.json`'s notes on them come from `EXPORT_TASKS[task]`.

    Args:
        model: a tfcmgen model (CrossModalGAN or TextImageEditor), called at least once.
        vocabulary: Vocabulary, token list or vocabulary file of the model.
        folder: str. Existing empty folder.
        opset: int. ONNX opset, 17 or newer. Defaults to 17.
        source: str. Where the model came from (recorded in the marker).

    Returns:
        The `ExportMetadata` written to `folder`.
    """
    import onnx
    import tf2onnx

    opset = check_opset(opset)
    vocabulary = check_vocabulary(model, vocabulary)
    task = model_task(model)
    function = EXPORT_TASKS[task].onnx_function(model)
    with _quiet_tensorflow_logger():
        proto, _ = tf2onnx.convert.from_function(
            function, input_signature=function.input_signature, opset=opset
        )
    facts = {
        "tfcmgen_task": task,
        "image_size": int(model.image_size),
        "max_length": int(model.max_length),
        "noise_dim": optional_int(getattr(model, "noise_dim", None)),
    }
    for key, value in facts.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, json.dumps(value)
    onnx.save(proto, os.path.join(folder, ONNX_FILE))

    vocabulary.save(os.path.join(folder, VOCABULARY_FILE))
    settings = {
        "tokenizer": "tfcmgen.text.PurePythonTokenizer",
        "vocabulary": VOCABULARY_FILE,
        "max_length": int(model.max_length),
        "pad_id": PAD_ID,
        "unk_id": UNK_ID,
        "padding": "end",
        "truncation": "end: the first max_length words are kept",
        "normalization": (
            "tfcmgen.text.normalize.split_words: characters unassigned in Unicode 12.1 and "
            "U+200B become spaces; NFKC_Casefold; every character that is not a letter, mark "
            "or number separates words"
        ),
        # How to make the other inputs ("noise" of text2image, "source_images" of edit models).
        **EXPORT_TASKS[task].onnx_notes,
        "onnx_inputs": {spec.name: _spec_json(spec) for spec in function.input_signature},
        "onnx_outputs": {"images": "float32 [batch, image_size, image_size, 3] in [-1, 1]"},
    }
    write_text_atomic(
        os.path.join(folder, TOKENIZER_FILE), json.dumps(settings, indent=2, sort_keys=True) + "\n"
    )
    metadata = ExportMetadata(
        task=task,
        image_size=int(model.image_size),
        max_length=int(model.max_length),
        vocabulary_size=len(vocabulary),
        noise_dim=optional_int(facts["noise_dim"]),
        files={"onnx": ONNX_FILE},
        onnx_opset=opset,
        source=source,
        tfcmgen_version=tfcmgen.__version__,
    )
    metadata.save(folder)
    return metadata


def export_onnx(model, vocabulary, out: str, *, opset: int = MIN_OPSET, overwrite: bool = False,
                source: str = "") -> list[str]:
    """Exports `model` to the folder `out` as ONNX (written elsewhere, then renamed into place).

    Args:
        model: a tfcmgen model (CrossModalGAN or TextImageEditor), called at least once.
        vocabulary: Vocabulary, token list or vocabulary file of the model.
        out: str. The folder to create.
        opset: int. ONNX opset, 17 or newer. Defaults to 17.
        overwrite: bool. Replace an existing export at `out`. Defaults to False.
        source: str. Where the model came from (recorded in the marker).

    Returns:
        Absolute paths of the `.onnx` file, the tokenizer settings and the vocabulary.
    """
    check_opset(opset)
    out = os.path.abspath(out)
    with staged_folder(out, overwrite) as folder:
        write_onnx(model, vocabulary, folder, opset=opset, source=source)
    return [os.path.join(out, name) for name in (ONNX_FILE, TOKENIZER_FILE, VOCABULARY_FILE)]
