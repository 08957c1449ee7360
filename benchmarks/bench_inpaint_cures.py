"""Cures for a photo inpainter whose network does not learn, compared at equal CPU time on the same data.

    python -m benchmarks.bench_inpaint_cures --minutes 8 --runs ~/hfimg-runs/cures \
        [--variants default-init open-gates ...] [--json benchmarks/results/inpaint_cures.json]

Every variant is an InpaintCNN of the shipped size (3.2M parameters, base 32, depth 4, pull-push start unless said),
trained from scratch by `train.py` on `data/photos` for the same `--minutes` of one thread (`OMP_NUM_THREADS=1`,
bf16 where the CPU has it natively, else fp32), 128 px random crops, batch 8, Adam at a constant 2e-4, seed 0. Each
variant differs from `open-gates` (or the one before it) in one respect:

* `default-init`: the gated convolutions as PyTorch initialises a Conv2d (uniform, gates at 0.5): the network of the
  first shipped inpainters, L1 loss;
* `open-gates`: He-normal features and open gates (bias +2), the project's init since (`hfimg.layers.GatedConv2d`);
* `sobel`: plus the Sobel-gradient loss in the hole (`--gradient_weight 1`), which asks for edges and texture;
* `patch-gan`: plus a PatchGAN with feature matching (`--adv_kind patch --adv_weight 0.05`), LaMa's recipe;
* `pixels`: open gates and L1, but predicting the pixels from the zeroed hole (`coarse_fill=False`) instead of a
  correction to the pull-push fill;
* `plain-decoder`: open gates in the encoder and bottleneck, a decoder of plain convolutions (`gates="encoder"`):
  the layer next to the output can no longer shut it by closing its gates, which is how `open-gates` died;
* `simple-gate`: NAFNet's SimpleGate after a LayerNorm in every layer (`gates="simple"`), no sigmoid to saturate;
* `simple-gate-sobel`: that, plus the Sobel-gradient loss;
* `plain-decoder-texture`: the plain decoder correcting a textured start: pull-push plus the photo's own detail
  copied into the hole (`texture=True`, `hfimg.texture`), so the network starts from a fill with detail;
* `blend`: the plain decoder given three classical fills (pull-push, OpenCV Navier-Stokes, pull-push + texture
  transfer: `blend=True`, `hfimg.classical.blend_fills`), weighing them pixel by pixel and correcting the blend; it
  starts from their plain average, the classical method `blend`;
* `blend-slim`: the same at a quarter of the compute (base 16, 0.8M parameters): more steps in the same minutes;
* `blend-slim-l2`: that, trained with the L2 loss PSNR measures instead of L1;
* `blend-slim-ema`, `blend-slim-l2-ema`: those at half the learning rate (1e-4), scored on an exponential moving
  average of the weights (decay 0.999), as the denoiser ships.

Then each trained model is scored by `benchmarks.bench_inpainting` on the validation photos next to the fills the
variants start from (pull-push; the blend) (same crops, masks and metrics), and its run's last gradient health
(`health.jsonl`: the share of parameter tensors without gradient, the lowest mean gate) is read.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import torch

from benchmarks import bench_inpainting
from benchmarks.bench_health import pytorch_default_init
from benchmarks.common import command_line, machine, publish, weights_record
from hfimg.registry import create_model
from hfimg.runtime import fast_bf16
from hfimg.training.trainer import HEALTH_LOG

ROOT = Path(__file__).resolve().parents[1]


# name -> (model kwargs, what to do to the fresh model, extra train.py flags)
Variant = tuple[dict, Callable[[torch.nn.Module], None] | None, list[str]]
# The blending design at a quarter of the width, which the last variants share.
SLIM_BLEND = {"gates": "encoder", "blend": True, "base_channels": 16}
VARIANTS: dict[str, Variant] = {
    "default-init": ({}, pytorch_default_init, []),
    "open-gates": ({}, None, []),
    "sobel": ({}, None, ["--gradient_weight", "1"]),
    "patch-gan": ({}, None, ["--gradient_weight", "1", "--adv_kind", "patch", "--adv_weight", "0.05"]),
    "pixels": ({"coarse_fill": False}, None, []),
    "plain-decoder": ({"gates": "encoder"}, None, []),
    "simple-gate": ({"gates": "simple"}, None, []),
    "simple-gate-sobel": ({"gates": "simple"}, None, ["--gradient_weight", "1"]),
    "plain-decoder-texture": ({"gates": "encoder", "texture": True}, None, []),
    "blend": ({"gates": "encoder", "blend": True}, None, []),
    "blend-slim": (SLIM_BLEND, None, []),
    "blend-slim-l2": (SLIM_BLEND, None, ["--loss", "l2"]),
    "blend-slim-ema": (SLIM_BLEND, None, ["--ema_decay", "0.999", "--learning_rate", "1e-4"]),
    "blend-slim-l2-ema": (SLIM_BLEND, None, ["--loss", "l2", "--ema_decay", "0.999", "--learning_rate", "1e-4"]),
}


def train(name: str, runs: Path, minutes: float, dataset: str) -> Path:
    """Train one variant from its initial weights, or resume its run (a run whose minutes are spent just ends: the
    budget adds up over resumes); returns the run folder."""
    kwargs, adjust, flags = VARIANTS[name]
    start, out = runs / f"{name}-init", runs / name
    if not (start / "config.json").exists():
        torch.manual_seed(0)
        model = create_model("inpaint-cnn", channels=3, **kwargs)
        if adjust is not None:
            adjust(model)
        model.save_pretrained(start)
    command = [
        sys.executable, str(ROOT / "train.py"), "--model", "inpaint-cnn", "--init_weights", str(start),
        "--model_kwargs", json.dumps(kwargs), "--loss", "l1", "--dataset", dataset, "--resolution", "128",
        "--crop", "random", "--random_flip", "--crops_per_image", "16", "--random_scale", "0.5,1",
        "--random_rotate", "--train_batch_size", "8", "--learning_rate", "2e-4", "--lr_scheduler", "constant",
        "--max_train_steps", "1000000", "--max_train_minutes", str(minutes), "--checkpointing_steps", "500",
        "--checkpoints_total_limit", "1", "--logging_steps", "50", "--sample_steps", "0", "--report_to", "none",
        "--mixed_precision", "bf16" if fast_bf16(torch.device("cpu")) else "no", "--seed", "0",
        "--output_dir", str(out), "--resume_from_checkpoint", "latest", *flags,
    ]  # fmt: skip
    subprocess.run(command, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.DEVNULL)
    return out


def last_health(folder: Path) -> dict:
    lines = (folder / HEALTH_LOG).read_text().splitlines()
    record = json.loads(lines[-1])
    return {"step": record["step"], "dead": record["health/dead_fraction"], "gate_min": record.get("health/gate_min")}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--minutes", type=float, default=8.0, help="Training minutes of each variant (one thread).")
    parser.add_argument("--runs", type=Path, required=True, help="Folder of the variants' runs (outside the repo).")
    parser.add_argument("--dataset", default="data/photos", help="Training images (train split).")
    parser.add_argument("--photos", default="data/photos/validation", help="Held-out photos to score on.")
    parser.add_argument("--json", type=Path, help="Also write the results to this JSON file.")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    folders = {name: train(name, args.runs, args.minutes, args.dataset) for name in args.variants}
    scored = bench_inpainting.main(
        ["--models", *map(str, folders.values()), "pull-push", "--no_baselines", "--photos", args.photos]
    )
    rows = []
    for name, folder in folders.items():
        label = next(m["name"] for m in scored["methods"] if m["model"] == str(folder))
        for result in scored["results"]:
            if result["method"] == label:
                rows.append({"variant": name, **{k: v for k, v in result.items() if k != "method"}})
    # The fills the variants start from (pull-push; the textured fill; the blend), as rows of their own, named as
    # the registry names them (a variant may share a fill's id: `blend`).
    starts = {m["name"] for m in scored["methods"] if m["model"] is None}
    rows += [{"variant": r["method"], **r} for r in scored["results"] if r["method"] in starts]
    report = {
        "benchmark": "inpaint_cures",
        "machine": machine(),
        "command": command_line("benchmarks.bench_inpaint_cures", argv),
        "weights": weights_record(folders.values()),
        "settings": {"minutes": args.minutes, "threads": 1, "bf16": fast_bf16(torch.device("cpu"))},
        "health": {name: last_health(folder) for name, folder in folders.items()},
        "results": rows,
    }
    return publish(report, markdown(report), args.json)


def markdown(report: dict) -> str:
    lines = [
        f"Machine: {report['machine']}",
        "",
        f"Each variant trained {report['settings']['minutes']:g} minutes on one thread from scratch; scored on the "
        "validation photos (`benchmarks.bench_inpainting`, the same crops and masks for every row).",
        "",
        "| variant | steps | dead tensors | lowest gate | holes | PSNR (dB) | detail | edge F1 |",
        "|---|---:|---:|---:|---|---:|---:|---:|",
    ]
    for row in report["results"]:
        health = report["health"].get(row["variant"])
        steps, dead, gate = "-", "-", "-"
        if health is not None:
            steps, dead = str(health["step"]), f"{health['dead']:.0%}"
            gate = "-" if health["gate_min"] is None else f"{health['gate_min']:.2f}"
        lines.append(
            f"| {row['variant']} | {steps} | {dead} | {gate} | {row['bucket']} | {row['psnr']:.2f} | "
            f"{row['detail']:.2f} | {row['edge_f1']:.3f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
