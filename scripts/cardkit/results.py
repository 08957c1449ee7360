"""Benchmark JSON -> the model-index entries and the markdown results section of a shipped model's card.

One function per benchmark (`RESULTS`), each reading the JSON its benchmark writes with `--json`; the recipes and
speed sections add to the cards of the models they concern.
"""

from __future__ import annotations

import json
import math
import statistics
from collections import defaultdict
from pathlib import Path

import numpy as np
from huggingface_hub import EvalResult

import hfimg
from benchmarks.reports import (
    DenoisingReport,
    GanRecipesReport,
    GenerationReport,
    GenerationRow,
    InpaintingReport,
    Method,
    PriorMethod,
    PriorReport,
    PriorRow,
    bf16_note,
    generation_table,
    judge_name,
    methods_table,
)
from hfimg.registry import BUNDLED_ORG
from scripts.cardkit.shipped import FASHION_MNIST_SIZE, FASHION_MNIST_TEST, PHOTO_VALIDATION, TASKS


def significant(value: float, digits: int = 5) -> float:
    """`value` rounded to `digits` significant digits, for the card metadata (the tables show fewer)."""
    return float(f"{value:.{digits}g}")


def eval_result(common: dict, metric_type: str, metric_name: str, value: float) -> EvalResult:
    """One model-index entry; `common` holds the task and dataset fields."""
    return EvalResult(**common, metric_type=metric_type, metric_name=metric_name, metric_value=significant(value))


def matches(model_id: str | None, name: str) -> bool:
    """Whether a benchmark's model id (bundled id, folder or Hub id) names the shipped model `name`."""
    return model_id is not None and Path(model_id).name == name


def own_method(methods: list[Method], name: str) -> Method:
    """The method of a photo benchmark's run that is the shipped model `name`."""
    mine = next((method for method in methods if matches(method.model, name)), None)
    if mine is None:
        raise LookupError(f"no results for {name}")
    return mine


def holes_config(bucket: str) -> str:
    """The model-index dataset config of a hole-ratio bucket: "10%-20%" -> "holes-10-20"."""
    return "holes-" + bucket.replace("%", "")


def hole_results(common: dict, bucket: str, psnr: float, ssim: float, hole_l1: float) -> list[EvalResult]:
    """The PSNR, SSIM and hole-L1 model-index entries of one hole-ratio bucket."""
    return [
        eval_result(common, "psnr", f"PSNR (dB), {bucket} holes", psnr),
        eval_result(common, "ssim", f"SSIM, {bucket} holes", ssim),
        eval_result(common, "l1", f"L1 in the hole, {bucket} holes", hole_l1),
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


def generation_results(report: dict, name: str) -> tuple[list[EvalResult], str]:
    """Model-index entries and the markdown results section of a generator, from bench_generation's JSON."""
    typed = GenerationReport.from_dict(report)
    judges, short, labels = typed.judges, typed.short_judges, typed.labels
    mine = typed.model_row(lambda model_id: matches(model_id, name))
    if mine is None:
        raise LookupError(f"no results for {name}")
    figures = mine.figures
    common = common_fields("generation", FASHION_MNIST_TEST, {"samples": typed.num_samples})
    shares = figures.class_shares
    results = [eval_result(common, "fid", f"FID ({judges[0]} features)", figures.fid)]
    results += [
        eval_result(common, f"fid_{judge_name(judge)}", f"FID ({judge} features)", figures.judges[judge])
        for judge in judges[1:]
    ]
    results += [
        eval_result(common, "kid", f"KID ({judges[0]} features)", figures.kid),
        eval_result(common, "precision", f"Precision (k = 3, {judges[-1]} features)", figures.precision),
        eval_result(common, "recall", f"Recall (k = 3, {judges[-1]} features)", figures.recall),
        eval_result(common, "two_sample_accuracy", "Two-sample test accuracy (50% = indistinguishable)",
                    figures.two_sample_accuracy),
        eval_result(common, "min_class_share", "Smallest class share", min(shares)),
        eval_result(common, "max_class_share", "Largest class share", max(shares)),
    ]  # fmt: skip

    lines = [
        f"{typed.num_samples:,} samples against the first {typed.num_samples:,} images of the Fashion-MNIST "
        "test split, every set at the data's own 28 px, next to references measured in the same run the same way. "
        f"FID under three judges, the penultimate layers of three classifiers: `{short[0]}` is the one models were "
        f"selected with, the others ({', '.join(f'`{j}`' for j in short[1:])}; other widths, depths, framing and "
        "seeds) never were. Precision / recall (k = 3, Kynkäänniemi et al. 2019) in "
        f"`{short[-1]}` features; the two-sample test is the held-out accuracy of a fresh CNN trained to tell the set "
        f"from test images (50% = it cannot; the median of {typed.two_sample_seeds} runs"
        + (", their range in brackets)" if typed.two_sample_seeds > 1 else ")")
        + ". Such FIDs compare only with values measured the same way, never with Inception FIDs.",
        "",
    ]
    if typed.judge_check:
        ratios = [
            check["mirrored"] / max(check["floor"], 1e-6) for check in typed.judge_check.values() if check["used"]
        ]
        lines[-1:-1] = [
            "",
            "The judges were trained without flips: Fashion-MNIST's shoes and bags point one way, and each judge puts "
            f"the mirrored training images {min(ratios):.0f}-{max(ratios):.0f}x as far from the test images as the "
            "training images themselves (a judge that did not would not be used).",
        ]

    def label(row: GenerationRow) -> str:  # a model with its class; this card's own model in bold
        text = f"{row.class_name} ({row.name})" if row.is_model else row.name
        return f"**{text}**" if row is mine else text

    lines += generation_table(typed, "images", label)
    blurred = next((row for row in typed.rows if row.kind == "blurred"), None)
    if blurred is not None:
        below = [
            j for j, judge in zip(short, judges, strict=True) if figures.judges[judge] < blurred.figures.judges[judge]
        ]
        verdict = "every judge" if len(below) == len(judges) else (", ".join(below) or "no judge")
        lines += ["", f"- FID below the blurred-real reference under {verdict}."]
    mirrored = next((row for row in typed.rows if row.kind == "mirrored"), None)
    if mirrored is not None:
        ratios = [mirrored.figures.judges[judge] / max(figures.judges[judge], 1e-6) for judge in judges]
        behind = [name for name, ratio in zip(short, ratios, strict=True) if ratio <= 1]
        if not behind:
            lines += [
                f"- The mirrored training images are {min(ratios):.1f}-{max(ratios):.1f}x as far from the test images "
                "as these samples (FID, per judge)."
            ]
        else:  # far from the data for some other reason (a VAE's blur): said as measured, not read as mirroring
            lines += [
                f"- Under {', '.join(behind)} these samples are no closer to the test images than the mirrored "
                f"training images (the mirrored images' FID is {min(ratios):.2f}-{max(ratios):.2f}x theirs, per "
                "judge): what separates them from the data weighs as much there as a mirrored data set."
            ]
    low, high = int(np.argmin(shares)), int(np.argmax(shares))
    in_range = all(0.05 <= share <= 0.15 for share in shares)
    lines += [
        f"- Class shares (`{short[0]}`'s verdict on each sample): {'every' if in_range else 'not every'} class "
        f"between 5% and 15%; smallest {shares[low]:.1%} ({labels[low]}), largest {shares[high]:.1%} "
        f"({labels[high]}). The classifier itself gives the test split "
        f"{min(typed.test_class_shares):.1%}-{max(typed.test_class_shares):.1%} per class.",
        "",
        "| " + " | ".join(labels) + " |",
        "|" + "---:|" * len(labels),
        "| " + " | ".join(f"{share:.1%}" for share in shares) + " |",
    ]
    return results, "\n".join(lines)


def recipes_section(report: dict) -> str:
    """The equal-time comparison of DCGAN recipes (bench_gan_recipes' JSON), for the DCGAN card.

    A narrower view than the benchmark's table (minutes instead of steps; FIDs and the two-sample test only), built
    from the same typed rows.
    """
    typed = GanRecipesReport.from_dict(report)
    judges, short = typed.judges, typed.short_judges
    lines = [
        "",
        "### Against the vanilla DCGAN at equal CPU time",
        "",
        f"Each recipe trained by `train.py` for the same minutes of one CPU thread on the same machine, then "
        f"{typed.num_samples:,} samples of the final model judged as above (`benchmarks/bench_gan_recipes.py`; "
        "the full ablation is in benchmarks/RESULTS.md):",
        "",
        "| recipe | minutes | images seen | " + " | ".join(f"FID {j}" for j in short) + " | two-sample test |",
        "|---|---:|---:|" + "---:|" * (len(judges) + 1),
    ]
    for row in typed.rows:
        lines.append(
            f"| {row.name} | {row.minutes:.0f} | {row.images:,} | "
            + " | ".join(f"{row.final.judges[j]:.1f}" for j in judges)
            + f" | {row.final.two_sample_cell} |"
        )
    lines += ["", f"Learning curves, FID {short[-1]} (minutes of training in brackets):", ""]
    for row in typed.rows:
        if row.curve:
            points = ", ".join(f"{p.judges[judges[-1]]:.1f} ({p.minutes:.0f})" for p in row.curve)
            lines.append(f"- {row.name}: {points}")
    return "\n".join(lines)


def inpainting_results(report: dict, name: str) -> tuple[list[EvalResult], str]:
    """Model-index entries and the markdown results section of an inpainter, from bench_inpainting's JSON."""
    typed = InpaintingReport.from_dict(report)
    methods, buckets, settings = typed.methods, typed.buckets, typed.settings
    mine = own_method(methods, name)
    classical = [method.name for method in methods if method.model is None]
    others = [method for method in methods if method.model is not None and method is not mine]

    results = []
    for bucket in buckets:
        row = typed.row(mine.name, bucket)
        common = common_fields(
            "inpainting",
            PHOTO_VALIDATION,
            {"crop": settings["size"], "crops": settings["crops"], "masks": settings["mask_kind"]},
            holes_config(bucket),
        )
        results += hole_results(common, bucket, row.psnr, row.ssim, row.hole_l1)

    lines = [
        f"{settings['crops']} crops of {settings['size']}x{settings['size']} px (at the photos' own scale) from the "
        f"{len(settings['photos'])} validation photos of the corpus, never used in training, x "
        f"{settings['masks_per_crop']} free-form masks (strokes and boxes) per crop and hole-ratio bucket; the same "
        "masks for every method. PSNR and SSIM over the whole image (the known pixels are kept), L1 over the hole "
        "(0-1 scale); time per image on the machine below.",
        "",
        "| holes | PSNR (dB) | SSIM | hole L1 | best classical PSNR | gain (dB) | detail (best classical) "
        "| edge F1 (best classical) |"
        # What the network adds to the fill it starts from: +0.00 there means the network does nothing.
        + (f" gain over its start, {mine.start} (dB): PSNR / detail / edge F1 |" if mine.start else "")
        # named by id: two releases of one class (e.g. a previous InpaintCNN) would share a class-name header
        + "".join(f" `{method.model}` PSNR |" for method in others),
        "|---|---:|---:|---:|---|---:|---|---|" + ("---:|" if mine.start else "") + "---:|" * len(others),
    ]
    for bucket in buckets:
        row = typed.row(mine.name, bucket)
        best = max(classical, key=lambda method: typed.row(method, bucket).psnr)
        gain = row.psnr - typed.row(best, bucket).psnr
        # PSNR rewards a smooth fill; detail and edges are where a fill shows the photo's structure and grain, and
        # each has its own best classical method.
        most_detail = max(classical, key=lambda method: typed.row(method, bucket).detail)
        best_edges = max(classical, key=lambda method: typed.row(method, bucket).edge_f1)
        structure = (
            f" {row.detail:.2f} ({typed.row(most_detail, bucket).detail:.2f}, {most_detail}) |"
            f" {row.edge_f1:.3f} ({typed.row(best_edges, bucket).edge_f1:.3f}, {best_edges}) |"
        )
        over_start = ""
        if mine.start:
            start = typed.row(mine.start, bucket)
            over_start = (
                f" {row.psnr - start.psnr:+.2f} / {row.detail - start.detail:+.2f} / "
                f"{row.edge_f1 - start.edge_f1:+.3f} |"
            )
        others_psnr = "".join(f" {typed.row(method.name, bucket).psnr:.2f} |" for method in others)
        lines.append(
            f"| {bucket} | {row.psnr:.2f} | {row.ssim:.4f} | {row.hole_l1:.4f} | "
            f"{typed.row(best, bucket).psnr:.2f} ({best}) | {gain:+.2f} |{structure}{over_start}{others_psnr}"
        )
    lines += ["", "All methods of the run, PSNR (dB):", ""]
    lines += methods_table(
        methods,
        [*buckets, "median ms per image"],
        lambda method: [
            *(f"{typed.row(method.name, bucket).psnr:.2f}" for bucket in buckets),
            f"{typed.median_ms(method.name):.0f}",
        ],
        mine=mine,
    )
    return results, "\n".join(lines)


def denoising_results(report: dict, name: str) -> tuple[list[EvalResult], str]:
    """Model-index entries and the markdown results section of a denoiser, from bench_denoising's JSON."""
    typed = DenoisingReport.from_dict(report)
    methods, sigmas, settings = typed.methods, typed.sigmas, typed.settings
    mine = own_method(methods, name)

    results = []
    for sigma in sigmas:
        row = typed.row(mine.name, sigma)
        common = common_fields(
            "denoising",
            PHOTO_VALIDATION,
            {"crop": settings["size"], "crops": settings["crops"], "noise": "gaussian"},
            f"sigma-{sigma:g}",
        )
        results += [
            eval_result(common, "psnr", f"PSNR (dB), sigma {sigma:g}", row.psnr),
            eval_result(common, "ssim", f"SSIM, sigma {sigma:g}", row.ssim),
        ]

    lines = [
        f"{settings['crops']} crops of {settings['size']}x{settings['size']} px (at the photos' own scale) from the "
        f"{len(settings['photos'])} validation photos of the corpus, never used in training, with white Gaussian "
        "noise of standard deviation sigma (0-255 scale, unclipped). A model that takes the noise level is told "
        'the true sigma, as BM3D is, and also runs blind (the "level estimated" rows: it estimates sigma from the '
        'image); the others are blind; non-local means estimates it. "Self-ensemble x8" rows average the model '
        "over the 8 flips and rotations of the image (`restore(..., ensemble=True)`).",
        "",
    ]

    def cells(method: Method) -> list[str]:
        rows = [typed.row(method.name, s) for s in sigmas]
        ms = typed.median_ms(method.name)
        return [f"{row.psnr:.2f} / {row.ssim:.3f}" for row in rows] + ["-" if ms is None else f"{ms:.0f}"]

    columns = [*(f"sigma {s:g} PSNR / SSIM" for s in sigmas), "median ms per image"]
    lines += methods_table(methods, columns, cells, mine=mine)
    bm3d = next((method.name for method in methods if method.name.startswith("BM3D")), None)
    if bm3d is not None and 25 in sigmas:
        ours, theirs = typed.row(mine.name, 25), typed.row(bm3d, 25)
        ratio = typed.median_ms(mine.name) / typed.median_ms(bm3d)
        lines += [
            "",
            f"At sigma 25: {ours.psnr:.2f} dB against BM3D's {theirs.psnr:.2f} dB "
            f"({ours.psnr - theirs.psnr:+.2f} dB), in {ratio:.1%} of BM3D's time.",
        ]
    return results, "\n".join(lines)


PRIOR_METRICS = ("psnr", "ssim", "hole_l1", "class_agreement")
TELEA = "OpenCV Telea"  # the classical reference of bench_prior


def kinds_averaged(rows: list[PriorRow]) -> dict[tuple[str, str], dict[str, float]]:
    """{(method, bucket): each metric averaged over the mask kinds}, from bench_prior's (method, bucket, kind) rows."""
    groups = defaultdict(list)
    for row in rows:
        groups[row.method, row.bucket].append(row)
    return {
        key: {metric: statistics.fmean(getattr(row, metric) for row in group) for metric in PRIOR_METRICS}
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
    typed = PriorReport.from_dict(report)
    methods, buckets, settings, single_ms = typed.methods, typed.buckets, typed.settings, typed.single_ms
    mine = own_method(methods, name)
    table = kinds_averaged(typed.rows)
    rivals = [method for method in methods if method.kind == "prior" or method.name == TELEA]

    def short(method: PriorMethod) -> str:  # "DCGANGenerator prior", "OpenCV Telea"
        return f"{method.name.split(' ')[0]} prior" if method.kind == "prior" else method.name

    results = []
    args = {"images": settings["images"], "masks": " and ".join(settings["mask_kinds"])}
    for bucket in buckets:
        row = table[mine.name, bucket]
        common = common_fields("prior", FASHION_MNIST_TEST, args, holes_config(bucket))
        agreement = eval_result(common, "class_agreement", f"Class agreement, {bucket} holes", row["class_agreement"])
        results += [*hole_results(common, bucket, row["psnr"], row["ssim"], row["hole_l1"]), agreement]

    lines = [
        f"The first {settings['images']:,} images of the Fashion-MNIST test split (never used in training) at "
        f"{FASHION_MNIST_SIZE}x{FASHION_MNIST_SIZE}, one free-form mask per image and hole-ratio bucket (brush "
        f"strokes for half of the images, boxes for the other half; seed {settings['seed']}), the same masks for "
        "every method, each of which gets the image with its hole zeroed. PSNR (per image capped at a one-grey-level "
        "error) and SSIM over the whole image (the known pixels are kept), L1 over the hole (0-1 scale), each the "
        "mean of the two mask kinds. Class agreement: the share of restored images that the bundled Fashion-MNIST "
        f"classifier ({typed.classifier_accuracy:.1%} accurate on these images) puts in the class it gives the "
        f"original. The priors search the latent space of a generator of the same data with `hfimg.prior` "
        f"({settings['prior_steps']} steps, {settings['prior_restarts']} restarts per image).",
        "",
    ]
    columns = ["holes", "PSNR (dB)", "SSIM", "hole L1", "class agreement"]
    columns += [f"{short(method)}: PSNR / agreement" for method in rivals]
    lines += ["| " + " | ".join(columns) + " |", "|---|" + "---:|" * (len(columns) - 1)]
    for bucket in buckets:
        row = table[mine.name, bucket]
        theirs = "".join(
            f" {table[m.name, bucket]['psnr']:.2f} / {table[m.name, bucket]['class_agreement']:.3f} |" for m in rivals
        )
        lines.append(
            f"| {bucket} | {row['psnr']:.2f} | {row['ssim']:.4f} | {row['hole_l1']:.4f} | "
            f"{row['class_agreement']:.3f} |{theirs}"
        )

    def difference(method: Method, metric: str) -> dict[str, float]:
        return {b: table[mine.name, b][metric] - table[method.name, b][metric] for b in buckets}

    def best(metric: str, digits: int) -> str:  # "this model at 10%-20%; ConvVAE prior and OpenCV Telea at ..."
        labels = {method.name: "this model" if method is mine else short(method) for method in methods}
        winners = {}
        for bucket in buckets:
            shown = {method: round(table[method, bucket][metric], digits) for method in labels}  # ties as shown
            tied = [label for method, label in labels.items() if shown[method] == max(shown.values())]
            winners[bucket] = tied[0] if len(tied) == 1 else f"{', '.join(tied[:-1])} and {tied[-1]}"
        return "; ".join(
            f"{who} at {', '.join(b for b in buckets if winners[b] == who)}" for who in dict.fromkeys(winners.values())
        )

    def times(method: Method) -> str:  # "274x this model's", "0.6x this model's"
        ratio = single_ms[method.name] / single_ms[mine.name]
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
        f"- Time for one image: this model {single_ms[mine.name]:,.1f} ms; "
        + ", ".join(f"{short(m)} {single_ms[m.name]:,.1f} ms ({times(m)})" for m in rivals)
        + ".",
    ]

    last = buckets[-1]
    lines += ["", f"All methods of the run, PSNR (dB) per bucket, class agreement at {last} holes, time:", ""]
    lines += methods_table(
        methods,
        [*buckets, f"class agreement ({last})", "one image, ms"],
        lambda method: [
            *(f"{table[method.name, bucket]['psnr']:.2f}" for bucket in buckets),
            f"{table[method.name, last]['class_agreement']:.3f}",
            f"{single_ms[method.name]:,.1f}",
        ],
        mine=mine,
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
        if note := bf16_note(report):  # the machine's, said once in the benchmark's table and each card
            lines += ["", note]
        lines += ["", f"Measured with `{report['command']}` on {report['machine']}.", ""]
    spec = model.core_spec()
    lines += [
        f"`hfimg export {BUNDLED_ORG}/{name} --format onnx -o {name}-onnx` writes the network as `model.onnx`",
        "(float32, checked against PyTorch to 1e-3 before it is kept) with a README that lists its inputs and",
        f"outputs: {spec.description}",
    ]
    return "\n".join(lines)
