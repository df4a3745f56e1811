"""The `tfcmgen` command: flags -> a config dataclass -> a library function.

Examples::

    tfcmgen demo                                   # ~5 min on 2 CPU cores, then a held-out grid
    tfcmgen data preview --data shapes -o grid.png
    tfcmgen train --data shapes --image-size 64 --minutes 15 --out runs/shapes64
    tfcmgen train --config runs/shapes64/config.json      # reproduce or resume a run
    tfcmgen generate --model runs/shapes64 "a small red circle in the top left" -n 8 -o grid.png
    tfcmgen evaluate --model runs/shapes64 --data shapes
    tfcmgen evaluate --model runs/birds --data data/birds --json report.json
    tfcmgen export --model runs/shapes64 --format all --out exports/shapes64
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys

from tfcmgen.config import (
    AUGMENTS,
    FORMATS,
    FUSIONS,
    LOSSES,
    PRECISIONS,
    STRATEGIES,
    SUPPORTED_IMAGE_SIZES,
    TASKS,
    TEXT_POOLINGS,
    ConfigError,
    ExportConfig,
    GenerateConfig,
    TrainConfig,
)

# Quiet TensorFlow's C++ start-up chatter unless the user asked for it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

_EPILOG = __doc__.split("Examples::", 1)[1]


class CLIError(Exception):
    """An error to print as one line, without a traceback."""


def _add_train_flags(p: argparse.ArgumentParser) -> None:
    d = TrainConfig()
    p.add_argument("--config", help="a config.json to start from (flags given override it)")
    p.add_argument("--data", help="'shapes', 'shapes2' (two objects) or a dataset folder "
                   f"(default {d.data!r})")
    p.add_argument("--format", choices=FORMATS[1:], help="folder format (auto-detected)")
    p.add_argument("--task", choices=TASKS, help=f"default {d.task!r}")
    p.add_argument("--image-size", type=int, choices=SUPPORTED_IMAGE_SIZES,
                   help=f"default {d.image_size}")
    p.add_argument("--epochs", type=int,
                   help="epochs to train (default: none with --minutes, else 20); with --minutes, "
                   "whichever runs out first ends the run")
    p.add_argument("--minutes", type=float,
                   help="wall-clock budget: train until it runs out (and --epochs, if given)")
    p.add_argument("--batch-size", type=int, help="global batch (default: 32, or for under 128 "
                   "training images the largest power of two up to a quarter of them, at least 4)")
    p.add_argument("--num-images", type=int, help=f"shapes images (default {d.num_images})")
    p.add_argument("--steps-per-epoch", type=int, help="steps of one epoch (default: one pass "
                   "over the training images; with --minutes alone at least 100 steps)")
    p.add_argument("--sample-every-steps", type=int, help="a sample grid every N steps (default: "
                   "500, in whole epochs; at least 20 grids in a run of given --epochs)")
    p.add_argument("--backup-every-steps", type=int, help="back up the training state every N "
                   "steps (default: about 3 minutes of 2-core CPU work, 100 to 5000 steps)")
    p.add_argument("--fusion", choices=FUSIONS, help=f"default {d.fusion!r}")
    p.add_argument("--loss", choices=LOSSES, help=f"default {d.loss!r}")
    p.add_argument("--text-pooling", choices=TEXT_POOLINGS, help=f"default {d.text_pooling!r}")
    p.add_argument("--word-vectors", help="pretrained word2vec/GloVe file instead of Word2Vec")
    p.add_argument("--embedding-dim", type=int, help=f"default {d.embedding_dim}")
    p.add_argument("--base-width", type=int, help=f"network width (default {d.base_width})")
    p.add_argument("--noise-dim", type=int, help=f"default {d.noise_dim}")
    p.add_argument("--g-learning-rate", type=float, help=f"default {d.g_learning_rate}")
    p.add_argument("--d-learning-rate", type=float, help=f"default {d.d_learning_rate}")
    p.add_argument("--near-miss", type=float,
                   help="share of mismatched captions differing in exactly one attribute "
                   f"(datasets with attributes; default {d.near_miss})")
    p.add_argument("--swap-negatives", type=float,
                   help="share of mismatched captions that are the caption with two attribute "
                   f"words or the two objects exchanged (default {d.swap_negatives})")
    p.add_argument("--augment", choices=AUGMENTS,
                   help="training augmentation; 'auto' (default) tests on the data whether "
                   "mirroring and rotation are safe")
    p.add_argument("--caption-near-miss", action="store_true", default=None,
                   help="folders: near-miss mismatched captions that differ in one word")
    p.add_argument("--word-dropout", type=float,
                   help=f"chance a caption word is dropped in training (default {d.word_dropout})")
    p.add_argument("--strategy", choices=STRATEGIES, help="distribution (default: mirrored if "
                   "--replicas > 1); multiworker reads TF_CONFIG")
    p.add_argument("--replicas", type=int, help=f"devices to mirror over (default {d.replicas})")
    p.add_argument("--precision", choices=PRECISIONS, help=f"default {d.precision!r}")
    p.add_argument("--jit", action="store_true", default=None, help="XLA-compile the train step")
    p.add_argument("--strict", action="store_true", default=None,
                   help="unreadable images are an error instead of skipped")
    p.add_argument("--vgg-weights", help="edit task: a local VGG16 weights file, or 'imagenet' "
                   "from the Keras cache (nothing is downloaded)")
    p.add_argument("--model-option", action="append", dest="model_option_pairs",
                   metavar="NAME=VALUE", help="a further model constructor argument (JSON value), "
                   "e.g. --model-option use_ca=true; repeatable; saved as config model_options")
    p.add_argument("--evaluate-every", type=int, metavar="EPOCHS",
                   help="R-precision on validation captions every EPOCHS epochs; keeps best.keras")
    p.add_argument("--seed", type=int, help=f"default {d.seed}")
    p.add_argument("--out", help="run folder (required unless --config gives it)")
    p.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")


def _train_config(args: argparse.Namespace, **defaults) -> TrainConfig:
    base = TrainConfig.load(args.config).to_dict() if args.config else dict(defaults)
    for field in dataclasses.fields(TrainConfig):
        value = getattr(args, field.name, None)
        if value is not None:
            base[field.name] = value
    if getattr(args, "model_option_pairs", None):
        base["model_options"] = {**base.get("model_options", {}),
                                 **_parse_pairs("--model-option", args.model_option_pairs)}
    if not args.config and "out" not in base:
        raise CLIError("train needs --out RUN_DIR (or --config RUN_DIR/config.json)")
    return TrainConfig.from_dict(base)


def _parse_pairs(flag: str, items: list[str]) -> dict:
    """`NAME=VALUE` strings as a dict; a VALUE that is not JSON stays a string."""
    pairs = {}
    for item in items:
        name, equals, value = item.partition("=")
        if not equals or not name:
            raise CLIError(f"{flag} takes NAME=VALUE; received {item!r}")
        try:
            pairs[name] = json.loads(value)
        except json.JSONDecodeError:
            pairs[name] = value
    return pairs


def _print_resolved(config: TrainConfig) -> None:
    """--dry-run: the config as training resolves it (sizes for the dataset; counts images)."""
    from tfcmgen.jobs.runner import resolve_config

    config, sizes = resolve_config(config)
    print(config.to_json())
    print(f"tfcmgen: {sizes}", file=sys.stderr)


def _cmd_train(args) -> int:
    from tfcmgen.config import RESOLVED_FIELDS
    from tfcmgen.tasks import task_class

    # A task's batch is its batch for a dataset that is not small: resolved, not given.
    defaults = {name: value for name, value in task_class(args.task or "text2image")
                .defaults.items() if name not in RESOLVED_FIELDS}
    config = _train_config(args, **defaults)
    if config.model_options:
        # Checked against the model's constructor now, so --dry-run refuses a bad name too.
        task_class(config.task)(config)
    if args.dry_run:
        _print_resolved(config)
        return 0
    from tfcmgen.jobs.runner import run_summary, train

    result = train(config)
    print(run_summary(config, result))
    return 0


def _cmd_demo(args) -> int:
    from tfcmgen.demo import DEMO_EMA_DECAY, fast_precision

    config = _train_config(
        args,
        out="runs/demo",
        minutes=5.0,
        image_size=64,
        num_images=4000,
        precision=fast_precision(),
        model_options={"ema_decay": DEMO_EMA_DECAY},
    )
    if args.dry_run:
        _print_resolved(config)
        return 0
    from tfcmgen.demo import run_demo

    result = run_demo(config)
    print(result.summary)
    if config.precision != "float32":
        print(f"trained in {config.precision} (this CPU computes it natively; --precision float32 "
              "to compare)")
    print(f"held-out captions grid: {result.grid}")
    if result.held_out_accuracy is not None:
        print(f"held-out colour+shape pairs drawn right: {result.held_out_accuracy:.0%} of "
              f"{result.judged_images} images (judged by the bundled attribute classifier)")
    return 0


def _cmd_generate(args) -> int:
    config = GenerateConfig(
        captions=tuple(args.captions),
        model=args.model,
        out=args.output,
        num_per_caption=args.n,
        seed=args.seed,
        image=args.image,
    )
    if args.dry_run:
        print(config.to_json())
        return 0
    from tfcmgen.jobs.generate import generate_grid

    path = generate_grid(config)
    print(f"wrote {path}")
    return 0


def _cmd_evaluate(args) -> int:
    from tfcmgen.evaluation.evaluate_config import EvaluateConfig

    config = EvaluateConfig(
        model=args.model, data=args.data, format=args.format, num_images=args.num_images,
        repeats=args.repeats, held_out=tuple(args.held_out or ()), seed=args.seed,
        json=args.json, train_matcher=args.train_matcher, matcher=args.matcher,
        matcher_steps=args.matcher_steps, cache_dir=args.cache_dir,
        inception_weights=args.inception_weights, classifier=args.classifier,
        image_size=args.image_size, validation_fraction=args.validation_fraction,
        split_seed=args.split_seed,
    )
    if args.dry_run:
        print(config.to_json())
        return 0
    from tfcmgen.evaluation.dataset_evaluation import evaluate, format_report

    report = evaluate(config)
    print(format_report(report))
    if config.json:
        print(f"wrote {config.json}")
    return 0


def _cmd_export(args) -> int:
    config = ExportConfig(
        model=args.model, out=args.out, format=args.format, overwrite=args.overwrite,
        opset=args.opset, version=args.version,
    )
    if args.dry_run:
        print(config.to_json())
        return 0
    from tfcmgen.export import export_run

    written = export_run(config)
    for path in written:
        print(f"wrote {path}")
    return 0


def _cmd_serve(args) -> int:
    from tfcmgen.serve import BatchingParameters, ServeConfig, ServeLimits, serve
    from tfcmgen.serve.model_source import PRETRAINED_RUN

    config = ServeConfig(
        model=args.model or PRETRAINED_RUN, model_name=args.model_name, backend=args.backend,
        host=args.host,
        port=args.port, threads=args.threads,
        batching=BatchingParameters(
            enabled=not args.no_batching, max_batch_size=args.max_batch_size,
            batch_timeout_micros=args.batch_timeout_micros,
            max_enqueued_batches=args.max_enqueued_batches,
        ),
        limits=ServeLimits(request_timeout_s=args.request_timeout),
    )
    serve(config)
    return 0


def _cmd_data_preview(args) -> int:
    from tfcmgen.data import load_dataset, write_preview_grid

    kwargs = {"image_size": args.image_size}
    if args.data == "shapes":
        kwargs.update(num_images=max(args.n, 64), seed=args.seed)
    else:
        kwargs["format"] = args.format
    data = load_dataset(args.data, **kwargs)
    print(data.summary())
    write_preview_grid(data, args.output, n=args.n, cols=args.cols)
    print(f"wrote {args.output}")
    return 0


def _positive_int(name, maximum=100_000):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be an integer; received {text!r}")
        if not 1 <= value <= maximum:
            raise argparse.ArgumentTypeError(
                f"{name} must be between 1 and {maximum}; received {value}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tfcmgen",
        description="Cross-modal image generation: train text-conditioned GANs, generate, export.",
        epilog="examples:" + _EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", help="train a model", epilog="examples:" + _EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_train_flags(p)
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("demo", help="train on shapes for ~5 minutes, then draw held-out captions")
    _add_train_flags(p)
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("generate", help="draw images for captions")
    p.add_argument("captions", nargs="+", help="one or more captions")
    p.add_argument("--model", help="run folder or export (default: the bundled pretrained "
                   "model); an export's SavedModel is a program that runs when loaded: load only "
                   "exports you trust")
    p.add_argument("--image", help="source image to edit (edit models)")
    p.add_argument("-n", type=_positive_int("-n", maximum=1024), default=8,
                   help="samples per caption (1 to 1024)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", default="generated.png", help="PNG to write")
    p.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    p.set_defaults(func=_cmd_generate)

    p = sub.add_parser(
        "evaluate", help="R-precision, FID/KID and diversity of a model on any captioned dataset",
        description="Scores a text-to-image model against an image-text matcher trained on the "
        "dataset's training split (cached; see README 'Evaluation protocol'). On shapes the "
        "attribute accuracy is reported too.")
    p.add_argument("--model", help="run folder or export (required unless --train-matcher)")
    p.add_argument("--data", default="shapes", help="'shapes' or a dataset folder")
    p.add_argument("--format", choices=FORMATS[1:], help="folder format (auto-detected)")
    p.add_argument("--num-images", type=_positive_int("--num-images"), default=1000,
                   help="generated images scored (default 1000)")
    p.add_argument("--repeats", type=_positive_int("--repeats", 1000), default=10,
                   help="folds for the R-precision mean and std (default 10)")
    p.add_argument("--held-out", action="append", metavar="WORDS",
                   help="a word combination the model did not train on, e.g. 'red square' "
                   "(repeatable): its captions are scored as their own group")
    p.add_argument("--json", help="write the full report to this JSON file")
    p.add_argument("--train-matcher", action="store_true",
                   help="train the matcher now even if a cached one exists")
    p.add_argument("--matcher", help="a matcher folder to use instead of the cache")
    p.add_argument("--matcher-steps", type=_positive_int("--matcher-steps", 10_000_000),
                   default=1000, help="matcher training steps (default 1000)")
    p.add_argument("--cache-dir", help="matcher cache (default $TFCMGEN_CACHE or ~/.cache/tfcmgen)")
    p.add_argument("--inception-weights", help="local InceptionV3 no-top weights (.h5): adds "
                   "the paper-comparable FID/KID; nothing is downloaded")
    p.add_argument("--classifier", help="shapes: a trained attribute classifier (.keras)")
    p.add_argument("--image-size", type=int, choices=SUPPORTED_IMAGE_SIZES,
                   help="matcher only (without --model); else the model's")
    p.add_argument("--validation-fraction", type=float,
                   help="the split (default: the run's, else 0.05)")
    p.add_argument("--split-seed", type=int, help="seed of the split (default: the run's, else 0)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("export", help="SavedModel and/or ONNX export of a run's generator")
    p.add_argument("--model", required=True, help="run folder")
    p.add_argument("--format", default="all", choices=("savedmodel", "onnx", "all"))
    p.add_argument("--out", required=True, help="export folder")
    p.add_argument("--overwrite", action="store_true",
                   help="update an existing export: add a SavedModel version, replace the ONNX "
                   "model and marker; only files the export's manifest proves tfcmgen wrote are "
                   "replaced")
    p.add_argument("--version", type=_positive_int("--version", maximum=2**63 - 1),
                   help="SavedModel version folder OUT/N (TF Serving's layout; default 1, or the "
                   "next free number in an existing export)")
    p.add_argument("--opset", type=int, default=17)
    p.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser(
        "serve", help="serve a model with TF Serving's REST API and a web page",
        description="Serves an export (or a run folder, exported on the fly) with TF Serving's "
        "REST API (/v1/models/NAME:predict), server-side batching, /metrics and a web page at /.",
    )
    p.add_argument("--model", help="export folder (either layout) or run folder (default: the "
                   "bundled pretrained model, exported on the fly)")
    p.add_argument("--model-name", help="NAME in /v1/models/NAME (default: the folder's name)")
    p.add_argument("--backend", default="savedmodel", choices=("savedmodel", "onnx"))
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: this machine)")
    p.add_argument("--port", type=int, default=8501)
    p.add_argument("--max-batch-size", type=_positive_int("--max-batch-size", 4096), default=32)
    p.add_argument("--batch-timeout-micros", type=int, default=0,
                   help="longest wait of a batch for more requests (default 0: what queued up "
                   "during the previous model call)")
    p.add_argument("--max-enqueued-batches", type=_positive_int("--max-enqueued-batches"),
                   default=16)
    p.add_argument("--no-batching", action="store_true", help="one model call per request")
    p.add_argument("--request-timeout", type=float, default=30.0, help="seconds (then 504)")
    p.add_argument("--threads", type=_positive_int("--threads", 256),
                   help="onnxruntime intra-op threads (default: one per core)")
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser("data", help="inspect datasets")
    data_sub = p.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    q = data_sub.add_parser("preview", help="print a summary and write a captioned grid")
    q.add_argument("--data", default="shapes", help="'shapes' or a dataset folder")
    q.add_argument("--format", choices=FORMATS[1:])
    q.add_argument("--image-size", type=int, choices=SUPPORTED_IMAGE_SIZES, default=64)
    q.add_argument("-n", type=_positive_int("-n"), default=16, help="images in the grid")
    q.add_argument("--cols", type=_positive_int("--cols"), default=4)
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("-o", "--output", default="preview.png")
    q.set_defaults(func=_cmd_data_preview)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="tfcmgen: %(levelname)s: %(message)s",
    )
    # `serve --backend onnx` runs without TensorFlow (issue 15): it must not be imported.
    if not getattr(args, "dry_run", False) and getattr(args, "backend", None) != "onnx":
        from tfcmgen.quiet_start import import_tensorflow_quietly

        # TensorFlow's C++ start-up lines (an "E0000 ... cuInit" among them) only with --verbose.
        import_tensorflow_quietly(verbose=args.verbose)
    try:
        return args.func(args)
    except (CLIError, ConfigError) as e:
        print(f"tfcmgen {args.command}: error: {e}", file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError, PermissionError) as e:
        # Library errors carry a message naming the file/argument; a traceback adds nothing.
        if args.verbose:
            raise
        print(f"tfcmgen {args.command}: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
