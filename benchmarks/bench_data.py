"""How many training images per second the data stream delivers, to set beside the training step rates.

Each row streams a corpus through `ImageStream` and a `DataLoader` (as the trainers use them) for a few seconds
after a warm-up, with torch limited to 2 threads (the reference machine has 2 cores), and prints a markdown table.
Also timed: `random_masks`, which inpainting trainers call once per batch.

Usage:
    python benchmarks/bench_data.py                      # fashion_mnist + data/photos (scripts/build_photo_corpus.py)
    python benchmarks/bench_data.py --seconds 20 --workers 0 2
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch

from hfimg.data import ImageStream
from hfimg.masks import random_masks


def images_per_second(stream: ImageStream, batch_size: int, workers: int, seconds: float) -> tuple[float, float]:
    """(images per wall-clock second, images per CPU-second of this process) after a warm-up.

    The CPU-second rate is what one free core would deliver: on a shared machine it is the steadier figure.
    With workers the decoding happens in other processes, so only the wall-clock rate means something.
    """
    loader = torch.utils.data.DataLoader(stream, batch_size=batch_size, num_workers=workers)
    batches = iter(loader)
    for _ in range(2):  # warm-up: opening files, filling the shuffle buffer, starting workers
        next(batches)
    count, start, cpu_start = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - start < seconds:
        count += len(next(batches)["image"])
    return count / (time.perf_counter() - start), count / (time.process_time() - cpu_start)


def masks_per_second(size: int, batch_size: int, seconds: float) -> tuple[float, float]:
    generator = torch.Generator().manual_seed(0)
    count, start, cpu_start = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - start < seconds:
        count += len(random_masks(batch_size, size, size, generator=generator))
    return count / (time.perf_counter() - start), count / (time.process_time() - cpu_start)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", default="data/photos", help="photo corpus folder (build_photo_corpus.py)")
    parser.add_argument("--seconds", type=float, default=10.0, help="measuring time per row")
    parser.add_argument("--workers", type=int, nargs="+", default=[0], help="DataLoader num_workers to try")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (the reference machine's cores)")
    return parser.parse_args()


def main(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    cases = [  # (corpus, stream options, batch size, what it feeds)
        ("fashion_mnist", {"resolution": 32, "channels": 1, "flip": True}, 128, "DCGAN / VAE at 32x32"),
    ]
    if Path(args.photos).is_dir():
        for resolution, batch_size, crops in ((256, 16, 1), (256, 16, 4), (64, 32, 1), (64, 32, 16)):
            options = {"resolution": resolution, "channels": 3, "crop": "random", "flip": True, "shuffle_buffer": 64}
            options["crops_per_image"] = crops
            cases.append((args.photos, options, batch_size, f"restoration crops {resolution}x{resolution}"))
    else:
        print(f"(no photo corpus at {args.photos}: run scripts/build_photo_corpus.py for the photo rows)\n")

    print(f"load average at start: {os.getloadavg()[0]:.1f}, torch threads: {args.threads}\n")
    print(
        "| corpus | resolution | channels | crop | crops/image | batch | workers | images/s | images/CPU-s | feeds |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for source, options, batch_size, feeds in cases:
        for workers in args.workers:
            stream = ImageStream(source, **options)
            rate, cpu_rate = images_per_second(stream, batch_size, workers, args.seconds)
            cpu_column = f"{cpu_rate:,.0f}" if workers == 0 else "-"
            size = options["resolution"]
            crop = options.get("crop", "center") + (" + flip" if options.get("flip") else "")
            print(
                f"| {Path(source).name} | {size}x{size} | {options['channels']} | {crop} "
                f"| {options.get('crops_per_image', 1)} | {batch_size} | {workers} | {rate:,.0f} | {cpu_column} "
                f"| {feeds} |"
            )
    for size, batch_size in ((256, 16), (64, 32)):
        rate, cpu_rate = masks_per_second(size, batch_size, args.seconds)
        print(
            f"| random_masks (mixed) | {size}x{size} | 1 | - | - | {batch_size} | 0 | {rate:,.0f} | {cpu_rate:,.0f} "
            f"| inpainting holes |"
        )


if __name__ == "__main__":
    main(parse_args())
