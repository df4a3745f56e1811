"""The server's life: `tfcmgen serve` on a port, graceful shutdown finishing the requests in
flight, the request timeout (504), and the default bind address."""

import json
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

from tfcmgen.serve import BatchingParameters, ServeConfig, ServeLimits
from tfcmgen.serve.app import ServingApp


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _post(url, body, timeout=60):
    request = urllib.request.Request(url, json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_sigterm_finishes_requests_in_flight(serve_export):
    """Requests held in the batch queue (a 2 s batch timeout) when SIGTERM arrives are answered
    before the process exits."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tfcmgen.cli", "serve", "--model", serve_export, "--backend", "onnx",
         "--port", str(port), "--batch-timeout-micros", "2000000", "--max-batch-size", "64"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, process.stderr.read()
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
        results = []

        def ask(seed):
            results.append(_post(base + "/v1/models/tiny:predict",
                                 {"inputs": {"captions": ["a red circle"], "seed": seed}}))

        threads = [threading.Thread(target=ask, args=(seed,)) for seed in range(4)]
        for thread in threads:
            thread.start()
        time.sleep(0.8)  # the requests are queued, waiting for the batch to fill
        process.send_signal(signal.SIGTERM)
        for thread in threads:
            thread.join(60)
        # uvicorn shuts down gracefully, then re-raises the signal it caught.
        assert process.wait(60) in (0, -signal.SIGTERM)
    finally:
        if process.poll() is None:
            process.kill()
    assert sorted(status for status, _ in results) == [200] * 4
    assert all(len(body["outputs"]) == 1 for _, body in results)
    assert "serving tiny version" in process.stdout.read()


def test_request_timeout_is_504_and_the_server_goes_on(apps):
    from starlette.testclient import TestClient

    backend = apps["text2image", "onnx"].backend
    slow = type("SlowBackend", (), {})()
    for name in ("signatures", "metadata", "tokenize", "noise", "noise_rows", "name", "tokenizer",
                 "image_size"):
        setattr(slow, name, getattr(backend, name))
    slow.generate = lambda ids, noise: (time.sleep(0.5), backend.generate(ids, noise))[1]
    serving = ServingApp(slow, "tiny", 1, BatchingParameters(batch_timeout_micros=0),
                         ServeLimits(request_timeout_s=0.2))
    with TestClient(serving.app) as client:
        response = client.post("/v1/models/tiny:predict", json={"instances": ["a red circle"]})
        assert response.status_code == 504
        assert response.json()["error"].startswith("Deadline exceeded")
        assert client.get("/healthz").status_code == 200


def test_defaults_bind_this_machine_only_and_bad_flags_are_refused():
    config = ServeConfig(model="exports/x")
    assert (config.host, config.port, config.backend) == ("127.0.0.1", 8501, "savedmodel")
    with pytest.raises(ValueError, match="backend must be one of savedmodel, onnx"):
        ServeConfig(model="x", backend="tflite")
    with pytest.raises(ValueError, match="port must be an int from 0 to 65535"):
        ServeConfig(model="x", port=70000)
    with pytest.raises(ValueError, match="model_name must be non-empty"):
        ServeConfig(model="x", model_name="a/b")
    with pytest.raises(ValueError, match="max_images must be a positive number"):
        ServeLimits(max_images=0)
