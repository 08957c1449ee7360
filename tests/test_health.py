"""Gradient health: a fresh inpainter of each family passes it, a shut or badly initialised one fails it, and a
training run logs it."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch
from accelerate.state import AcceleratorState, GradientState
from PIL import Image

from hfimg.layers import GatedConv2d
from hfimg.registry import create_model
from hfimg.training import Trainer, parse_args
from hfimg.training.health import DEAD_LIMIT, GateMonitor, GradientHealth
from hfimg.training.trainer import HEALTH_LOG

FAMILIES = {
    "inpaint-cnn": {},  # the shipped sizes: the depth is what kills a badly initialised gated U-Net
    "inpaint-rcnn": {"iterations": 2},
}


def health_after_one_step(model: torch.nn.Module, size: int = 128) -> GradientHealth:
    """One forward and backward of a masked L1 loss on random images and holes, as training does."""
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(2, 3, size, size, generator=generator) * 2 - 1
    hole = (torch.rand(2, 1, size, size, generator=generator) > 0.7).float()
    with GateMonitor(model) as gates:
        (hole * (model(image, hole) - image)).abs().mean().backward()
    return GradientHealth.of(model, gates.means)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize(
    ("gates", "blend", "watched"),
    [("sigmoid", False, 17), ("encoder", False, 11), ("simple", False, 0), ("encoder", True, 11)],
)
def test_a_fresh_inpainter_is_alive(family, gates, blend, watched):
    """Every design starts alive, the shipped one (a plain decoder weighing the blend of fills) included: its weight
    logits start at zero, and still get a gradient."""
    torch.manual_seed(0)
    health = health_after_one_step(create_model(family, channels=3, gates=gates, blend=blend, **FAMILIES[family]))
    assert health.healthy and health.dead == ()
    assert len(health.gate_means) == watched  # every sigmoid-gated layer watched (the decoder's are plain)
    assert all(value > 0.7 for value in health.gate_means.values())  # the gates start open
    assert health.warning() is None


@pytest.mark.parametrize("family", FAMILIES)
def test_a_shut_inpainter_fails(family):
    torch.manual_seed(0)
    model = create_model(family, channels=3, **FAMILIES[family])
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, GatedConv2d):
                half = module.conv.out_channels // 2
                module.conv.bias[half:].fill_(-30.0)  # every gate saturated closed
    health = health_after_one_step(model)
    assert health.dead_fraction > DEAD_LIMIT and not health.healthy
    assert max(health.gate_means.values()) < 1e-6
    assert "nearly shut" in health.warning() and "get no gradient" in health.warning()


def test_pytorch_default_init_starves_the_deep_layers():
    """The init of the first shipped inpainters: the check sees what their flat learning curves hid."""
    torch.manual_seed(0)
    model = create_model("inpaint-cnn", channels=3)
    for module in model.modules():
        if isinstance(module, GatedConv2d):
            module.conv.reset_parameters()
    health = health_after_one_step(model)
    assert not health.healthy
    assert any(name.startswith("net.bottleneck") for name in health.dead)


def test_dead_means_no_or_vanishing_gradient():
    layer = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Linear(3, 3), torch.nn.Linear(3, 1))
    layer[1].weight.requires_grad_(False)  # frozen: not counted
    layer(torch.ones(2, 3)).sum().backward()
    layer[0].weight.grad.mul_(1e-9)  # vanishing next to the others
    layer[2].bias.grad = None  # none at all
    health = GradientHealth.of(layer)
    assert health.tensors == 5
    assert set(health.dead) == {"0.weight", "2.bias"}
    assert health.metrics() == {"health/dead_fraction": 0.4}


@pytest.fixture
def tiny_photos(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(8):
        Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)).resize((24, 24)).save(tmp_path / f"{i}.png")
    yield tmp_path
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()


def test_training_logs_health_and_warns_when_the_network_dies(tiny_photos, tmp_path, caplog):
    common = [
        "--model", "inpaint-cnn", "--dataset", str(tiny_photos), "--resolution", "16", "--base_channels", "4",
        "--depth", "2", "--model_kwargs", '{"dilations": [1, 2]}', "--train_batch_size", "2",
        "--max_train_steps", "4", "--logging_steps", "2", "--report_to", "none", "--num_preview", "2",
    ]  # fmt: skip
    Trainer(parse_args([*common, "--output_dir", str(tmp_path / "alive")])).train()
    records = [json.loads(line) for line in (tmp_path / "alive" / HEALTH_LOG).read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 4]
    assert all(r["health/dead_fraction"] <= DEAD_LIMIT and r["health/gate_min"] > 0.5 for r in records)

    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()
    trainer = Trainer(parse_args([*common, "--output_dir", str(tmp_path / "shut")]))
    with torch.no_grad():
        for module in trainer.objective.model.modules():
            if isinstance(module, GatedConv2d):
                module.conv.bias[module.conv.out_channels // 2 :].fill_(-30.0)
    with caplog.at_level(logging.WARNING):
        trainer.train()
    assert "get no gradient" in caplog.text
    records = [json.loads(line) for line in (tmp_path / "shut" / HEALTH_LOG).read_text().splitlines()]
    assert records[-1]["health/dead_fraction"] > DEAD_LIMIT
