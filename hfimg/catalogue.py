"""Every method by name, tagged by task: the one catalogue the demo, the `hfimg` command and the benchmarks read.

A method (`MethodSpec`) is learned (a default model id, loaded by `hfimg.load`) or classical (a function of
`hfimg.classical`), and belongs to one task:

- "inpaint": networks, generators' latent searches and classical fills; run with `hfimg.inpainting.load_inpainter`.
- "restore": the photo denoiser, the generators' latent search, BM3D and non-local means; run with
  `hfimg.restoration.load_restorer`.
- "generate": the generators; their models are `hfimg.load`-ed as they are.

A new method is one `register_method` entry below: its command-line id, its demo slot (flag --KEY, environment
variable HFIMG_KEY) and its place in the benchmarks follow from it. No shipped model id is written anywhere else in
the package, the demo or the benchmarks.

Example:
    >>> [spec.id for spec in method_specs("restore")]
    ['denoise-cnn', 'bm3d', 'nl-means', 'gan', 'vae']
    >>> method_spec("telea", "inpaint").name
    'OpenCV Telea'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from hfimg import classical
from hfimg.constants import FASHION_MNIST_HUB_ID

if TYPE_CHECKING:
    from hfimg.hub import HubModel

Task = Literal["inpaint", "restore", "generate"]
TASKS: tuple[Task, ...] = ("inpaint", "restore", "generate")
# "photos": any image; "garments": small grey Fashion-MNIST-like images only (`hfimg.inpainting.is_garment_image`):
# on a colour photo those methods give a grey or black blob.
Domain = Literal["photos", "garments"]
# Which options.steps a method takes, so a UI can show the right control: the passes of a recurrent network, the
# steps of a latent search, or none.
StepsKind = Literal["passes", "search"] | None


@dataclass(frozen=True)
class MethodSpec:
    """One method of the catalogue.

    Attributes:
        name: shown in the demo and the benchmark reports; the loaders take it, or `id`.
        id: a short name for the command line, e.g. "telea"; unique within its task.
        summary: one line on what it is.
        task: what it does (see `Task`).
        domain: the images it is made for (see `Domain`).
        model: the default model id (bundled id, folder or Hub repo id) of a learned method; None for a classical one.
        key: the learned method's model slot in the demo: flag --KEY (dashes), environment variable HFIMG_KEY.
            Methods that share a key (the GAN generates, inpaints and restores) share one loaded model.
        model_types: registry names (`hfimg.registry.model_names`) a model given for this method may have.
        fill: a classical inpainting method's `fill(image, hole, **settings)` (`hfimg.classical`).
        denoise: a classical restore method's `denoise(image, sigma, **settings)` (`hfimg.classical`).
        settings: a classical method's settings and their defaults (e.g. OpenCV's radius).
        steps_kind: what options.steps counts for it (see `StepsKind`).
    """

    name: str
    id: str
    summary: str
    task: Task = "inpaint"
    domain: Domain = "photos"
    model: str | None = None
    key: str | None = None
    model_types: tuple[str, ...] = ()
    fill: classical.Fill | None = None
    denoise: classical.Denoise | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    steps_kind: StepsKind = None

    @property
    def env(self) -> str | None:
        """The environment variable that picks another model for this method in the demo."""
        return None if self.key is None else f"HFIMG_{self.key.upper()}"

    @property
    def classical(self) -> classical.Fill | classical.Denoise | None:
        """The function of a classical method (its task's kind), None for a learned one."""
        return self.fill if self.task == "inpaint" else self.denoise

    def checked_settings(self, model: object, settings: Mapping[str, Any] | None, interface: type) -> dict[str, Any]:
        """This method's settings updated with the caller's, once `model` is known to fit it: none for a classical
        method; for a learned one, a model offering `interface` (`hfimg.tasks`) of one of `model_types`."""
        from hfimg.registry import class_phrase  # the registry loads every model family; only a runner needs it

        if self.classical is not None and model is not None:
            raise ValueError(f"{self.name} is a classical method: it takes no model.")
        if self.classical is None and not isinstance(model, interface):
            what = "no model" if model is None else f"{class_phrase(model)}, which cannot {self.task}"
            raise TypeError(f"{self.model or self.name} is {what}.")
        if model is not None and self.model_types and model.model_type not in self.model_types:
            wanted = " or ".join(repr(name) for name in self.model_types)
            raise ValueError(f"{self.name} takes a {wanted} model, not a {model.model_type!r} one.")
        unknown = set(settings or {}) - set(self.settings)
        if unknown:
            known = ", ".join(self.settings) or "none"
            raise ValueError(f"{self.name} has no setting {', '.join(sorted(unknown))} (its settings: {known}).")
        return {**self.settings, **(settings or {})}


_METHODS: list[MethodSpec] = []


def register_method(spec: MethodSpec) -> MethodSpec:
    """Add a method to the catalogue (each task's methods in the order the demo lists them); its name and id must be
    new within its task, and it is learned (a model id) or classical (its task's function), not both."""
    if spec.task not in TASKS:
        raise ValueError(f"method {spec.name!r}: task {spec.task!r} is not one of {', '.join(TASKS)}.")
    taken = {n.casefold() for other in method_specs(spec.task) for n in (other.name, other.id)}
    if {spec.name.casefold(), spec.id.casefold()} & taken:  # names are looked up case-insensitively
        raise ValueError(f"{spec.task} method {spec.name!r} ({spec.id!r}) is registered twice.")
    functions = {"inpaint": ("fill", spec.fill), "restore": ("denoise", spec.denoise), "generate": (None, None)}
    kind, function = functions[spec.task]
    if (spec.model is None) == (function is None) or (spec.fill is not None and spec.task != "inpaint"):
        what = f"a model id or a classical {kind}, exactly one" if kind else "a model id (no classical function)"
        raise ValueError(f"{spec.task} method {spec.name!r}: give {what}.")
    if spec.denoise is not None and spec.task != "restore":
        raise ValueError(f"{spec.task} method {spec.name!r}: a denoise function is for restore methods.")
    _METHODS.append(spec)
    return spec


def method_specs(task: Task | None = None, domain: Domain | None = None) -> list[MethodSpec]:
    """The registered methods in catalogue order, optionally only those of `task` and those made for `domain`."""
    return [s for s in _METHODS if (task is None or s.task == task) and (domain is None or s.domain == domain)]


def method_spec(name_or_id: str, task: Task) -> MethodSpec | None:
    """The method of `task` with this name or id (case-insensitive), or None."""
    wanted = name_or_id.casefold()
    return next((s for s in method_specs(task) if wanted in (s.name.casefold(), s.id.casefold())), None)


def default_models(task: Task, domain: Domain | None = None, *, steps_kind: StepsKind | str = "any") -> list[str]:
    """The default model ids of `task`'s learned methods (for `domain`, and of one `steps_kind` when given), each once,
    in catalogue order: what the benchmarks measure when not told which models."""
    specs = method_specs(task, domain)
    chosen = [s.model for s in specs if s.model is not None and (steps_kind == "any" or s.steps_kind == steps_kind)]
    return list(dict.fromkeys(chosen))


def resolve_method(
    name_or_model: str | Path, task: Task, model: HubModel | None = None
) -> tuple[MethodSpec, HubModel | None]:
    """The method `name_or_model` names for `task` and its model, as the loaders and the CLI take a name: a method of
    the catalogue (by name or id; its default model is loaded unless `model` is given; a classical one has none), or
    else a model (bundled id, folder or Hub repo id, as `hfimg.load` takes) under a method entry of its own."""
    from hfimg.registry import load  # the registry loads every model family; only a runner needs it

    # A model folder named like a method (e.g. ./gan holding a config.json) is the model the user means.
    is_model_folder = (Path(name_or_model).expanduser() / "config.json").is_file()
    spec = None if is_model_folder else method_spec(str(name_or_model), task)
    if spec is None:
        model = load(name_or_model) if model is None else model
        name = f"{type(model).__name__} ({name_or_model})"
        spec = MethodSpec(name, str(name_or_model), f"the model {name_or_model}", task=task, model=str(name_or_model))
    elif spec.model is not None and model is None:
        model = load(spec.model)
    return spec, model.eval() if model is not None else None


@dataclass(frozen=True)
class BundledModel:
    """A model shipped inside the package, as its model card and the README's table of models describe it.

    Attributes:
        id: its bundled id, "hfimg/<name>".
        benchmark: the benchmark whose results (benchmarks/results/<benchmark>.json) hold its figures: "generation",
            "inpainting", "denoising" or "prior".
        trained_on: what it was trained on, in a few words, for the README's table.
        datasets: Hub dataset ids for its card's metadata.
        tags: its card's tags beyond those of its model family.
        extra_reports: further benchmark results its card shows (e.g. "gan_recipes": the DCGAN's recipe table).
    """

    id: str
    benchmark: Literal["generation", "inpainting", "denoising", "prior"]
    trained_on: str
    datasets: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    extra_reports: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The bundled folder's name: "hfimg/dcgan-fashion-mnist" -> "dcgan-fashion-mnist"."""
        return self.id.removeprefix("hfimg/")


# --- the bundled models and the catalogue: the demo lists each task's methods in this order -------------------------

DCGAN_FASHION = "hfimg/dcgan-fashion-mnist"
VAE_FASHION = "hfimg/vae-fashion-mnist"
INPAINT_CNN_PHOTOS = "hfimg/inpaint-cnn-photos"
INPAINT_RCNN_PHOTOS = "hfimg/inpaint-rcnn-photos"
DENOISE_PHOTOS = "hfimg/denoise-cnn-photos"
INPAINT_CNN_FASHION = "hfimg/inpaint-cnn-fashion-mnist"

# The models with cards and benchmark figures, in the order the README's table lists them.
BUNDLED: tuple[BundledModel, ...] = (
    BundledModel(DCGAN_FASHION, "generation", "Fashion-MNIST train", (FASHION_MNIST_HUB_ID,), ("fashion-mnist",),
                 extra_reports=("gan_recipes",)),
    BundledModel(VAE_FASHION, "generation", "Fashion-MNIST train", (FASHION_MNIST_HUB_ID,), ("fashion-mnist",)),
    BundledModel(INPAINT_CNN_PHOTOS, "inpainting", "the photo corpus, 128 then 256 px crops", tags=("photos",)),
    BundledModel(INPAINT_RCNN_PHOTOS, "inpainting", "the photo corpus, 128 then 256 px crops",
                 tags=("photos",)),
    BundledModel(DENOISE_PHOTOS, "denoising", "the photo corpus, sigma 0-55", tags=("photos", "awgn")),
    BundledModel(INPAINT_CNN_FASHION, "prior", "Fashion-MNIST train", (FASHION_MNIST_HUB_ID,),
                 ("fashion-mnist",)),
)  # fmt: skip
# The Fashion-MNIST classifiers the generation benchmarks judge generators with (benchmarks/judging.py): the first is
# the one models were selected with, the others differ in width and depth. Bundled as measuring instruments.
JUDGES = ("hfimg/fashion-mnist-classifier", "hfimg/fashion-mnist-judge-deep", "hfimg/fashion-mnist-judge-wide")


# Inpainting.
register_method(MethodSpec(
    "InpaintCNN", "inpaint-cnn", "gated-convolution U-Net, one pass, trained on photos",
    model=INPAINT_CNN_PHOTOS, key="inpaint_cnn", model_types=("inpaint-cnn",),
))  # fmt: skip
register_method(MethodSpec(
    "InpaintRCNN", "inpaint-rcnn", "recurrent CNN: one block applied pass after pass, the hole closing inwards",
    model=INPAINT_RCNN_PHOTOS, key="inpaint_rcnn", model_types=("inpaint-rcnn",), steps_kind="passes",
))  # fmt: skip
register_method(MethodSpec(
    "OpenCV Telea", "telea", "fast marching from the hole's border (Telea, 2004)",
    fill=classical.telea, settings={"radius": classical.OPENCV_RADIUS},
))  # fmt: skip
register_method(MethodSpec(
    "OpenCV Navier-Stokes", "navier-stokes", "isophotes continued into the hole (Bertalmio et al., 2001)",
    fill=classical.navier_stokes, settings={"radius": classical.OPENCV_RADIUS},
))  # fmt: skip
register_method(MethodSpec(
    "scikit-image biharmonic", "biharmonic", "the smoothest surface through the known pixels",
    fill=classical.biharmonic,
))  # fmt: skip
register_method(MethodSpec(
    "pull-push interpolation", "pull-push", "the networks' starting fill alone: averages across scales",
    fill=classical.pull_push,
))  # fmt: skip
register_method(MethodSpec(
    "pull-push + texture transfer", "pull-push-texture",
    "pull-push, then the photo's own fine detail copied into the hole (contextual residual aggregation)",
    fill=classical.pull_push_texture,
))  # fmt: skip
register_method(MethodSpec(
    "blend of fills", "blend",
    "the average of pull-push, Navier-Stokes and pull-push + texture transfer: the photo networks' starting fill",
    fill=classical.blend,
))  # fmt: skip
register_method(MethodSpec(
    "InpaintCNN (Fashion-MNIST)", "inpaint-cnn-fashion", "gated-convolution U-Net trained on Fashion-MNIST",
    domain="garments", model=INPAINT_CNN_FASHION, key="inpaint_fashion", model_types=("inpaint-cnn",),
))  # fmt: skip
register_method(MethodSpec(
    "GAN latent search", "gan", "the DCGAN image closest to the known pixels (gradient descent on its code)",
    domain="garments", model=DCGAN_FASHION, key="gan", model_types=("dcgan",), steps_kind="search",
))  # fmt: skip
register_method(MethodSpec(
    "VAE latent search", "vae", "the VAE decoder's image closest to the known pixels, from its encoder's guess",
    domain="garments", model=VAE_FASHION, key="vae", model_types=("vae",), steps_kind="search",
))  # fmt: skip

# Restoration (denoising).
register_method(MethodSpec(
    "Denoiser", "denoise-cnn", "U-Net denoiser trained on photos, blind (it estimates the noise level)",
    task="restore", model=DENOISE_PHOTOS, key="denoise", model_types=("denoise-cnn", "denoise-unet"),
))  # fmt: skip
register_method(MethodSpec(
    "BM3D (bm3d, CBM3D)", "bm3d", "block matching and 3-D filtering (Dabov et al., 2007): slow, strong",
    task="restore", denoise=classical.bm3d,
))  # fmt: skip
register_method(MethodSpec(
    "scikit-image non-local means", "nl-means", "each pixel the average of pixels with similar patches (Buades, 2005)",
    task="restore", denoise=classical.nl_means,
))  # fmt: skip
register_method(MethodSpec(
    "GAN latent search", "gan", "the DCGAN image closest to the noisy one (gradient descent on its code)",
    task="restore", domain="garments", model=DCGAN_FASHION, key="gan", model_types=("dcgan",), steps_kind="search",
))  # fmt: skip
register_method(MethodSpec(
    "VAE latent search", "vae", "the VAE decoder's image closest to the noisy one, from its encoder's guess",
    task="restore", domain="garments", model=VAE_FASHION, key="vae", model_types=("vae",), steps_kind="search",
))  # fmt: skip

# Generation.
register_method(MethodSpec(
    "DCGAN generator", "dcgan", "a DCGAN trained on Fashion-MNIST: 28x28 grey garments",
    task="generate", domain="garments", model=DCGAN_FASHION, key="gan", model_types=("dcgan",),
))  # fmt: skip
register_method(MethodSpec(
    "Convolutional VAE", "vae", "a convolutional VAE trained on Fashion-MNIST: 28x28 grey garments",
    task="generate", domain="garments", model=VAE_FASHION, key="vae", model_types=("vae",),
))  # fmt: skip
