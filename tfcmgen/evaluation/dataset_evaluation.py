"""`tfcmgen evaluate`: R-precision, FID/KID and diversity of a text-to-image model on any dataset.

The protocol (README "Evaluation protocol"):

1. The dataset is split as the model's training run split it (its `validation_fraction` and
   `seed`), so validation images and captions are ones the model never saw.
2. An `ImageTextMatcher` is trained on the training split only (cached by fingerprint); for the
   built-in shapes, on a separately rendered set of all colour+shape pairs.
3. `num_images` validation captions (cycled in a seeded order) are drawn, one image each.
   R-precision ranks each image's caption against 99 captions that differ after normalisation
   and share no image with it (paraphrases are not mismatches);
   mean and standard deviation over `repeats` folds. The same captions with their real images
   give the ceiling (the matcher's own retrieval accuracy on real held-out images).
4. FID and KID between generated and real validation images on the matcher's image features
   (ceiling: real training images against the same real validation images); with local
   InceptionV3 weights also on Inception pool features, the only FID comparable with papers.
5. Diversity: mean pairwise pixel distance of several samples of one caption, against real
   images sharing a caption.

Example:

>>> from tfcmgen.evaluation import EvaluateConfig
>>> report = evaluate(EvaluateConfig(model="runs/birds", data="data/birds"))  # doctest: +SKIP
>>> print(format_report(report))  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time

import numpy as np

from tfcmgen.config import TrainConfig
from tfcmgen.evaluation.evaluate_config import EvaluateConfig
from tfcmgen.evaluation.matcher_cache import MatcherSettings, load_matcher, load_or_train_matcher
from tfcmgen.evaluation.r_precision import (
    NUM_CANDIDATES,
    caption_key,
    draw_mismatches,
    equivalent_captions,
    r_precision,
)

logger = logging.getLogger(__name__)

# Images per generator call.
_GENERATE_BATCH = 64
# More unknown words than this share of a dataset's caption words: the model's vocabulary is not
# this dataset's.
_MAX_UNKNOWN_SHARE = 0.5
# Shapes: the matcher's own rendered training set (all colour+shape pairs; seed apart from any
# training seed) and the held-out pairs' evaluation images.
_SHAPES_MATCHER_IMAGES, _SHAPES_MATCHER_SEED = 4000, 7_000_001
_SHAPES_HELD_OUT_IMAGES, _SHAPES_HELD_OUT_SEED = 250, 7_000_002


@dataclasses.dataclass
class EvaluationData:
    """The images and captions one evaluation works on (all uint8 in memory)."""

    matcher_train: object  # CaptionedImages the matcher trains on
    train: object  # the model's training split (real ceiling of FID/KID)
    validation: object  # the model's validation split
    groups: dict  # group name -> (real images [N, S, S, 3], captions [N])
    pool_keys: list  # distinct normalised captions the mismatches are drawn from
    equivalents: dict  # caption key -> keys sharing an image with it (never its mismatches)
    attributes: bool  # True for shapes (attribute accuracy is added)
    split: dict  # how the split was made, for the report


def _run_config(model: str | None, generator) -> TrainConfig | None:
    """The TrainConfig of a run folder, or of the run an export names as its source."""
    candidates = []
    if model is not None:
        candidates.append(os.path.join(model, "config.json"))
    metadata = getattr(generator, "metadata", None)
    if metadata is not None and getattr(metadata, "source", ""):
        candidates.append(os.path.join(metadata.source, "config.json"))
    for path in candidates:
        if os.path.isfile(path):
            return TrainConfig.load(path)
    return None


def load_model_for_evaluation(path: str):
    """`load_generator(path)`, refusing what cannot draw from captions, in one line each."""
    from tfcmgen.generation import load_generator

    generator = load_generator(path)
    signatures = getattr(generator, "signatures", None)
    if signatures is not None and "serving_default" not in signatures:
        raise ValueError(
            f"the export at {path!r} has no 'serving_default' signature (it has "
            f"{sorted(signatures)}); evaluate needs a text-to-image export: re-export the run "
            "with `tfcmgen export --format savedmodel`"
        )
    if generator.task != "text2image":
        raise ValueError(
            f"the model at {path!r} was trained for task {generator.task!r}; evaluate scores "
            "text-to-image models"
        )
    return generator


def _model_token_ids(generator, captions: list[str]) -> np.ndarray:
    if hasattr(generator, "token_ids"):
        return np.asarray(generator.token_ids(captions))
    return np.asarray(generator.tokenizer.encode(captions))


def check_vocabulary(generator, captions: list[str], source: str) -> float:
    """Share of caption words the model knows; raises when most are unknown to it."""
    from tfcmgen.text import PAD_ID, UNK_ID, split_words

    ids = _model_token_ids(generator, captions)
    words = ids[ids != PAD_ID]
    if not len(words):
        raise ValueError(f"the captions of {source} hold no words")
    unknown = float(np.mean(words == UNK_ID))
    if unknown > _MAX_UNKNOWN_SHARE:
        examples = []
        for caption, row in zip(captions, ids):
            for word, token in zip(split_words(caption), row):
                if token == UNK_ID and word not in examples:
                    examples.append(word)
            if len(examples) >= 5:
                break
        raise ValueError(
            f"the model was trained on another vocabulary: {unknown:.0%} of the words in the "
            f"validation captions of {source} are unknown to it (e.g. {', '.join(examples)}); "
            "evaluate it on the dataset it was trained on"
        )
    return 1.0 - unknown


def _held_out_match(caption: str, combinations: list[set]) -> bool:
    words = set(caption_key(caption).split())
    return any(combination <= words for combination in combinations)


def load_evaluation_data(config: EvaluateConfig, image_size: int,
                         run_config: TrainConfig | None) -> EvaluationData:
    """Splits the dataset as the model's run did and gathers the scored groups."""
    from tfcmgen.data import load_dataset, load_shapes

    fraction = config.validation_fraction or (
        run_config.validation_fraction if run_config else TrainConfig.validation_fraction)
    split_seed = config.split_seed if config.split_seed is not None else (
        run_config.seed if run_config else TrainConfig.seed)
    split = {"validation_fraction": fraction, "seed": split_seed,
             "from_run": run_config is not None and config.validation_fraction is None
             and config.split_seed is None}
    groups = {}
    if config.data == "shapes":
        from tfcmgen.data.shapes import DEFAULT_HELD_OUT

        if config.held_out:
            raise ValueError(
                f"--held-out applies to folder datasets; on shapes the held-out colour+shape "
                f"pairs are the run's (config held_out); received {list(config.held_out)}"
            )
        num_images = run_config.num_images if run_config else TrainConfig.num_images
        held_out = (run_config.held_out if run_config and run_config.held_out is not None
                    else DEFAULT_HELD_OUT)
        data = load_shapes(num_images=num_images, image_size=image_size, seed=split_seed,
                           held_out=held_out, split="train")
        train, validation = data.split(fraction, seed=split_seed)
        matcher_train = load_shapes(num_images=_SHAPES_MATCHER_IMAGES, image_size=image_size,
                                    seed=_SHAPES_MATCHER_SEED, held_out=held_out, split="all")
        if held_out:
            unseen = load_shapes(num_images=_SHAPES_HELD_OUT_IMAGES, image_size=image_size,
                                 seed=_SHAPES_HELD_OUT_SEED, held_out=held_out,
                                 split="held_out")
            groups["held_out"] = _pairs(unseen, range(len(unseen)))
        caption_lists = matcher_train.captions + data.captions + (
            unseen.captions if held_out else [])
        split["held_out"] = [list(p) for p in held_out]
        groups["validation"] = _pairs(validation, range(len(validation)))
    else:
        data = load_dataset(config.data, format=config.format, image_size=image_size)
        train, validation = data.split(fraction, seed=split_seed)
        matcher_train = train
        caption_lists = data.captions
        combinations = [set(caption_key(h).split()) for h in config.held_out]
        if config.held_out:
            if not all(combinations):
                raise ValueError(
                    f"held_out combinations must hold words; received {list(config.held_out)}"
                )
            split["held_out"] = list(config.held_out)
            images, captions = [], []
            for part in (train, validation):
                for i, caps in enumerate(part.captions):
                    for caption in caps:
                        if _held_out_match(caption, combinations):
                            images.append(part.images[i])
                            captions.append(caption)
            if not captions:
                raise ValueError(
                    f"no caption of {config.data} holds all words of any held_out combination "
                    f"{list(config.held_out)}"
                )
            groups["held_out"] = (np.stack(images), captions)
        groups["validation"] = _pairs(
            validation, range(len(validation)),
            exclude=lambda c: bool(combinations) and _held_out_match(c, combinations),
        )
        if not groups["validation"][1]:
            raise ValueError(f"every validation caption of {config.data} is in a held_out group")
    pool_keys = sorted({caption_key(c) for caps in caption_lists for c in caps} - {""})
    return EvaluationData(matcher_train, train, validation, groups, pool_keys,
                          equivalent_captions(caption_lists), config.data == "shapes", split)


def _pairs(data, indices, exclude=None):
    """(images [N, S, S, 3], captions [N]): every (image, caption) pair of `indices`."""
    images, captions = [], []
    for i in indices:
        for caption in data.captions[i]:
            if exclude is None or not exclude(caption):
                images.append(i)
                captions.append(caption)
    return data.images[np.asarray(images, np.int64)], captions


def _draw_captions(group, count: int, seed: int):
    """`count` (real image, caption) pairs of a group: a seeded order, cycled as needed."""
    images, captions = group
    order = np.random.default_rng(seed).permutation(len(captions))
    picks = np.resize(order, count)
    return images[picks], [captions[i] for i in picks]


def generate_images(generator, captions: list[str], seed: int) -> np.ndarray:
    """One uint8 image per caption; batch i uses seed `seed + i` (same seed, same images)."""
    parts = [
        np.asarray(generator.generate(captions[start:start + _GENERATE_BATCH], 1,
                                      seed=seed + batch))
        for batch, start in enumerate(range(0, len(captions), _GENERATE_BATCH))
    ]
    images = np.concatenate(parts)
    if images.shape[0] != len(captions):
        raise ValueError(
            f"the model returned {images.shape[0]} images for {len(captions)} captions"
        )
    return images


def _score_group(matcher, generated, real, captions, data, pool_embeddings, repeats, seed):
    keys = [caption_key(c) for c in captions]
    mismatches = draw_mismatches(keys, data.pool_keys, NUM_CANDIDATES - 1, seed=seed,
                                 equivalents=data.equivalents)
    true = matcher.embed_texts(captions)
    result = {}
    for name, images in (("generated", generated), ("real", real)):
        if images is None:
            continue
        scores = r_precision(matcher.embed_images(images), true, pool_embeddings, mismatches,
                             repeats=repeats)
        scores.pop("hits")
        result[name] = scores
    return result


def _diversity(generator, data: EvaluationData, config: EvaluateConfig):
    """(generated, real) mean pairwise distances of images that share one caption."""
    from tfcmgen.metrics.quality import mean_pairwise_distance

    images, captions = data.groups["validation"]
    rng = np.random.default_rng(config.seed)
    distinct = sorted(set(captions))
    chosen = [distinct[i] for i in
              rng.choice(len(distinct), min(config.diversity_captions, len(distinct)),
                         replace=False)]
    generated = None
    if generator is not None:
        generated = float(np.mean([
            mean_pairwise_distance(generator.generate([caption], config.samples_per_caption,
                                                      seed=config.seed + 1 + i))
            for i, caption in enumerate(chosen)
        ]))
    # Real images sharing a caption (after normalisation), largest groups first.
    shared = {}
    for part in (data.train, data.validation):
        for i, caps in enumerate(part.captions):
            for key in {caption_key(c) for c in caps}:
                shared.setdefault(key, []).append(part.images[i])
    groups = sorted((g for g in shared.values() if len(g) >= 2), key=len, reverse=True)
    real = [mean_pairwise_distance(np.stack(g[:config.samples_per_caption]))
            for g in groups[:config.diversity_captions]]
    return generated, (float(np.mean(real)) if real else None)


def _subsample(images, count, seed):
    if len(images) <= count:
        return images
    return images[np.sort(np.random.default_rng(seed).choice(len(images), count, replace=False))]


def _distances(features_real, features_generated, features_train, seed):
    """FID and KID of generated (and of real training) images against real validation ones."""
    from tfcmgen.metrics.quality import frechet_distance, kernel_inception_distance

    def pair(other):
        if other is None or len(other) < 2 or len(features_real) < 2:
            return None
        kid, kid_std = kernel_inception_distance(features_real, other, num_subsets=50,
                                                 subset_size=500, seed=seed)
        return {"fid": frechet_distance(features_real, other), "kid": kid, "kid_std": kid_std,
                "num_images": int(len(other))}

    return {"generated": pair(features_generated), "real": pair(features_train),
            "num_real_validation": int(len(features_real))}


def evaluate(config: EvaluateConfig) -> dict:
    """Runs `tfcmgen evaluate` and returns the report (also written to `config.json` if set).

    Raises ValueError with a one-line message for: a model trained on another vocabulary, an
    export without `serving_default`, a dataset with fewer than 100 distinct captions, an image
    size the matcher or model does not take.
    """
    started = time.monotonic()
    generator = load_model_for_evaluation(config.model) if config.model else None
    run_config = _run_config(config.model, generator)
    if generator is not None:
        image_size = generator.image_size
        if config.image_size is not None and config.image_size != image_size:
            raise ValueError(
                f"image_size={config.image_size} but the model at {config.model!r} draws "
                f"{image_size}x{image_size} images; leave --image-size out to use the model's"
            )
    else:
        image_size = config.image_size or TrainConfig.image_size
    data = load_evaluation_data(config, image_size, run_config)
    if len(data.pool_keys) < NUM_CANDIDATES:
        raise ValueError(
            f"{config.data} has {len(data.pool_keys)} distinct captions after normalisation; "
            f"R-precision ranks each caption against {NUM_CANDIDATES - 1} different captions of "
            f"other images (AttnGAN/DM-GAN protocol), so it needs at least {NUM_CANDIDATES}"
        )
    report_coverage = None
    if generator is not None:
        # Before any matcher training: a model of another dataset is refused at once.
        report_coverage = check_vocabulary(generator, data.groups["validation"][1], config.data)
    if config.matcher:
        matcher = load_matcher(config.matcher)
    else:
        settings = MatcherSettings(steps=config.matcher_steps, seed=config.seed)
        matcher = load_or_train_matcher(
            data.matcher_train, settings, cache=config.cache_dir, retrain=config.train_matcher,
            description={"data": os.path.abspath(config.data) if config.data != "shapes"
                         else "shapes", "split": data.split},
        )
    if matcher.image_size != image_size:
        raise ValueError(
            f"the matcher at {matcher.path} scores {matcher.image_size}x{matcher.image_size} "
            f"images but the model draws {image_size}x{image_size}; pass a matcher trained at "
            "the model's image size (or leave --matcher out)"
        )
    pool_embeddings = matcher.embed_texts(data.pool_keys)
    report = {
        "model": config.model,
        "data": config.data,
        "image_size": image_size,
        "seed": config.seed,
        "split": data.split,
        "matcher": {"path": matcher.path, "fingerprint": matcher.fingerprint,
                    "from_cache": matcher.from_cache, "steps": matcher.settings.steps,
                    "num_train_images": matcher.info.get("num_train_images")},
        "num_distinct_captions": len(data.pool_keys),
        "r_precision": {},
    }
    if report_coverage is not None:
        report["vocabulary_coverage"] = report_coverage
    generated_validation = None
    for index, (name, group) in enumerate(sorted(data.groups.items(), reverse=True)):
        real, captions = _draw_captions(group, config.num_images, config.seed + index)
        generated = None
        if generator is not None:
            generated = generate_images(generator, captions, seed=config.seed + 1000 * index)
            if generated.shape[1:] != real.shape[1:]:
                raise ValueError(
                    f"the model drew images of shape {generated.shape[1:]}, the data is "
                    f"{real.shape[1:]} (image-size mismatch)"
                )
            if name == "validation":
                generated_validation = generated
        report["r_precision"][name] = _score_group(
            matcher, generated, real, captions, data, pool_embeddings,
            config.repeats, seed=config.seed + index,
        )
    real_validation = data.validation.images
    train_sample = _subsample(data.train.images, config.num_images, config.seed)
    report["matcher_features"] = _distances(
        matcher.features(real_validation),
        None if generated_validation is None else matcher.features(generated_validation),
        matcher.features(train_sample), config.seed,
    )
    if config.inception_weights:
        from tfcmgen.evaluation.inception import InceptionFeatures

        inception = InceptionFeatures(config.inception_weights)
        report["inception_features"] = _distances(
            inception(real_validation),
            None if generated_validation is None else inception(generated_validation),
            inception(train_sample), config.seed,
        )
    generated_diversity, real_diversity = _diversity(generator, data, config)
    report["diversity"] = {"generated": generated_diversity, "real": real_diversity}
    if data.attributes and generator is not None and hasattr(generator, "model"):
        from tfcmgen.evaluation.attribute_evaluation import evaluate_run

        attributes = evaluate_run(config.model, num_images=config.num_images,
                                  seed=config.seed, classifier_path=config.classifier)
        report["attributes"] = {
            key: value for key, value in attributes.items()
            if key.startswith(("accuracy", "real_accuracy"))
        }
    report["seconds"] = round(time.monotonic() - started, 1)
    if config.json:
        from tfcmgen.atomic import write_text_atomic

        write_text_atomic(config.json, json.dumps(report, indent=2, sort_keys=True) + "\n")
    return report


def _cell(group: dict | None, key: str = "mean", std: str = "std") -> str:
    if not group:
        return "-"
    return f"{group[key]:.3f} +- {group[std]:.3f}"


def format_report(report: dict) -> str:
    """A short plain-text table of an `evaluate` report: generated beside the real ceiling.

    An `evaluate_run` (attribute accuracy) report gets that function's table.
    """
    if "r_precision" not in report:
        from tfcmgen.evaluation.attribute_evaluation import format_report as attribute_table

        return attribute_table(report)
    rows = [("", "generated", "real (ceiling)")]
    for name, group in report["r_precision"].items():
        rows.append((f"R-precision {name}", _cell(group.get("generated")),
                     _cell(group.get("real"))))
    for label, key in (("matcher features", "matcher_features"),
                       ("Inception, paper-comparable", "inception_features")):
        distances = report.get(key)
        if not distances:
            continue
        generated, real = distances.get("generated"), distances.get("real")
        rows.append((f"FID ({label})", f"{generated['fid']:.3f}" if generated else "-",
                     f"{real['fid']:.3f}" if real else "-"))
        rows.append((f"KID ({label})", _cell(generated, "kid", "kid_std"),
                     _cell(real, "kid", "kid_std")))
    diversity = report["diversity"]
    rows.append(("diversity (one caption)",
                 "-" if diversity["generated"] is None else f"{diversity['generated']:.4f}",
                 "-" if diversity["real"] is None else f"{diversity['real']:.4f}"))
    width = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in
                       enumerate(zip(r, width))) for r in rows]
    some = next(iter(report["r_precision"].values()))
    counted = some.get("generated") or some.get("real")
    matcher = report["matcher"]
    lines.append(
        f"R-precision: top-1 of {counted['num_candidates']} captions, {counted['num_images']} "
        f"images, mean +- std over folds; real = the matcher's ceiling; FID/KID against "
        f"{report['matcher_features']['num_real_validation']} real validation images"
    )
    lines.append(f"matcher: {'cached' if matcher['from_cache'] else 'trained now'}, "
                 f"{matcher['path']}")
    if "attributes" in report:
        from tfcmgen.evaluation.attribute_evaluation import format_accuracy_table

        lines.append(format_accuracy_table(report["attributes"]))
    return "\n".join(lines)
