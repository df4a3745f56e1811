"""Load test of `tfcmgen serve`: N concurrent clients on loopback for a bounded time.

Starts `tfcmgen serve` in a subprocess for each backend and batching setting, runs N clients that
each send one request after another (`{"inputs": {"captions": [caption], "seed": unique}}`, one
image per request) for `--seconds`, and prints p50 / p99 latency, images/s, the server's memory
(RSS) at the start and end, and the checks: every request answered exactly once (count of
responses, no two identical bodies: every seed differs) and a sample of answers equal to the
images computed directly for their own seed.

Usage (the bundled model; export it first):

    tfcmgen export --model tfcmgen/pretrained/shapes64 --format all --out /tmp/shapes64
    flock /tmp/tfcmgen-bench.lock python bench/serve_load.py --model /tmp/shapes64 \\
        --clients 16 --seconds 20
    flock /tmp/tfcmgen-bench.lock python bench/serve_load.py --model /tmp/shapes64 \\
        --clients 16 --seconds 300 --backends onnx --batching on     # memory soak
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import random
import socket
import subprocess
import sys
import threading
import time

import numpy as np

CAPTIONS = [
    "a small red circle in the top left", "a large blue square in the bottom right",
    "a green triangle in the center", "a yellow star", "a purple diamond on the left",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class Server:
    def __init__(self, model, backend, batching, max_batch_size, timeout_micros):
        self.port = free_port()
        args = [sys.executable, "-m", "tfcmgen.cli", "serve", "--model", model,
                "--backend", backend, "--port", str(self.port), "--model-name", "bench",
                "--max-batch-size", str(max_batch_size),
                "--batch-timeout-micros", str(timeout_micros)]
        if not batching:
            args.append("--no-batching")
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                        env=env)
        self.url = f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout=180):
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.process.stderr.read().decode()[-2000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("server did not start")

    def stop(self):
        self.process.terminate()
        self.process.wait(60)


async def run_clients(url, clients, seconds, next_seed):
    import httpx

    latencies, bodies, errors, sent = [], {}, {}, [0]
    stop_at = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def client(index, session):
        rng = random.Random(index)
        while time.monotonic() < stop_at:
            seed = next_seed()
            caption = rng.choice(CAPTIONS)
            body = {"inputs": {"captions": [caption], "seed": seed}}
            sent[0] += 1
            started = time.perf_counter()
            response = await session.post(url + "/v1/models/bench:predict", json=body)
            latencies.append(time.perf_counter() - started)
            if response.status_code == 200:
                bodies[seed] = (caption, hashlib.sha1(response.content).hexdigest(),
                                response.content if seed % 97 == 0 else None)
            else:
                errors[response.status_code] = errors.get(response.status_code, 0) + 1

    async with httpx.AsyncClient(limits=limits, timeout=60) as session:
        await asyncio.gather(*(client(i, session) for i in range(clients)))
    return latencies, bodies, errors, sent[0]


def check_samples(model, backend, bodies):
    """Recomputes the sampled answers directly; returns the largest pixel difference."""
    import json

    from tfcmgen.serve.backends import BACKEND_FORMATS, load_backend
    from tfcmgen.serve.model_source import find_model

    direct = load_backend(backend, find_model(model, BACKEND_FORMATS[backend]).folder)
    worst = 0
    for seed, (caption, _, content) in bodies.items():
        if content is None:
            continue
        got = np.array(json.loads(content)["outputs"], np.uint8)
        want = direct.generate(direct.tokenize([caption]), direct.noise(1, seed))
        worst = max(worst, int(np.abs(got.astype(int) - want.astype(int)).max()))
    return worst


def run_case(args, backend, batching):
    server = Server(args.model, backend, batching, args.max_batch_size, args.batch_timeout_micros)
    try:
        server.wait_ready()
        counter = iter(range(10**9))
        lock = threading.Lock()

        def next_seed():
            with lock:
                return next(counter)

        # Warm-up (first calls at each batch size), not measured.
        asyncio.run(run_clients(server.url, args.clients, 3, next_seed))
        rss_start = rss_mb(server.process.pid)
        samples, stop = [], threading.Event()

        def sample_memory():
            while not stop.wait(5):
                samples.append(rss_mb(server.process.pid))

        sampler = threading.Thread(target=sample_memory, daemon=True)
        sampler.start()
        started = time.perf_counter()
        latencies, bodies, errors, sent = asyncio.run(
            run_clients(server.url, args.clients, args.seconds, next_seed))
        elapsed = time.perf_counter() - started
        stop.set()
        rss_end = rss_mb(server.process.pid)
    finally:
        server.stop()
    answered = len(bodies) + sum(errors.values())
    distinct = len({digest for _, digest, _ in bodies.values()})
    latencies = np.array(latencies) * 1000
    worst = check_samples(args.model, backend, bodies)
    return {
        "backend": backend, "batching": "on" if batching else "off", "clients": args.clients,
        "seconds": round(elapsed, 1), "requests": sent, "images_per_s": len(bodies) / elapsed,
        "p50_ms": float(np.percentile(latencies, 50)), "p99_ms": float(np.percentile(latencies, 99)),
        "errors": errors, "lost": sent - answered, "duplicate_bodies": len(bodies) - distinct,
        "sample_max_diff": worst, "rss_start_mb": rss_start, "rss_end_mb": rss_end,
        "rss_max_mb": max(samples + [rss_end]),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="export folder (or run folder)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--backends", default="savedmodel,onnx")
    parser.add_argument("--batching", default="on,off", help="on, off or on,off")
    parser.add_argument("--max-batch-size", type=int, default=32)
    parser.add_argument("--batch-timeout-micros", type=int, default=5000)
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs; {args.clients} clients for {args.seconds:g} s per case; "
          "one 1-image request at a time per client")
    header = (f"{'backend':<11}{'batching':<9}{'images/s':>9}{'p50 ms':>8}{'p99 ms':>8}"
              f"{'requests':>9}{'lost':>5}{'dup':>4}{'diff':>5}{'RSS MB start/end/max':>22}"
              "  errors")
    print(header)
    for backend in args.backends.split(","):
        for batching in args.batching.split(","):
            r = run_case(args, backend, batching == "on")
            print(f"{r['backend']:<11}{r['batching']:<9}{r['images_per_s']:>9.1f}"
                  f"{r['p50_ms']:>8.1f}{r['p99_ms']:>8.1f}{r['requests']:>9}{r['lost']:>5}"
                  f"{r['duplicate_bodies']:>4}{r['sample_max_diff']:>5}"
                  f"{r['rss_start_mb']:>8.0f}/{r['rss_end_mb']:.0f}/{r['rss_max_mb']:.0f}"
                  f"  {r['errors'] or ''}", flush=True)


if __name__ == "__main__":
    main()
