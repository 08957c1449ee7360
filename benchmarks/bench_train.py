"""Training speed per model family: the Trainer next to a bare PyTorch loop of the same model and batch.

For each family, on a CPU-sized configuration:

* bare loop: the family's losses (its objective's `training_step`) with plain `loss.backward()`,
  `optimizer.step()`, `optimizer.zero_grad()` on one batch held in memory: no accelerate, no EMA, no checks;
* Trainer, same batch in memory: everything train.py does per step (accelerate wrappers, gradient-accumulation
  context, NaN/inf check, EMA, loss logging), without data loading;
* Trainer + ImageStream: the same with the images streamed and decoded from a folder of PNG files, as in a run.

Rates are images per second over `--steps` optimizer steps after a warm-up, the fastest of `--repeats` runs
(the runs are interleaved, so a busy spell on a shared machine hits all three alike); the overhead is also given
in CPU time of this process, which other processes disturb less than wall-clock time. Also reported:
FLOPs per training step (forward + backward, `torch.utils.flop_counter.FlopCounterMode`) and the FLOP/s the
Trainer achieves, against the FLOP/s of a large float32 matmul measured in the same run (the practical peak).

With `--precisions`, a second table instead: the bare loop's training step per numeric setting, to decide where
the Trainer's bf16 runs on CPU put the model in channels_last (each family's `channels_last_bf16` training default):

* `fp32`: no autocast;
* `bf16`: the model's (and discriminator's) forward under `torch.autocast("cpu", dtype=torch.bfloat16)` with
  float32 outputs, as accelerate's `prepare` wraps it for `--mixed_precision bf16`;
* `bf16-cl`: the same with the networks converted by `.to(memory_format=torch.channels_last)` (the inputs stay
  NCHW; a convolution with channels_last weights gives channels_last outputs).

Each setting gets its own loop (same seed, same batch); after a warm-up the settings take turns, `--steps` steps
each, `--repeats` times; every step is timed on its own and the median step (and the quartiles) is reported. The
losses of bf16 and bf16-cl over the first 5 steps from the same seed are compared too (largest difference relative
to bf16).

Usage:
    python benchmarks/bench_train.py                    # all families, markdown table to stdout
    python benchmarks/bench_train.py --families dcgan --steps 20 --repeats 5
    python benchmarks/bench_train.py --precisions fp32 bf16 bf16-cl --steps 10 --repeats 5
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import itertools
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from accelerate.state import AcceleratorState, GradientState
from accelerate.utils import convert_outputs_to_fp32
from PIL import Image
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine  # noqa: E402

from hfimg.data import ImageStream  # noqa: E402
from hfimg.registry import model_class  # noqa: E402
from hfimg.training import Trainer, TrainingConfig, build_model, objectives, parse_args, trainable_models  # noqa: E402

# CPU-sized settings: the Fashion-MNIST generators at 32 px grey, the restoration models on RGB crops.
CONFIGS = {
    "dcgan": (32, ["--resolution", "32", "--channels", "1", "--base_channels", "32", "--latent_dim", "64"]),
    "vae": (32, ["--resolution", "32", "--channels", "1"]),
    "inpaint-cnn": (8, ["--resolution", "64", "--base_channels", "16"]),
    "inpaint-rcnn": (8, ["--resolution", "64", "--base_channels", "16", "--iterations", "3"]),
    "denoise-cnn": (16, ["--resolution", "40", "--features", "32", "--depth", "10"]),
}


def make_corpus(folder: Path, count: int = 400, size: int = 72) -> Path:
    """`count` smooth random RGB PNG images of `size` px: decoding cost like small photos."""
    rng = np.random.default_rng(0)
    for i in range(count):
        coarse = rng.integers(0, 256, (9, 9, 3), dtype=np.uint8)
        Image.fromarray(coarse).resize((size, size), Image.Resampling.BICUBIC).save(folder / f"{i:03d}.png")
    return folder


def run_config(family: str, corpus: Path, output_dir: Path, steps: int) -> TrainingConfig:
    # A family without CPU-sized settings here is measured at its own tiny config (`register_model(tiny=...)`).
    tiny = (8, ["--resolution", "32", "--model_kwargs", json.dumps(model_class(family).tiny_config)])
    batch, extra = CONFIGS.get(family, tiny)
    return parse_args(
        [
            "--model", family, "--dataset", str(corpus), "--output_dir", str(output_dir),
            "--train_batch_size", str(batch), "--max_train_steps", str(steps), "--shuffle_buffer", "64",
            "--checkpointing_steps", "0", "--sample_steps", "0", "--report_to", "none", *extra,
        ]
    )  # fmt: skip


def reset_accelerate() -> None:
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()


def fixed_batch(config: TrainingConfig) -> dict[str, torch.Tensor]:
    channels = build_model(config).channels
    stream = ImageStream(config.dataset, resolution=config.resolution, channels=channels, shuffle_buffer=0)
    samples = list(itertools.islice(stream, config.train_batch_size))
    return {
        "image": torch.stack([s["image"] for s in samples]),
        "label": torch.tensor([s["label"] for s in samples]),
    }


PRECISIONS = ("fp32", "bf16", "bf16-cl")


def bf16_autocast(module: torch.nn.Module) -> None:
    """Wrap `module.forward` as accelerate's `prepare` does for `mixed_precision="bf16"` on CPU."""
    module.forward = convert_outputs_to_fp32(torch.autocast("cpu", dtype=torch.bfloat16)(module.forward))


class BareLoop:
    """The family's losses with plain PyTorch: backward, step, zero_grad; no accelerate.

    `precision` (one of PRECISIONS): "bf16" wraps the networks' forward in bf16 autocast, "bf16-cl" also converts
    them to channels_last first.
    """

    def __init__(self, config: TrainingConfig, batch: dict[str, torch.Tensor], precision: str = "fp32"):
        torch.manual_seed(0)
        self.objective = objectives()[config.model](build_model(config), config)
        networks = [self.objective.model]
        if getattr(self.objective, "discriminator", None) is not None:
            self.objective.d_plain = self.objective.discriminator
            networks.append(self.objective.discriminator)
        for network in networks:
            if precision == "bf16-cl":
                network.to(memory_format=torch.channels_last)
            if precision in ("bf16", "bf16-cl"):
                bf16_autocast(network)
        self.batch = batch
        self.step = 0
        self.losses: list[dict[str, float]] = []

    @staticmethod
    def apply(loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> bool:
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return True

    def run(self, steps: int, record: bool = False) -> None:
        for _ in range(steps):
            losses = self.objective.training_step(self.batch, self.step, self.apply)
            if record:
                self.losses.append({name: float(value) for name, value in losses.items()})
            self.step += 1


class Clock:
    """Wall and CPU seconds between `start()` and `stop()`."""

    def start(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def stop(self) -> tuple[float, float]:
        return time.perf_counter() - self.wall, time.process_time() - self.cpu


def time_bare(args, batch, warmup: int, steps: int) -> tuple[float, float]:
    loop = BareLoop(args, batch)
    loop.run(warmup)
    clock = Clock()
    clock.start()
    loop.run(steps)
    return clock.stop()


def time_trainer(args, batch: dict[str, torch.Tensor] | None, warmup: int, steps: int) -> tuple[float, float]:
    """Wall and CPU seconds of `steps` Trainer steps after `warmup` steps (the loop only: not setup, not saving)."""
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(dataclasses.replace(args, output_dir=out, max_train_steps=warmup + steps))
        if batch is not None:
            trainer.batches = itertools.repeat(batch)
        clock, fetch, save = Clock(), trainer._next_batch, trainer._save_final
        calls = itertools.count()
        result = []

        def next_batch():  # the clock starts when the first timed step fetches its batch...
            if next(calls) == warmup:
                clock.start()
            return fetch()

        def save_final():  # ...and stops when the loop is over
            result.append(clock.stop())
            save()

        trainer._next_batch, trainer._save_final = next_batch, save_final
        trainer.train()
    reset_accelerate()
    return result[0]


def flops_per_step(args, batch) -> int:
    loop = BareLoop(args, batch)
    with FlopCounterMode(display=False) as counter:
        loop.run(1)
    return counter.get_total_flops()


def matmul_peak(size: int = 1024, seconds: float = 2.0) -> float:
    """Best FLOP/s of a float32 (size x size) @ (size x size) matmul over ~`seconds`."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    best, stop = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < stop:
        start = time.perf_counter()
        a @ b
        best = max(best, 2 * size**3 / (time.perf_counter() - start))
    return best


def loss_difference(args, batch, steps: int = 5) -> tuple[float, bool]:
    """Largest |bf16-cl loss - bf16 loss| / |bf16 loss| over the first `steps` steps from the same seed, and
    whether every bf16-cl loss is finite."""
    recorded = []
    for precision in ("bf16", "bf16-cl"):
        loop = BareLoop(args, batch, precision)
        torch.manual_seed(1)  # the same noise, masks and codes in both runs
        loop.run(steps, record=True)
        recorded.append(loop.losses)
    reference, channels_last = recorded
    worst = max(
        abs(b[name] - a[name]) / max(abs(a[name]), 1e-12)
        for a, b in zip(reference, channels_last, strict=True)
        for name in a
    )
    finite = all(np.isfinite(value) for losses in channels_last for value in losses.values())
    return worst, finite


def family_setups(options: argparse.Namespace) -> Iterator[tuple[str, TrainingConfig, dict[str, torch.Tensor]]]:
    """For each family: its run arguments and one batch held in memory, from a temporary corpus of small PNGs."""
    with tempfile.TemporaryDirectory() as corpus_dir:
        corpus = make_corpus(Path(corpus_dir))
        for family in options.families:
            args = run_config(family, corpus, Path(corpus_dir) / "unused", options.warmup + options.steps)
            yield family, args, fixed_batch(args)


def precision_table(options: argparse.Namespace) -> None:
    """Bare-loop training step per numeric setting (see the module docstring); markdown table to stdout."""
    rows = []
    for family, args, batch in family_setups(options):
        loops = {precision: BareLoop(args, batch, precision) for precision in options.precisions}
        for loop in loops.values():
            loop.run(options.warmup)
        times: dict[str, list[float]] = {precision: [] for precision in options.precisions}
        # Interleaved, so a busy spell hits every setting alike; each step timed alone, so the median ignores
        # the steps a competing process slowed (on 2 cores, one busy core can slow a 2-thread step many times).
        for _ in range(options.repeats):
            for precision, loop in loops.items():
                for _ in range(options.steps):
                    start = time.perf_counter()
                    loop.run(1)
                    times[precision].append(time.perf_counter() - start)
        check = ""
        if {"bf16", "bf16-cl"} <= set(options.precisions):
            worst, finite = loss_difference(args, batch)
            check = (
                f"bf16-cl losses {'finite' if finite else 'NOT FINITE'}, max rel. difference to bf16 "
                f"{100 * worst:.2f}% over 5 steps"
            )
        reference = statistics.median(times[options.precisions[0]])
        for precision in options.precisions:
            step = statistics.median(times[precision])
            low, _, high = statistics.quantiles(times[precision], n=4)
            rows.append(
                f"| {family} | {precision} | {args.train_batch_size / step:.1f} | {1000 * step:.1f} | "
                f"{1000 * low:.1f}-{1000 * high:.1f} | "
                f"{reference / step:.2f}x | {check if precision == 'bf16-cl' else ''} |"
            )
            print(rows[-1], file=sys.stderr, flush=True)

    load = os.getloadavg()
    print(
        f"Training step per numeric setting (bare loop, batch in memory), {machine()}; {options.steps} steps x "
        f"{options.repeats} interleaved turns per setting, each step timed, after {options.warmup} warm-up steps; "
        f"load average {', '.join(f'{x:.1f}' for x in load)} at the end.\n"
    )
    print(
        "| family | setting | images/s (median) | ms/step (median) | ms/step (quartiles) | "
        f"vs {options.precisions[0]} | loss check |"
    )
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--families", nargs="+", default=trainable_models(), help="families to measure")
    parser.add_argument("--steps", type=int, default=15, help="timed optimizer steps per measurement")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--repeats", type=int, default=3, help="measurements per row (median is reported)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (the reference machine's cores)")
    parser.add_argument(
        "--precisions",
        nargs="+",
        choices=PRECISIONS,
        help="instead of the Trainer table: the bare loop in each of these numeric settings (median ms per step)",
    )
    options = parser.parse_args()
    torch.set_num_threads(options.threads)
    torch.set_flush_denormal(True)  # as the Trainer does on CPU, so the bare loop does the same arithmetic
    logging.disable(logging.WARNING)  # keep the table readable
    if options.precisions:
        precision_table(options)
        return

    peak = matmul_peak()
    rows = []
    for family, args, batch in family_setups(options):
        reset_accelerate()
        flops = flops_per_step(args, batch)
        bare, memory, streamed = [], [], []
        with contextlib.redirect_stderr(io.StringIO()):  # progress bars
            for _ in range(options.repeats):
                bare.append(time_bare(args, batch, options.warmup, options.steps))
                memory.append(time_trainer(args, batch, options.warmup, options.steps))
                streamed.append(time_trainer(args, None, options.warmup, options.steps))
        images = options.steps * args.train_batch_size
        # Fastest of the repeats (least disturbed by other processes), by wall clock and by CPU time.
        bare_rate, memory_rate, stream_rate = (images / min(t[0] for t in ts) for ts in (bare, memory, streamed))
        bare_cpu, memory_cpu = (min(t[1] for t in ts) for ts in (bare, memory))
        achieved = flops * memory_rate / args.train_batch_size
        params = build_model(args).num_parameters()
        rows.append(
            f"| {family} | {args.resolution} px, {params / 1e6:.2f}M params | {args.train_batch_size} | "
            f"{bare_rate:.1f} | {memory_rate:.1f} | {100 * (bare_rate / memory_rate - 1):+.1f}% | "
            f"{100 * (memory_cpu / bare_cpu - 1):+.1f}% | "
            f"{stream_rate:.1f} | {flops / 1e9:.2f} | {achieved / 1e9:.1f} | {100 * achieved / peak:.0f}% |"
        )
        print(rows[-1], file=sys.stderr, flush=True)

    load = os.getloadavg()
    busy = " (above the core count: other processes competed for the CPU)" if load[0] > os.cpu_count() else ""
    print(
        f"Training speed, {machine()}; matmul peak {peak / 1e9:.1f} GFLOP/s (float32, 1024x1024); load average "
        f"{', '.join(f'{x:.1f}' for x in load)} at the end{busy}.\n"
    )
    print(
        "| family | model | batch | bare loop img/s | Trainer img/s | Trainer overhead (wall) | (CPU time) | "
        "Trainer + ImageStream img/s | GFLOP/step | Trainer GFLOP/s | of matmul peak |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
