"""The typed configuration of a training run, and every default of it, in one place.

`TrainingConfig` holds the settings every family reads; the settings only some families read are grouped in
sections of their own (`adversarial`, `vae`, `inpaint`, `denoise`), so a reader sees which apply to what. Field
names are train.py's flag names (`--kl_weight` is `config.vae.kl_weight`), and a YAML `--config` file uses them as
keys. Settings left unset (None) that depend on the model family are filled in by `resolve`, the one step that
computes values after parsing: the optimizer and loss of the family (`family_defaults`) and the resolution. The
Trainer takes the resolved config; nothing changes it after that.

    >>> config = resolve(TrainingConfig(model="denoise-cnn", dataset="photos", output_dir="runs/dn"))  # doctest: +SKIP
    >>> config.learning_rate, config.denoise.sigma_max, config.resolution  # doctest: +SKIP
    (0.001, 55.0, 64)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from hfimg.registry import FAMILIES, model_class

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


class ConfigError(ValueError):
    """A training run was asked for something it cannot do (bad flag, model, dataset or output folder)."""


@dataclass(frozen=True)
class AdversarialConfig:
    """The discriminator: the GAN's own, and the one a VAE or an inpainter trains alongside when adv_weight > 0."""

    adv_weight: float = 0.0  # VAE, inpainters: weight of the adversarial term (0 = none); unused by the GAN
    disc_base_channels: int | None = None  # discriminator width; None = the generator's (GAN), else 32
    disc_norm: str = "spectral"  # "spectral" or "batch" (the DCGAN paper's); the PatchGAN has its own
    gan_loss: GANLoss = "bce"  # loss on the logits: non-saturating BCE or hinge (the PatchGAN is always BCE)


@dataclass(frozen=True)
class VAEConfig:
    """Settings only the VAE reads."""

    kl_weight: float = 1.0  # beta, the weight of the KL term
    kl_warmup_steps: int = 0  # optimizer steps over which beta ramps up from 0


@dataclass(frozen=True)
class InpaintConfig:
    """Settings only the inpainters read (inpaint-cnn, inpaint-rcnn)."""

    hole_weight: float = 6.0  # weight of the L1 in the hole
    valid_weight: float = 1.0  # weight of the L1 outside the hole
    ssim_weight: float = 0.0  # weight of a (1 - SSIM) term on the composite
    adv_kind: AdversarialKind = "image"  # the adversarial term judges whole images, or the patches over the hole
    feature_matching_weight: float = 10.0  # with adv_kind "patch": L1 between discriminator activations
    gradient_weight: float = 0.0  # weight of an L1 on the Sobel derivatives in the hole
    texture_weight: float = 0.0  # weight of a Gram-matrix texture loss on fixed random-CNN features of the composite
    step_weight: float = 0.0  # recurrent inpainter: weight of the loss on each pass's output (0 = final only)
    hole_range: tuple[float, float] = (0.1, 0.5)  # range of the hole's share of the image
    mask_kind: MaskKind = "mixed"  # training masks: brush strokes, boxes, or both


@dataclass(frozen=True)
class DenoiseConfig:
    """Settings only the denoisers read (denoise-cnn, denoise-unet)."""

    sigma_min: float = 0.0  # lowest noise sigma, grey levels (0-255 scale)
    sigma_max: float = 55.0  # highest noise sigma, grey levels (DnCNN-B's blind range is 0-55)
    # How each image's loss is weighted by its noise level: "none" (plain mean: the high levels, whose errors are
    # largest, steer training) or "inverse" ((25 / max(sigma, 5))**2: every level's error counts relative to it).
    sigma_weighting: SigmaWeighting = "none"


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
    """Every setting of a training run (train.py's flags); see `build_parser` for each flag's help.

    Fields left None are resolved by `resolve`: the family's optimizer, loss and EMA, and the resolution.
    """

    # Model and data.
    model: str  # registry name of the family to train
    dataset: str  # Hub dataset id, local image folder, parquet/arrow file(s), or "fashion_mnist"
    output_dir: str  # folder for checkpoints, logs, previews and the final model
    split: str = "train"  # dataset split to train on
    image_column: str | None = None  # image column of the dataset; None = found automatically
    resolution: int | None = None  # training image size, px; None = the model's own, else DEFAULT_RESOLUTION
    crop: str = "center"  # how images become R x R: "center", "random" or "pad" (hfimg.data.CROPS)
    random_flip: bool = False  # flip training images horizontally at random
    crops_per_image: int = 1  # random crops cut from each decoded image (with crop "random")
    random_scale: tuple[float, float] = (1.0, 1.0)  # with crop "random": range of the crops' scale, log-uniform
    random_rotate: bool = False  # rotate training images by random multiples of 90 degrees
    color_jitter: float = 0.0  # random exposure (1 +- J) and white balance (1 +- J/2) changes, a fraction
    shuffle_buffer: int = 1000  # images in the streaming shuffle buffer
    # Model keyword arguments, passed only when set (None = the model's own default).
    channels: int | None = None  # 1 (grey) or 3 (RGB) image channels
    base_channels: int | None = None  # width of the model's first / last stage
    latent_dim: int | None = None  # size of the latent code (GAN, VAE)
    num_classes: int | None = None  # classes of a class-conditional GAN (0 = unconditional)
    features: int | None = None  # hidden channels (denoiser)
    depth: int | None = None  # layers (denoiser) or resolution halvings (inpainters)
    iterations: int | None = None  # refinement passes of the recurrent inpainter
    model_kwargs: dict[str, Any] | None = None  # further model keyword arguments

    # Optimisation.
    train_batch_size: int = 16  # images per process per micro-batch
    max_train_steps: int = 1000  # optimizer steps to train for
    max_train_minutes: float | None = None  # also stop after this many minutes of training (None = no limit)
    learning_rate: float | None = None  # Adam learning rate; None = the family's
    adam_beta1: float | None = None  # None = the family's
    adam_beta2: float | None = None  # None = the family's
    adam_weight_decay: float = 0.0  # Adam's (L2) weight decay
    gradient_accumulation_steps: int = 1  # micro-batches accumulated into each optimizer step
    mixed_precision: Precision | None = None  # autocast precision; None = the accelerate config / launcher's
    seed: int = 0  # seed of the model init, data order and noise
    max_bad_steps: int = 5  # stop when the loss is NaN/inf this many optimizer steps in a row
    cpu: bool = False  # train on CPU even if a GPU is present

    # Objective: the settings every family reads; the others are in the sections below.
    loss: Loss | None = None  # pixel loss; None = the family's
    ema_decay: float | None = None  # decay of the EMA that is saved and sampled (0 = no EMA); None = the family's
    adversarial: AdversarialConfig = field(default_factory=AdversarialConfig)
    vae: VAEConfig = field(default_factory=VAEConfig)
    inpaint: InpaintConfig = field(default_factory=InpaintConfig)
    denoise: DenoiseConfig = field(default_factory=DenoiseConfig)

    # Checkpoints, logging and the Hub.
    checkpointing_steps: int = 500  # save a checkpoint every N optimizer steps (0 = never)
    checkpoints_total_limit: int | None = None  # keep at most this many checkpoints (None = all)
    lr_scheduler: Schedule = "constant"  # learning rate over the run: constant, or cosine down to 0
    init_weights: str | None = None  # start from the weights of this model (folder, bundled id or Hub id)
    resume_from_checkpoint: str | None = None  # a checkpoint folder, or "latest" in output_dir
    report_to: Tracker = "tensorboard"  # tracker for metrics and previews
    logging_dir: str = "logs"  # tracker log folder, relative to output_dir
    logging_steps: int = 10  # log the mean losses every N optimizer steps
    sample_steps: int = 250  # save a preview grid every N optimizer steps (0 = never)
    num_preview: int = 8  # images per preview grid row
    push_to_hub: bool = False  # upload the final model folder to the Hub
    hub_model_id: str | None = None  # Hub repo to push to; None = the name of output_dir

    # Where the settings came from, for the run record and the model card.
    config: str | None = None  # the YAML file of defaults (--config), if any
    command: str = "train.py"  # the command line as typed

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
        for name, section in SECTIONS.items():
            keys = {item.name for item in dataclasses.fields(section)} & set(values)
            sections[name] = section(**{key: values.pop(key) for key in keys})
        return cls(**values, **sections)


SECTIONS: dict[str, type] = {
    "adversarial": AdversarialConfig,
    "vae": VAEConfig,
    "inpaint": InpaintConfig,
    "denoise": DenoiseConfig,
}


def setting_defaults() -> dict[str, Any]:
    """The default of every setting by flag name (None for the required ones: model, dataset, output_dir)."""
    defaults = {}
    for cls in (TrainingConfig, *SECTIONS.values()):
        for item in dataclasses.fields(cls):
            if item.name in SECTIONS:
                continue
            has_default = item.default is not dataclasses.MISSING
            defaults[item.name] = item.default if has_default else None
    return defaults


def resolve(config: TrainingConfig) -> TrainingConfig:
    """The config with what depends on the family filled in: the settings left None that `family_defaults` gives,
    and the resolution (the model's own default, else `DEFAULT_RESOLUTION`). A resolved config comes back equal.

    Raises:
        ConfigError: the model has no training objective.
    """
    defaults = family_defaults()
    if config.model not in defaults:
        raise ConfigError(f"cannot train {config.model!r}; trainable models: {', '.join(defaults)}.")
    family = defaults[config.model]
    settings = {item.name for item in dataclasses.fields(config)}  # channels_last_bf16 is the family's, not the run's
    changes = {
        item.name: getattr(family, item.name)
        for item in dataclasses.fields(family)
        if item.name in settings and getattr(config, item.name) is None
    }
    if config.resolution is None:
        changes["resolution"] = model_class(config.model).init_defaults().get("resolution", DEFAULT_RESOLUTION)
    return dataclasses.replace(config, **changes) if changes else config
