"""A new model family declared in one place (its class, `register_model` with its facts, one catalogue entry)
reaches training, the benchmarks, the demo and the model card, with no table to edit elsewhere."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from accelerate.state import AcceleratorState, GradientState
from huggingface_hub import ModelCard
from PIL import Image

import hfimg
from hfimg import catalogue
from hfimg.catalogue import MethodSpec
from hfimg.families import FAMILIES, register_model
from hfimg.models.denoise_cnn import DenoiseCNN
from hfimg.restoration import load_restorer
from hfimg.tasks import RestoreOptions
from hfimg.training import Trainer, parse_args, trainable_models
from hfimg.training.config import family_defaults

ROOT = Path(__file__).resolve().parents[1]
TOY = "toy-denoiser"


@pytest.fixture
def toy_family(monkeypatch):
    """The whole declaration of the toy family: a class, its registration with its facts, and a restore method."""

    class ToyDenoiser(DenoiseCNN, tags=["toy"]):
        """A DnCNN-style denoiser under another name: a family the package has never seen."""

    register_model(TOY, tiny={"channels": 3, "features": 4, "depth": 3}, objective="denoise", training={"loss": "l1"})(
        ToyDenoiser
    )
    spec = MethodSpec("Toy denoiser", "toy", "a toy family", task="restore", model="unused", key="toy",
                      model_types=(TOY,))  # fmt: skip
    monkeypatch.setattr(catalogue, "_METHODS", [*catalogue._METHODS, spec])
    yield ToyDenoiser
    del FAMILIES[TOY]
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()


def test_a_toy_family_declared_in_one_place_is_trained_benchmarked_served_and_carded(toy_family, tmp_path):
    assert TOY in trainable_models() and family_defaults()[TOY].loss == "l1"
    assert hfimg.create_model(TOY).model_type == TOY and TOY in hfimg.model_names()

    # Trained: train.py's flags know it, and its run is a loadable model with a card.
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    rng = np.random.default_rng(0)
    for i in range(8):
        Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(corpus / f"{i}.png")
    out = tmp_path / "run"
    flags = ["--model", TOY, "--dataset", str(corpus), "--output_dir", str(out), "--resolution", "16",
             "--train_batch_size", "4", "--max_train_steps", "3", "--report_to", "none", "--sample_steps", "0",
             "--checkpointing_steps", "0", "--shuffle_buffer", "4",
             "--model_kwargs", json.dumps(toy_family.tiny_config)]  # fmt: skip
    config = parse_args(flags)
    assert config.loss == "l1"  # its own training default
    Trainer(config).train()
    model = hfimg.load(out)
    assert type(model) is toy_family and model.init_kwargs() == toy_family.tiny_config
    untrained = hfimg.create_model(TOY, **toy_family.tiny_config)
    assert any(not torch.equal(p, untrained.state_dict()[n]) for n, p in model.state_dict().items())

    # Carded: the card the run wrote names the family and how it was trained.
    card = ModelCard.load(out / "README.md")
    assert f"--model {TOY}" in card.text and "toy" in card.data.tags

    # Benchmarked: the training benchmark sizes it from its tiny config; the denoising benchmark runs its folder.
    sys.path.insert(0, str(ROOT / "benchmarks"))
    sys.path.insert(0, str(ROOT))
    from bench_train import run_config

    bench_config = run_config(TOY, corpus, tmp_path / "bench", steps=2)
    assert bench_config.model == TOY and bench_config.model_kwargs == toy_family.tiny_config
    from benchmarks.bench_denoising import load_methods, model_method

    methods, described = load_methods([str(out)], model_method, lambda model: None)
    noisy = rng.random((16, 16, 3))
    assert described[0]["model"] == str(out) and next(iter(methods.values()))(noisy, 25).shape == noisy.shape

    # Served: the demo's slots come from the catalogue, so its slot loads it and the Restore tab runs it.
    from hfimg.demo import handlers
    from hfimg.demo.slots import Slot, load_model

    slot = Slot("Toy denoiser", "HFIMG_TOY", str(out), (TOY,), "denoising")
    loaded = load_model(slot, str(out))
    assert loaded.model is not None and loaded.error is None
    demo = handlers.Handlers({"toy": loaded})
    photo = Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8))
    restore_methods = [*handlers.RESTORE_METHODS, "Toy denoiser"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(handlers, "RESTORE_METHODS", restore_methods)
        given, restored, _ = demo.restore(photo, 0, False, "Toy denoiser")
    expected = load_restorer(str(out))(photo, RestoreOptions())
    assert np.array_equal(np.asarray(restored), np.asarray(expected))
