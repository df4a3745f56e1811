"""Serving speed of a text-to-image generator: Keras, the SavedModel signature and onnxruntime.

For each runtime, in one run on the same model and captions:
  * latency of batch 1 (median and 95th percentile over `--runs` calls, after warm-up), and
  * throughput of batch 32 (images/s: median of `--rounds` rounds in which the runtimes take
    turns, `--throughput-runs` calls each).

Runtimes (captions in, uint8 images out, seed fixed, so all do the same work):
  keras         CaptionTokenizer + CrossModalGAN.generate, eager: what `tfcmgen generate` runs
  savedmodel    the exported `serving_default` signature (in-graph tokenizer), as TF Serving runs it
  onnxruntime   OnnxGenerator.generate: pure-Python tokenizer, NumPy noise, onnxruntime
  onnx session  the bare onnxruntime session.run on ready token ids and noise
  onnx session, ORT defaults   the same with onnxruntime's default session options

Usage:
    /work/venv/bin/python bench/serving_latency.py                  # default-size untrained 64x64
    /work/venv/bin/python bench/serving_latency.py --model runs/shapes64 --runs 300 --json out.json

Figures only; nothing here is asserted in tests. Goals (issue 4): onnxruntime at least as fast as
the SavedModel; batch-1 latency at 64x64 under 20 ms on this CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _default_model():
    """An untrained CrossModalGAN of the default size (64x64, widths 32) and a shapes vocabulary."""
    from tfcmgen.data.shapes import COLOURS, POSITIONS, SHAPES, SIZES
    from tfcmgen.models import CrossModalGAN
    from tfcmgen.text import Vocabulary

    captions = [
        f"a {size} {colour} {shape} in the {position}"
        for size in SIZES for colour in COLOURS for shape in SHAPES for position in POSITIONS
    ]
    vocabulary = Vocabulary.build(captions)
    model = CrossModalGAN(vocabulary_size=len(vocabulary), max_length=16, image_size=64)
    return model, vocabulary, captions


def _run_model(path):
    from tfcmgen.generation import load_generator

    generator = load_generator(path)
    words = [w for w in generator.tokenizer.vocabulary.tokens[2:]]
    captions = [" ".join(words[i : i + 8]) for i in range(0, max(len(words) - 8, 1), 3)]
    return generator.model, generator.tokenizer.vocabulary, captions


def _time_calls(function, runs, warmup):
    for _ in range(warmup):
        function()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return times


def _measure(name, make_call, args, captions):
    one = make_call(captions[:1])
    latencies = sorted(_time_calls(one, args.runs, args.warmup))
    p95 = latencies[min(len(latencies) - 1, int(round(0.95 * (len(latencies) - 1))))]
    return {
        "runtime": name,
        "median_ms": 1000 * statistics.median(latencies),
        "p95_ms": 1000 * p95,
    }


def _interleaved_throughput(calls, args):
    """images/s of each batch call: the median over `--rounds` rounds, each timing every runtime
    `--throughput-runs` times in turn. Taking turns gives every runtime the same share of
    whatever else the (shared) machine is doing; one block per runtime did not (measured: the
    same ONNX call at 648 and 1,741 images/s in one run)."""
    for call in calls.values():
        _time_calls(call, 2, 0)
    rates = {name: [] for name in calls}
    for _ in range(args.rounds):
        for name, call in calls.items():
            times = _time_calls(call, args.throughput_runs, 0)
            rates[name].append(args.batch * len(times) / sum(times))
    return {name: statistics.median(values) for name, values in rates.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="run folder (default: an untrained default-size model)")
    parser.add_argument("--runs", type=int, default=200, help="timed batch-1 calls per runtime")
    parser.add_argument("--warmup", type=int, default=20, help="untimed calls first")
    parser.add_argument("--batch", type=int, default=32, help="batch size of the throughput test")
    parser.add_argument("--throughput-runs", type=int, default=5,
                        help="timed batch calls per runtime and round")
    parser.add_argument("--rounds", type=int, default=8, help="rounds of the throughput test")
    parser.add_argument("--onnx-threads", type=int, help="onnxruntime intra-op threads "
                        "(default: onnxruntime's choice, one per core)")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)

    import onnxruntime
    import tensorflow as tf

    from tfcmgen.export import OnnxGenerator, export_onnx, export_savedmodel, load_savedmodel
    from tfcmgen.generation import to_uint8
    from tfcmgen.text import CaptionTokenizer

    model, vocabulary, captions = _run_model(args.model) if args.model else _default_model()
    model.generate(tf.ones([1, model.max_length], tf.int32), seed=0)
    tokenizer = CaptionTokenizer(vocabulary, max_length=model.max_length)

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        export_savedmodel(model, vocabulary, os.path.join(tmp, "saved_model"))
        export_onnx(model, vocabulary, os.path.join(tmp, "onnx"))
        export_seconds = time.perf_counter() - start
        savedmodel = load_savedmodel(os.path.join(tmp, "saved_model"))
        onnx_generator = OnnxGenerator(os.path.join(tmp, "onnx"), threads=args.onnx_threads)

        def keras_call(batch):
            return lambda: to_uint8(model.generate(tokenizer(tf.constant(batch)), seed=0))

        serving = savedmodel.signatures["serving_default"]

        def savedmodel_call(batch):
            inputs = {"captions": tf.constant(batch), "seed": tf.constant(0, tf.int64)}
            return lambda: serving(**inputs)["images"].numpy()

        def onnx_call(batch):
            return lambda: onnx_generator.generate(batch, seed=0)

        def session_call(batch):
            feed = {
                "token_ids": onnx_generator.tokenizer.encode(batch),
                "noise": onnx_generator.noise(len(batch), seed=0),
            }
            return lambda: onnx_generator.session.run(["images"], feed)

        # The same model in a session with onnxruntime's default options: what
        # `tfcmgen.export.onnx_generator.session_options` changes (optimisation level, sequential
        # execution, no spinning threads) is measured against it in the same rounds.
        default_session = onnxruntime.InferenceSession(
            onnx_generator.model_path, providers=["CPUExecutionProvider"])

        def default_session_call(batch):
            feed = {
                "token_ids": onnx_generator.tokenizer.encode(batch),
                "noise": onnx_generator.noise(len(batch), seed=0),
            }
            return lambda: default_session.run(["images"], feed)

        runtimes = (
            ("keras", keras_call),
            ("savedmodel", savedmodel_call),
            ("onnxruntime", onnx_call),
            ("onnx session", session_call),
            ("onnx session, ORT defaults", default_session_call),
        )
        results = [_measure(name, call, args, captions) for name, call in runtimes]
        batch = [captions[i % len(captions)] for i in range(args.batch)]
        rates = _interleaved_throughput({name: call(batch) for name, call in runtimes}, args)
        for result in results:
            result["throughput_images_per_s"] = rates[result["runtime"]]

    info = {
        "model": args.model or "untrained default (64x64, generator_width 32, noise 64)",
        "image_size": model.image_size,
        "parameters_exported": int(
            sum(v.numpy().size for v in savedmodel.loaded.serving_variables)
        ),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "tensorflow": tf.__version__,
        "onnxruntime": onnxruntime.__version__,
        "export_seconds": export_seconds,
        "onnx_threads": args.onnx_threads,
        "load_average": os.getloadavg(),
        "runs": args.runs,
        "batch": args.batch,
    }
    print(f"# serving latency: {info['model']}, {model.image_size}x{model.image_size}, "
          f"{info['parameters_exported']:,} exported parameters")
    print(f"# {info['cpu_count']} CPUs, TF {info['tensorflow']}, onnxruntime "
          f"{info['onnxruntime']}; batch 1: {args.runs} calls; batch {args.batch}: median of "
          f"{args.rounds} interleaved rounds of {args.throughput_runs} calls; onnx threads "
          f"{args.onnx_threads or 'auto'}; "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"| runtime | batch 1 median (ms) | batch 1 p95 (ms) | batch {args.batch} (images/s) |")
    print("|---|---:|---:|---:|")
    for r in results:
        print(f"| {r['runtime']} | {r['median_ms']:.2f} | {r['p95_ms']:.2f} | "
              f"{r['throughput_images_per_s']:.0f} |")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as stream:
            json.dump({"info": info, "results": results}, stream, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
