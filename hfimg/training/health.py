"""Gradient health: whether every part of a network still learns, watched while it trains.

A network can fail quietly. The gated convolutions of an inpainter multiply their features by sigmoid gates; when the
gates saturate closed, both branches stop receiving gradient, the layers above the fill fall silent, and the model
returns its starting fill while its loss still looks reasonable. The loss curve does not show it; the gradients do.

`GradientHealth` reads, right after a backward pass, which parameter tensors got a gradient: a tensor whose gradient
is zero, or vanishing next to the liveliest tensor's (RMS below `VANISHING` of the largest), is *dead*. With it,
`GateMonitor` records the mean gate value of every gated layer on the forward pass (1 = open, 0 = shut). The Trainer
logs both at every logging step (`health/dead_fraction`, `health/gate/<layer>`), in the run's trackers and its JSON
record, and warns when more than `DEAD_LIMIT` of the tensors are dead.

Example:
    >>> import torch
    >>> from hfimg.registry import create_model
    >>> model = create_model("inpaint-cnn", channels=3, base_channels=8)
    >>> image, hole = torch.rand(2, 3, 64, 64) * 2 - 1, (torch.rand(2, 1, 64, 64) > 0.7).float()
    >>> with GateMonitor(model) as gates:
    ...     model(image, hole).abs().mean().backward()
    >>> health = GradientHealth.of(model, gates.means)
    >>> health.healthy
    True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from hfimg.layers import GatedConv2d

DEAD_LIMIT = 0.10  # more than this share of parameter tensors without gradient: the network is dying
VANISHING = 1e-6  # a gradient RMS below this fraction of the largest tensor's counts as none


class GateMonitor:
    """Records the mean sigmoid gate of each gated layer of `model` on every forward pass while it is entered.

    `means` maps the layer's name (as in `model.named_modules()`) to the mean gate of its last forward pass.
    """

    def __init__(self, model: nn.Module):
        self.model = model
        self.means: dict[str, float] = {}
        self._handles: list[torch.utils.hooks.RemovableHandle] = []

    def __enter__(self) -> GateMonitor:
        for name, module in self.model.named_modules():
            if isinstance(module, GatedConv2d) and module.gate == "sigmoid":  # `conv` gives features and gates
                self._handles.append(module.conv.register_forward_hook(self._recorder(name)))
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _recorder(self, name: str):
        def record(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            gate = output.detach().chunk(2, dim=1)[1]  # (B, out_channels, H, W): the gates' logits
            self.means[name] = torch.sigmoid(gate.float()).mean().item()

        return record


@dataclass(frozen=True)
class GradientHealth:
    """Which parameter tensors of a network got a gradient in the last backward pass, and how open its gates are.

    Attributes:
        tensors: number of trainable parameter tensors.
        dead: names of the tensors with no gradient, or a vanishing one.
        gate_means: mean gate of each gated layer (empty for a network without gates).
    """

    tensors: int
    dead: tuple[str, ...]
    gate_means: dict[str, float] = field(default_factory=dict)

    @classmethod
    def of(cls, model: nn.Module, gate_means: dict[str, float] | None = None) -> GradientHealth:
        """Read `model`'s gradients (after `backward`, before the optimizer clears them)."""
        rms = {}
        for name, parameter in model.named_parameters():
            if parameter.requires_grad:
                grad = parameter.grad
                rms[name] = 0.0 if grad is None else grad.detach().float().pow(2).mean().sqrt().item()
        largest = max(rms.values(), default=0.0)
        dead = tuple(name for name, value in rms.items() if not math.isfinite(value) or value <= VANISHING * largest)
        return cls(tensors=len(rms), dead=dead, gate_means=dict(gate_means or {}))

    @property
    def dead_fraction(self) -> float:
        return len(self.dead) / self.tensors if self.tensors else 0.0

    @property
    def healthy(self) -> bool:
        return self.dead_fraction <= DEAD_LIMIT

    def metrics(self) -> dict[str, float]:
        """Scalars for the trackers: the dead share, the lowest and mean gate, and each gated layer's mean."""
        out = {"health/dead_fraction": self.dead_fraction}
        if self.gate_means:
            values = list(self.gate_means.values())
            out["health/gate_min"] = min(values)
            out["health/gate_mean"] = sum(values) / len(values)
            out |= {f"health/gate/{name}": value for name, value in self.gate_means.items()}
        return out

    def warning(self) -> str | None:
        """A one-line warning when the network is dying, naming a few dead tensors; None when healthy."""
        if self.healthy:
            return None
        shown = ", ".join(self.dead[:4]) + (", ..." if len(self.dead) > 4 else "")
        shut = [name for name, value in self.gate_means.items() if value < 0.05]
        gates = f"; {len(shut)} gated layers nearly shut (mean gate < 0.05)" if shut else ""
        return (
            f"{len(self.dead)} of {self.tensors} parameter tensors ({self.dead_fraction:.0%}) get no gradient "
            f"({shown}){gates}. The network is not learning there: lower the learning rate, add warm-up or "
            f"gradient clipping, or start the gates open."
        )
