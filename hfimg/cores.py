"""A model's network core, apart from how it is run: what it takes and gives (`CoreSpec`), example inputs for
probes, exports and benchmarks, and the onnxruntime session that runs an exported core.

`hfimg.runtime` (which backend runs a core) and `hfimg.export` (writing a core to ONNX) both build on this module,
and neither on the other's top level.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from hfimg.hub import HubModel


@dataclass
class CoreSpec:
    """What a model's `core` takes and gives, for export, probes and benchmarks.

    Args:
        inputs: example inputs in the order `core` takes them, name -> tensor (batch 2, so the batch axis stays
            dynamic when exported); image inputs hold realistic content, so a bf16 probe on them means something.
        output: name of the output tensor.
        dynamic: per input, the axes that may take any size, axis -> name ("batch", "height", "width").
        multiple: height and width must be multiples of this (the U-Nets halve the size `depth` times).
        description: what the inputs and the output are and how to prepare them, for the exported model's card.
        onnx_refusal: why this core cannot be exported to ONNX (and what to use instead), or None when it can.
    """

    inputs: dict[str, torch.Tensor]
    output: str
    dynamic: dict[str, dict[int, str]]
    multiple: int = 1
    description: str = ""
    notes: list[str] = field(default_factory=list)
    onnx_refusal: str | None = None


class OnnxEngine:
    """An onnxruntime session on the CPU that takes and returns torch tensors."""

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        try:
            import onnxruntime
        except ImportError:
            raise ImportError(
                "the onnxruntime backend needs onnxruntime: pip install 'hfimg[export]' (or pick another backend)."
            ) from None
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()  # the same share of the CPU as torch
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.names = [node.name for node in self.session.get_inputs()]

    def __call__(self, model: HubModel | None, *inputs: torch.Tensor) -> torch.Tensor:
        feeds = {name: x.detach().cpu().contiguous().numpy() for name, x in zip(self.names, inputs, strict=True)}
        return torch.from_numpy(self.session.run(None, feeds)[0]).to(inputs[0].device)


# --- example inputs -------------------------------------------------------------------------------------------------


def example_images(batch: int, channels: int, height: int, width: int, seed: int = 0) -> torch.Tensor:
    """(batch, channels, height, width) in [-1, 1] with a photo's mix of content: smooth shading, a hard-edged
    shape and fine stripes, so probes and parity checks exercise the whole range of a network's inputs."""
    generator = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, height), torch.linspace(0, 1, width), indexing="ij")
    coefficients = torch.rand(batch, channels, 6, generator=generator)  # per image and channel
    a, b, c, angle, frequency, edge = (coefficients[..., i, None, None] for i in range(6))
    shading = (a - 0.5) * xx + (b - 0.5) * yy  # (B, C, H, W)
    stripes = 0.2 * c * torch.sin((8 + 24 * frequency) * (xx * torch.cos(3 * angle) + yy * torch.sin(3 * angle)))
    shape = 0.6 * (edge - 0.5) * ((xx - 0.3).abs() < 0.2) * ((yy - 0.6).abs() < 0.25)
    return (shading + stripes + shape).clamp(-1, 1)


def example_holes(batch: int, height: int, width: int) -> torch.Tensor:
    """(batch, 1, height, width) holes, 1 = hole: a box in the middle and a diagonal stroke, about 20% of the image."""
    yy, xx = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    box = ((yy - height / 2).abs() < height / 6) & ((xx - width / 2).abs() < width / 5)
    stroke = ((yy / height - xx / width).abs() < 0.06) & (xx > width / 8)
    return (box | stroke).float().expand(batch, 1, height, width).contiguous()
