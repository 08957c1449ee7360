"""Inpainting quality on held-out photos: the trained inpainters next to classical methods, per hole size.

    python -m benchmarks.bench_inpainting [--models hfimg/inpaint-cnn-photos hfimg/inpaint-rcnn-photos]
        [--size 256] [--per_photo 4] [--masks 3] [--json benchmarks/results/inpainting.json]

Images: the photos of `data/photos/validation`, which `scripts/build_photo_corpus.py` keeps out of training, cut
into up to `--per_photo` non-overlapping `--size` x `--size` crops each, at the photo's own scale (the scale the
models train on: random crops of the full photos), grey photos as RGB (`benchmarks.common.validation_crops`).

Masks: for every crop and every hole-ratio bucket of `hfimg.masks.HOLE_BUCKETS`, `--masks` free-form masks
(`random_mask(kind="mixed")`: brush strokes and boxes), seeded by (--seed, crop, bucket, mask number). Every
method gets the same masks and the same input: the crop with its hole zeroed, so no method can see the hole.

Methods, all in one run:

every method comes from `hfimg.inpainting`'s registry and runs through its one task call (`Inpainter`, the PIL API
users call), so a newly registered method is benchmarked with no edit here:

* the learned methods given by --models (registered ids such as inpaint-cnn, or model ids / folders; default: every
  registered photo model);
* every registered classical photo method (`hfimg.classical`), unless --no_baselines: OpenCV Telea and OpenCV
  Navier-Stokes (`cv2.inpaint`, radius --radius pixels), scikit-image biharmonic, pull-push interpolation (Gortler
  et al. 1996), pull-push + texture transfer (`hfimg.texture`: that fill with the known region's fine detail copied
  into the hole), and the blend of fills (the average of pull-push, Navier-Stokes and the textured fill).

A learned model that starts from a classical fill and corrects it (`starting_fill`: the blend for the shipped photo
inpainters, pull-push for older ones) is also shown against that fill, which runs even with --no_baselines: the
"- its start" rows are what the network adds, so a network that has stopped learning shows as +0.00 however the
fill itself compares.

Metrics per image, averaged over each bucket: PSNR and SSIM of the whole result against the original crop (every
method keeps the known pixels, so the differences lie in the hole), the mean absolute error in the hole (0-1
scale), and two figures of detail and structure in the hole, which PSNR does not reward: the gradient-energy ratio
(Sobel energy of the fill over the true photo's, 1.0 = as detailed, blur -> 0) and the F1 of the fill's Canny edges
against the photo's (2 px tolerance); all from `hfimg.metrics`. Time: median milliseconds per image (one call each,
conversions included).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import cv2
import numpy as np
import torch
from PIL import Image

from benchmarks.common import (
    add_photo_arguments,
    bucket_label,
    command_line,
    machine,
    publish,
    validation_crops,
    weights_record,
)
from benchmarks.reports import InpaintingReport, methods_table
from hfimg import metrics
from hfimg.catalogue import method_specs
from hfimg.inpainting import Inpainter, load_inpainter
from hfimg.masks import HOLE_BUCKETS, random_mask
from hfimg.tasks import InpaintOptions

# An inpainting method: (RGB uint8 image with the hole zeroed (H, W, 3), hole bool (H, W)) -> RGB uint8 (H, W, 3).
Method = Callable[[np.ndarray, np.ndarray], np.ndarray]


def registered_methods(
    models: list[str] | None, baselines: bool, radius: int, fewer_passes: bool = False
) -> tuple[dict[str, Method], list[dict]]:
    """The methods of one run, all from `hfimg.inpainting`'s registry: the learned ones given by `models` (method
    ids or model ids; none given = every registered photo model) and, with `baselines`, every registered classical
    one. With `fewer_passes`, each recurrent model is also run with 1 .. T-1 passes instead of its T.

    Returns ({display name: method}, [{"name", "model", "parameters"}]) for the report; a model is named
    "Class (model id)" ("Class (model id), k passes" when run with fewer), a classical method by its registered
    name.
    """
    learned = models or [spec.id for spec in method_specs("inpaint", "photos") if spec.model is not None]
    chosen = [load_inpainter(name) for name in learned]
    # The classical fills the learned models start from run even without the baselines: a model's margin over its
    # own start is what its network adds.
    starts = {inpainter.model.starting_fill for inpainter in chosen if inpainter.model is not None} - {None}
    classical = [  # the registry's entries themselves: a folder named like one (./telea) is not taken for it
        Inpainter(spec, settings={"radius": radius} if "radius" in spec.settings else None)
        for spec in method_specs("inpaint", "photos")
        if spec.fill is not None and (baselines or spec.id in starts) and spec.id not in learned
    ]
    chosen += classical
    names = {inpainter.spec.id: inpainter.name for inpainter in chosen if inpainter.model is None}
    # Families whose steps are passes (the catalogue says so; a model given by id has no entry of its own).
    recurrent = {kind for spec in method_specs("inpaint") if spec.steps_kind == "passes" for kind in spec.model_types}
    methods, described = {}, []
    for inpainter in chosen:
        model = inpainter.model
        runs = [(None, "")]  # (passes, name suffix): the method as it comes
        if fewer_passes and model is not None and model.model_type in recurrent:
            runs += [(k, f", {k} pass{'es' if k > 1 else ''}") for k in range(1, model.iterations)]
        for passes, suffix in runs:
            name = inpainter.name if model is None else f"{type(model).__name__} ({inpainter.spec.model}){suffix}"
            methods[name] = on_arrays(inpainter, InpaintOptions(steps=passes))
            entry = {"name": name, "model": inpainter.spec.model, "parameters": None}
            if model is not None:
                entry["parameters"] = model.num_parameters()
                if model.starting_fill is not None:
                    entry["start"] = names[model.starting_fill]
            described.append(entry)
    return methods, described


def on_arrays(inpainter: Inpainter, options: InpaintOptions | None = None) -> Method:
    """An `Inpainter` (PIL in, PIL out: the API users call) as a Method on uint8 arrays."""
    return lambda image, hole: np.asarray(inpainter(Image.fromarray(image), Image.fromarray(hole), options).image)


def run(
    methods: dict[str, Method], crops: list[np.ndarray], masks_per_crop: int, seed: int
) -> dict[tuple[str, str], dict]:
    """Every method on every (crop, mask) of every bucket -> {(method, bucket): averaged metrics and timing}."""
    results = {}
    for b, bucket in enumerate(HOLE_BUCKETS):
        keys = ("psnr", "ssim", "hole_l1", "detail", "edge_f1", "ms")
        scores = {name: {key: [] for key in keys} for name in methods}
        for c, original in enumerate(crops):
            for k in range(masks_per_crop):
                hole = random_mask(*original.shape[:2], hole_range=bucket, rng=np.random.default_rng((seed, c, b, k)))
                damaged = original.copy()
                damaged[hole] = 0
                for name, method in methods.items():
                    start = time.perf_counter()
                    result = method(damaged, hole)
                    scores[name]["ms"].append((time.perf_counter() - start) * 1000)
                    scores[name]["psnr"].append(metrics.psnr(result, original))
                    scores[name]["ssim"].append(metrics.ssim(result, original))
                    scores[name]["hole_l1"].append(metrics.masked_l1(result, original, hole))
                    scores[name]["detail"].append(metrics.gradient_energy_ratio(result, original, hole))
                    scores[name]["edge_f1"].append(metrics.edge_f1(result, original, hole))
        for name, values in scores.items():
            results[name, bucket_label(bucket)] = {
                "psnr": statistics.fmean(values["psnr"]),
                "ssim": statistics.fmean(values["ssim"]),
                "hole_l1": statistics.fmean(values["hole_l1"]),
                "detail": statistics.fmean(values["detail"]),
                "edge_f1": statistics.fmean(values["edge_f1"]),
                "ms": statistics.median(values["ms"]),
                "images": len(values["ms"]),
            }
    return results


def markdown(report: dict) -> str:
    """Long table (bucket x method, best PSNR of each bucket in bold), then a PSNR summary with the models' gain."""
    typed = InpaintingReport.from_dict(report)
    settings, methods, rows = typed.settings, typed.methods, typed.rows
    buckets = [bucket_label(bucket) for bucket in HOLE_BUCKETS]
    lines = [
        f"Machine: {typed.machine}",
        "",
        f"{settings['crops']} crops of {settings['size']}x{settings['size']} px from {len(settings['photos'])} "
        f"validation photos x {settings['masks_per_crop']} masks = {settings['crops'] * settings['masks_per_crop']} "
        f"images per hole bucket ({settings['mask_kind']} masks).",
        "",
        "| holes | method | PSNR (dB) | SSIM | hole L1 | detail | edge F1 | median ms |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for bucket in buckets:
        in_bucket = [row for row in rows if row.bucket == bucket]
        best = max(row.psnr for row in in_bucket)
        for row in in_bucket:
            psnr = f"**{row.psnr:.2f}**" if row.psnr == best else f"{row.psnr:.2f}"
            lines.append(
                f"| {bucket} | {row.method} | {psnr} | {row.ssim:.4f} | {row.hole_l1:.4f} | "
                f"{row.detail:.2f} | {row.edge_f1:.3f} | {row.ms:.1f} |"
            )
    classical = [method.name for method in methods if method.model is None]
    for key, title, digits in (
        ("psnr", "PSNR (dB)", 2),
        ("detail", "Detail in the hole (gradient-energy ratio, 1.0 = the photo's)", 2),
        ("edge_f1", "Edge F1 in the hole", 3),
    ):
        value = {(row.method, row.bucket): getattr(row, key) for row in rows}
        lines += ["", f"{title} by hole ratio:", ""]
        lines += methods_table(
            methods,
            buckets,
            # defaults bind this turn's value and digits (ruff cannot see that the table is rendered at once)
            lambda method, value=value, digits=digits: [f"{value[method.name, b]:.{digits}f}" for b in buckets],
        )
        for method in (m for m in methods if m.model is not None):
            if method.start is not None:  # what the network adds to the fill it starts from
                gains = [value[method.name, b] - value[method.start, b] for b in buckets]
                cells = " | ".join(f"{g:+.{digits}f}" for g in gains)
                lines.append(f"| {method.name} - its start ({method.start}) | | {cells} |")
            if len(classical) > 1:
                gains = [value[method.name, b] - max(value[name, b] for name in classical) for b in buckets]
                cells = " | ".join(f"{g:+.{digits}f}" for g in gains)
                lines.append(f"| {method.name} - best classical | | {cells} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_photo_arguments(parser, "Inpainters")
    parser.add_argument("--masks", type=int, default=3, help="Masks per crop and hole bucket.")
    parser.add_argument("--radius", type=int, default=3, help="Neighbourhood radius of the OpenCV methods (px).")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the masks.")
    parser.add_argument(
        "--fewer_passes",
        action="store_true",
        help="Also run each recurrent model with 1 .. T-1 passes instead of its T: what each further pass adds.",
    )
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
        cv2.setNumThreads(args.threads)

    named_crops = validation_crops(args.photos, args.size, args.per_photo)
    crops = [np.array(crop) for _, crop in named_crops]
    methods, described = registered_methods(args.models, not args.no_baselines, args.radius, args.fewer_passes)

    results = run(methods, crops, args.masks, args.seed)
    report = {
        "benchmark": "inpainting",
        "machine": machine(),
        "command": command_line("benchmarks.bench_inpainting", argv),
        "weights": weights_record(args.models),
        "settings": {
            "photos": sorted({name.split("@")[0] for name, _ in named_crops}),
            "crops": len(crops),
            "size": args.size,
            "per_photo": args.per_photo,
            "masks_per_crop": args.masks,
            "mask_kind": "mixed",
            "radius": args.radius,
            "seed": args.seed,
            "fewer_passes": args.fewer_passes,
        },
        "methods": described,
        "results": [{"method": method, "bucket": bucket, **values} for (method, bucket), values in results.items()],
    }
    return publish(report, markdown(report), args.json)


if __name__ == "__main__":
    main()
