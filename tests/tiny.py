"""Tiny models for the tests, built from each family's own tiny configuration (`register_model(tiny=...)`), so no
test keeps a table of model sizes: a test names a family and, where it needs one, what it changes."""

from __future__ import annotations

import json
from typing import Any

import torch

import hfimg
from hfimg.catalogue import BUNDLED, MethodSpec, method_specs
from hfimg.hub import HubModel
from hfimg.registry import model_class
from hfimg.training.config import MODEL_KWARG_FLAGS


def tiny_kwargs(family: str, **overrides: Any) -> dict[str, Any]:
    """The family's tiny `__init__` kwargs (thousands of parameters), with `overrides` applied."""
    return {**model_class(family).tiny_config, **overrides}


def tiny_model(family: str, *, seed: int | None = None, **overrides: Any) -> HubModel:
    """A tiny untrained model of `family`, in eval mode; its weights drawn from `seed` when given."""
    if seed is not None:
        torch.manual_seed(seed)
    return hfimg.create_model(family, **tiny_kwargs(family, **overrides)).eval()


def method_kwargs(spec: MethodSpec) -> tuple[str, dict[str, Any]]:
    """The family and tiny kwargs of a model for a learned method: grey for the garment methods, colour otherwise."""
    family = spec.model_types[0]
    return family, tiny_kwargs(family, channels=1 if spec.domain == "garments" else 3)


def tiny_flags(family: str, resolution: int = 16, **overrides: Any) -> list[str]:
    """train.py flags that build the family's tiny model: --resolution (the tiny config's, else `resolution`), a flag
    for each setting that has one (--base_channels ...), the rest as --model_kwargs (a later --model_kwargs replaces
    it, as argparse keeps the last)."""
    kwargs = tiny_kwargs(family, **overrides)
    flags = ["--resolution", str(kwargs.pop("resolution", resolution))]
    for name in [name for name in kwargs if name in MODEL_KWARG_FLAGS]:
        flags += [f"--{name}", str(kwargs.pop(name))]
    return [*flags, "--model_kwargs", json.dumps(kwargs)] if kwargs else flags


def slot_models() -> dict[str, tuple[str, dict[str, Any]]]:
    """The demo's model slots (catalogue keys: "gan", "inpaint_cnn", ...), each with the family and tiny kwargs of a
    model that fits it."""
    slots: dict[str, tuple[str, dict[str, Any]]] = {}
    for spec in method_specs():
        if spec.key is not None and spec.key not in slots:
            slots[spec.key] = method_kwargs(spec)
    return slots


def bundled_models() -> dict[str, tuple[str, dict[str, Any]]]:
    """Each bundled model's folder name ("dcgan-fashion-mnist", ...) with the family and tiny kwargs of a stand-in
    for it: the family and domain of the first catalogue method that uses it."""
    specs = {spec.model: spec for spec in reversed(method_specs()) if spec.model is not None}
    return {model.name: method_kwargs(specs[model.id]) for model in BUNDLED}
