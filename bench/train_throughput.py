"""Training speed of CrossModalGAN.train_step: images/s, FLOPs per image, fraction of matmul peak.

Runs, in one invocation:
  1. the machine's float32 matmul peak (GFLOP/s, best of a few sizes, measured in this run);
  2. the FLOPs of one train_step counted from its TensorFlow graph (tf.compat.v1.profiler's
     registered op statistics: Conv2D and its two backprops, MatMul, elementwise ops...);
  3. images/s of `fit()` on a fixed in-memory batch (so the input pipeline costs nothing), with
     and without `jit_compile`, on 1 and 2 replicas. Each configuration runs in its own
     subprocess: 2 replicas need the CPU split into 2 logical devices before TensorFlow starts,
     and a fresh process gives an honest peak resident memory (getrusage maxrss).

Usage:
    /work/venv/bin/python bench/train_throughput.py                   # default 64x64 model, batch 64
    /work/venv/bin/python bench/train_throughput.py --width 16 --steps 30 --json out.json
    /work/venv/bin/python bench/train_throughput.py --replicas 1 --jit off   # one configuration

Figures only; nothing here is asserted in tests.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _model_kwargs(args) -> dict:
    return {
        "vocabulary_size": 64,
        "max_length": 16,
        "image_size": args.image_size,
        "embedding_dim": 64,
        "condition_dim": args.condition_dim,
        "noise_dim": 64,
        "generator_width": args.width,
        "discriminator_width": args.d_width or args.width,
        "ma_gp_weight": args.ma_gp,
        "diff_augment": tuple(a for a in args.diff_augment.split(",") if a),
        **({"text_pooling": args.text_pooling} if args.text_pooling else {}),
    }


def _batch(args, tf):
    import numpy as np

    rng = np.random.default_rng(0)
    size = args.image_size
    return {
        "image": tf.constant(rng.uniform(-1, 1, (args.batch_size, size, size, 3)), tf.float32),
        "token_ids": tf.constant(rng.integers(1, 64, (args.batch_size, 16)), tf.int32),
        "mismatched_token_ids": tf.constant(rng.integers(1, 64, (args.batch_size, 16)), tf.int32),
    }


def _compile(gan, keras, jit):
    gan.compile(
        keras.optimizers.Adam(2e-4, beta_1=0.0, beta_2=0.9),
        keras.optimizers.Adam(4e-4, beta_1=0.0, beta_2=0.9),
        loss="hinge",
        jit_compile=jit,
    )


def measure_matmul_peak(sizes=(2048, 4096), seconds=2.0) -> float:
    """Best GFLOP/s of a float32 [n, n] x [n, n] matmul over `sizes`."""
    import tensorflow as tf

    best = 0.0
    for n in sizes:
        a = tf.random.normal([n, n])
        b = tf.random.normal([n, n])
        matmul = tf.function(lambda x, y: tf.matmul(x, y))
        matmul(a, b).numpy()
        repeats, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            result = matmul(a, b)
            repeats += 1
        result.numpy()
        elapsed = time.perf_counter() - start
        best = max(best, 2.0 * n**3 * repeats / elapsed / 1e9)
    return best


def count_train_step_flops(args) -> dict:
    """FLOPs of one train_step at batch `args.batch_size`, from the traced graph."""
    import keras
    import tensorflow as tf

    from tfcmgen.models import CrossModalGAN

    gan = CrossModalGAN(**_model_kwargs(args))
    _compile(gan, keras, False)
    batch = _batch(args, tf)
    graph = tf.function(gan.train_step).get_concrete_function(batch).graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    total = tf.compat.v1.profiler.profile(graph, options=options).total_float_ops
    by_type = {}
    for op in graph.get_operations():
        by_type[op.type] = by_type.get(op.type, 0) + 1
    dense_ops = ("Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter", "MatMul")
    options["account_type_regexes"] = list(dense_ops)
    dense = tf.compat.v1.profiler.profile(graph, options=options).total_float_ops
    return {
        "flops_per_step": int(total),
        "flops_per_image": total / args.batch_size,
        "dense_flops_per_image": dense / args.batch_size,
        "parameters": {
            "generator": int(gan.generator.count_params()),
            "discriminator": int(gan.discriminator.count_params()),
            "text_encoder": int(gan.text_encoder.count_params()),
        },
    }


def run_worker(args) -> dict:
    """One configuration: images/s of fit() on a repeated in-memory batch."""
    import tensorflow as tf

    if args.replicas > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * args.replicas
        )
    import keras

    from tfcmgen.models import CrossModalGAN

    if args.precision != "float32":
        keras.mixed_precision.set_global_policy(args.precision)
    if args.replicas > 1:
        strategy = tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(args.replicas)])
    else:
        strategy = tf.distribute.get_strategy()
    with strategy.scope():
        gan = CrossModalGAN(**_model_kwargs(args))
        _compile(gan, keras, args.jit == "on")
    dataset = tf.data.Dataset.from_tensors(_batch(args, tf)).repeat()
    start = time.perf_counter()
    gan.fit(dataset, steps_per_epoch=args.warmup, epochs=1, verbose=0)
    warmup_seconds = time.perf_counter() - start
    # The peak is measured here, right before the timed steps: other processes sharing the cores
    # change both figures alike, so their ratio stays meaningful on a busy machine.
    peak = measure_matmul_peak(seconds=1.0)
    start, cpu_start = time.perf_counter(), time.process_time()
    history = gan.fit(dataset, steps_per_epoch=args.steps, epochs=1, verbose=0)
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu_start
    return {
        # CPU seconds of this process per image, times the core count: what images/s would be
        # on an otherwise idle machine if the run kept every core busy (other processes sharing
        # the cores slow the wall clock but not this).
        "images_per_cpu_second_x_cores": args.steps * args.batch_size / cpu_seconds
        * (os.cpu_count() or 1),
        "cpu_utilisation": cpu_seconds / seconds / (os.cpu_count() or 1),
        "replicas": args.replicas,
        "jit": args.jit == "on",
        "matmul_peak_gflops": peak,
        "precision": args.precision,
        "images_per_second": args.steps * args.batch_size / seconds,
        "seconds_per_step": seconds / args.steps,
        "first_steps_seconds": warmup_seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "final_d_loss": float(history.history["d_loss"][-1]),
    }


def _parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--width", type=int, default=None, help="G (and D) width; model default")
    parser.add_argument("--d-width", type=int, default=None)
    parser.add_argument("--condition-dim", type=int, default=128)
    parser.add_argument("--ma-gp", type=float, default=0.0)
    parser.add_argument("--diff-augment", default="translation,cutout")
    parser.add_argument("--text-pooling", default=None, help="CrossModalGAN text_pooling "
                        "(default: the model's)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--replicas", type=int, choices=(1, 2), default=None)
    parser.add_argument("--jit", choices=("on", "off"), default=None)
    parser.add_argument("--precision", default="float32")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    return parser


def main(argv=None):
    args = _parser().parse_args(argv)
    if args.width is None:
        import inspect

        from tfcmgen.models import CrossModalGAN

        args.width = inspect.signature(CrossModalGAN).parameters["generator_width"].default
    if args.worker:
        print("RESULT " + json.dumps(run_worker(args)), flush=True)
        return

    peak = measure_matmul_peak()
    flops = count_train_step_flops(args)
    configurations = [
        (replicas, jit)
        for replicas in ((args.replicas,) if args.replicas else (1, 2))
        for jit in ((args.jit,) if args.jit else ("off", "on"))
    ]
    runs = []
    for replicas, jit in configurations:
        command = [sys.executable, os.path.abspath(__file__), "--worker"]
        command += [a for a in (argv if argv is not None else sys.argv[1:])]
        command += ["--replicas", str(replicas), "--jit", jit, "--width", str(args.width)]
        done = subprocess.run(command, check=False, capture_output=True, text=True)
        lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
        if done.returncode or not lines:
            runs.append({"replicas": replicas, "jit": jit == "on", "error": done.stderr[-2000:]})
            continue
        run = json.loads(lines[-1][len("RESULT ") :])
        achieved = run["images_per_second"] * flops["flops_per_image"] / 1e9
        run["achieved_gflops"] = achieved
        run["fraction_of_peak"] = achieved / run["matmul_peak_gflops"]
        runs.append(run)

    report = {
        "model": _model_kwargs(args),
        "batch_size": args.batch_size,
        "matmul_peak_gflops": peak,
        **flops,
        "runs": runs,
    }
    print(f"model: {args.image_size}x{args.image_size}, width {args.width}, batch {args.batch_size}")
    print(f"parameters: {flops['parameters']}")
    print(f"float32 matmul peak: {peak:.1f} GFLOP/s (at the start; each run measures its own)")
    print(
        f"train_step FLOPs/image: {flops['flops_per_image'] / 1e9:.3f} G "
        f"(conv+matmul {flops['dense_flops_per_image'] / 1e9:.3f} G)"
    )
    print(f"load average before the runs: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(
        f"{'replicas':>8} {'jit':>5} {'images/s':>9} {'GFLOP/s':>8} {'peak':>6} {'of peak':>8} "
        f"{'maxrss MB':>9} {'img/cpu-s*cores':>15}"
    )
    for run in runs:
        if "error" in run:
            reason = run["error"].strip().splitlines()[-1] if run["error"].strip() else "?"
            print(f"{run['replicas']:>8} {run['jit']!s:>5}  failed: {reason}")
            continue
        print(
            f"{run['replicas']:>8} {run['jit']!s:>5} {run['images_per_second']:>9.1f} "
            f"{run['achieved_gflops']:>8.1f} {run['matmul_peak_gflops']:>6.0f} "
            f"{run['fraction_of_peak']:>8.1%} "
            f"{run['peak_rss_mb']:>9.0f} {run['images_per_cpu_second_x_cores']:>15.1f}"
        )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
