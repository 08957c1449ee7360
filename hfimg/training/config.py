"""The typed configuration of a training run: every setting, its default and its train.py flag, declared once.

`TrainingConfig` holds the settings every family reads; the settings only some families read are grouped in
sections of their own (`adversarial`, `vae`, `inpaint`, `denoise`), so a reader sees which apply to what. Each
field is declared with `setting`, which gives it, besides its default, what its flag needs: the help text, the
converter of the flag's text (`hfimg.training.converters`) or its choices (from a `Literal` type, else given), and
its group in --help. `hfimg.training.arguments.build_parser` makes the flags from these fields, so a setting added
here is a flag, with its help, and a YAML `--config` key. Field names are the flag names (`--kl_weight` is
`config.vae.kl_weight`).

Settings left unset (None) that depend on the model family are filled in by `resolve`, the one step that computes
values after parsing: the optimizer and loss of the family (`family_defaults`) and the resolution. The config it
returns records that it is resolved, so the later steps that need a resolved config (`Trainer`, `build_model`) take
it as it is, and resolve only a config built by hand. Nothing changes a config after that.

    >>> config = resolve(TrainingConfig(model="denoise-cnn", dataset="photos", output_dir="runs/dn"))  # doctest: +SKIP
    >>> config.learning_rate, config.denoise.sigma_max, config.resolution, config.resolved  # doctest: +SKIP
    (0.001, 55.0, 64, True)
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Union, get_args, get_origin, get_type_hints

from hfimg.data import CROPS
from hfimg.models.gan import DISCRIMINATOR_NORMS
from hfimg.registry import FAMILIES, model_class
from hfimg.training.converters import finite_float, float_pair, json_object

Loss = Literal["l1", "l2"]
GANLoss = Literal["bce", "hinge"]
AdversarialKind = Literal["image", "patch"]
MaskKind = Literal["mixed", "strokes", "boxes"]
SigmaWeighting = Literal["none", "inverse"]
Precision = Literal["no", "fp16", "bf16"]
Schedule = Literal["constant", "cosine"]
Tracker = Literal["tensorboard", "trackio", "none"]

# Settings that are model keyword arguments, when the model's __init__ takes them.
MODEL_KWARG_FLAGS = ("channels", "base_channels", "latent_dim", "num_classes", "features", "depth", "iterations")
# --resolution's range. Fixed-size models (GAN, VAE) narrow it to their own sizes; fully convolutional ones take
# any size in it. Beyond it one image of one batch no longer fits in memory (4096 px: 200 MB as float RGB).
MIN_RESOLUTION, MAX_RESOLUTION = 8, 4096
DEFAULT_RESOLUTION = 64  # for fully convolutional models, which have no resolution of their own
MAX_SEED = 2**31 - 1  # numpy's seeds stop at 2**32 - 1, and accelerate adds the rank to the seed
# A YAML --config file of flag values is a few hundred bytes. Bounded, with a message, so that a hostile one cannot
# take the machine: a 500-byte alias bomb expands to 387 million values when a message quotes it.
MAX_CONFIG_BYTES = 1_000_000  # read at most this much of the file
MAX_CONFIG_VALUES = 10_000  # scalars, lists and mappings in the file's values, each alias counted as what it repeats

# The groups of train.py --help, in their order there.
DATA = "model and data"
OPTIMISATION = "optimisation"
OBJECTIVE = "objective"
OUTPUT = "checkpoints, logging and the Hub"
GROUPS = (DATA, OPTIMISATION, OBJECTIVE, OUTPUT)


class ConfigError(ValueError):
    """A training run was asked for something it cannot do (bad flag, model, dataset or output folder)."""


def setting(
    default: Any = dataclasses.MISSING,
    *,
    help: str,
    type: Callable[[Any], Any] | None = None,
    choices: Sequence[str] | None = None,
    metavar: str | None = None,
    group: str | None = None,
) -> Any:
    """A config field that is also the train.py flag of its name, with what the flag needs in the field's metadata.

    Args:
        default: the setting's default (none for a required one).
        help: the flag's help text.
        type: the converter of the flag's text or YAML value (`hfimg.training.converters`). Not needed for an int
            (`integer`), a str (taken as it is), a bool (a switch) or a `Literal` (one of its values).
        choices: the values allowed, where the type is no `Literal`.
        metavar: the flag's value in --help, where the field name says too little.
        group: the group in --help (one of `GROUPS`); a section's settings take their section's.
    """
    metadata = {"help": help, "type": type, "choices": choices, "metavar": metavar, "group": group}
    return field(default=default, metadata=metadata)


def non_negative(default: float, *, help: str, group: str | None = None) -> Any:
    """A `setting` that is a finite number >= 0: the weight of a loss term, a noise level."""
    return setting(default, type=finite_float(0), help=help, group=group)


def model_kwarg(text: str) -> Any:
    """The `setting` of a model keyword argument (`MODEL_KWARG_FLAGS`), None unless set: the model's own default."""
    return setting(None, help=f"Model kwarg: {text} Default: the model's.", group=DATA)


def section(cls: type, *, group: str) -> Any:
    """A config field holding a section of settings (a frozen dataclass of `setting`s), listed in --help's `group`."""
    return field(default_factory=cls, metadata={"group": group})


@dataclass(frozen=True)
class AdversarialConfig:
    """The discriminator: the GAN's own, and the one a VAE or an inpainter trains alongside when adv_weight > 0."""

    # VAE and inpainters (0 = none); the GAN's loss is all adversarial, it has no weight.
    adv_weight: float = non_negative(0.0, help="Inpainters: weight of an adversarial term (needs 32/64/128 px).")
    # None = the generator's width (GAN), else 32.
    disc_base_channels: int | None = setting(None, help="Discriminator width. Default: the generator's.")
    # The PatchGAN has its own normalisation, and is always trained with BCE.
    disc_norm: str = setting(
        "spectral",
        choices=DISCRIMINATOR_NORMS,
        help="GAN: the discriminator's normalisation, spectral norm or the DCGAN paper's BatchNorm.",
    )
    gan_loss: GANLoss = setting("bce", help="GAN loss on the logits.")


@dataclass(frozen=True)
class VAEConfig:
    """Settings only the VAE reads."""

    kl_weight: float = non_negative(1.0, help="VAE: beta, the weight of the KL term.")
    kl_warmup_steps: int = setting(0, help="VAE: steps over which beta ramps from 0.")


@dataclass(frozen=True)
class InpaintConfig:
    """Settings only the inpainters read (inpaint-cnn, inpaint-rcnn)."""

    hole_weight: float = non_negative(6.0, help="Inpainters: weight of the L1 in the hole.")
    valid_weight: float = non_negative(1.0, help="Inpainters: weight of the L1 outside it.")
    # On the composite: the fill in the hole, the image outside it.
    ssim_weight: float = non_negative(0.0, help="Inpainters: weight of a (1 - SSIM) term.")
    adv_kind: AdversarialKind = setting(
        "image",
        help="Inpainters: what the adversarial term's discriminator judges: whole images (a DCGAN discriminator) "
        "or the patches that overlap the hole (a PatchGAN, as LaMa trains; any resolution that is a multiple of 8).",
    )
    feature_matching_weight: float = non_negative(
        10.0,
        help="Inpainters with --adv_kind patch: weight of feature matching (L1 between the discriminator's "
        "activations on the fill and on the real image).",
    )
    gradient_weight: float = non_negative(
        0.0,
        help="Inpainters: weight of an L1 on the Sobel derivatives in the hole (rewards edges a pixel loss blurs).",
    )
    texture_weight: float = non_negative(
        0.0,
        help="Inpainters: weight of a texture loss: L1 between the Gram matrices of the composite's and the image's "
        "features in a fixed random-weight CNN (rewards the photo's texture in the fill; no downloaded network).",
    )
    step_weight: float = non_negative(
        0.0,
        help="Recurrent inpainter: weight of the loss on each pass's output (0 = final output only).",
    )
    hole_range: tuple[float, float] = setting(
        (0.1, 0.5), type=float_pair, help="Inpainters: range of the hole's share of the image, 'LOW,HIGH'."
    )
    mask_kind: MaskKind = setting("mixed", help="Inpainters: training masks.")  # brush strokes, boxes, or both


@dataclass(frozen=True)
class DenoiseConfig:
    """Settings only the denoisers read (denoise-cnn, denoise-unet)."""

    sigma_min: float = non_negative(0.0, help="Denoiser: lowest noise sigma (0-255 scale).")
    # DnCNN-B's blind range is 0-55.
    sigma_max: float = non_negative(55.0, help="Denoiser: highest noise sigma (0-255 scale).")
    # With "none" (a plain mean) the high levels, whose errors are largest, steer training; with "inverse" every
    # level's error counts relative to it.
    sigma_weighting: SigmaWeighting = setting(
        "none",
        help="Denoiser: weight of each image's loss by its noise level: none, or inverse ((25 / max(sigma, 5))**2, "
        "so low levels count as much as high ones).",
    )


@dataclass(frozen=True)
class FamilyDefaults:
    """The optimizer, loss and EMA a family trains with unless the run sets them."""

    learning_rate: float = 1e-3  # Adam's learning rate
    adam_beta1: float = 0.9  # Adam's decay of the gradient average
    adam_beta2: float = 0.999  # Adam's decay of the squared-gradient average
    loss: Loss = "l2"  # pixel loss
    ema_decay: float = 0.0  # decay of the EMA of the weights that is saved and sampled (0 = no EMA)
    # bf16 on CPU trains its networks in channels_last memory format, where that measured faster (bench_train.py)
    channels_last_bf16: bool = False


# By registry name, for every family that declares training defaults (`hfimg.families.register_model`, beside the
# class: a GAN wants Adam(2e-4, betas (0.5, 0.999)) and an EMA of its generator, the inpainters an L1, ...).
def family_defaults() -> dict[str, FamilyDefaults]:
    """Registry name -> its training defaults, for every family train.py trains, read from the families as they
    are registered now (a family registered later, a test's toy one, is included)."""
    return {
        name: FamilyDefaults(**family.training_defaults)
        for name, family in FAMILIES.items()
        if family.training_defaults is not None
    }


@dataclass(frozen=True)
class TrainingConfig:
    """Every setting of a training run (train.py's flags, with their help).

    Fields left None are resolved by `resolve`: the family's optimizer, loss and EMA, and the resolution.
    """

    model: str = setting(help="Model family to train (registry name).", group=DATA)  # choices: the trainable ones
    dataset: str = setting(
        help="Image corpus: a Hub dataset id, a local image folder, parquet/arrow file(s), or 'fashion_mnist'.",
        group=DATA,
    )
    output_dir: str = setting(help="Folder for checkpoints, logs, previews and the final model.", group=OPTIMISATION)
    split: str = setting("train", help="Dataset split to train on.", group=DATA)
    image_column: str | None = setting(None, help="Image column of the dataset (found automatically).", group=DATA)
    resolution: int | None = setting(
        None,
        help="Training image size; images are resized and cropped to it. Default: the model's own resolution, "
        f"else 64. GANs and VAEs take 32, 64 or 128; the others {MIN_RESOLUTION} to {MAX_RESOLUTION}.",
        group=DATA,
    )
    crop: str = setting(
        "center",
        choices=CROPS,
        help="How images become R x R: center (resize, keep the middle), random (a crop at the image's own scale) "
        "or pad (unscaled in the middle of a black frame: Fashion-MNIST's 28 px in 32 px, as the PyTorch DCGAN "
        "example trains).",
        group=DATA,
    )
    random_flip: bool = setting(False, help="Flip training images horizontally at random.", group=DATA)
    crops_per_image: int = setting(
        1,
        help="Random crops cut from each decoded image (with --crop random): decoding a large photo costs far "
        "more than cutting a crop, so 8-16 keeps photo training from waiting on the data.",
        group=DATA,
    )
    random_scale: tuple[float, float] = setting(
        (1.0, 1.0),
        type=float_pair,
        metavar="LOW,HIGH",
        help="With --crop random: see each crop at a random scale of the image in [LOW, HIGH] (log-uniform; "
        "e.g. 0.5,1.0): more edges and textures per photo of a small corpus.",
        group=DATA,
    )
    random_rotate: bool = setting(False, help="Rotate training images by random multiples of 90 degrees.", group=DATA)
    color_jitter: float = setting(
        0.0,
        type=float,
        help="Random exposure (1 +- J) and white balance (1 +- J/2) changes of training images, e.g. 0.1.",
        group=DATA,
    )
    shuffle_buffer: int = setting(1000, help="Size of the streaming shuffle buffer.", group=DATA)
    # Model keyword arguments, passed to the model only when set.
    channels: int | None = model_kwarg("1 (grey) or 3 (RGB) image channels.")
    base_channels: int | None = model_kwarg("Width of the model's first / last stage.")
    latent_dim: int | None = model_kwarg("Size of the latent code (GAN, VAE).")
    num_classes: int | None = model_kwarg("Number of classes of a class-conditional GAN (0 = unconditional).")
    features: int | None = model_kwarg("Hidden channels (denoiser).")
    depth: int | None = model_kwarg("Number of layers (denoiser) or resolution halvings (inpainters).")
    iterations: int | None = model_kwarg("Refinement passes of the recurrent inpainter.")
    model_kwargs: dict[str, Any] | None = setting(
        None,
        type=json_object,
        help="Further model keyword arguments as a JSON object, e.g. '{\"dilations\": [1, 2, 4]}'.",
        group=DATA,
    )

    train_batch_size: int = setting(16, help="Images per process per micro-batch.", group=OPTIMISATION)
    max_train_steps: int = setting(1000, help="Optimizer steps to train for.", group=OPTIMISATION)
    max_train_minutes: float | None = setting(
        None,
        type=finite_float(0, above=True),
        help="Also stop after this many minutes of training (wall clock, counted over resumes; setup excluded): "
        "equal-time comparisons, or a run sized to a session. A checkpoint is saved where it stops.",
        group=OPTIMISATION,
    )
    learning_rate: float | None = setting(
        None, type=finite_float(0, above=True), help="Adam learning rate. Default: family's.", group=OPTIMISATION
    )
    adam_beta1: float | None = setting(
        None, type=finite_float(0, below=1), help="Adam beta1. Default: family's.", group=OPTIMISATION
    )
    adam_beta2: float | None = setting(
        None, type=finite_float(0, below=1), help="Adam beta2. Default: family's.", group=OPTIMISATION
    )
    adam_weight_decay: float = non_negative(0.0, help="Adam weight decay.", group=OPTIMISATION)
    gradient_accumulation_steps: int = setting(
        1, help="Micro-batches accumulated into each optimizer step.", group=OPTIMISATION
    )
    mixed_precision: Precision | None = setting(
        None,
        help="Autocast precision (bf16 also works on CPU). Default: the accelerate config / launcher's.",
        group=OPTIMISATION,
    )
    seed: int = setting(0, help="Seed of the model init, data order and noise.", group=OPTIMISATION)
    max_bad_steps: int = setting(
        5,
        help="Stop when the loss is NaN/inf this many steps in a row (single bad steps are skipped).",
        group=OPTIMISATION,
    )
    cpu: bool = setting(False, help="Train on CPU even if a GPU is present.", group=OPTIMISATION)

    # The objective: the settings every family reads here, the others in their family's section.
    loss: Loss | None = setting(None, help="Pixel loss. Default: family's.", group=OBJECTIVE)
    ema_decay: float | None = setting(
        None,
        type=finite_float(0, below=1),
        help="Decay of the EMA of the weights that is saved and sampled (0 = no EMA). Default: 0.999 for GANs, "
        "0 otherwise.",
        group=OBJECTIVE,
    )
    adversarial: AdversarialConfig = section(AdversarialConfig, group=OBJECTIVE)
    vae: VAEConfig = section(VAEConfig, group=OBJECTIVE)
    inpaint: InpaintConfig = section(InpaintConfig, group=OBJECTIVE)
    denoise: DenoiseConfig = section(DenoiseConfig, group=OBJECTIVE)

    checkpointing_steps: int = setting(500, help="Save a checkpoint every N steps (0=off).", group=OUTPUT)
    checkpoints_total_limit: int | None = setting(
        None, help="Keep at most this many checkpoints (oldest go).", group=OUTPUT
    )
    lr_scheduler: Schedule = setting(
        "constant",
        help="Learning rate over the run: constant, or cosine (from --learning_rate down to 0 at "
        "--max_train_steps; the last steps at a small rate settle the weights, worth a few tenths of a dB for "
        "restoration models).",
        group=OUTPUT,
    )
    init_weights: str | None = setting(
        None,
        help="Start from the weights of this model (a folder, bundled id or Hub id) instead of a random "
        "initialisation: one of the same family and settings, or, for inpaint-rcnn, an inpaint-cnn whose network "
        "becomes the recurrent block (fine-tuning). A resumed run ignores it: the checkpoint's weights win.",
        group=OUTPUT,
    )
    resume_from_checkpoint: str | None = setting(
        None,
        help="A checkpoint folder to continue from, or 'latest' (the newest in --output_dir; a fresh start if none).",
        group=OUTPUT,
    )
    report_to: Tracker = setting("tensorboard", help="Tracker for metrics and previews.", group=OUTPUT)
    logging_dir: str = setting("logs", help="Tracker log folder, relative to --output_dir.", group=OUTPUT)
    logging_steps: int = setting(10, help="Log the mean losses every N steps.", group=OUTPUT)
    sample_steps: int = setting(250, help="Save a preview grid every N steps (0 = off).", group=OUTPUT)
    num_preview: int = setting(8, help="Images per preview grid row.", group=OUTPUT)
    push_to_hub: bool = setting(False, help="Upload the final model folder to the Hub.", group=OUTPUT)
    hub_model_id: str | None = setting(
        None, help="Hub repo id to push to. Default: the name of --output_dir.", group=OUTPUT
    )

    # Where the settings came from, for the run record and the model card; no flags of their own (`--config` is
    # read before the other flags, and the command line is what parse_args was given).
    config: str | None = None  # the YAML file of defaults (--config), if any
    command: str = "train.py"  # the command line as typed

    # Set by `resolve` on the config it returns. Not a field, so neither a setting nor compared; and a copy made
    # with dataclasses.replace starts unresolved, as its model or a setting set back to None may need resolving.
    _resolved: ClassVar[bool] = False

    @property
    def resolved(self) -> bool:
        """Whether `resolve` made this config: its family defaults and resolution are filled in."""
        return self._resolved

    def flat(self) -> dict[str, Any]:
        """Every setting by flag name (sections merged in), as the run record and the model card list them."""
        values = {}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            values |= dataclasses.asdict(value) if item.name in SECTIONS else {item.name: value}
        return values

    @classmethod
    def from_flat(cls, values: dict[str, Any]) -> TrainingConfig:
        """The config of flag-named `values` (as `flat` gives them); the family sections are built from their keys.

        Raises:
            TypeError: a key that is no setting, or a required one missing.
        """
        values = dict(values)
        sections = {}
        for name, section_class in SECTIONS.items():
            keys = {item.name for item in dataclasses.fields(section_class)} & set(values)
            sections[name] = section_class(**{key: values.pop(key) for key in keys})
        return cls(**values, **sections)


SECTIONS: dict[str, type] = {
    "adversarial": AdversarialConfig,
    "vae": VAEConfig,
    "inpaint": InpaintConfig,
    "denoise": DenoiseConfig,
}


@dataclass(frozen=True)
class Setting:
    """One setting of a config class as its flag sees it (`settings`)."""

    name: str
    annotation: Any  # the field's type, its names resolved (this module's annotations are strings)
    default: Any  # None for a required setting
    metadata: Mapping[str, Any]  # what `setting` gave; empty for a setting with no flag (config, command)
    group: str | None  # the --help group: the field's own, or its section's

    @property
    def is_flag(self) -> bool:
        return "help" in self.metadata

    @property
    def value_type(self) -> Any:
        """The annotation without its `| None`: `int | None` is `int`, `Loss | None` the Literal."""
        if get_origin(self.annotation) in (Union, types.UnionType):
            kinds = [kind for kind in get_args(self.annotation) if kind is not type(None)]
            return kinds[0] if len(kinds) == 1 else self.annotation
        return self.annotation


def settings(config_class: type = TrainingConfig, group: str | None = None) -> Iterator[Setting]:
    """Every setting of `config_class` in declaration order, each section's settings in place of its field; a field
    that names no group takes `group` (a section's settings, the group of the section's field)."""
    annotations = get_type_hints(config_class)
    for item in dataclasses.fields(config_class):
        annotation = annotations[item.name]
        item_group = item.metadata.get("group") or group
        if dataclasses.is_dataclass(annotation):
            yield from settings(annotation, item_group)
            continue
        default = None if item.default is dataclasses.MISSING else item.default
        yield Setting(item.name, annotation, default, item.metadata, item_group)


def setting_defaults() -> dict[str, Any]:
    """The default of every setting by flag name (None for the required ones: model, dataset, output_dir)."""
    return {item.name: item.default for item in settings()}


def resolve(config: TrainingConfig) -> TrainingConfig:
    """The config with what depends on the family filled in: the settings left None that `family_defaults` gives,
    and the resolution (the model's own default, else `DEFAULT_RESOLUTION`). A resolved config (`config.resolved`)
    comes back as it is, so each step that needs one can call this without doing the work again.

    Raises:
        ConfigError: the model has no training objective.
    """
    if config.resolved:
        return config
    defaults = family_defaults()
    if config.model not in defaults:
        raise ConfigError(f"cannot train {config.model!r}; trainable models: {', '.join(defaults)}.")
    family = defaults[config.model]
    names = {item.name for item in dataclasses.fields(config)}  # channels_last_bf16 is the family's, not the run's
    changes = {
        item.name: getattr(family, item.name)
        for item in dataclasses.fields(family)
        if item.name in names and getattr(config, item.name) is None
    }
    if config.resolution is None:
        changes["resolution"] = model_class(config.model).init_defaults().get("resolution", DEFAULT_RESOLUTION)
    resolved = dataclasses.replace(config, **changes)  # a new config: the caller's is left as it was
    object.__setattr__(resolved, "_resolved", True)  # the dataclass is frozen; this is the one place that marks it
    return resolved
