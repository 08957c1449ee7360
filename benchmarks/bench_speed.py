"""Inference speed of each model family at its default config on this machine.

    python -m benchmarks.bench_speed [--sizes 256 512] [--repeats 7]

Reports the median (and max) milliseconds to inpaint / denoise one image at each size through the PIL API (what a
user calls, conversion and compositing included), and to generate 64 images. Weights are random: speed does not
depend on them.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from PIL import Image

import hfimg
from benchmarks.common import machine, median_ms
from hfimg.masks import random_mask


def photo(size: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512], help="Image sides to time.")
    parser.add_argument("--repeats", type=int, default=7, help="Timed runs per row; the median is reported.")
    args = parser.parse_args()
    torch.manual_seed(0)

    rows: list[tuple[str, str, int, float, float]] = []
    for name in ("inpaint-cnn", "inpaint-rcnn"):
        model = hfimg.create_model(name).eval()
        for size in args.sizes:
            image = photo(size)
            mask = Image.fromarray(random_mask(size, size, hole_range=(0.2, 0.3), seed=1))
            p50, worst = median_ms(lambda m=model, i=image, k=mask: m.inpaint(i, k), repeats=args.repeats)
            rows.append((name, f"inpaint {size}x{size}", model.num_parameters(), p50, worst))
    denoiser = hfimg.create_model("denoise-cnn").eval()
    for size in args.sizes:
        image = photo(size)
        p50, worst = median_ms(lambda i=image: denoiser.restore(i), repeats=args.repeats)
        rows.append(("denoise-cnn", f"restore {size}x{size}", denoiser.num_parameters(), p50, worst))
    for label, kwargs in (
        ("32x32 grey (Fashion-MNIST config)", {"resolution": 32, "channels": 1}),
        ("64x64 RGB (default config)", {}),
    ):
        for name in ("dcgan", "vae"):
            model = hfimg.create_model(name, **kwargs).eval()
            p50, worst = median_ms(lambda m=model: m.generate(64, seed=0), repeats=args.repeats)
            rows.append((name, f"generate 64, {label}", model.num_parameters(), p50, worst))

    print(f"Machine: {machine()}\n")
    print("| model | task | parameters | median ms | max ms |")
    print("|---|---|---:|---:|---:|")
    for name, task, params, p50, worst in rows:
        print(f"| {name} | {task} | {params:,} | {p50:.1f} | {worst:.1f} |")


if __name__ == "__main__":
    main()
