"""Write the model card of every shipped model from its training run and the benchmark results.

    python scripts/make_model_cards.py [--models dcgan-fashion-mnist ...] [--runs_dir runs]
        [--results_dir benchmarks/results]

For each shipped model whose folder `hfimg/pretrained/<name>/` holds a model (config.json + model.safetensors):

1. the measured numbers come from the benchmark JSON files (`--json` of benchmarks/bench_generation.py,
   bench_inpainting.py, bench_denoising.py, bench_prior.py), matched to the model by its name;
2. the training section (exact command, steps, batch, final losses, every flag) is the one train.py wrote into the
   run's output folder (`<runs_dir>/<name>/README.md`, or `--run NAME=DIR`); the run's model.safetensors must be
   the bundled one. Without a run folder, the training section of the existing `model_cards/<name>.md` is kept;
3. a sample grid (generators) or before/after image (restoration models: validation photos, or Fashion-MNIST test
   images for the Fashion-MNIST inpainter) is drawn with fixed seeds;
4. `model_cards/templates/<name>.md` (Jinja) is rendered by `hfimg.cards.model_card`, with the model class's Hub
   metadata and the measured numbers as EvalResults (the model-index) into `model_cards/<name>.md`, the card's
   committed source, which is copied as `hfimg/pretrained/<name>/README.md`, next to the image.

The order of work: train -> copy config.json and model.safetensors into hfimg/pretrained/<name>/ -> run the
benchmarks with --json -> run this script.
"""

from __future__ import annotations

import argparse
import filecmp
import itertools
import json
import math
import re
import shutil
import statistics
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from huggingface_hub import EvalResult, ModelCard
from PIL import Image, ImageOps

import hfimg
from hfimg.cards import model_card
from hfimg.data import ImageStream
from hfimg.degrade import gaussian_noise
from hfimg.imaging import images_to_grid, pil_to_tensor, tensor_to_pil
from hfimg.masks import random_mask
from hfimg.registry import BUNDLED_DIR, BUNDLED_ORG

ROOT = Path(__file__).resolve().parent.parent
FASHION_MNIST = "zalando-datasets/fashion_mnist"
FASHION_MNIST_SIZE = 32  # the Fashion-MNIST models' resolution
PHOTO_DATASET = "hfimg-photos"  # the local photo corpus of scripts/build_photo_corpus.py (not a Hub dataset)
# What the benchmarks measure on, as (dataset type, name, split) of a model-index entry.
FASHION_MNIST_TEST = (FASHION_MNIST, "Fashion-MNIST", "test")
PHOTO_VALIDATION = (PHOTO_DATASET, "hfimg photo corpus, validation photos", "validation")


@dataclass(frozen=True)
class Shipped:
    """A model shipped inside the package: what it is benchmarked by and trained on."""

    benchmark: str  # "generation", "inpainting", "denoising" or "prior": the benchmark JSON holding its numbers
    datasets: tuple[str, ...]  # Hub dataset ids for the card metadata
    extra_tags: tuple[str, ...]
    trained_on: str  # for the README's table of models


SHIPPED = {
    "dcgan-fashion-mnist": Shipped("generation", (FASHION_MNIST,), ("fashion-mnist",), "Fashion-MNIST train"),
    "vae-fashion-mnist": Shipped("generation", (FASHION_MNIST,), ("fashion-mnist",), "Fashion-MNIST train"),
    "inpaint-cnn-photos": Shipped("inpainting", (), ("photos",), "the photo corpus, 128 px crops"),
    "inpaint-rcnn-photos": Shipped("inpainting", (), ("photos",), "the photo corpus, 128 px crops"),
    "denoise-cnn-photos": Shipped("denoising", (), ("photos", "awgn"), "the photo corpus, sigma 0-55"),
    "inpaint-cnn-fashion-mnist": Shipped("prior", (FASHION_MNIST,), ("fashion-mnist",), "Fashion-MNIST train"),
}
# Bundled measuring instruments: in the README's table, with the accuracy their cards hold.
CLASSIFIERS = ("fashion-mnist-classifier", "fashion-mnist-judge-deep", "fashion-mnist-judge-wide")
README_TABLE = ("<!-- models table: written by scripts/make_model_cards.py -->", "<!-- end of models table -->")
TASKS = {
    "generation": ("unconditional-image-generation", "Unconditional image generation"),
    "inpainting": ("image-inpainting", "Image inpainting"),
    "denoising": ("image-denoising", "Image denoising"),
    "prior": ("image-inpainting", "Image inpainting"),
}


# --- measured numbers ------------------------------------------------------------------------------------------------


def significant(value: float, digits: int = 5) -> float:
    """`value` rounded to `digits` significant digits, for the card metadata (the tables show fewer)."""
    return float(f"{value:.{digits}g}")


def eval_result(common: dict, metric_type: str, metric_name: str, value: float) -> EvalResult:
    """One model-index entry; `common` holds the task and dataset fields."""
    return EvalResult(**common, metric_type=metric_type, metric_name=metric_name, metric_value=significant(value))


def matches(model_id: str | None, name: str) -> bool:
    """Whether a benchmark's model id (bundled id, folder or Hub id) names the shipped model `name`."""
    return model_id is not None and Path(model_id).name == name


def own_method(report: dict, name: str) -> dict:
    """The entry of a photo benchmark's `methods` that is the shipped model `name`."""
    mine = next((method for method in report["methods"] if matches(method["model"], name)), None)
    if mine is None:
        raise LookupError(f"no results for {name}")
    return mine


def method_cells(method: dict, mine: dict) -> tuple[str, str]:
    """A benchmark method's label (in bold when it is the shipped model) and parameter count, for a results table."""
    label = f"**{method['name']}**" if method is mine else method["name"]
    return label, f"{method['parameters']:,}" if method["parameters"] else "-"


def holes_config(bucket: str) -> str:
    """The model-index dataset config of a hole-ratio bucket: "10%-20%" -> "holes-10-20"."""
    return "holes-" + bucket.replace("%", "")


def hole_results(common: dict, bucket: str, row: dict) -> list[EvalResult]:
    """The PSNR, SSIM and hole-L1 model-index entries of one hole-ratio bucket."""
    return [
        eval_result(common, "psnr", f"PSNR (dB), {bucket} holes", row["psnr"]),
        eval_result(common, "ssim", f"SSIM, {bucket} holes", row["ssim"]),
        eval_result(common, "l1", f"L1 in the hole, {bucket} holes", row["hole_l1"]),
    ]


def common_fields(task: str, dataset: tuple[str, str, str], args: dict, config: str | None = None) -> dict:
    """The task and dataset fields of a model-index entry; `dataset` is FASHION_MNIST_TEST or PHOTO_VALIDATION."""
    dataset_type, dataset_name, dataset_split = dataset
    return {
        "task_type": TASKS[task][0],
        "task_name": TASKS[task][1],
        "dataset_type": dataset_type,
        "dataset_name": dataset_name,
        "dataset_split": dataset_split,
        "dataset_config": config,
        "dataset_args": args,
    }


def judge_name(judge: str) -> str:
    """A judge's short name in tables: hfimg/fashion-mnist-judge-deep -> judge-deep."""
    return judge.removeprefix("hfimg/fashion-mnist-")


def generation_results(report: dict, name: str) -> tuple[list[EvalResult], str]:
    """Model-index entries and the markdown results section of a generator, from bench_generation's JSON."""
    rows, judges = report["results"], report["judges"]
    mine = next((row for row in rows if row["kind"] == "model" and matches(row["name"], name)), None)
    if mine is None:
        raise LookupError(f"no results for {name}")
    common = common_fields("generation", FASHION_MNIST_TEST, {"samples": report["num_samples"]})
    shares = mine["class_shares"]
    results = [eval_result(common, "fid", f"FID ({judges[0]} features)", mine["fid"])]
    results += [
        eval_result(common, f"fid_{judge_name(judge)}", f"FID ({judge} features)", mine["judges"][judge])
        for judge in judges[1:]
    ]
    results += [
        eval_result(common, "kid", f"KID ({judges[0]} features)", mine["kid"]),
        eval_result(common, "precision", f"Precision (k = 3, {judges[-1]} features)", mine["precision"]),
        eval_result(common, "recall", f"Recall (k = 3, {judges[-1]} features)", mine["recall"]),
        eval_result(common, "two_sample_accuracy", "Two-sample test accuracy (50% = indistinguishable)",
                    mine["two_sample_accuracy"]),
        eval_result(common, "min_class_share", "Smallest class share", min(shares)),
        eval_result(common, "max_class_share", "Largest class share", max(shares)),
    ]  # fmt: skip

    labels = report["labels"]
    short = [judge_name(judge) for judge in judges]
    lines = [
        f"{report['num_samples']:,} samples against the first {report['num_samples']:,} images of the Fashion-MNIST "
        "test split, every set at the data's own 28 px, next to references measured in the same run the same way. "
        f"FID under three judges, the penultimate layers of three classifiers: `{short[0]}` is the one models were "
        f"selected with, the others ({', '.join(f'`{j}`' for j in short[1:])}; other widths, depths, framing and "
        "seeds) never were. Precision / recall (k = 3, Kynkäänniemi et al. 2019) in "
        f"`{short[-1]}` features; the two-sample test is the held-out accuracy of a fresh CNN trained to tell the set "
        "from test images (50% = it cannot). Such FIDs compare only with values measured the same way, never with "
        "Inception FIDs.",
        "",
        "| images | " + " | ".join(f"FID {j}" for j in short) + " | precision | recall | two-sample test | "
        "smallest class | largest class |",
        "|---|" + "---:|" * (len(short) + 6),
    ]
    for row in rows:
        label = f"{row['class_name']} ({row['name']})" if row["kind"] == "model" else row["name"]
        label = f"**{label}**" if row is mine else label
        lines.append(
            f"| {label} | "
            + " | ".join(f"{row['judges'][judge]:.2f}" for judge in judges)
            + f" | {row['precision']:.3f} | {row['recall']:.3f} | {row['two_sample_accuracy']:.1%} | "
            f"{min(row['class_shares']):.1%} | {max(row['class_shares']):.1%} |"
        )
    blurred = next((row for row in rows if row["kind"] == "blurred"), None)
    if blurred is not None:
        below = [j for j, judge in zip(short, judges, strict=True) if mine["judges"][judge] < blurred["judges"][judge]]
        verdict = "every judge" if len(below) == len(judges) else (", ".join(below) or "no judge")
        lines += ["", f"- FID below the blurred-real reference under {verdict}."]
    low, high = int(np.argmin(shares)), int(np.argmax(shares))
    in_range = all(0.05 <= share <= 0.15 for share in shares)
    lines += [
        f"- Class shares (`{short[0]}`'s verdict on each sample): {'every' if in_range else 'not every'} class "
        f"between 5% and 15%; smallest {shares[low]:.1%} ({labels[low]}), largest {shares[high]:.1%} "
        f"({labels[high]}). The classifier itself gives the test split "
        f"{min(report['test_class_shares']):.1%}-{max(report['test_class_shares']):.1%} per class.",
        "",
        "| " + " | ".join(labels) + " |",
        "|" + "---:|" * len(labels),
        "| " + " | ".join(f"{share:.1%}" for share in shares) + " |",
    ]
    return results, "\n".join(lines)


def recipes_section(report: dict) -> str:
    """The equal-time comparison of DCGAN recipes (bench_gan_recipes' JSON), for the DCGAN card."""
    judges = report["judges"]
    lines = [
        "",
        "### Against the vanilla DCGAN at equal CPU time",
        "",
        f"Each recipe trained by `train.py` for the same minutes of one CPU thread on the same machine, then "
        f"{report['num_samples']:,} samples of the final model judged as above (`benchmarks/bench_gan_recipes.py`; "
        "the full ablation is in benchmarks/RESULTS.md):",
        "",
        "| recipe | minutes | images seen | "
        + " | ".join(f"FID {judge_name(j)}" for j in judges)
        + " | two-sample test |",
        "|---|---:|---:|" + "---:|" * (len(judges) + 1),
    ]
    for row in report["rows"]:
        final = row["final"]
        lines.append(
            f"| {row['name']} | {row['minutes']:.0f} | {row['images']:,} | "
            + " | ".join(f"{final['judges'][j]:.1f}" for j in judges)
            + f" | {final['two_sample_accuracy']:.1%} |"
        )
    lines += ["", f"Learning curves, FID {judge_name(judges[-1])} (minutes of training in brackets):", ""]
    for row in report["rows"]:
        if row["curve"]:
            points = ", ".join(f"{p['judges'][judges[-1]]:.1f} ({p['minutes']:.0f})" for p in row["curve"])
            lines.append(f"- {row['name']}: {points}")
    return "\n".join(lines)


def inpainting_results(report: dict, name: str) -> tuple[list[EvalResult], str]:
    """Model-index entries and the markdown results section of an inpainter, from bench_inpainting's JSON."""
    methods = report["methods"]
    mine = own_method(report, name)
    table = {(row["method"], row["bucket"]): row for row in report["results"]}
    buckets = list(dict.fromkeys(row["bucket"] for row in report["results"]))
    classical = [method["name"] for method in methods if method["model"] is None]
    others = [method for method in methods if method["model"] is not None and method is not mine]
    settings = report["settings"]

    results = []
    for bucket in buckets:
        row = table[mine["name"], bucket]
        common = common_fields(
            "inpainting",
            PHOTO_VALIDATION,
            {"crop": settings["size"], "crops": settings["crops"], "masks": settings["mask_kind"]},
            holes_config(bucket),
        )
        results += hole_results(common, bucket, row)

    lines = [
        f"{settings['crops']} crops of {settings['size']}x{settings['size']} px (at the photos' own scale) from the "
        f"{len(settings['photos'])} validation photos of the corpus, never used in training, x "
        f"{settings['masks_per_crop']} free-form masks (strokes and boxes) per crop and hole-ratio bucket; the same "
        "masks for every method. PSNR and SSIM over the whole image (the known pixels are kept), L1 over the hole "
        "(0-1 scale); time per image on the machine below.",
        "",
        "| holes | PSNR (dB) | SSIM | hole L1 | best classical PSNR | gain (dB) |"
        # named by id: two releases of one class (e.g. a previous InpaintCNN) would share a class-name header
        + "".join(f" `{method['model']}` PSNR |" for method in others),
        "|---|---:|---:|---:|---|---:|" + "---:|" * len(others),
    ]
    for bucket in buckets:
        row = table[mine["name"], bucket]
        best = max(classical, key=lambda method: table[method, bucket]["psnr"])
        gain = row["psnr"] - table[best, bucket]["psnr"]
        others_psnr = "".join(f" {table[method['name'], bucket]['psnr']:.2f} |" for method in others)
        lines.append(
            f"| {bucket} | {row['psnr']:.2f} | {row['ssim']:.4f} | {row['hole_l1']:.4f} | "
            f"{table[best, bucket]['psnr']:.2f} ({best}) | {gain:+.2f} |{others_psnr}"
        )
    lines += ["", "All methods of the run, PSNR (dB):", ""]
    lines.append("| method | parameters | " + " | ".join(buckets) + " | median ms per image |")
    lines.append("|---|---:|" + "---:|" * (len(buckets) + 1))
    for method in methods:
        values = " | ".join(f"{table[method['name'], bucket]['psnr']:.2f}" for bucket in buckets)
        ms = np.median([table[method["name"], bucket]["ms"] for bucket in buckets])
        label, params = method_cells(method, mine)
        lines.append(f"| {label} | {params} | {values} | {ms:.0f} |")
    return results, "\n".join(lines)


def denoising_results(report: dict, name: str) -> tuple[list[EvalResult], str]:
    """Model-index entries and the markdown results section of a denoiser, from bench_denoising's JSON."""
    methods = report["methods"]
    mine = own_method(report, name)
    table = {(row["method"], row["sigma"]): row for row in report["results"]}
    settings = report["settings"]
    sigmas = settings["sigmas"]

    results = []
    for sigma in sigmas:
        row = table[mine["name"], sigma]
        common = common_fields(
            "denoising",
            PHOTO_VALIDATION,
            {"crop": settings["size"], "crops": settings["crops"], "noise": "gaussian"},
            f"sigma-{sigma:g}",
        )
        results += [
            eval_result(common, "psnr", f"PSNR (dB), sigma {sigma:g}", row["psnr"]),
            eval_result(common, "ssim", f"SSIM, sigma {sigma:g}", row["ssim"]),
        ]

    lines = [
        f"{settings['crops']} crops of {settings['size']}x{settings['size']} px (at the photos' own scale) from the "
        f"{len(settings['photos'])} validation photos of the corpus, never used in training, with white Gaussian "
        "noise of standard deviation sigma (0-255 scale, unclipped). The model is blind (it is not told sigma); "
        "BM3D is given the true sigma; non-local means estimates it.",
        "",
        "| method | parameters | "
        + " | ".join(f"sigma {s:g} PSNR / SSIM" for s in sigmas)
        + " | median ms per image |",
        "|---|---:|" + "---:|" * (len(sigmas) + 1),
    ]
    for method in methods:
        values = " | ".join(
            f"{table[method['name'], s]['psnr']:.2f} / {table[method['name'], s]['ssim']:.3f}" for s in sigmas
        )
        times = [table[method["name"], s]["ms"] for s in sigmas if table[method["name"], s]["ms"] is not None]
        ms = f"{np.median(times):.0f}" if times else "-"
        label, params = method_cells(method, mine)
        lines.append(f"| {label} | {params} | {values} | {ms} |")
    bm3d = next((method["name"] for method in methods if method["name"].startswith("BM3D")), None)
    if bm3d is not None and 25 in sigmas:
        ours, theirs = table[mine["name"], 25], table[bm3d, 25]
        ratio = np.median([table[mine["name"], s]["ms"] for s in sigmas]) / np.median(
            [table[bm3d, s]["ms"] for s in sigmas]
        )
        lines += [
            "",
            f"At sigma 25: {ours['psnr']:.2f} dB against BM3D's {theirs['psnr']:.2f} dB "
            f"({ours['psnr'] - theirs['psnr']:+.2f} dB), in {ratio:.1%} of BM3D's time.",
        ]
    return results, "\n".join(lines)


PRIOR_METRICS = ("psnr", "ssim", "hole_l1", "class_agreement")
TELEA = "OpenCV Telea"  # the classical reference of bench_prior


def kinds_averaged(rows: list[dict]) -> dict[tuple[str, str], dict[str, float]]:
    """{(method, bucket): each metric averaged over the mask kinds}, from bench_prior's (method, bucket, kind) rows."""
    groups = defaultdict(list)
    for row in rows:
        groups[row["method"], row["bucket"]].append(row)
    return {
        key: {metric: statistics.fmean(row[metric] for row in group) for metric in PRIOR_METRICS}
        for key, group in groups.items()
    }


def better_where(differences: dict[str, float], digits: int, unit: str = "") -> str:
    """Where the shipped model is better or worse than another method, said in words.

    Args:
        differences: {bucket: ours - theirs} of a metric where higher is better.
        digits: decimals of the differences shown (a difference that rounds to 0 is "level"); unit: appended to them.

    Returns:
        e.g. "better at 10%-20%, 20%-30% holes (+0.41 to +1.20 dB); worse at 40%-50% holes (-0.35 dB)".
    """
    differences = {bucket: round(difference, digits) + 0.0 for bucket, difference in differences.items()}  # no -0.0
    parts = []
    for verb, keep in (("better", lambda d: d > 0), ("worse", lambda d: d < 0), ("level", lambda d: d == 0)):
        group = [bucket for bucket, difference in differences.items() if keep(difference)]
        if not group:
            continue
        where = "in every bucket" if len(group) == len(differences) else f"at {', '.join(group)} holes"
        low, high = min(differences[b] for b in group), max(differences[b] for b in group)
        amount = f"{low:+.{digits}f}" if low == high else f"{low:+.{digits}f} to {high:+.{digits}f}"
        parts.append(f"{verb} {where}" + ("" if verb == "level" else f" ({amount}{unit})"))
    return "; ".join(parts)


def prior_results(report: dict, name: str) -> tuple[list[EvalResult], str]:
    """Model-index entries and the markdown results section of a Fashion-MNIST inpainter, from bench_prior's JSON.

    The section sets the model next to latent search in the GAN and VAE priors and OpenCV Telea, bucket by bucket.
    """
    methods = report["methods"]
    mine = own_method(report, name)
    table = kinds_averaged(report["results"])
    buckets = list(dict.fromkeys(row["bucket"] for row in report["results"]))
    settings = report["settings"]
    single_ms = report["timing"]["single_ms"]
    rivals = [method for method in methods if method["kind"] == "prior" or method["name"] == TELEA]

    def short(method: dict) -> str:  # "DCGANGenerator prior", "OpenCV Telea"
        return f"{method['name'].split(' ')[0]} prior" if method["kind"] == "prior" else method["name"]

    results = []
    args = {"images": settings["images"], "masks": " and ".join(settings["mask_kinds"])}
    for bucket in buckets:
        row = table[mine["name"], bucket]
        common = common_fields("prior", FASHION_MNIST_TEST, args, holes_config(bucket))
        agreement = eval_result(common, "class_agreement", f"Class agreement, {bucket} holes", row["class_agreement"])
        results += [*hole_results(common, bucket, row), agreement]

    lines = [
        f"The first {settings['images']:,} images of the Fashion-MNIST test split (never used in training) at "
        f"{FASHION_MNIST_SIZE}x{FASHION_MNIST_SIZE}, one free-form mask per image and hole-ratio bucket (brush "
        f"strokes for half of the images, boxes for the other half; seed {settings['seed']}), the same masks for "
        "every method, each of which gets the image with its hole zeroed. PSNR (per image capped at a one-grey-level "
        "error) and SSIM over the whole image (the known pixels are kept), L1 over the hole (0-1 scale), each the "
        "mean of the two mask kinds. Class agreement: the share of restored images that the bundled Fashion-MNIST "
        f"classifier ({report['classifier_accuracy']:.1%} accurate on these images) puts in the class it gives the "
        f"original. The priors search the latent space of a generator of the same data with `hfimg.prior` "
        f"({settings['prior_steps']} steps, {settings['prior_restarts']} restarts per image).",
        "",
    ]
    columns = ["holes", "PSNR (dB)", "SSIM", "hole L1", "class agreement"]
    columns += [f"{short(method)}: PSNR / agreement" for method in rivals]
    lines += ["| " + " | ".join(columns) + " |", "|---|" + "---:|" * (len(columns) - 1)]
    for bucket in buckets:
        row = table[mine["name"], bucket]
        theirs = "".join(
            f" {table[m['name'], bucket]['psnr']:.2f} / {table[m['name'], bucket]['class_agreement']:.3f} |"
            for m in rivals
        )
        lines.append(
            f"| {bucket} | {row['psnr']:.2f} | {row['ssim']:.4f} | {row['hole_l1']:.4f} | "
            f"{row['class_agreement']:.3f} |{theirs}"
        )

    def difference(method: dict, metric: str) -> dict[str, float]:
        return {b: table[mine["name"], b][metric] - table[method["name"], b][metric] for b in buckets}

    def best(metric: str, digits: int) -> str:  # "this model at 10%-20%; ConvVAE prior and OpenCV Telea at ..."
        labels = {method["name"]: "this model" if method is mine else short(method) for method in methods}
        winners = {}
        for bucket in buckets:
            shown = {method: round(table[method, bucket][metric], digits) for method in labels}  # ties as shown
            tied = [label for method, label in labels.items() if shown[method] == max(shown.values())]
            winners[bucket] = tied[0] if len(tied) == 1 else f"{', '.join(tied[:-1])} and {tied[-1]}"
        return "; ".join(
            f"{who} at {', '.join(b for b in buckets if winners[b] == who)}" for who in dict.fromkeys(winners.values())
        )

    def times(method: dict) -> str:  # "274x this model's", "0.6x this model's"
        ratio = single_ms[method["name"]] / single_ms[mine["name"]]
        return f"{ratio:,.0f}x this model's" if ratio >= 10 else f"{ratio:.1f}x this model's"

    lines += ["", "This model against each of them, bucket by bucket:", ""]
    for method in rivals:
        lines.append(
            f"- {short(method)}: PSNR {better_where(difference(method, 'psnr'), 2, ' dB')}; class agreement "
            f"{better_where(difference(method, 'class_agreement'), 3)}."
        )
    lines += [
        f"- Highest PSNR of all {len(methods)} methods of the run: {best('psnr', 2)}.",
        f"- Highest class agreement of all {len(methods)} methods of the run: {best('class_agreement', 3)}.",
        f"- Time for one image: this model {single_ms[mine['name']]:,.1f} ms; "
        + ", ".join(f"{short(m)} {single_ms[m['name']]:,.1f} ms ({times(m)})" for m in rivals)
        + ".",
    ]

    last = buckets[-1]
    lines += ["", f"All methods of the run, PSNR (dB) per bucket, class agreement at {last} holes, time:", ""]
    lines.append("| method | parameters | " + " | ".join(buckets) + f" | class agreement ({last}) | one image, ms |")
    lines.append("|---|---:|" + "---:|" * (len(buckets) + 2))
    for method in methods:
        values = " | ".join(f"{table[method['name'], bucket]['psnr']:.2f}" for bucket in buckets)
        label, params = method_cells(method, mine)
        lines.append(
            f"| {label} | {params} | {values} | {table[method['name'], last]['class_agreement']:.3f} | "
            f"{single_ms[method['name']]:,.1f} |"
        )
    return results, "\n".join(lines)


RESULTS = {
    "generation": generation_results,
    "inpainting": inpainting_results,
    "denoising": denoising_results,
    "prior": prior_results,
}


def results_section(report: dict, kind: str, name: str, path: Path) -> tuple[list[EvalResult], str]:
    if report.get("benchmark") != kind:
        raise ValueError(f"{path} holds {report.get('benchmark')!r} results, not {kind!r}; check --results_dir.")
    try:
        results, text = RESULTS[kind](report, name)
    except LookupError:
        raise ValueError(
            f"{path} has no results for {name}; run `python -m benchmarks.bench_{kind} --json {path}` with the "
            f"bundled model (hfimg/{name}) among its models."
        ) from None
    footer = f"\n\nMeasured with `{report['command']}` on {report['machine']}."
    return results, text + footer


# --- the training run ------------------------------------------------------------------------------------------------

_PREVIEW = re.compile(r"\n!\[preview\]\([^)]*\)\n\n[^\n]*\n")


def training_from_run(run_dir: Path, model_dir: Path) -> str:
    """The "## Training" section train.py wrote into the run's README.md, without the run's preview image."""
    readme = run_dir / "README.md"
    if not readme.is_file():
        raise FileNotFoundError(f"{run_dir} has no README.md: it is not a finished train.py output folder.")
    weights = run_dir / "model.safetensors"
    if weights.is_file() and not filecmp.cmp(weights, model_dir / "model.safetensors", shallow=False):
        raise ValueError(
            f"{model_dir}/model.safetensors is not the model of the run {run_dir}; copy the run's config.json and "
            f"model.safetensors there, or point --run at the run that trained it."
        )
    text = ModelCard.load(readme).text
    start = text.find("## Training")
    if start < 0:
        raise ValueError(f"{readme} has no '## Training' section; was it written by train.py?")
    return _PREVIEW.sub("", text[start:]).strip()


def training_from_card(card_file: Path) -> str | None:
    """The "## Training" section of an existing card (up to the next second-level heading), or None."""
    if not card_file.is_file():
        return None
    text = ModelCard.load(card_file).text
    match = re.search(r"^## Training\n.*?(?=^## |\Z)", text, flags=re.S | re.M)
    return match.group(0).strip() if match else None


def training_settings(training: str) -> dict:
    """Every flag of the run: the JSON block train.py puts at the end of its training section."""
    blocks = re.findall(r"```json\n(.*?)\n```", training, flags=re.S)
    if not blocks:
        raise ValueError("the training section holds no JSON block of the run's settings; was it written by train.py?")
    return json.loads(blocks[-1])


# --- data provenance -------------------------------------------------------------------------------------------------

FASHION_MNIST_DATA = """\
[Fashion-MNIST](https://huggingface.co/datasets/zalando-datasets/fashion_mnist) (Xiao, Rasul & Vollgraf, 2017,
Zalando Research; MIT licence): 60,000 train and 10,000 test images of 28x28 grey clothing in 10 classes. The model
is trained on the train split, read with `hfimg.data` from the local copy of the Debian package
`dataset-fashion-mnist` when present, else from the Hub (the same images), enlarged to 32x32 with PIL bicubic; it is
measured on the test split."""

_RST_LINK = re.compile(r"`([^`<]+?)\s*<([^>]+)>`_*")


def photo_data(provenance_file: Path) -> str:
    """The photo corpus: how it is built, its sources and licences, from the corpus's provenance.json."""
    if not provenance_file.is_file():
        raise FileNotFoundError(
            f"no {provenance_file}: build the photo corpus with `python scripts/build_photo_corpus.py --output "
            f"data/photos` (or pass --photos)."
        )
    provenance = json.loads(provenance_file.read_text())
    photos = provenance["photos"]
    splits = Counter(photo["split"] for photo in photos)
    per_source = Counter((photo["source"].split(" ")[0], photo["split"]) for photo in photos)
    sources = list(dict.fromkeys(photo["source"].split(" ")[0] for photo in photos))
    lines = [
        f"A corpus of {len(photos)} photographs built locally by `python scripts/build_photo_corpus.py --output "
        "data/photos` from files that come with Debian packages and Python packages, each downscaled to a long side "
        f"of at most {provenance.get('max_side', 1024)} px and stored as PNG. {splits['train']} photos are used for "
        f"training (random crops); {splits['validation']} whole photos, one per source, are held out for the "
        "benchmarks. The corpus is not redistributed with the model; the photos keep their own licences:",
        "",
        "| source | train photos | validation photos | licences |",
        "|---|---:|---:|---|",
    ]
    for source in sources:
        licences = sorted({_licence(p) for p in photos if p["source"].split(" ")[0] == source})
        summary = "; ".join(licences) if len(licences) <= 2 else f"{len(licences)} statements, one per photo (below)"
        lines.append(f"| {source} | {per_source[source, 'train']} | {per_source[source, 'validation']} | {summary} |")
    lines += [
        "",
        "<details><summary>Every photo, with its author and licence</summary>",
        "",
        "| photo | split | author | licence |",
        "|---|---|---|---|",
        *(
            f"| {p['name']} | {p['split']} | {p['author'].replace('|', '/')} | {_licence(p)} |"
            for p in sorted(photos, key=lambda p: (p["split"], p["name"]))
        ),
        "",
        "</details>",
    ]
    return "\n".join(lines)


def _licence(photo: dict) -> str:
    return _RST_LINK.sub(r"[\1](\2)", photo["license"]).replace("|", "/").replace("\n", " ")


# --- the sample image ------------------------------------------------------------------------------------------------


def sample_image(
    model: torch.nn.Module, kind: str, photos_dir: Path, fashion_corpus: str = "fashion_mnist"
) -> tuple[Image.Image, str]:
    """A small image showing the model at work, and its caption.

    Args:
        model: the shipped model.
        kind: its benchmark ("generation", "inpainting", "denoising" or "prior").
        photos_dir: the photo corpus, whose validation photos the photo models are shown on.
        fashion_corpus: the corpus (anything `hfimg.data` opens) whose first test images the Fashion-MNIST
            inpainter is shown on.
    """
    if kind == "generation":
        samples = model.generate(64, seed=0)
        grid = images_to_grid(samples, columns=8)
        grid = grid.resize((grid.width * 2, grid.height * 2), Image.Resampling.NEAREST)
        return grid, f"64 samples, `generate(64, seed=0)`, shown at twice their {samples[0].width} px."
    if kind == "prior":
        tiles = []
        images = fashion_test_images(fashion_corpus, 4)
        cases = itertools.product(((0.2, 0.3), (0.4, 0.5)), ("strokes", "boxes"))  # one per row
        for i, (image, (hole_range, mask_kind)) in enumerate(zip(images, cases, strict=True)):
            hole = random_mask(image.height, image.width, hole_range=hole_range, kind=mask_kind, seed=i)
            tiles += inpainting_tiles(model, image, hole)
        # A grey frame around each tile: the grid's black gaps would vanish against the black backgrounds.
        grid = images_to_grid([ImageOps.expand(tile, border=1, fill=128) for tile in tiles], columns=3)
        grid = grid.resize((grid.width * 4, grid.height * 4), Image.Resampling.NEAREST)
        return grid, (
            f"The first 4 Fashion-MNIST test images (never seen in training), {FASHION_MNIST_SIZE} px, shown at 4 "
            "times their size in grey frames. Rows: brush-stroke and box holes of 20-30% of the pixels, then of "
            "40-50%. Columns: the input with its hole in white, this model's result, the original."
        )
    crops = photo_crops(photos_dir, size=192, count=2)
    tiles = []
    if kind == "inpainting":
        for i, (crop, hole_range) in enumerate(zip(crops, ((0.2, 0.3), (0.4, 0.5)), strict=True)):
            tiles += inpainting_tiles(model, crop, random_mask(crop.height, crop.width, hole_range=hole_range, seed=i))
        caption = (
            "Validation photos (never seen in training), 192 px crops at their own scale. Columns: the input with its "
            "hole in white (20-30% and 40-50% of the pixels), this model's result, the original."
        )
    else:
        for i, crop in enumerate(crops):
            clean = pil_to_tensor(crop, 3)
            noisy = gaussian_noise(clean, 25, generator=torch.Generator().manual_seed(i))
            with torch.inference_mode():
                denoised = model(noisy.to(model.device)).clamp(-1, 1).cpu()
            tiles += [tensor_to_pil(noisy.clamp(-1, 1)), tensor_to_pil(denoised), crop]
        caption = (
            "Validation photos (never seen in training), 192 px crops at their own scale. Columns: with Gaussian "
            "noise of sigma 25, this model's result, the original."
        )
    return images_to_grid(tiles, columns=3), caption


def inpainting_tiles(model: torch.nn.Module, image: Image.Image, hole: np.ndarray) -> list[Image.Image]:
    """[the image with its hole (bool (H, W)) in white, the model's result, the image]."""
    shown = np.asarray(image).copy()
    shown[hole] = 255
    return [Image.fromarray(shown), model.inpaint(image, Image.fromarray(hole)), image]


def fashion_test_images(corpus: str, count: int) -> list[Image.Image]:
    """The first `count` test images of a Fashion-MNIST-like corpus, grey, resized as the models' training did."""
    stream = ImageStream(
        corpus, resolution=FASHION_MNIST_SIZE, channels=1, split="test", shuffle_buffer=0, repeat=False
    )
    images = [tensor_to_pil(sample["image"]) for sample in itertools.islice(stream, count)]
    if len(images) < count:
        raise ValueError(f"corpus {corpus!r} has {len(images)} test images, {count} needed for the sample image.")
    return images


def photo_crops(photos_dir: Path, size: int, count: int) -> list[Image.Image]:
    """Centre crops (RGB, `size` px, at the photo's scale) of the first `count` validation photos."""
    paths = sorted((photos_dir / "validation").glob("*.png"))[:count]
    if len(paths) < count:
        raise FileNotFoundError(
            f"{photos_dir / 'validation'} holds {len(paths)} photos, {count} needed; build the photo corpus with "
            "`python scripts/build_photo_corpus.py --output data/photos` (or pass --photos)."
        )
    crops = []
    for path in paths:
        with Image.open(path) as opened:
            photo = opened.convert("RGB")
        if min(photo.size) < size:  # enlarged until the crop fits, as the benchmarks do
            photo = ImageOps.cover(photo, (size, size), method=Image.Resampling.BICUBIC)
        left, top = (photo.width - size) // 2, (photo.height - size) // 2
        crops.append(photo.crop((left, top, left + size, top + size)))
    return crops


# --- speed and export ---------------------------------------------------------------------------------------------


def speed_section(speed_file: Path, name: str, model: hfimg.HubModel) -> str:
    """This model's rows of bench_speed's JSON (every backend, with its agreement with fp32) and what export writes."""
    lines = []
    report = json.loads(speed_file.read_text()) if speed_file.is_file() else None
    rows = [row for row in (report or {}).get("rows", []) if row["model"] == f"{BUNDLED_ORG}/{name}"]
    if rows:
        lines += [
            "Median time per call through the Python API on each inference backend (`model.set_backend(...)`), and",
            "how closely its 8-bit output matches fp32 (PSNR; inf = identical). `auto`, the default, picked the row",
            "marked *:",
            "",
            "| task | backend | median ms | GFLOP/s | agreement with fp32 |",
            "|---|---|---:|---:|---:|",
        ]
        for row in rows:
            agreement = "identical" if math.isinf(row["agreement_db"]) else f"{row['agreement_db']:.1f} dB"
            mark = " *" if row["auto"] else ""
            lines.append(
                f"| {row['task']} | {row['backend']}{mark} | {row['median_ms']:,.1f} | {row['gflops']:,.0f} | "
                f"{agreement} |"
            )
        lines += ["", f"Measured with `{report['command']}` on {report['machine']}.", ""]
    spec = model.core_spec()
    lines += [
        f"`hfimg export {BUNDLED_ORG}/{name} --format onnx -o {name}-onnx` writes the network as `model.onnx`",
        "(float32, checked against PyTorch to 1e-3 before it is kept) with a README that lists its inputs and",
        f"outputs: {spec.description}",
    ]
    return "\n".join(lines)


# --- the card --------------------------------------------------------------------------------------------------------


def make_card(
    name: str,
    *,
    model_dir: Path,
    cards_dir: Path,
    report: dict,
    report_file: Path,
    run_dir: Path | None,
    photos_dir: Path,
    fashion_corpus: str = "fashion_mnist",
) -> ModelCard:
    """Write model_cards/<name>.md and its image, and copy both into the model folder."""
    shipped = SHIPPED[name]
    model = hfimg.load(model_dir)
    eval_results, results = results_section(report, shipped.benchmark, name, report_file)
    recipes_file = report_file.parent / "gan_recipes.json"
    if name == "dcgan-fashion-mnist" and recipes_file.is_file():
        recipes = json.loads(recipes_file.read_text())
        measured = f"Measured with `{recipes['command']}` on {recipes['machine']}."
        results += "\n" + recipes_section(recipes) + "\n\n" + measured

    card_file = cards_dir / f"{name}.md"
    if run_dir is not None:
        training = training_from_run(run_dir, model_dir)
    else:
        training = training_from_card(card_file)
        if training is None:
            raise FileNotFoundError(
                f"{name}: no train.py output folder (--runs_dir/{name} or --run {name}=DIR) and no earlier card "
                f"{card_file} to take the training section from; pass --run {name}=<train.py output folder>."
            )

    image, caption = sample_image(model, shipped.benchmark, photos_dir, fashion_corpus)
    image_name = f"{name}.png"
    image.save(cards_dir / image_name)

    repo_id = f"{BUNDLED_ORG}/{name}"
    config = json.loads((model_dir / "config.json").read_text())
    data = FASHION_MNIST_DATA if FASHION_MNIST in shipped.datasets else photo_data(photos_dir / "provenance.json")
    card = model_card(
        model,
        template=cards_dir / "templates" / f"{name}.md",
        model_name=repo_id,
        datasets=shipped.datasets,
        eval_results=eval_results,
        tags=shipped.extra_tags,
        repo_id=repo_id,
        parameters=f"{model.num_parameters():,}",
        config=config,
        config_json=json.dumps(config, indent=2, sort_keys=True),
        image=image_name,
        caption=caption,
        results=results,
        training=training,
        settings=training_settings(training),
        data=data,
        speed=speed_section(report_file.parent / "speed.json", name, model),
    )
    card.save(card_file)
    shutil.copyfile(card_file, model_dir / "README.md")
    shutil.copyfile(cards_dir / image_name, model_dir / image_name)
    return card


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--models",
        nargs="+",
        choices=sorted(SHIPPED),
        default=None,
        help="Cards to write (default: every shipped model whose folder is in --pretrained_dir).",
    )
    parser.add_argument(
        "--runs_dir",
        type=Path,
        default=ROOT / "runs",
        help="Folder of train.py output folders, one per model, named like it (e.g. runs/dcgan-fashion-mnist).",
    )
    parser.add_argument(
        "--run", action="append", default=[], metavar="NAME=DIR", help="The train.py output folder of one model."
    )
    parser.add_argument(
        "--results_dir",
        type=Path,
        default=ROOT / "benchmarks" / "results",
        help="Folder of the benchmark JSON files: generation.json, inpainting.json, denoising.json, prior.json.",
    )
    parser.add_argument("--photos", type=Path, default=ROOT / "data" / "photos", help="The photo corpus folder.")
    parser.add_argument(
        "--fashion_corpus",
        default="fashion_mnist",
        help="Corpus (anything hfimg.data opens) whose first test images the Fashion-MNIST inpainter's sample image "
        "shows (default: Fashion-MNIST).",
    )
    parser.add_argument("--pretrained_dir", type=Path, default=BUNDLED_DIR, help="Folder of the bundled models.")
    parser.add_argument("--cards_dir", type=Path, default=ROOT / "model_cards", help="Folder of the card sources.")
    parser.add_argument(
        "--readme",
        type=Path,
        default=None,
        help="Also rewrite the table of models in this README (e.g. README.md).",
    )
    return parser.parse_args(argv)


def main(args: argparse.Namespace) -> list[Path]:
    """Write the cards; returns the card files written."""
    runs = {}
    for item in args.run:
        name, sep, folder = item.partition("=")
        if not sep or name not in SHIPPED:
            raise ValueError(f"--run {item!r}: expected NAME=DIR with NAME one of {', '.join(SHIPPED)}.")
        runs[name] = Path(folder)
    names = args.models or [name for name in SHIPPED if (args.pretrained_dir / name / "config.json").is_file()]
    if not names:
        raise FileNotFoundError(
            f"no shipped model in {args.pretrained_dir} (looked for {', '.join(SHIPPED)}); copy the trained models "
            "there first."
        )
    torch.manual_seed(0)
    written = []
    for name in names:
        model_dir = args.pretrained_dir / name
        if not (model_dir / "config.json").is_file():
            raise FileNotFoundError(
                f"{model_dir} holds no model: copy the run's config.json and model.safetensors there."
            )
        kind = SHIPPED[name].benchmark
        report_file = args.results_dir / f"{kind}.json"
        if not report_file.is_file():
            raise FileNotFoundError(
                f"no {report_file}: run `python -m benchmarks.bench_{kind} --json {report_file}` first."
            )
        run_dir = runs.get(name, args.runs_dir / name)
        make_card(
            name,
            model_dir=model_dir,
            cards_dir=args.cards_dir,
            report=json.loads(report_file.read_text()),
            report_file=report_file,
            run_dir=run_dir if run_dir.is_dir() else None,
            photos_dir=args.photos,
            fashion_corpus=args.fashion_corpus,
        )
        written.append(args.cards_dir / f"{name}.md")
        print(f"wrote {written[-1]} and {model_dir / 'README.md'}")
    if args.readme is not None:
        write_readme_table(args.readme, readme_table(args.pretrained_dir, args.results_dir))
        print(f"wrote the table of models in {args.readme}")
    return written


def measured_summary(name: str, reports: dict[str, dict]) -> str:
    """One line of headline figures of a shipped model, from the benchmark JSON files, for the README's table."""
    kind = SHIPPED[name].benchmark
    report = reports[kind]
    if kind == "generation":
        rows = report["results"]
        mine = next(row for row in rows if row["kind"] == "model" and matches(row["name"], name))
        blurred = next(row for row in rows if row["kind"] == "blurred")
        fids = " / ".join(f"{mine['judges'][judge]:.2f}" for judge in report["judges"])
        blur = " / ".join(f"{blurred['judges'][judge]:.2f}" for judge in report["judges"])
        accuracy = mine["two_sample_accuracy"]
        return f"FID {fids} under three judges (blurred real images: {blur}); two-sample test {accuracy:.0%}"
    method = own_method(report, name)["name"]  # only the shipped model's rows: not a previous release, nor variants
    rows = [row for row in report["results"] if row["method"] == method]
    if kind == "denoising":
        return ", ".join(f"{row['psnr']:.1f} dB at sigma {row['sigma']}" for row in rows)
    buckets = list(dict.fromkeys(row["bucket"] for row in rows))
    means = [statistics.fmean(row["psnr"] for row in rows if row["bucket"] == bucket) for bucket in buckets]
    return (
        " / ".join(f"{mean:.1f}" for mean in means)
        + f" dB on {buckets[0].split('-')[0]}-{buckets[-1].split('-')[-1]} holes"
    )


def readme_table(pretrained_dir: Path, results_dir: Path) -> str:
    """The README's table of bundled models: what each is and its headline figures, from the benchmark JSON."""
    reports = {
        kind: json.loads((results_dir / f"{kind}.json").read_text())
        for kind in TASKS
        if (results_dir / f"{kind}.json").is_file()
    }
    lines = ["| id | model | trained on | measured (benchmarks/RESULTS.md) |", "|---|---|---|---|"]
    for name, shipped in SHIPPED.items():
        if (pretrained_dir / name / "config.json").is_file() and shipped.benchmark in reports:
            model = hfimg.load(pretrained_dir / name)
            side = getattr(model, "resolution", 0) - 2 * getattr(model, "padding", 0)  # the images it gives
            size = f", {side}x{side}" if side and shipped.benchmark in ("generation", "prior") else ""
            what = f"{type(model).__name__}{size}, {model.num_parameters() / 1e6:.2f}M params"
            lines.append(f"| `hfimg/{name}` | {what} | {shipped.trained_on} | {measured_summary(name, reports)} |")
    for name in CLASSIFIERS:
        if (pretrained_dir / name / "README.md").is_file():
            card = ModelCard.load(pretrained_dir / name / "README.md")
            accuracy = next(r.metric_value for r in card.data.eval_results if r.metric_type == "accuracy")
            role = "FID features, class shares" if name == CLASSIFIERS[0] else "an independent FID judge"
            lines.append(
                f"| `hfimg/{name}` | FashionClassifier | Fashion-MNIST train | {accuracy:.1%} test accuracy; {role} |"
            )
    return "\n".join(lines)


def write_readme_table(readme: Path, table: str) -> None:
    """Replace the table between the README_TABLE markers of `readme`."""
    text = readme.read_text()
    start, end = (text.find(marker) for marker in README_TABLE)
    if start < 0 or end < start:
        raise ValueError(f"{readme} has no {README_TABLE[0]} ... {README_TABLE[1]} block to write the table into.")
    readme.write_text(text[: start + len(README_TABLE[0])] + "\n" + table + "\n" + text[end:])


if __name__ == "__main__":
    try:
        main(parse_args())
    except (FileNotFoundError, ValueError) as err:  # a missing input, said plainly: no traceback needed
        sys.exit(f"make_model_cards.py: error: {err}")
