"""The README's table of bundled models, with each one's headline figures from the benchmark JSON files."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from huggingface_hub import ModelCard

import hfimg
from benchmarks.reports import DenoisingReport, Method
from hfimg.catalogue import JUDGES
from scripts.cardkit.results import matches, own_method
from scripts.cardkit.shipped import SHIPPED, TASKS

# Bundled measuring instruments: in the README's table, with the accuracy their cards hold.
CLASSIFIERS = tuple(judge.removeprefix("hfimg/") for judge in JUDGES)
README_TABLE = ("<!-- models table: written by scripts/make_model_cards.py -->", "<!-- end of models table -->")


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
        runs = mine.get("two_sample_runs") or [mine["two_sample_accuracy"]]
        spread = f" ({min(runs):.0%}-{max(runs):.0%} over {len(runs)} runs)" if len(runs) > 1 else ""
        test = f"two-sample test {mine['two_sample_accuracy']:.0%}{spread}"
        return f"FID {fids} under three judges (blurred real images: {blur}); {test}"
    if kind == "denoising":
        denoising = DenoisingReport.from_dict(report)
        # only the shipped model's rows: not a previous release, nor variants
        method = own_method(denoising.methods, name).name
        return ", ".join(f"{row.psnr:.1f} dB at sigma {row.sigma}" for row in denoising.rows if row.method == method)
    # Inpainting and prior alike: the mean PSNR of each bucket (bench_prior has a row per mask kind in each).
    method = own_method([Method.from_dict(entry) for entry in report["methods"]], name).name
    rows = [row for row in report["results"] if row["method"] == method]
    buckets = list(dict.fromkeys(row["bucket"] for row in rows))
    means = [statistics.fmean(row["psnr"] for row in rows if row["bucket"] == bucket) for bucket in buckets]
    summary = (
        " / ".join(f"{mean:.1f}" for mean in means)
        + f" dB on {buckets[0].split('-')[0]}-{buckets[-1].split('-')[-1]} holes"
    )
    if kind == "inpainting":  # PSNR rewards a smooth fill: the detail and edges in the hole say what it looks like
        detail = " / ".join(f"{row['detail']:.2f}" for row in rows)
        edges = " / ".join(f"{row['edge_f1']:.2f}" for row in rows)
        summary += f"; detail {detail}, edge F1 {edges}"
    return summary


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
