"""Inference speed of the shipped models on every backend, against the machine's measured limit.

    python -m benchmarks.bench_speed [--sizes 256 512 1024] [--repeats 7] [--threads 2]
        [--json benchmarks/results/speed.json]

For each shipped model (`hfimg/<name>`, bundled weights) and each backend of `hfimg.runtime` (fp32, fp32-cl,
bf16 + channels_last, onnxruntime) plus `torch.compile` of the model's core (inductor, fp32; benchmark only, with
`--compile`), through the image-level API a user calls (conversion, padding, compositing included):

* the median milliseconds per call: inpaint / restore one photo at each size, generate 64 images;
* the achieved GFLOP/s: the convolution and matmul FLOPs of the call (counted once in fp32 with
  `torch.utils.flop_counter.FlopCounterMode`) divided by its median time;
* the agreement with fp32: PSNR of the 8-bit result against the fp32 result (inf = identical), on a real photo
  (scikit-image's astronaut, resized) with a 20-30% free-form hole, or on the generated images.

Large photos (`--large`, default 4000x3000, 12 megapixels): each restorer of `LARGE_TASKS` restores one at full
size with the default backend ("auto") in a fresh process that loads only that model (the photo is processed in
overlapping tiles, `hfimg.tiling`); the median of `--large_repeats` calls and the process's peak resident memory
(model, photo and result included) are reported.

Next to them, the machine's limit measured in the same run: a large matmul and a 3x3 convolution (64 -> 64 channels,
256x256, the shape of a restoration network's body) in fp32 and in bf16, each in its fastest layout. The "auto"
column says what the default backend picks for the model on this machine. On a CPU without bf16 in hardware the
bf16 backend is not timed (emulated, it is tens of times slower and "auto" never picks it; `--emulated_bf16` times
it anyway).
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import resource
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import skimage.data
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.flop_counter import FlopCounterMode

import hfimg
from benchmarks.common import machine, median_ms, publish, weights_record
from benchmarks.reports import bf16_note
from hfimg import runtime
from hfimg.catalogue import default_models
from hfimg.masks import random_mask
from hfimg.registry import BUNDLED_ORG


def _bundled_name(model_id: str) -> str:
    return model_id.removeprefix(f"{BUNDLED_ORG}/")


# The catalogue's shipped photo models -> task, and its generators, named without the org.
PHOTO_MODELS = {_bundled_name(m): task for task in ("inpaint", "restore") for m in default_models(task, "photos")}
GENERATORS = tuple(_bundled_name(m) for m in default_models("generate"))
LARGE_TASKS = tuple(name for name, task in PHOTO_MODELS.items() if task == "restore")  # timed on a large photo
BACKENDS = ("fp32", "fp32-cl", "bf16", "onnxruntime")
GENERATE_BATCH = 64


def photo(size: int) -> Image.Image:
    return Image.fromarray(skimage.data.astronaut()).resize((size, size), Image.Resampling.BICUBIC)


def psnr_8bit(reference: list[Image.Image], candidate: list[Image.Image]) -> float:
    a = np.stack([np.asarray(image, dtype=np.float64) for image in reference])
    b = np.stack([np.asarray(image, dtype=np.float64) for image in candidate])
    mse = float(np.mean((a - b) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


def counted_gflop(call: Callable[[], object]) -> float:
    """Convolution / matmul GFLOP of one call, counted on the fp32 path (the FLOPs do not depend on the backend)."""
    with FlopCounterMode(display=False) as counter:
        call()
    return counter.get_total_flops() / 1e9


def peak_gflops(repeats: int) -> dict[str, float]:
    """The machine's practical limit: a 2048^3 matmul and a 64->64 3x3 conv on 256x256, fp32 and bf16."""
    peaks = {}
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    for dtype in (torch.float32, torch.bfloat16):
        x, y = a.to(dtype), b.to(dtype)
        ms, _ = median_ms(lambda x=x, y=y: x @ y, repeats=repeats)
        peaks[f"matmul {str(dtype).removeprefix('torch.')}"] = 2 * 2048**3 / ms / 1e6
    image = torch.randn(1, 64, 256, 256).contiguous(memory_format=torch.channels_last)
    weight = torch.randn(64, 64, 3, 3).contiguous(memory_format=torch.channels_last)
    flops = 2 * 64 * 64 * 9 * 256 * 256
    for dtype in (torch.float32, torch.bfloat16):
        x, w = image.to(dtype), weight.to(dtype)
        with torch.inference_mode():
            ms, _ = median_ms(lambda x=x, w=w: F.conv2d(x, w, padding=1), repeats=repeats)
        peaks[f"conv3x3 {str(dtype).removeprefix('torch.')}"] = flops / ms / 1e6
    return peaks


def compiled(model: hfimg.HubModel) -> Callable[[], None]:
    """Make the model's fp32 path run its core through torch.compile (inductor); returns the undo."""
    model.set_backend("fp32")
    model.core = torch.compile(model.core, dynamic=False)  # an instance attribute shadows the method
    return lambda: delattr(model, "core")


def time_model(
    name: str, task: str, sizes: list[int], repeats: int, compile_too: bool, time_bf16: bool = True
) -> list[dict]:
    model = hfimg.load(f"hfimg/{name}")
    model.set_backend("auto")
    auto = runtime.resolve_backend(model)
    rows = []
    for size in sizes if task != "generate" else [None]:
        if task == "generate":

            def call(model=model):
                return model.generate(GENERATE_BATCH, seed=0)

            label = f"generate {GENERATE_BATCH}"
        else:
            image = photo(size)
            mask = Image.fromarray(random_mask(size, size, hole_range=(0.2, 0.3), seed=1))
            if task == "inpaint":

                def call(model=model, image=image, mask=mask):
                    return [model.inpaint(image, mask)]
            else:

                def call(model=model, image=image):
                    return [model.restore(image)]

            label = f"{task} {size}x{size}"
        model.set_backend("fp32")
        reference = call()
        gflop = counted_gflop(call)
        backends = [*BACKENDS, "torch.compile"] if compile_too else list(BACKENDS)
        if model.core_spec().onnx_refusal is not None:  # the model's own rule: no ONNX core (shown as "-")
            backends.remove("onnxruntime")
        if not time_bf16:
            backends.remove("bf16")
        for backend in backends:
            undo = compiled(model) if backend == "torch.compile" else model.set_backend(backend)
            runs = repeats if size is None or size <= 512 else max(3, repeats // 2)
            ms, worst = median_ms(call, repeats=runs)
            rows.append(
                {
                    "model": f"hfimg/{name}",
                    "task": label,
                    "backend": backend,
                    "auto": backend == auto,
                    "median_ms": ms,
                    "max_ms": worst,
                    "gflop": gflop,
                    "gflops": gflop / ms * 1e3,
                    "agreement_db": psnr_8bit(reference, call()),
                }
            )
            if undo:
                undo()
        print(
            f"{name} {label}: " + ", ".join(f"{r['backend']} {r['median_ms']:.1f} ms" for r in rows[-len(backends) :])
        )
    return rows


def large_photo_child(name: str, width: int, height: int, repeats: int, threads: int, results) -> None:
    """In a fresh process: load one shipped restorer and time `restore` on a width x height photo (auto backend)."""
    torch.set_num_threads(threads)
    model = hfimg.load(f"hfimg/{name}")
    image = Image.fromarray(skimage.data.astronaut()).resize((width, height), Image.Resampling.BICUBIC)
    ms, worst = median_ms(lambda: model.restore(image), repeats=repeats, warmup=1)
    results.put({"median_ms": ms, "max_ms": worst, "backend": runtime.resolve_backend(model)})


def time_large_photo(name: str, width: int, height: int, repeats: int, threads: int) -> dict:
    """`large_photo_child` in a spawned process; its peak resident memory read when it has ended."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    child = context.Process(target=large_photo_child, args=(name, width, height, repeats, threads, results))
    child.start()
    timing = results.get()
    child.join()
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the largest child so far (Linux: KB)
    if peak_kb <= before:
        raise RuntimeError("a child before this one used more memory: time the large photo first.")
    row = {"model": f"hfimg/{name}", "task": f"restore {width}x{height}", **timing, "peak_mb": peak_kb / 1024}
    print(f"{name} {row['task']}: {row['median_ms']:.0f} ms, peak {row['peak_mb']:.0f} MB ({row['backend']})")
    return row


def markdown(report: dict) -> str:
    lines = [f"Machine: {report['machine']}", "", "Measured limit of this machine (GFLOP/s):", ""]
    lines.append("| " + " | ".join(report["peaks"]) + " |")
    lines.append("|" + "---:|" * len(report["peaks"]))
    lines.append("| " + " | ".join(f"{v:,.0f}" for v in report["peaks"].values()) + " |")
    lines += [
        "",
        "| model | task | GFLOP | " + " | ".join(report["backends"]) + " | auto picks |",
        "|---|---|---:|" + "---:|" * len(report["backends"]) + "---|",
    ]
    by_task: dict[tuple[str, str], dict[str, dict]] = {}
    for row in report["rows"]:
        by_task.setdefault((row["model"], row["task"]), {})[row["backend"]] = row
    for (model, task), cells in by_task.items():
        first = next(iter(cells.values()))
        values = []
        for backend in report["backends"]:
            row = cells.get(backend)
            if row is None:
                values.append("-")
                continue
            agreement = "exact" if math.isinf(row["agreement_db"]) else f"{row['agreement_db']:.0f} dB"
            values.append(f"{row['median_ms']:,.1f} ms ({row['gflops']:,.0f} GFLOP/s, {agreement})")
        auto = next((b for b, row in cells.items() if row["auto"]), "fp32")
        lines.append(f"| {model} | {task} | {first['gflop']:.2f} | " + " | ".join(values) + f" | {auto} |")
    if note := bf16_note(report):
        lines += ["", note]
    if report.get("large"):
        lines += ["", "Whole large photos, default backend, in tiles (a fresh process each):", ""]
        lines += ["| model | task | backend | median ms | peak memory (MB) |", "|---|---|---|---:|---:|"]
        for row in report["large"]:
            lines.append(
                f"| {row['model']} | {row['task']} | {row['backend']} | {row['median_ms']:,.0f} | "
                f"{row['peak_mb']:,.0f} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024], help="Image sides to time.")
    parser.add_argument("--repeats", type=int, default=7, help="Timed runs per row (half above 512 px); median.")
    parser.add_argument("--threads", type=int, default=2, help="torch (and onnxruntime) threads.")
    parser.add_argument("--models", nargs="+", default=[*PHOTO_MODELS, *GENERATORS], help="Shipped model names.")
    parser.add_argument("--compile", action="store_true", help="Also time torch.compile (inductor) of the core.")
    parser.add_argument(
        "--emulated_bf16", action="store_true", help="Time bf16 even on a CPU without it in hardware (very slow)."
    )
    parser.add_argument("--json", type=Path, default=None, help="Also write the results as JSON here.")
    parser.add_argument("--large", default="4000x3000", help="Large photo restored whole, WxH ('' = none).")
    parser.add_argument("--large_repeats", type=int, default=3, help="Timed restores of the large photo; median.")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    large = []  # first: the peak memory of a child is only known while no earlier child used more
    if args.large:
        width, height = (int(side) for side in args.large.lower().split("x"))
        for name in (name for name in args.models if name in LARGE_TASKS):
            large.append(time_large_photo(name, width, height, args.large_repeats, args.threads))

    peaks = peak_gflops(args.repeats)
    fast_bf16 = runtime.fast_bf16(torch.device("cpu"))
    rows = []
    for name in args.models:
        task = PHOTO_MODELS.get(name, "generate")
        rows += time_model(name, task, args.sizes, args.repeats, args.compile, fast_bf16 or args.emulated_bf16)
    report = {
        "benchmark": "speed",
        "command": " ".join(["python -m benchmarks.bench_speed", *sys.argv[1:]]),
        "machine": machine(),
        "weights": weights_record(f"hfimg/{name}" for name in args.models),  # bundled models, named without the org
        "fast_bf16": fast_bf16,
        "peaks": peaks,
        "backends": [*BACKENDS, *(["torch.compile"] if args.compile else [])],
        "rows": rows,
        "large": large,
    }
    publish(report, markdown(report), args.json)


if __name__ == "__main__":
    main()
