"""SavedModel export for TensorFlow Serving: raw captions in, uint8 images out.

The SavedModel holds the signatures of the model's task (see `export_tasks`): for a text-to-image
model `serving_default` (captions tf.string [batch], optional seed int64 -> images uint8
[batch, H, W, 3], tokenized in the graph by `CaptionTokenizer`) and `generate_from_tokens`
(token_ids int32 [batch, max_length] + noise float32 [batch, noise_dim] -> images); for an edit
model `edit`, also `serving_default` (images uint8 [batch, height, width, 3] of any size + captions
tf.string [batch] -> images uint8 [batch, S, S, 3]) and `edit_from_tokens` (images float32
[batch, S, S, 3] in [-1, 1] + token_ids). Beside it: `vocab.txt` and `tfcmgen_export.json`.

Only the variables the signatures read are saved (text encoder and EMA generator side; the
editor's own layers), not the discriminator, the live generator or optimizer slots.

Example:

>>> export_savedmodel(gan, vocabulary, "exports/demo_savedmodel")  # doctest: +SKIP
['/abs/exports/demo_savedmodel']
"""

from __future__ import annotations

import os

import tensorflow as tf

import tfcmgen
from tfcmgen.export.export_metadata import VOCABULARY_FILE, ExportMetadata
from tfcmgen.export.export_tasks import EXPORT_TASKS, model_task
from tfcmgen.export.staging import staged_folder
from tfcmgen.text.vocabulary import as_vocabulary


def check_vocabulary(model, vocabulary):
    """The vocabulary as a `Vocabulary`; raises ValueError when its size is not the model's."""
    vocabulary = as_vocabulary(vocabulary)
    expected = getattr(model, "vocabulary_size", len(vocabulary))
    if len(vocabulary) != expected:
        raise ValueError(
            f"the vocabulary has {len(vocabulary)} tokens but the model was built for "
            f"vocabulary_size={expected}: it does not belong to this model"
        )
    return vocabulary


def write_savedmodel(model, vocabulary, folder: str, source: str = "",
                     aliases=None) -> ExportMetadata:
    """Writes the SavedModel, `vocab.txt` and the marker into the existing empty `folder`.

    Args:
        model: a tfcmgen model (CrossModalGAN or TextImageEditor), called at least once.
        vocabulary: Vocabulary, token list or vocabulary file of the model.
        folder: str. Existing empty folder.
        source: str. Where the model came from (recorded in the marker).
        aliases: dict or None. Unknown word -> vocabulary word, mapped by the graph's tokenizer
            (`CaptionTokenizer(aliases=...)`; see `tfcmgen.text.word_mapping`). Defaults to None.

    Returns:
        The `ExportMetadata` written to `folder`.
    """
    from tfcmgen.text import SERVING_TEXT_OPS, CaptionTokenizer

    vocabulary = check_vocabulary(model, vocabulary)
    task = model_task(model)
    tokenizer = CaptionTokenizer(vocabulary, max_length=model.max_length, aliases=aliases,
                                 name="caption_tokenizer")
    functions = EXPORT_TASKS[task].signatures(model, tokenizer)
    if "serving_default" not in functions:
        raise ValueError(f"the {task!r} export defines no 'serving_default' signature")
    concrete = [function.get_concrete_function() for function in functions.values()]

    module = tf.Module()
    # The table of the tokenizer is a resource the SavedModel must own.
    module.tokenizer = tokenizer
    # The variables the signatures read, and only those: tracking the whole model would also
    # save the discriminator, the live generator and the optimizer slots.
    captured = {id(variable): variable for function in concrete for variable in function.variables}
    module.serving_variables = list(captured.values())
    for name, function in functions.items():
        # Also attached as functions: after tf.saved_model.load, `loaded.serving_default(captions)`
        # applies the Python default seed, which the signature wrappers do not.
        setattr(module, name, function)
    tf.saved_model.save(module, folder, signatures=functions)

    vocabulary.save(os.path.join(folder, VOCABULARY_FILE))
    metadata = ExportMetadata(
        task=task,
        image_size=int(model.image_size),
        max_length=int(model.max_length),
        vocabulary_size=len(vocabulary),
        noise_dim=optional_int(getattr(model, "noise_dim", None)),
        files={"savedmodel": "."},
        signatures=tuple(functions),
        serving_text_ops=tuple(SERVING_TEXT_OPS),
        source=source,
        tfcmgen_version=tfcmgen.__version__,
    )
    metadata.save(folder)
    return metadata


def export_savedmodel(model, vocabulary, out: str, *, overwrite: bool = False,
                      source: str = "") -> list[str]:
    """Exports `model` as a SavedModel folder `out` (written elsewhere, then renamed into place).

    Args:
        model: a tfcmgen model (CrossModalGAN or TextImageEditor), called at least once.
        vocabulary: Vocabulary, token list or vocabulary file of the model.
        out: str. The folder to create.
        overwrite: bool. Replace an existing export at `out`. Defaults to False.
        source: str. Where the model came from (recorded in the marker).

    Returns:
        `[out]` as an absolute path.
    """
    out = os.path.abspath(out)
    with staged_folder(out, overwrite) as folder:
        write_savedmodel(model, vocabulary, folder, source=source)
    return [out]


def optional_int(value):
    """`int(value)`, or None for None (sizes a task may not have, like noise_dim)."""
    return None if value is None else int(value)
