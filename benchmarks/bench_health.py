"""Gradient health of inpainters: which parameter tensors one training step would move, and how open the gates are.

    python -m benchmarks.bench_health [--models hfimg/inpaint-cnn-photos hfimg/inpaint-rcnn-photos] [--fresh]
        [--json benchmarks/results/health.json]

For each model (bundled ids or folders; `--fresh` adds freshly built InpaintCNNs of the shipped size with each
initialisation and gate design), one forward and backward pass of the masked L1 hole loss training uses, on the
validation crops of `bench_inpainting` (256 px, one 20-30% free-form mask each, seed 0), then
`hfimg.training.health.GradientHealth`: the share of parameter tensors whose gradient is zero or vanishing (RMS
below 1e-6 of the liveliest tensor's) and the lowest mean sigmoid gate of any gated layer. A network above 10% dead
tensors is not learning there; one whose lowest gate is near 0 has shut a layer.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import command_line, machine, publish, validation_crops, weights_record
from hfimg.catalogue import default_models
from hfimg.layers import GatedConv2d
from hfimg.masks import random_mask
from hfimg.registry import create_model, load
from hfimg.training.health import DEAD_LIMIT, GateMonitor, GradientHealth

DEFAULT_MODELS = default_models("inpaint", "photos")


def pytorch_default_init(model: torch.nn.Module) -> torch.nn.Module:
    """Re-initialise every gated conv as `nn.Conv2d` does (the init of the first shipped inpainters); returns it."""
    for module in model.modules():
        if isinstance(module, GatedConv2d):
            module.conv.reset_parameters()
    return model


# A fresh InpaintCNN of the shipped size: name -> how to build it.
FRESH: dict[str, Callable[[], torch.nn.Module]] = {
    "fresh InpaintCNN, PyTorch's default init": lambda: pytorch_default_init(create_model("inpaint-cnn")),
    "fresh InpaintCNN, He init + open gates": lambda: create_model("inpaint-cnn"),
    "fresh InpaintCNN, plain decoder": lambda: create_model("inpaint-cnn", gates="encoder"),
    "fresh InpaintCNN, SimpleGate": lambda: create_model("inpaint-cnn", gates="simple"),
    "fresh InpaintCNN, blend, plain decoder": lambda: create_model("inpaint-cnn", gates="encoder", blend=True),
}


def health_of(model: torch.nn.Module, images: torch.Tensor, holes: torch.Tensor) -> GradientHealth:
    model.train()
    model.zero_grad(set_to_none=True)
    with GateMonitor(model) as gates:
        prediction = model(images * (1 - holes), holes)
        (holes * (prediction - images)).abs().mean().backward()
    return GradientHealth.of(model, gates.means)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="*", default=DEFAULT_MODELS, help="Inpainters: bundled ids or folders.")
    parser.add_argument("--fresh", action="store_true", help="Also freshly built InpaintCNNs of each design.")
    parser.add_argument("--photos", default="data/photos/validation", help="Held-out photos.")
    parser.add_argument("--json", type=Path, help="Also write the results to this JSON file.")
    args = parser.parse_args(argv)

    crops = [np.array(crop) for _, crop in validation_crops(args.photos, 256, 4)]
    images = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float() / 127.5 - 1  # (N, 3, 256, 256)
    holes = torch.stack(
        [torch.from_numpy(random_mask(256, 256, hole_range=(0.2, 0.3), seed=i)) for i in range(len(crops))]
    )[:, None].float()  # (N, 1, 256, 256)
    models: dict[str, Callable[[], torch.nn.Module]] = {name: (lambda name=name: load(name)) for name in args.models}
    if args.fresh:
        models |= FRESH
    rows = []
    for name, build in models.items():
        torch.manual_seed(0)
        health = health_of(build(), images, holes)
        gates = list(health.gate_means.values())
        rows.append(
            {
                "model": name,
                "tensors": health.tensors,
                "dead": len(health.dead),
                "dead_fraction": health.dead_fraction,
                "gate_min": min(gates) if gates else None,
                "healthy": health.healthy,
            }
        )
        print(f"{name}: {len(health.dead)} of {health.tensors} tensors dead")
    report = {
        "benchmark": "health",
        "machine": machine(),
        "command": command_line("benchmarks.bench_health", argv),
        "weights": weights_record(row["model"] for row in rows),
        "settings": {"crops": len(crops), "size": 256, "hole_range": [0.2, 0.3], "dead_limit": DEAD_LIMIT},
        "rows": rows,
    }
    return publish(report, markdown(report), args.json)


def markdown(report: dict) -> str:
    lines = [
        f"Machine: {report['machine']}",
        "",
        f"One masked-L1 backward pass on {report['settings']['crops']} validation crops (256 px, 20-30% holes).",
        "",
        "| model | dead tensors | lowest mean gate | alive (<= 10% dead) |",
        "|---|---:|---:|---|",
    ]
    for row in report["rows"]:
        gate = "-" if row["gate_min"] is None else f"{row['gate_min']:.3f}"
        alive = "yes" if row["healthy"] else "no"
        lines.append(f"| {row['model']} | {row['dead']} of {row['tensors']} | {gate} | {alive} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
