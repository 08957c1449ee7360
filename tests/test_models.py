"""Checks every registered model family gets for free: forward, backward, gradients, Hub round trip."""

from __future__ import annotations

import json

import pytest
import torch

import hfimg
from hfimg.registry import FAMILIES, model_names

# Small configs so the whole file runs in seconds: each family's own (`tiny=` where it registers itself).
TINY_CONFIGS: dict[str, dict] = {name: cls.tiny_config for name, cls in FAMILIES.items()}


def example_inputs(name: str, model: torch.nn.Module, generator: torch.Generator) -> tuple:
    """Forward arguments for a batch of 2, built from the model's own config."""
    config = TINY_CONFIGS[name]
    channels = config["channels"]
    if name == "dcgan":
        z = torch.randn(2, config["latent_dim"], generator=generator)
        return (z, torch.tensor([0, 2])) if config.get("num_classes") else (z,)
    if name == "dcgan-discriminator":
        return torch.rand(2, channels, 32, 32, generator=generator) * 2 - 1, torch.tensor([1, 2])
    if name in ("inpaint-cnn", "inpaint-rcnn"):
        # Odd, non-square size: the inpainters pad internally and crop back.
        mask = (torch.rand(2, 1, 37, 29, generator=generator) > 0.6).float()
        image = (torch.rand(2, channels, 37, 29, generator=generator) * 2 - 1) * (1 - mask)
        return image, mask
    size = config.get("resolution", 24)
    return (torch.rand(2, channels, size, size, generator=generator) * 2 - 1,)


def first_tensor(output) -> torch.Tensor:
    return output[0] if isinstance(output, tuple) else output


def test_every_family_declares_a_tiny_config_that_builds_a_small_model():
    assert sorted(TINY_CONFIGS) == model_names()
    for name, config in TINY_CONFIGS.items():
        assert config, f"{name} declares no tiny config"
        parameters = hfimg.create_model(name, **config).num_parameters()
        assert parameters < 300_000, f"{name}'s tiny config builds {parameters:,} parameters"


@pytest.fixture(params=model_names())
def name(request) -> str:
    return request.param


def test_forward_backward_every_parameter_gets_a_gradient(name: str):
    torch.manual_seed(0)
    model = hfimg.create_model(name, **TINY_CONFIGS[name]).train()
    assert_every_parameter_learns(name, model, example_inputs(name, model, torch.Generator().manual_seed(1)))


def test_a_class_conditional_generator_learns_its_label_embedding_too(monkeypatch):
    config = {**TINY_CONFIGS["dcgan"], "num_classes": 3}
    monkeypatch.setitem(TINY_CONFIGS, "dcgan", config)
    torch.manual_seed(0)
    model = hfimg.create_model("dcgan", **config).train()
    inputs = example_inputs("dcgan", model, torch.Generator().manual_seed(1))
    assert len(inputs) == 2  # codes and labels
    assert_every_parameter_learns("dcgan", model, inputs)


def assert_every_parameter_learns(name: str, model: torch.nn.Module, inputs: tuple) -> None:
    """A forward and backward pass gives every parameter a finite, non-zero gradient, and finite outputs."""
    output = model(*inputs)
    tensors = output if isinstance(output, tuple) else (output,)
    for tensor in tensors:
        assert torch.isfinite(tensor).all(), f"{name} produced NaN/inf"
    loss = sum(t.float().pow(2).mean() for t in tensors)
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and (p.grad is None or not p.grad.any())]
    assert not missing, f"{name}: parameters with no gradient: {missing}"
    for n, p in model.named_parameters():
        assert torch.isfinite(p.grad).all(), f"{name}: non-finite gradient in {n}"


def test_save_pretrained_round_trip(name: str, tmp_path):
    torch.manual_seed(0)
    model = hfimg.create_model(name, **TINY_CONFIGS[name]).eval()
    # Move BatchNorm statistics off their defaults so the round trip checks buffers too.
    with torch.no_grad():
        for buffer in model.buffers():
            if buffer.is_floating_point():
                buffer.add_(0.1)
    model.save_pretrained(tmp_path)

    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model_type"] == name
    assert {k: config[k] for k in TINY_CONFIGS[name]} == TINY_CONFIGS[name]
    assert (tmp_path / "model.safetensors").is_file()
    card = (tmp_path / "README.md").read_text()
    assert "library_name: hfimg" in card

    loaded = hfimg.load(tmp_path)
    assert type(loaded) is type(model)
    assert not loaded.training
    assert loaded.init_kwargs() == model.init_kwargs()
    inputs = example_inputs(name, model, torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.testing.assert_close(first_tensor(loaded(*inputs)), first_tensor(model(*inputs)), rtol=0, atol=0)


def test_resaving_a_loaded_model_gives_the_same_config(name: str, tmp_path):
    hfimg.create_model(name, **TINY_CONFIGS[name]).save_pretrained(tmp_path / "a")
    hfimg.load(tmp_path / "a").save_pretrained(tmp_path / "b")
    assert (tmp_path / "a" / "config.json").read_text() == (tmp_path / "b" / "config.json").read_text()


def test_models_are_sized_for_cpus():
    # The defaults are what users train and ship: each generator or inpainter stays under ~5M parameters.
    for name in model_names():
        params = hfimg.create_model(name).num_parameters()
        assert params < 5_000_000, f"{name} has {params:,} parameters at its defaults"
