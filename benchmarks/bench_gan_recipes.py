"""DCGAN recipes at equal CPU time: the vanilla PyTorch-examples recipe, the first hfimg recipe, and an ablation.

    python -m benchmarks.bench_gan_recipes --minutes 7 [--rows vanilla-64 vanilla-32 ...] [--jobs 2]
        [--runs_dir runs/gan-recipes] [--json benchmarks/results/gan_recipes.json]

Every row is one `train.py` run on Fashion-MNIST, stopped by `--max_train_minutes` (the same wall-clock budget for
every row, one CPU thread each, `--jobs` rows side by side), then judged by `benchmarks/judging.py`'s
measurements at every checkpoint (a learning curve: FID under each judge against training minutes) and, at the
end, with its two-sample test too. A row whose run folder already holds a finished model is not trained again;
one that was stopped is resumed (`--resume_from_checkpoint latest`), and a larger `--minutes` continues a finished
row from its last checkpoint: a longer budget for chosen rows costs only the extra minutes.

The rows:

* `vanilla-64`: the DCGAN of the PyTorch examples (ngf = ndf = 64, BatchNorm in both networks, BCE, Adam 2e-4 /
  (0.5, 0.999), batch 128, 28 px zero-padded to 32, no flips, no EMA);
* `vanilla-32`: the same at half the width (a quarter of the compute per image);
* one row per change to `vanilla-32`: `+ema` (EMA of the generator, decay 0.999, with averaged BatchNorm
  statistics), `+flips`, `resize` (28 px enlarged to 32 with bicubic instead of framed), `spectral` (spectral norm
  instead of BatchNorm in the discriminator), `batch-64`, `hinge` (hinge instead of the non-saturating loss);
* `hfimg-v1`: the recipe of the first shipped model (ngf = ndf = 64, spectral-norm discriminator, batch 64,
  resize, flips, EMA 0.999);
* `hfimg-v2`: the recipe chosen from the ablation (see RESULTS.md);
* `hfimg-v3`: `hfimg-v2` without flips, the bundled recipe. Fashion-MNIST's shoes and bags point one way; a
  generator trained on mirrored copies draws them both ways (judges trained with flips did not see it).

Before measuring, the judges are checked as in bench_generation: one that does not put the mirrored training images
far from the test images is not used (`judging.Panel.check`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

from benchmarks import judging
from benchmarks.common import command_line, load_model, machine, publish, weights_record
from benchmarks.reports import FIGURES_COLUMNS, GanRecipesReport, judge_check_table

VANILLA = {
    "base_channels": "64",
    "model_kwargs": '{"padding": 2}',
    "crop": "pad",
    "disc_norm": "batch",
    "train_batch_size": "128",
    "ema_decay": "0",
    "gan_loss": "bce",
}
HALF = {**VANILLA, "base_channels": "32"}
RESIZED = {"model_kwargs": "{}", "crop": "center"}
ROWS: dict[str, dict[str, str | None]] = {
    "vanilla-64": VANILLA,
    "vanilla-32": HALF,
    "+ema": {**HALF, "ema_decay": "0.999"},
    "+flips": {**HALF, "random_flip": None},
    "resize": {**HALF, **RESIZED},
    "spectral": {**HALF, "disc_norm": "spectral"},
    "batch-64": {**HALF, "train_batch_size": "64"},
    "hinge": {**HALF, "gan_loss": "hinge"},
    "hfimg-v1": {
        **VANILLA,
        **RESIZED,
        "disc_norm": "spectral",
        "train_batch_size": "64",
        "ema_decay": "0.999",
        "random_flip": None,
    },
    # Every change that helped at 7 minutes (EMA, flips, batch 64), at the width that learns faster per CPU-second;
    # framed 28 px images (not resize, which looked as good at 7 minutes but cannot beat the resize round trip).
    "hfimg-v2": {**HALF, "ema_decay": "0.999", "random_flip": None, "train_batch_size": "64"},
    # hfimg-v2 without flips: a mirrored shoe is not a Fashion-MNIST shoe (the flips row of the ablation looked
    # better only to judges that had themselves been trained with flips).
    "hfimg-v3": {**HALF, "ema_decay": "0.999", "train_batch_size": "64"},
}
HEADLINE = ["vanilla-64", "hfimg-v3"]  # the default comparison: the PyTorch-examples recipe against the bundled one
ROOT = Path(__file__).resolve().parents[1]
COMMON = {
    "model": "dcgan",
    "dataset": "fashion_mnist",
    "resolution": "32",
    "channels": "1",
    "latent_dim": "100",
    "learning_rate": "2e-4",
    "adam_beta1": "0.5",
    "adam_beta2": "0.999",
    "shuffle_buffer": "10000",
    "seed": "0",
    "max_train_steps": "1000000",
    "sample_steps": "0",
    "logging_steps": "50",
}


def train_command(row: str, args: argparse.Namespace) -> list[str]:
    """The train.py command line of a row."""
    flags = {**COMMON, **ROWS[row], "checkpointing_steps": str(args.checkpointing_steps)}
    flags |= {"output_dir": str(args.runs_dir / row), "max_train_minutes": str(args.minutes)}
    command = [sys.executable, str(ROOT / "train.py")]
    for flag, value in flags.items():
        command += [f"--{flag}"] if value is None else [f"--{flag}", value]
    return [*command, "--resume_from_checkpoint", "latest"]


def trained_minutes(folder: Path) -> float:
    """Training minutes of a run folder's newest checkpoint (0 if none)."""
    states = [json.loads(path.read_text()) for path in folder.glob("checkpoint-*/trainer_state.json")]
    return max((state.get("train_seconds", 0.0) / 60 for state in states), default=0.0)


def train(rows: list[str], args: argparse.Namespace) -> None:
    """Run the rows' trainings, `--jobs` at a time, one thread each; rows already trained that long are skipped."""
    pending = [row for row in rows if trained_minutes(args.runs_dir / row) < args.minutes - 0.05]
    running: dict[str, subprocess.Popen] = {}
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    while pending or running:
        while pending and len(running) < args.jobs:
            row = pending.pop(0)
            (args.runs_dir / row).mkdir(parents=True, exist_ok=True)
            log = open(args.runs_dir / f"{row}.log", "a")  # noqa: SIM115 - closed with the process below
            print(f"training {row} to {args.minutes} minutes", flush=True)
            running[row] = subprocess.Popen(train_command(row, args), stdout=log, stderr=subprocess.STDOUT, env=env)
        time.sleep(5)
        for row, process in list(running.items()):
            if process.poll() is not None:
                del running[row]
                if process.returncode != 0:
                    raise RuntimeError(f"training {row} failed (exit {process.returncode}); see {row}.log")


def checkpoints_within(folder: Path, minutes: float) -> list[tuple[Path, dict]]:
    """(checkpoint, trainer state) of a run folder, oldest first, up to `minutes` of training (a run stopped by a
    budget saves a checkpoint where it stops, so a row continued past the budget is still measured at it)."""
    found = []
    for checkpoint in sorted(folder.glob("checkpoint-*"), key=lambda path: int(path.name.split("-")[1])):
        state = json.loads((checkpoint / "trainer_state.json").read_text())
        found.append((checkpoint, state))
        if state.get("train_seconds", 0.0) >= 60 * minutes:  # the checkpoint the budget stopped it at
            break
    if not found:
        raise FileNotFoundError(f"{folder} has no checkpoint within {minutes} minutes of training.")
    return found


def curve(row: str, args: argparse.Namespace, panel: judging.Panel) -> list[dict]:
    """FID under each judge at every checkpoint of a row (its saved model), oldest first, from `--curve_samples`
    samples against as many test images."""
    points = []
    for checkpoint, state in checkpoints_within(args.runs_dir / row, args.minutes):
        model = load_model(str(checkpoint / "model"))
        fids = panel.fids(judging.as_tensor(judging.samples(model, args.curve_samples)))
        points.append({"step": state["step"], "minutes": state["train_seconds"] / 60, "judges": fids})
    return points


def markdown(report: dict) -> str:
    typed = GanRecipesReport.from_dict(report)
    judges, short = typed.judges, typed.short_judges
    lines = [
        f"Machine: {typed.machine}",
        "",
        f"Each row: `train.py` for {typed.minutes:g} minutes of one CPU thread ({typed.jobs} rows side by "
        f"side), then {typed.num_samples:,} samples of the model as it was saved at that budget against as many "
        "test images (bench_generation's measures, benchmarks/judging.py).",
        "",
        "| recipe | steps | images | "
        + " | ".join(f"FID {name}" for name in short)
        + " | "
        + " | ".join(FIGURES_COLUMNS)
        + " |",
        "|---|---:|---:|" + "---:|" * (len(short) + len(FIGURES_COLUMNS)),
    ]
    for row in typed.rows:
        lines.append(
            f"| {row.name} | {row.steps:,} | {row.images:,} | " + " | ".join(row.final.cells(judges, 1)) + " |"
        )
    lines += judge_check_table(typed.judge_check, typed.num_samples)
    lines += [
        "",
        f"Learning curves (FID {short[-1]} of {typed.curve_samples:,} samples at each checkpoint, minutes of "
        "training in brackets):",
        "",
    ]
    for row in typed.rows:
        if row.curve:
            points = ", ".join(f"{p.judges[judges[-1]]:.1f} ({p.minutes:.1f})" for p in row.curve)
            lines.append(f"- {row.name}: {points}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", nargs="+", choices=list(ROWS), default=HEADLINE, help="Recipes to run.")
    parser.add_argument("--minutes", type=float, default=7.0, help="Training minutes per row (one thread).")
    parser.add_argument("--jobs", type=int, default=2, help="Rows trained side by side.")
    parser.add_argument("--checkpointing_steps", type=int, default=200, help="Checkpoint (curve point) interval.")
    parser.add_argument("--runs_dir", type=Path, default=Path("runs/gan-recipes"), help="Run folders and logs.")
    parser.add_argument("--num_samples", type=int, default=5000, help="Samples (and test images) per measurement.")
    parser.add_argument(
        "--curve_samples", type=int, default=2000, help="Samples per learning-curve point (biased low, comparable)."
    )
    parser.add_argument("--two_sample_steps", type=int, default=500, help="Steps of each two-sample-test network.")
    parser.add_argument("--judges", nargs="+", default=judging.JUDGES, help="As in judging.")
    parser.add_argument("--curves", nargs="+", default=None, help="Rows with a learning curve (default: all).")
    judging.add_panel_arguments(parser)
    parser.add_argument("--threads", type=int, default=None, help="torch threads of the measurements.")
    parser.add_argument("--train_only", action="store_true", help="Train, measure nothing.")
    parser.add_argument("--json", type=Path, default=None, help="Also write the results to this JSON file.")
    args = parser.parse_args(argv)
    if args.curve_samples > args.num_samples:  # refused before any training, not after it
        parser.error("--curve_samples must not exceed --num_samples (the test images the curves are measured on).")
    train(args.rows, args)
    if args.train_only:
        return {}

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    judges = {judge_id: load_model(judge_id).eval() for judge_id in args.judges}
    test = judging.as_tensor(judging.real_images("test", args.num_samples))
    panel = judging.Panel(judges, test, args.two_sample_steps, args.two_sample_seeds, args.mirror_factor)
    train_images = judging.real_images("train", args.num_samples)
    judge_check = panel.check(judging.as_tensor(train_images), judging.as_tensor(judging.mirrored(train_images)))
    rows = []
    for row in args.rows:
        folder = args.runs_dir / row
        run = json.loads((folder / "hfimg_run.json").read_text())["args"]
        checkpoint, state = checkpoints_within(folder, args.minutes)[-1]  # where the budget stopped it
        model = load_model(str(checkpoint / "model"))
        images = judging.as_tensor(judging.samples(model, args.num_samples))
        final = panel.measure(images)
        rows.append(
            {
                "name": row,
                "model": str(checkpoint / "model"),  # the saved model measured: where the budget stopped the row
                "flags": ROWS[row],
                "steps": state["step"],
                "images": state["step"] * int(run["train_batch_size"]),
                "minutes": state["train_seconds"] / 60,
                "parameters": model.num_parameters(),
                "final": final,
                "curve": curve(row, args, panel) if row in (args.curves or args.rows) else [],
            }
        )
        print(f"measured {row}", flush=True)
    report = {
        "benchmark": "gan_recipes",
        "machine": machine(),
        "command": command_line("benchmarks.bench_gan_recipes", argv),
        "weights": weights_record([*panel.judges, *(row["model"] for row in rows)]),
        "minutes": args.minutes,
        "jobs": args.jobs,
        "num_samples": args.num_samples,
        "curve_samples": args.curve_samples,
        "judges": list(panel.judges),
        "common_flags": COMMON,
        "two_sample_seeds": args.two_sample_seeds,
        "judge_check": judge_check,
        "rows": rows,
    }
    return publish(report, markdown(report), args.json)


if __name__ == "__main__":
    main()
