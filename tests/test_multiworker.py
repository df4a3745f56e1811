"""Two MultiWorkerMirroredStrategy workers on 127.0.0.1 train like one process with the same batch.

Three fresh processes run `tfcmgen.training.train` on the same tiny config: one with the default
strategy, two as the workers of a `TF_CONFIG` cluster on free local ports. TensorFlow must start
in a fresh process for each (the cluster is read when it initialises), and both workers must
run at once: each waits for the other in every all-reduce. The test bounds them with a timeout
and kills every process it started in a `finally`.

What must hold:
- the global batch of 8 is split: each worker's train step sees 4 examples, the single process 8;
- lock-step: both workers end with bit-identical weights and optimizer state, after the same
  number of steps;
- the chief's saved model matches the single process's within TOLERANCE on every variable
  (weights, batch-norm statistics, EMA, optimizer slots);
- only the chief writes: the other worker's run folder and temporary folder stay empty.

Tolerance: 1e-5 absolute after 3 steps (measured: 6.1e-7 with the default transformer text encoder,
1.3e-7 with mean pooling; the differences come from the order of float32 sums in the all-reduce).
Two defects this test found in the transformer encoder: its position table was read by a lookup
(sparse gradient rows repeated per worker, which Adam's second moment squares one by one: 0.02
apart), and the attention's key bias, whose gradient is rounding noise, moved by Adam's
normalised steps (1e-5 apart); see `_TransformerPooling`. The learning rates are 4e-4 / 8e-4 and Adam's first steps move
every weight by about the learning rate, so a wrong batch split or a worker training on other
examples shows up at ~4e-4, far above it.

Conditioning Augmentation is turned off in these runs (`model_options={"use_ca": False}`): that
layer draws its noise for the local batch, so replica 1
would get other numbers than examples 4-7 of the single process. The model's own randomness
(noise, DiffAugment) is drawn for the global batch and sliced per replica, so it stays on.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tfcmgen.config import TrainConfig

TOLERANCE = 1e-5
TIMEOUT_SECONDS = 420
STEPS = 3

WORKER = textwrap.dedent(
    """
    import hashlib, json, os, sys
    import numpy as np
    import tensorflow as tf
    import tfcmgen.models.cross_modal_gan as cross_modal_gan
    from tfcmgen.config import TrainConfig
    from tfcmgen.training import train

    GAN = cross_modal_gan.CrossModalGAN
    train_step = GAN.train_step

    def train_step_logging_the_local_batch(self, data):
        logs = dict(train_step(self, data))
        local = tf.cast(tf.shape(data["image"])[0], tf.float32)
        # Shaped like the model's own logs (AdversarialModel._step_logs).
        logs["local_batch"] = tf.reshape(local, [1]) if self._multi_worker else local
        return logs

    GAN.train_step = train_step_logging_the_local_batch

    result = train(TrainConfig.load(sys.argv[1]), verbose=0)
    gan = result.model
    digest = hashlib.sha256()
    for variable in gan.variables + gan.g_optimizer.variables + gan.d_optimizer.variables:
        digest.update(np.asarray(variable.numpy()).tobytes())
    print("RESULT " + json.dumps({
        "digest": digest.hexdigest(),
        "iterations": int(gan.g_optimizer.iterations.numpy()),
        "replicas": int(gan.distribute_strategy.num_replicas_in_sync),
        "history": result.history,
    }))
    """
)


def tiny_config(out, **changes):
    values = {"data": "shapes", "out": str(out), "image_size": 32, "num_images": 48,
              "batch_size": 8, "epochs": 1, "steps_per_epoch": STEPS, "base_width": 4,
              "noise_dim": 8, "embedding_dim": 8, "word2vec_epochs": 1, "max_length": 12,
              "seed": 3, "model_options": {"use_ca": False}}
    values.update(changes)
    return TrainConfig(**values)


def free_ports(count):
    """`count` distinct free TCP ports on 127.0.0.1 (held together, so they differ)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def parse_result(name, process, stdout, stderr):
    lines = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
    assert process.returncode == 0 and lines, (
        f"{name} exited with {process.returncode}\n{stderr[-4000:]}"
    )
    return json.loads(lines[-1][len("RESULT "):])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("multiworker")
    script = root / "worker.py"
    script.write_text(WORKER)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    jobs = {
        "single": (tiny_config(root / "single"), None),
        "chief": (tiny_config(root / "chief", strategy="multiworker"), 0),
        "worker": (tiny_config(root / "worker", strategy="multiworker"), 1),
    }
    processes = {}
    try:
        for name, (config, index) in jobs.items():
            config_path = root / f"{name}.json"
            config.save(str(config_path))
            scratch = root / f"{name}-tmp"
            scratch.mkdir()
            env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TMPDIR=str(scratch))
            env.pop("TF_CONFIG", None)
            if index is not None:
                env["TF_CONFIG"] = json.dumps(
                    {"cluster": cluster, "task": {"type": "worker", "index": index}}
                )
            processes[name] = subprocess.Popen(
                [sys.executable, str(script), str(config_path)], env=env,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                start_new_session=True,
            )
        results = {}
        for name, process in processes.items():
            stdout, stderr = process.communicate(timeout=TIMEOUT_SECONDS)
            results[name] = parse_result(name, process, stdout, stderr)
        return root, results
    finally:
        for process in processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def test_the_global_batch_is_split_between_the_workers(runs):
    _, results = runs
    assert results["single"]["replicas"] == 1
    assert results["chief"]["replicas"] == results["worker"]["replicas"] == 2
    assert results["single"]["history"]["local_batch"] == [8.0]
    assert results["chief"]["history"]["local_batch"] == [4.0]
    assert results["worker"]["history"]["local_batch"] == [4.0]


def test_workers_train_in_lock_step(runs):
    _, results = runs
    assert results["chief"]["iterations"] == results["worker"]["iterations"] == STEPS
    assert results["chief"]["digest"] == results["worker"]["digest"]
    assert results["chief"]["history"] == results["worker"]["history"]


def test_two_workers_match_one_process_with_the_same_global_batch(runs):
    import keras

    import tfcmgen.models  # noqa: F401  (registers CrossModalGAN for loading)

    root, results = runs
    single = keras.saving.load_model(str(root / "single" / "model.keras"))
    chief = keras.saving.load_model(str(root / "chief" / "model.keras"))

    def everything(gan):
        return gan.variables + gan.g_optimizer.variables + gan.d_optimizer.variables

    assert [v.path for v in everything(single)] == [v.path for v in everything(chief)]
    assert int(chief.g_optimizer.iterations.numpy()) == STEPS
    differences = {
        a.path: float(np.max(np.abs(np.asarray(a.numpy(), "float64")
                                    - np.asarray(b.numpy(), "float64")), initial=0.0))
        for a, b in zip(everything(single), everything(chief))
    }
    worst = max(differences, key=differences.get)
    assert differences[worst] < TOLERANCE, (worst, differences[worst])
    for name, values in results["single"]["history"].items():
        if name != "local_batch":
            np.testing.assert_allclose(results["chief"]["history"][name], values, atol=1e-4)


def test_only_the_chief_writes(runs):
    root, _ = runs
    chief_files = sorted(os.listdir(root / "chief"))
    for name in ("config.json", "vocab.txt", "embeddings.npy", "model.keras", "backup",
                 "samples"):
        assert name in chief_files
    assert os.listdir(root / "worker") == []
    # The non-chief's backups went to a temporary folder, removed at the end.
    assert os.listdir(root / "worker-tmp") == []


def test_a_time_budget_is_refused_before_anything_starts(tmp_path):
    from tfcmgen.config import ConfigError
    from tfcmgen.training import train

    # Each worker's clock would stop it at another step; the others would wait for it forever.
    with pytest.raises(ConfigError, match="minutes is not supported with strategy='multiworker'"):
        train(tiny_config(tmp_path / "run", strategy="multiworker", minutes=5.0))
    assert not os.path.exists(tmp_path / "run")
