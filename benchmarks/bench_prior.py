"""Restoration with a generative prior on Fashion-MNIST: latent search in a GAN / VAE next to OpenCV and a
feed-forward inpainter, per hole size and mask kind.

    python -m benchmarks.bench_prior [--images 1000] [--threads 1] [--json benchmarks/results/prior.json]
        [--models hfimg/inpaint-cnn-fashion-mnist] [--gan hfimg/dcgan-fashion-mnist] [--vae hfimg/vae-fashion-mnist]
        [--cache benchmarks/results/prior-cache]

Images: the first --images Fashion-MNIST TEST images at the data set's own 28x28 grey, as a user has them and as
the generation benchmark judges them (`hfimg.data.ImageStream(resolution=28, channels=1)`, no shuffle), labels kept.
Each method takes them the way its own API does: a generator trained on framed images (`padding` 2, the shipped
ones) frames them in black as in training and cuts the frame off its result; one trained on images enlarged to 32 px
searches at 32 px and its result is resized back (`hfimg.prior`, with a warning); the feed-forward inpainters and the
classical fills take any size and run at 28 px.

Masks: for every image and every hole-ratio bucket of `hfimg.masks.HOLE_BUCKETS`, one `random_mask` seeded by
(--seed, image, bucket, kind); the kind alternates between the images (brush strokes for even, boxes for odd image
numbers), so each (bucket, kind) cell holds half of the images and every image is restored once per bucket.
Every method gets the same input: the image with its hole zeroed (black, the background colour of Fashion-MNIST),
so no method can see the hole.

Methods:

* GAN prior and VAE prior: `hfimg.prior.inpaint_tensors` with the default settings of `model.inpaint` (the latent
  search of `hfimg.prior`), --batch images per call; each image is restored as a call with it alone would;
* OpenCV Telea and OpenCV Navier-Stokes (`cv2.inpaint`, radius --radius pixels);
* pull-push interpolation (`hfimg.layers.pull_push_fill`), where the feed-forward inpainters start from;
* the feed-forward inpainters of --models (one forward pass on the batch, known pixels kept).

Metrics per (method, bucket, kind), means over the images: PSNR (each image's capped at 48.13 dB, an error of
one grey level everywhere, since a hole in the black background can be filled exactly), SSIM and the mean absolute
error in the hole (0-1 scale), from `hfimg.metrics` on the uint8 results (the run checks that every method returns
the known pixels unchanged); class agreement, the share of restored images that the bundled Fashion-MNIST
classifier (`hfimg.metrics.load_classifier`) puts in the class it gives the original image. The classifier's
accuracy (against the true labels) on the originals is the ceiling; the damaged input itself is listed as a floor.

Time: the median milliseconds of a single-image call of each method (--time_images calls on different images,
conversions included), and the batched milliseconds per image the quality run itself took.

The latent search costs ~0.1-0.4 s per image on one core, and the run restores every image 4 times (once per
bucket) with each prior. With --cache, each chunk of --batch restored images is saved as it is done, and a run
started again with the same folder picks up where the last one stopped (delete the folder when a model changes).
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import math
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
import torch

from benchmarks.common import (
    bucket_label,
    command_line,
    config_sha256,
    load_methods,
    machine,
    median_ms,
    publish,
    weights_record,
)
from benchmarks.judging import NATIVE  # Fashion-MNIST's own size: every method gets the images as they are
from benchmarks.reports import PriorReport, methods_table
from hfimg import metrics
from hfimg.catalogue import default_models, method_spec
from hfimg.classical import navier_stokes_pixels, telea_pixels
from hfimg.data import ImageStream
from hfimg.layers import pull_push_fill
from hfimg.masks import HOLE_BUCKETS, random_mask
from hfimg.prior import DEFAULT_RESTARTS, DEFAULT_STEPS, inpaint_tensors

DEFAULT_GAN = method_spec("gan", "inpaint").model
DEFAULT_VAE = method_spec("vae", "inpaint").model
DEFAULT_MODELS = default_models("inpaint", "garments", steps_kind=None)  # the feed-forward garment inpainters
MASK_KINDS = ("strokes", "boxes")
DAMAGED = "damaged input (hole = 0)"
TELEA = "OpenCV Telea"
PULL_PUSH = "pull-push interpolation"
# Per-image PSNR is capped at the PSNR of a one-grey-level error everywhere, 20 log10(255) = 48.13 dB: a hole lying
# in the black background and filled with exact black gives an identical image, whose infinite PSNR would make
# the whole mean infinite.
PSNR_CAP = 20 * math.log10(255)

# A batched inpainting method: (uint8 images (N, H, W) with the hole zeroed, bool holes (N, H, W)) -> uint8 (N, H, W).
BatchMethod = Callable[[np.ndarray, np.ndarray], np.ndarray]


def to_tensors(images: np.ndarray, holes: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 (N, H, W) and bool (N, H, W) -> images (N, 1, H, W) in [-1, 1] and masks (N, 1, H, W), 1 = hole."""
    return torch.from_numpy(images).float()[:, None] / 127.5 - 1.0, torch.from_numpy(holes).float()[:, None]


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(N, 1, H, W) in [-1, 1] -> uint8 (N, H, W), rounded as `hfimg.imaging.tensor_to_pil` does."""
    return ((images.detach().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)[:, 0].numpy()


def prior_method(model: torch.nn.Module) -> BatchMethod:
    """The latent search of `hfimg.prior` at its default settings, the whole batch at once."""
    return lambda images, holes: to_uint8(inpaint_tensors(model, *to_tensors(images, holes)))


def feed_forward_method(model: torch.nn.Module) -> BatchMethod:
    """A feed-forward inpainter's forward pass on the batch, composited so the known pixels stay the input's."""

    @torch.inference_mode()
    def method(images: np.ndarray, holes: np.ndarray) -> np.ndarray:
        x, masks = to_tensors(images, holes)
        return to_uint8(torch.where(masks >= 0.5, model(x, masks), x))

    return method


def pull_push(images: np.ndarray, holes: np.ndarray) -> np.ndarray:
    """`hfimg.layers.pull_push_fill` on the batch: the interpolation the feed-forward inpainters start from."""
    x, masks = to_tensors(images, holes)
    return to_uint8(torch.where(masks >= 0.5, pull_push_fill(x, masks), x))


def one_by_one(method: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> BatchMethod:
    """A single-image method (image (H, W), hole (H, W)) applied to each image of a batch."""
    return lambda images, holes: np.stack([method(image, hole) for image, hole in zip(images, holes, strict=True)])


def predict_classes(classifier: torch.nn.Module, images: np.ndarray, batch: int = 250) -> np.ndarray:
    """The classifier's class (N,) for uint8 images (N, H, W)."""
    x = torch.from_numpy(images).float()[:, None] / 127.5 - 1.0
    return torch.cat([classifier.predict(chunk).cpu() for chunk in x.split(batch)]).numpy()


def load_images(corpus: str, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The first `count` test images as uint8 (count, 28, 28) and their labels (count,)."""
    stream = ImageStream(corpus, resolution=NATIVE, channels=1, split="test", shuffle_buffer=0, repeat=False)
    samples = list(itertools.islice(stream, count))
    if len(samples) < count:
        raise ValueError(f"corpus {corpus!r} has only {len(samples)} test images; ask for at most that many.")
    images = torch.stack([sample["image"][0] for sample in samples])  # (count, 28, 28) in [-1, 1]
    return to_uint8(images[:, None]), np.array([sample["label"] for sample in samples])


def mask_kinds(count: int) -> np.ndarray:
    """The mask kind of each image, as an index into MASK_KINDS: (count,), alternating 0, 1, 0, ..."""
    return np.arange(count) % len(MASK_KINDS)


def make_masks(count: int, seed: int) -> dict[str, np.ndarray]:
    """{bucket: bool holes (count, 28, 28)}: image i gets kind k = mask_kinds(count)[i], seeded by (seed, i, b, k)."""
    kinds = mask_kinds(count)
    return {
        bucket_label(bucket): np.stack(
            [
                random_mask(
                    NATIVE,
                    NATIVE,
                    hole_range=bucket,
                    kind=MASK_KINDS[kinds[i]],
                    rng=np.random.default_rng((seed, i, b, kinds[i])),
                )
                for i in range(count)
            ]
        )
        for b, bucket in enumerate(HOLE_BUCKETS)
    }


def restore_all(
    name: str,
    method: BatchMethod,
    damaged: np.ndarray,
    holes: np.ndarray,
    batch: int,
    cache: Path | None,
    key: str,
    version: str = "",
) -> tuple[np.ndarray, float]:
    """Run `method` on chunks of `batch` images (from the cache when there) -> (results, seconds it took). A
    learned method's chunks are cached under its `version` too (its weights' and config's hashes), so a model shipped
    again under the same id, or with another config, is measured again, not read back from the cache."""
    results, seconds = [], 0.0
    folder = re.sub(r"[^\w.-]+", "_", f"{name} {version}".strip())
    for start in range(0, len(damaged), batch):
        stop = min(start + batch, len(damaged))
        path = cache / folder / f"{key}-{start}-{stop}.npz" if cache else None
        if path is not None and path.is_file():
            with np.load(path) as saved:
                chunk, took = saved["results"], float(saved["seconds"])
        else:
            began = time.perf_counter()
            chunk = method(damaged[start:stop], holes[start:stop])
            took = time.perf_counter() - began
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                partial = path.with_suffix(".partial.npz")  # renamed when complete: an interrupted write is redone
                np.savez(partial, results=chunk, seconds=took)
                partial.replace(path)
            print(f"  {name} {key} images {start}-{stop}: {took:.1f} s", file=sys.stderr, flush=True)
        results.append(chunk)
        seconds += took
    return np.concatenate(results), seconds


class Classes(NamedTuple):
    """Per image: the class the classifier gives the original, and the true label."""

    of_originals: np.ndarray
    true: np.ndarray


def score(restored: np.ndarray, originals: np.ndarray, holes: np.ndarray, classes: Classes, classifier) -> dict:
    """Mean PSNR (capped at PSNR_CAP), SSIM and hole L1 over the images, and how they are classified."""
    pairs = list(zip(restored, originals, holes, strict=True))
    predicted = predict_classes(classifier, restored)
    return {
        "psnr": statistics.fmean(min(metrics.psnr(result, original), PSNR_CAP) for result, original, _ in pairs),
        "ssim": statistics.fmean(metrics.ssim(result, original) for result, original, _ in pairs),
        "hole_l1": statistics.fmean(metrics.masked_l1(r, o, hole.astype(np.uint8) * 255) for r, o, hole in pairs),
        "class_agreement": float((predicted == classes.of_originals).mean()),
        "accuracy": float((predicted == classes.true).mean()),
    }


def run(
    methods: dict[str, BatchMethod],
    originals: np.ndarray,
    labels: np.ndarray,
    masks: dict[str, np.ndarray],
    classifier,
    *,
    batch: int,
    cache: Path | None = None,
    versions: dict[str, str] | None = None,
) -> list[dict]:
    """Every method on every (bucket, kind) -> rows of metrics; the damaged input is scored as a method too.

    Args:
        methods: {name: batched method}.
        originals: uint8 (N, H, W) images; labels: their true classes (N,).
        masks: {bucket: bool holes (N, H, W)}, the kinds alternating as `mask_kinds(N)` says; the rows are per
            (bucket, kind).
        classifier: gives the classes for the class agreement (`predict`).
        batch: images per call of a method.
        cache: folder of finished chunks (read when there, written when done), or None.
        versions: {name: a short hash of its weights} of the learned methods, for the cache.

    Raises:
        RuntimeError: when a method changes a pixel outside the hole.
    """
    of_originals = predict_classes(classifier, originals)
    kinds = mask_kinds(len(originals))
    rows = []
    for bucket, holes in masks.items():
        damaged = np.where(holes, 0, originals).astype(np.uint8)
        restored = {DAMAGED: (damaged, None)}
        for name, method in methods.items():
            version = (versions or {}).get(name, "")
            result, seconds = restore_all(name, method, damaged, holes, batch, cache, bucket, version)
            if result.shape != damaged.shape or not np.array_equal(result[~holes], damaged[~holes]):
                raise RuntimeError(f"{name} changed pixels outside the hole ({bucket}); it must keep them.")
            restored[name] = (result, seconds * 1000 / len(damaged))
        for k, kind in enumerate(MASK_KINDS):
            mine = kinds == k
            classes = Classes(of_originals[mine], labels[mine])
            for name, (result, ms) in restored.items():
                row = {"method": name, "bucket": bucket, "kind": kind, "ms_batched": ms}
                rows.append(row | score(result[mine], originals[mine], holes[mine], classes, classifier))
    return rows


def single_image_ms(
    methods: dict[str, BatchMethod], originals: np.ndarray, holes: np.ndarray, count: int
) -> dict[str, float]:
    """Median ms of a one-image call of each method: `count` calls on the first `count` images (2 untimed first)."""
    damaged, holes = np.where(holes, 0, originals)[:count].astype(np.uint8), holes[:count]
    return {
        name: median_ms(one_image_at_a_time(method, damaged, holes), repeats=count)[0]
        for name, method in methods.items()
    }


def one_image_at_a_time(method: BatchMethod, damaged: np.ndarray, holes: np.ndarray) -> Callable[[], np.ndarray]:
    """A function that calls `method` on the next image each time (cycling through them)."""
    cases = itertools.cycle(range(len(damaged)))

    def call() -> np.ndarray:
        i = next(cases)
        return method(damaged[i : i + 1], holes[i : i + 1])

    return call


def bold_best(values: list[float], best: Callable, digits: int) -> list[str]:
    """Format numbers, the best of them (by `best`, min or max) in bold."""
    top = best(values)
    return [f"**{value:.{digits}f}**" if value == top else f"{value:.{digits}f}" for value in values]


def markdown(report: dict) -> str:
    """Long table, PSNR by bucket with the priors' margin over Telea, class agreement at 40-50%, times."""
    typed = PriorReport.from_dict(report)
    settings, rows, methods = typed.settings, typed.rows, typed.methods
    names = [method.name for method in methods]
    buckets = [bucket_label(bucket) for bucket in HOLE_BUCKETS]
    size = settings.get("size", 32)  # reports before the size was recorded measured at 32 px
    lines = [
        f"Machine: {typed.machine}",
        "",
        f"Command: `{typed.command}`",
        "",
        f"{settings['images']} Fashion-MNIST test images at {size}x{size}, one mask per image and hole bucket (seed "
        f"{settings['seed']}), brush strokes for the even-numbered images and boxes for the odd ones, so each "
        f"(bucket, masks) row averages {settings['images'] // 2:,}-{(settings['images'] + 1) // 2:,} images; the "
        f"input is the image with its hole zeroed. Priors at their default settings "
        f"({settings['prior_steps']} steps, {settings['prior_restarts']} restarts), {settings['batch']} images per "
        f"call. Class agreement: share of restored images the classifier puts in the class it gives the original. "
        f"PSNR per image capped at {PSNR_CAP:.2f} dB (one grey level off everywhere). Best of each group in bold "
        f"(the damaged input excluded).",
        "",
        "| holes | masks | method | PSNR (dB) | SSIM | hole L1 | class agreement |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for bucket, kind in itertools.product(buckets, MASK_KINDS):
        group = [row for row in rows if (row.bucket, row.kind) == (bucket, kind)]
        floor = next(row for row in group if row.method == DAMAGED)
        ranked = [row for row in group if row is not floor]
        columns = {
            "psnr": bold_best([row.psnr for row in ranked], max, 2),
            "ssim": bold_best([row.ssim for row in ranked], max, 4),
            "hole_l1": bold_best([row.hole_l1 for row in ranked], min, 4),
            "class_agreement": bold_best([row.class_agreement for row in ranked], max, 3),
        }
        cells = f"{floor.psnr:.2f} | {floor.ssim:.4f} | {floor.hole_l1:.4f} | {floor.class_agreement:.3f}"
        lines.append(f"| {bucket} | {kind} | {DAMAGED} | {cells} |")
        for i, row in enumerate(ranked):
            lines.append(f"| {bucket} | {kind} | {row.method} | {' | '.join(c[i] for c in columns.values())} |")

    def mean_over_kinds(name: str, bucket: str, field: str) -> float:
        return statistics.fmean(getattr(row, field) for row in rows if (row.method, row.bucket) == (name, bucket))

    lines += ["", "PSNR (dB) by hole ratio, mask kinds averaged:", ""]
    psnr = {(name, bucket): mean_over_kinds(name, bucket, "psnr") for name in names for bucket in buckets}
    columns = [bold_best([psnr[name, bucket] for name in names], max, 2) for bucket in buckets]
    # The per-method table of the photo benchmarks and the cards, then the floor and the priors' margins below it.
    lines += methods_table(methods, buckets, lambda method: [column[names.index(method.name)] for column in columns])
    floor = [f"{mean_over_kinds(DAMAGED, bucket, 'psnr'):.2f}" for bucket in buckets]
    lines.append(f"| {DAMAGED} | - | {' | '.join(floor)} |")
    for method in (m for m in methods if m.kind == "prior"):
        margins = [psnr[method.name, bucket] - psnr[TELEA, bucket] for bucket in buckets]
        lines.append(f"| {method.name} - {TELEA} | | {' | '.join(f'{m:+.2f}' for m in margins)} |")

    last = buckets[-1]
    at_last = {(row.method, row.kind): row for row in rows if row.bucket == last}
    lines += ["", f"Classes at {last} holes: agreement with the class of the original, accuracy on the true labels:"]
    lines += ["", "| method | " + " | ".join(MASK_KINDS) + " | mean | accuracy |"]
    lines.append("|---|" + "---:|" * (len(MASK_KINDS) + 2))

    def class_cells(name: str) -> list[float]:
        agreement = [at_last[name, kind].class_agreement for kind in MASK_KINDS]
        accuracy = statistics.fmean(at_last[name, kind].accuracy for kind in MASK_KINDS)
        return [*agreement, statistics.fmean(agreement), accuracy]

    table = [class_cells(name) for name in names]
    columns = [bold_best([values[j] for values in table], max, 3) for j in range(len(table[0]))]
    for i, name in enumerate(names):
        lines.append(f"| {name} | {' | '.join(column[i] for column in columns)} |")
    lines.append(f"| {DAMAGED} (floor) | {' | '.join(f'{value:.3f}' for value in class_cells(DAMAGED))} |")
    ceiling = [1.0] * (len(MASK_KINDS) + 1) + [typed.classifier_accuracy]
    lines.append(f"| originals (ceiling) | {' | '.join(f'{value:.3f}' for value in ceiling)} |")

    timing = typed.timing
    lines += [
        "",
        f"Time per image: median of {timing['single_calls']} single-image calls ({last} stroke holes), and the "
        f"batched quality run ({settings['batch']} images per call, all buckets and kinds):",
        "",
        "| method | single call, median ms | batched, ms per image |",
        "|---|---:|---:|",
    ]
    single = bold_best([timing["single_ms"][name] for name in names], min, 1)
    batched = {name: statistics.fmean(row.ms_batched for row in rows if row.method == name) for name in names}
    batched_cells = bold_best([batched[name] for name in names], min, 1)
    for i, name in enumerate(names):
        lines.append(f"| {name} | {single[i]} | {batched_cells[i]} |")
    return "\n".join(lines)


def check_cache(folder: Path, settings: dict) -> None:
    """Refuse a cache folder written with other settings (its chunks would be other images or masks)."""
    path = folder / "settings.json"
    if path.is_file() and json.loads(path.read_text()) != settings:
        raise ValueError(
            f"the cache {str(folder)!r} holds results for {path.read_text().strip()}, not {settings}; "
            f"pass another --cache folder or delete it."
        )
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=1000, help="How many test images (the first ones).")
    parser.add_argument("--gan", default=DEFAULT_GAN, help="GAN prior: bundled id, model folder or Hub id.")
    parser.add_argument("--vae", default=DEFAULT_VAE, help="VAE prior: bundled id, model folder or Hub id.")
    parser.add_argument("--models", nargs="*", default=None, help="Feed-forward inpainters (ids or folders).")
    parser.add_argument("--corpus", default="fashion_mnist", help="Corpus with a test split (hfimg.data).")
    parser.add_argument("--batch", type=int, default=100, help="Images per batched call.")
    parser.add_argument("--radius", type=int, default=3, help="Neighbourhood radius of the OpenCV methods (px).")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the masks.")
    parser.add_argument("--time_images", type=int, default=20, help="Single-image calls timed per method.")
    parser.add_argument("--cache", type=Path, default=None, help="Folder of finished chunks, to resume a run.")
    parser.add_argument("--threads", type=int, default=None, help="torch and OpenCV threads (default: their choice).")
    parser.add_argument("--json", type=Path, default=None, help="Also write the results to this JSON file.")
    args = parser.parse_args(argv)
    if args.images < 1 or args.batch < 1 or args.time_images < 1:
        raise ValueError(f"--images, --batch and --time_images must be positive, got {args.images}, {args.batch}, "
                         f"{args.time_images}.")  # fmt: skip
    if args.threads:
        torch.set_num_threads(args.threads)
        cv2.setNumThreads(args.threads)

    def prior_check(model: torch.nn.Module) -> str | None:
        if not hasattr(model, "decode_latent"):
            return "not a latent model (no decode_latent); pass a DCGANGenerator or ConvVAE"
        return None if model.channels == 1 else f"with {model.channels} channels; Fashion-MNIST is grey"

    def feed_forward_check(model: torch.nn.Module) -> str | None:
        if not hasattr(model, "inpaint") or hasattr(model, "decode_latent"):
            return "not a feed-forward inpainter (give the priors with --gan / --vae)"
        return None if model.channels == 1 else f"with {model.channels} channels; Fashion-MNIST is grey"

    methods, described = load_methods([args.gan, args.vae], prior_method, prior_check)
    described = [method | {"kind": "prior"} for method in described]
    classical = {
        TELEA: functools.partial(telea_pixels, radius=args.radius),
        "OpenCV Navier-Stokes": functools.partial(navier_stokes_pixels, radius=args.radius),
    }
    methods |= {name: one_by_one(method) for name, method in classical.items()}
    classical[PULL_PUSH] = methods[PULL_PUSH] = pull_push
    described += [{"name": name, "model": None, "parameters": None, "kind": "classical"} for name in classical]
    feed_forward, more = load_methods(
        DEFAULT_MODELS if args.models is None else args.models, feed_forward_method, feed_forward_check
    )
    methods |= feed_forward
    described += [method | {"kind": "feed-forward"} for method in more]
    if args.cache:
        check_cache(args.cache, {"corpus": args.corpus, "seed": args.seed, "radius": args.radius, "size": NATIVE})

    originals, labels = load_images(args.corpus, args.images)
    masks = make_masks(args.images, args.seed)
    classifier = metrics.load_classifier()
    accuracy = float((predict_classes(classifier, originals) == labels).mean())
    timed = masks[bucket_label(HOLE_BUCKETS[-1])]
    single_ms = single_image_ms(methods, originals, timed, args.time_images)
    weights = weights_record([m["model"] for m in described if m["model"]] + [metrics.CLASSIFIER_ID])
    # A learned model's cached chunks are keyed by its weights and its config (a flag such as detail_transfer changes
    # the output of the same weights).
    versions = {
        entry["name"]: "-".join(
            sha[:12] for sha in (weights.get(entry["model"]), config_sha256(entry["model"])) if sha
        )
        for entry in described
        if entry["model"]
    }
    rows = run(methods, originals, labels, masks, classifier, batch=args.batch, cache=args.cache, versions=versions)
    report = {
        "benchmark": "prior",
        "machine": machine(),
        "command": command_line("benchmarks.bench_prior", argv),
        "weights": weights,
        "settings": {
            "images": args.images,
            "size": NATIVE,
            "corpus": args.corpus,
            "batch": args.batch,
            "radius": args.radius,
            "seed": args.seed,
            "mask_kinds": list(MASK_KINDS),
            "prior_steps": DEFAULT_STEPS,
            "prior_restarts": DEFAULT_RESTARTS,
        },
        "methods": described,
        "classifier_accuracy": accuracy,
        "timing": {"single_calls": args.time_images, "single_ms": single_ms},
        "results": rows,
    }
    return publish(report, markdown(report), args.json)


if __name__ == "__main__":
    main()
