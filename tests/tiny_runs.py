"""Tiny untrained run folders, as the export and serve tests use them (`from tests.tiny_runs import
...` in their conftests).

The runs are untrained (a GAN and an editor at 32x32 with widths of 4-8), which is all exporting
and serving need: their outputs are a fixed function of their weights, so every format must
reproduce them. Each is built under a fixed Keras seed: unseeded initializers draw from Keras'
global seed state, which depends on what other tests ran first in the process (an edit-size
check of tests/export failed in one suite order).
"""

from __future__ import annotations

import os
import subprocess
import sys
import types

import numpy as np

CAPTIONS = (
    "a red circle",
    "a small blue square on the left",
    "A GREEN triangle, top right!",
)
# The runs' vocabulary is built from CAPTIONS and these.
EXTRA_CAPTIONS = ("a yellow star at the bottom",)
MAX_LENGTH = 6
NOISE_DIM = 8
IMAGE_SIZE = 32
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_python(args, timeout=180, check=True, env=None, **kwargs):
    """This interpreter in a fresh process, the repository importable; asserts exit 0 when
    `check`; returns the `subprocess.CompletedProcess`."""
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [REPO_ROOT, env.get("PYTHONPATH")]))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    result = subprocess.run([sys.executable, *args], capture_output=True, text=True,
                            timeout=timeout, env=env, cwd=REPO_ROOT, **kwargs)
    if check:
        assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


def save_run(root, config, vocabulary, model) -> types.SimpleNamespace:
    """Writes a finished run folder (config.json, vocab.txt, model.keras); returns its facts."""
    from tfcmgen.text import CaptionTokenizer

    config.save(str(root / "config.json"))
    vocabulary.save(str(root / "vocab.txt"))
    model.save(str(root / "model.keras"))
    return types.SimpleNamespace(
        path=str(root), model=model, vocabulary=vocabulary,
        tokenizer=CaptionTokenizer(vocabulary, max_length=MAX_LENGTH), captions=CAPTIONS,
        max_length=MAX_LENGTH, noise_dim=NOISE_DIM, image_size=IMAGE_SIZE,
    )


def save_tiny_gan_run(root, extra_captions=EXTRA_CAPTIONS, text_pooling: str = "transformer",
                      seed: int = 0) -> types.SimpleNamespace:
    """A finished run folder (a `pathlib.Path`) of an untrained tiny CrossModalGAN.

    The vocabulary is built from CAPTIONS and `extra_captions`; `text_pooling` goes to the
    model and its config.json alike.
    """
    import keras

    from tfcmgen.config import TrainConfig
    from tfcmgen.models import CrossModalGAN
    from tfcmgen.text import Vocabulary

    vocabulary = Vocabulary.build(list(CAPTIONS) + list(extra_captions))
    config = TrainConfig(
        out=str(root), image_size=IMAGE_SIZE, max_length=MAX_LENGTH, noise_dim=NOISE_DIM,
        base_width=4, embedding_dim=8, text_pooling=text_pooling,
    )
    keras.utils.set_random_seed(seed)
    model = CrossModalGAN(
        vocabulary_size=len(vocabulary), max_length=MAX_LENGTH, image_size=IMAGE_SIZE,
        embedding_dim=8, condition_dim=8, noise_dim=NOISE_DIM, generator_width=4,
        discriminator_width=4, text_pooling=text_pooling,
    )
    model.generate(np.ones((1, MAX_LENGTH), "int32"), seed=0)
    return save_run(root, config, vocabulary, model)


def save_tiny_edit_run(root, seed: int = 0) -> types.SimpleNamespace:
    """A finished run folder (a `pathlib.Path`) of an untrained tiny TextImageEditor.

    An untrained editor returns its source exactly (its output head starts at zero) and ignores
    the caption (FiLM starts at the identity), which every export would reproduce whatever it got
    wrong: the zero-initialised weights get small random values, so the edits depend on the whole
    network, image and caption.
    """
    import keras

    from tfcmgen.config import TrainConfig
    from tfcmgen.models import TextImageEditor
    from tfcmgen.text import Vocabulary

    vocabulary = Vocabulary.build(list(CAPTIONS) + list(EXTRA_CAPTIONS))
    config = TrainConfig(
        task="edit", out=str(root), image_size=IMAGE_SIZE, max_length=MAX_LENGTH, base_width=4,
        embedding_dim=8, text_pooling="mean",
    )
    keras.utils.set_random_seed(seed)
    model = TextImageEditor(
        vocabulary_size=len(vocabulary), max_length=MAX_LENGTH, image_size=IMAGE_SIZE,
        embedding_dim=8, width=8, num_blocks=1, discriminator_width=4,
        # Mean pooling: the export tests' edit-size checks were set on it (with the transformer
        # pooling the random, untrained editor changes fewer pixels); the transformer's export
        # parity is tests/export/test_transformer_export.py.
        text_pooling="mean",
    )
    rng = np.random.default_rng(seed)
    for variable in model.generator_variables:
        if not np.any(variable.numpy()):  # output head, FiLM projections, biases
            variable.assign(rng.normal(0.0, 0.1, variable.shape).astype("float32"))
    return save_run(root, config, vocabulary, model)


def export_all(run_path, tmp_path_factory, name: str) -> types.SimpleNamespace:
    """`tfcmgen export --format all` of a run folder into a new temporary folder called `name`
    (the served model's name): the folder (`out`) and the paths written (`written`)."""
    from tfcmgen.config import ExportConfig
    from tfcmgen.export import export_run

    out = str(tmp_path_factory.mktemp("exports") / name)
    written = export_run(ExportConfig(model=str(run_path), out=out, format="all"))
    return types.SimpleNamespace(out=out, written=written)
