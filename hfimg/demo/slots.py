"""The models the demo runs, by slot: which id each slot loads (flag, environment, default) and what it holds.

The slots come from the catalogue (`hfimg.catalogue`): one slot per learned method's model key (methods that share
a key, like the GAN that generates, inpaints and restores, share a slot). So a method registered there has its flag
(--KEY), environment variable (HFIMG_KEY) and Models-tab row without an edit to the demo. A model that cannot be
loaded is kept as the reason, shown in its tab; the app still starts.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass

import gradio as gr

import hfimg
from hfimg import runtime
from hfimg.catalogue import MethodSpec, method_specs
from hfimg.constants import FASHION_MNIST_LABELS
from hfimg.hub import HubModel

logger = logging.getLogger("hfimg.app")


@dataclass(frozen=True)
class Slot:
    """One model the demo uses: where its id comes from and what kind of model it must be."""

    title: str
    env: str  # environment variable that overrides the default id
    default: str
    model_types: tuple[str, ...]  # registry names the loaded model may have
    task: str  # what the demo uses it for (the Models tab)


def _slot(spec: MethodSpec, task: str) -> Slot:
    return Slot(spec.name, spec.env, spec.model, spec.model_types, task)


def _slots() -> dict[str, Slot]:
    # One slot per model key of the catalogue's learned methods, titled by the first method that names it: the
    # generators first (they also inpaint and restore garments), then the inpainters and the denoiser.
    slots: dict[str, Slot] = {}
    uses = {"generate": "generation, inpainting prior", "restore": "denoising"}
    for task in ("generate", "inpaint", "restore"):
        for spec in method_specs(task):
            if spec.key is None or spec.key in slots:
                continue
            use = uses.get(task) or ("inpainting" if spec.domain == "photos" else "inpainting of garment images")
            slots[spec.key] = _slot(spec, use)
    return slots


SLOTS: dict[str, Slot] = _slots()
GENERATORS = {"GAN": "gan", "VAE": "vae"}  # the Generate tab's choices -> slot
# The Inpaint tab's slots.
INPAINT_SLOTS = list(dict.fromkeys(spec.key for spec in method_specs("inpaint") if spec.key is not None))


@dataclass
class LoadedModel:
    """A slot's model, or why it could not be loaded."""

    slot: Slot
    id: str
    model: HubModel | None = None
    error: str | None = None

    def require(self) -> HubModel:
        """The model, or a gr.Error that says why it is not available."""
        if self.model is None:
            raise gr.Error(f"{self.slot.title} is not available: {self.error}", title="Model not loaded")
        return self.model


def model_ids(
    env: Mapping[str, str] = os.environ, overrides: Mapping[str, str | None] | None = None
) -> dict[str, str]:
    """The id of each slot's model: a CLI flag (`overrides`) wins over the environment, which wins over the default."""
    overrides = overrides or {}
    return {name: overrides.get(name) or env.get(slot.env) or slot.default for name, slot in SLOTS.items()}


def load_model(slot: Slot, model_id: str) -> LoadedModel:
    """Load one slot's model; a failure is kept as a message for the UI, never raised."""
    loaded = LoadedModel(slot, model_id)
    try:
        model = hfimg.load(model_id)
        if model.model_type not in slot.model_types:
            needed = " or ".join(repr(name) for name in slot.model_types)
            raise ValueError(f"{model_id!r} is a {model.model_type!r} model; this slot needs {needed}.")
        loaded.model = model.eval()
    except Exception as err:  # any failure (missing, offline, corrupt, wrong kind) becomes a notice in the UI
        loaded.error = f"{type(err).__name__}: {err}"
        logger.warning("%s (%s) not loaded: %s", slot.title, model_id, loaded.error)
        return loaded
    try:
        runtime.engine(model)  # the onnxruntime export or auto's probe happens now, not in a visitor's request
    except Exception as err:  # e.g. onnxruntime missing: the model still works on the exact path
        wanted = runtime.requested_backend(model)  # not resolved again: resolving may be what failed
        logger.warning("%s: backend %r not available (%s); using fp32.", slot.title, wanted, err)
        model.set_backend("fp32")
    return loaded


def load_models(ids: Mapping[str, str]) -> dict[str, LoadedModel]:
    """Load every slot's model once. One after the other: huggingface_hub's shared HTTP session is not safe to use
    from several threads while it retries (one thread's retry closes it for the others)."""
    return {name: load_model(slot, ids[name]) for name, slot in SLOTS.items()}


def availability_note(models: Mapping[str, LoadedModel], names: list[str]) -> str:
    """A line for a tab listing which of its models could not be loaded (empty when all are there)."""
    missing = [models[name] for name in names if models[name].model is None]
    return "\n".join(f"⚠️ **{m.slot.title}** (`{m.id}`) is not available: {m.error}" for m in missing)


def class_choices(model: HubModel | None) -> list[tuple[str, int]]:
    """(name, index) of each class of a class-conditional generator; [] for an unconditional one.

    Ten classes are named after Fashion-MNIST's, the data set of the demo's generators; others are numbered.
    """
    num_classes = getattr(model, "num_classes", 0)
    names = FASHION_MNIST_LABELS if num_classes == len(FASHION_MNIST_LABELS) else [str(i) for i in range(num_classes)]
    return [(name, i) for i, name in enumerate(names)]
