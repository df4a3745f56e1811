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
import json
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


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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


class Connection:
    """A minimal keep-alive HTTP/1.1 client on asyncio streams. The clients share the 2 cores
    with the server, so they must cost little: httpx spends several times more CPU per request
    (measured), which the server's figures would pay for."""

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def post(self, path, body: bytes):
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        head = (f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json"
                f"\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        self.writer.write(head + body)
        await self.writer.drain()
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    def close(self):
        if self.writer is not None:
            self.writer.close()


async def run_clients(url, clients, seconds, next_seed):
    host, port = url.rsplit("/", 1)[-1].split(":")
    latencies, bodies, errors, sent = [], {}, {}, [0]
    stop_at = time.monotonic() + seconds

    async def client(index):
        rng = random.Random(index)
        connection = Connection(host, int(port))
        try:
            while time.monotonic() < stop_at:
                seed = next_seed()
                caption = rng.choice(CAPTIONS)
                body = json.dumps({"inputs": {"captions": [caption], "seed": seed}}).encode()
                sent[0] += 1
                started = time.perf_counter()
                status, content = await connection.post("/v1/models/bench:predict", body)
                latencies.append(time.perf_counter() - started)
                if status == 200:
                    bodies[seed] = (caption, hashlib.sha1(content).hexdigest(),
                                    content if seed % 97 == 0 else None)
                else:
                    errors[status] = errors.get(status, 0) + 1
        finally:
            connection.close()

    await asyncio.gather(*(client(i) for i in range(clients)))
    return latencies, bodies, errors, sent[0]


def check_samples(model, backend, bodies):
    """Recomputes the sampled answers directly; returns the largest pixel difference."""
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
        cpu_start = cpu_seconds(server.process.pid)
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
        cpu = cpu_seconds(server.process.pid) - cpu_start
    finally:
        server.stop()
    answered = len(bodies) + sum(errors.values())
    distinct = len({digest for _, digest, _ in bodies.values()})
    latencies = np.array(latencies) * 1000
    worst = check_samples(args.model, backend, bodies)
    return {
        "backend": backend, "batching": "on" if batching else "off", "clients": args.clients,
        "seconds": round(elapsed, 1), "requests": sent, "images_per_s": len(bodies) / elapsed,
        "p50_ms": float(np.percentile(latencies, 50)),
        "p99_ms": float(np.percentile(latencies, 99)),
        "errors": errors, "lost": sent - answered, "duplicate_bodies": len(bodies) - distinct,
        "sample_max_diff": worst, "rss_start_mb": rss_start, "rss_end_mb": rss_end,
        "rss_max_mb": max(samples + [rss_end]), "rss_samples": samples,
        "server_cpu_ms_per_image": 1000 * cpu / max(len(bodies), 1),
        "load_average": os.getloadavg()[0],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="export folder (or run folder)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--backends", default="savedmodel,onnx")
    parser.add_argument("--batching", default="on,off", help="on, off or on,off")
    parser.add_argument("--max-batch-size", type=int, default=32)
    parser.add_argument("--batch-timeout-micros", type=int, default=0)
    parser.add_argument("--memory-trace", action="store_true", help="print RSS every 5 s")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs; {args.clients} clients for {args.seconds:g} s per case; "
          "one 1-image request at a time per client")
    header = (f"{'backend':<11}{'batching':<9}{'images/s':>9}{'p50 ms':>8}{'p99 ms':>8}"
              f"{'requests':>9}{'lost':>5}{'dup':>4}{'diff':>5}{'RSS MB start/end/max':>22}"
              f"{'CPU ms/img':>11}{'load':>6}  errors")
    print(header)
    for backend in args.backends.split(","):
        for batching in args.batching.split(","):
            r = run_case(args, backend, batching == "on")
            print(f"{r['backend']:<11}{r['batching']:<9}{r['images_per_s']:>9.1f}"
                  f"{r['p50_ms']:>8.1f}{r['p99_ms']:>8.1f}{r['requests']:>9}{r['lost']:>5}"
                  f"{r['duplicate_bodies']:>4}{r['sample_max_diff']:>5}"
                  f"{r['rss_start_mb']:>12.0f}/{r['rss_end_mb']:.0f}/{r['rss_max_mb']:.0f}"
                  f"{r['server_cpu_ms_per_image']:>11.2f}{r['load_average']:>6.1f}"
                  f"  {r['errors'] or ''}", flush=True)
            if args.memory_trace:
                print("  RSS MB every 5 s:", " ".join(f"{m:.0f}" for m in r["rss_samples"]))


if __name__ == "__main__":
    main()
