"""The flags of train.py, with diffusers' names where diffusers has one, and an optional YAML file of defaults.

Flags left unset (None) take the defaults of the model family being trained (`Objective.defaults`): a GAN wants
Adam(2e-4, betas (0.5, 0.999)) and an EMA of its generator, a denoiser Adam(1e-3) and an L2 loss, and so on.
Model keyword arguments (`--channels`, `--base_channels`, ... or `--model_kwargs '{"depth": 3}'`) are passed to
the model only when given, so each family keeps its own defaults.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from hfimg.data import CROPS
from hfimg.models.gan import DISCRIMINATOR_NORMS

# Flags that are model keyword arguments, when the model's __init__ takes them.
MODEL_KWARG_FLAGS = ("channels", "base_channels", "latent_dim", "num_classes", "features", "depth", "iterations")
# --resolution's range. Fixed-size models (GAN, VAE) narrow it to their own sizes; fully convolutional ones take
# any size in it. Beyond it one image of one batch no longer fits in memory (4096 px: 200 MB as float RGB).
MIN_RESOLUTION, MAX_RESOLUTION = 8, 4096
MAX_SEED = 2**31 - 1  # numpy's seeds stop at 2**32 - 1, and accelerate adds the rank to the seed


class ConfigError(ValueError):
    """A training run was asked for something it cannot do (bad flag, model, dataset or output folder)."""


def finite_float(low: float | None = None, *, above: bool = False, below: float | None = None):
    """An argparse `type`: a finite float (no nan/inf), at least `low` (above it with `above=True`), below `below`."""
    bounds = []
    if low is not None:
        bounds.append(f"{'>' if above else '>='} {low:g}")
    if below is not None:
        bounds.append(f"< {below:g}")
    wanted = "a finite number" + (f" {' and '.join(bounds)}" if bounds else "")

    def convert(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {wanted}, got {text!r}.") from None
        in_range = (
            math.isfinite(value)
            and (low is None or (value > low if above else value >= low))
            and (below is None or value < below)
        )
        if not in_range:
            raise argparse.ArgumentTypeError(f"expected {wanted}, got {text!r}.")
        return value

    convert.__name__ = "float"  # argparse names the type in some of its messages
    return convert


def build_parser(model_choices: Sequence[str]) -> argparse.ArgumentParser:
    """The train.py argument parser; `model_choices` are the registry names that have a training objective."""
    parser = argparse.ArgumentParser(
        prog="train.py",
        description="Train an hfimg model (GAN, VAE, inpainter or denoiser) with accelerate.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        allow_abbrev=False,  # `--learning_rat 0.1` is an error, not silently --learning_rate
    )
    parser.add_argument("--config", default=None, help="YAML file of flag defaults (keys = flag names without --).")

    group = parser.add_argument_group("model and data")
    group.add_argument("--model", choices=list(model_choices), help="Model family to train (registry name).")
    group.add_argument(
        "--dataset",
        help="Image corpus: a Hub dataset id, a local image folder, parquet/arrow file(s), or 'fashion_mnist'.",
    )
    group.add_argument("--split", default="train", help="Dataset split to train on.")
    group.add_argument("--image_column", default=None, help="Image column of the dataset (found automatically).")
    group.add_argument(
        "--resolution",
        type=int,
        default=None,
        help="Training image size; images are resized and cropped to it. Default: the model's own resolution, "
        f"else 64. GANs and VAEs take 32, 64 or 128; the others {MIN_RESOLUTION} to {MAX_RESOLUTION}.",
    )
    group.add_argument(
        "--crop",
        choices=CROPS,
        default="center",
        help="How images become R x R: center (resize, keep the middle), random (a crop at the image's own scale) "
        "or pad (unscaled in the middle of a black frame: Fashion-MNIST's 28 px in 32 px, as the PyTorch DCGAN "
        "example trains).",
    )
    group.add_argument("--random_flip", action="store_true", help="Flip training images horizontally at random.")
    group.add_argument(
        "--crops_per_image",
        type=int,
        default=1,
        help="Random crops cut from each decoded image (with --crop random): decoding a large photo costs far "
        "more than cutting a crop, so 8-16 keeps photo training from waiting on the data.",
    )
    group.add_argument(
        "--random_scale",
        type=_float_pair,
        default=(1.0, 1.0),
        metavar="LOW,HIGH",
        help="With --crop random: see each crop at a random scale of the image in [LOW, HIGH] (log-uniform; "
        "e.g. 0.5,1.0): more edges and textures per photo of a small corpus.",
    )
    group.add_argument(
        "--random_rotate", action="store_true", help="Rotate training images by random multiples of 90 degrees."
    )
    group.add_argument(
        "--color_jitter",
        type=float,
        default=0.0,
        help="Random exposure (1 +- J) and white balance (1 +- J/2) changes of training images, e.g. 0.1.",
    )
    group.add_argument("--shuffle_buffer", type=int, default=1000, help="Size of the streaming shuffle buffer.")
    for flag, text in (
        ("channels", "1 (grey) or 3 (RGB) image channels."),
        ("base_channels", "Width of the model's first / last stage."),
        ("latent_dim", "Size of the latent code (GAN, VAE)."),
        ("num_classes", "Number of classes of a class-conditional GAN (0 = unconditional)."),
        ("features", "Hidden channels (denoiser)."),
        ("depth", "Number of layers (denoiser) or resolution halvings (inpainters)."),
        ("iterations", "Refinement passes of the recurrent inpainter."),
    ):
        group.add_argument(f"--{flag}", type=int, default=None, help=f"Model kwarg: {text} Default: the model's.")
    group.add_argument(
        "--model_kwargs",
        type=_json_object,
        default=None,
        help="Further model keyword arguments as a JSON object, e.g. '{\"dilations\": [1, 2, 4]}'.",
    )

    group = parser.add_argument_group("optimisation")
    group.add_argument("--output_dir", help="Folder for checkpoints, logs, previews and the final model.")
    group.add_argument("--train_batch_size", type=int, default=16, help="Images per process per micro-batch.")
    group.add_argument("--max_train_steps", type=int, default=1000, help="Optimizer steps to train for.")
    group.add_argument(
        "--max_train_minutes",
        type=finite_float(0, above=True),
        default=None,
        help="Also stop after this many minutes of training (wall clock, counted over resumes; setup excluded): "
        "equal-time comparisons, or a run sized to a session. A checkpoint is saved where it stops.",
    )
    group.add_argument(
        "--learning_rate",
        type=finite_float(0, above=True),
        default=None,
        help="Adam learning rate. Default: family's.",
    )
    group.add_argument(
        "--adam_beta1", type=finite_float(0, below=1), default=None, help="Adam beta1. Default: family's."
    )
    group.add_argument(
        "--adam_beta2", type=finite_float(0, below=1), default=None, help="Adam beta2. Default: family's."
    )
    group.add_argument("--adam_weight_decay", type=finite_float(0), default=0.0, help="Adam weight decay.")
    group.add_argument(
        "--gradient_accumulation_steps",
        type=int,
        default=1,
        help="Micro-batches accumulated into each optimizer step.",
    )
    group.add_argument(
        "--mixed_precision",
        choices=("no", "fp16", "bf16"),
        default=None,
        help="Autocast precision (bf16 also works on CPU). Default: the accelerate config / launcher's.",
    )
    group.add_argument("--seed", type=int, default=0, help="Seed of the model init, data order and noise.")
    group.add_argument(
        "--max_bad_steps",
        type=int,
        default=5,
        help="Stop when the loss is NaN/inf this many steps in a row (single bad steps are skipped).",
    )
    group.add_argument("--cpu", action="store_true", help="Train on CPU even if a GPU is present.")

    group = parser.add_argument_group("objective")
    group.add_argument("--loss", choices=("l1", "l2"), default=None, help="Pixel loss. Default: family's.")
    group.add_argument("--gan_loss", choices=("bce", "hinge"), default="bce", help="GAN loss on the logits.")
    group.add_argument(
        "--ema_decay",
        type=finite_float(0, below=1),
        default=None,
        help="Decay of the EMA of the weights that is saved and sampled (0 = no EMA). Default: 0.999 for GANs, "
        "0 otherwise.",
    )
    group.add_argument(
        "--disc_base_channels", type=int, default=None, help="Discriminator width. Default: the generator's."
    )
    group.add_argument(
        "--disc_norm",
        choices=DISCRIMINATOR_NORMS,
        default="spectral",
        help="GAN: the discriminator's normalisation, spectral norm or the DCGAN paper's BatchNorm.",
    )
    group.add_argument("--kl_weight", type=finite_float(0), default=1.0, help="VAE: beta, the weight of the KL term.")
    group.add_argument("--kl_warmup_steps", type=int, default=0, help="VAE: steps over which beta ramps from 0.")
    group.add_argument(
        "--hole_weight", type=finite_float(0), default=6.0, help="Inpainters: weight of the L1 in the hole."
    )
    group.add_argument(
        "--valid_weight", type=finite_float(0), default=1.0, help="Inpainters: weight of the L1 outside it."
    )
    group.add_argument(
        "--ssim_weight", type=finite_float(0), default=0.0, help="Inpainters: weight of a (1 - SSIM) term."
    )
    group.add_argument(
        "--adv_weight",
        type=finite_float(0),
        default=0.0,
        help="Inpainters: weight of an adversarial term (needs 32/64/128 px).",
    )
    group.add_argument(
        "--adv_kind",
        choices=("image", "patch"),
        default="image",
        help="Inpainters: what the adversarial term's discriminator judges: whole images (a DCGAN discriminator) "
        "or the patches that overlap the hole (a PatchGAN, as LaMa trains; any resolution that is a multiple of 8).",
    )
    group.add_argument(
        "--feature_matching_weight",
        type=finite_float(0),
        default=10.0,
        help="Inpainters with --adv_kind patch: weight of feature matching (L1 between the discriminator's "
        "activations on the fill and on the real image).",
    )
    group.add_argument(
        "--gradient_weight",
        type=finite_float(0),
        default=0.0,
        help="Inpainters: weight of an L1 on the Sobel derivatives in the hole (rewards edges a pixel loss blurs).",
    )
    group.add_argument(
        "--step_weight",
        type=finite_float(0),
        default=0.0,
        help="Recurrent inpainter: weight of the loss on each pass's output (0 = final output only).",
    )
    group.add_argument(
        "--hole_range",
        type=_float_pair,
        default=(0.1, 0.5),
        help="Inpainters: range of the hole's share of the image, 'LOW,HIGH'.",
    )
    group.add_argument(
        "--mask_kind", choices=("mixed", "strokes", "boxes"), default="mixed", help="Inpainters: training masks."
    )
    group.add_argument(
        "--sigma_min", type=finite_float(0), default=0.0, help="Denoiser: lowest noise sigma (0-255 scale)."
    )
    group.add_argument(
        "--sigma_max", type=finite_float(0), default=55.0, help="Denoiser: highest noise sigma (0-255 scale)."
    )

    group = parser.add_argument_group("checkpoints, logging and the Hub")
    group.add_argument("--checkpointing_steps", type=int, default=500, help="Save a checkpoint every N steps (0=off).")
    group.add_argument(
        "--checkpoints_total_limit", type=int, default=None, help="Keep at most this many checkpoints (oldest go)."
    )
    group.add_argument(
        "--lr_scheduler",
        choices=("constant", "cosine"),
        default="constant",
        help="Learning rate over the run: constant, or cosine (from --learning_rate down to 0 at "
        "--max_train_steps; the last steps at a small rate settle the weights, worth a few tenths of a dB for "
        "restoration models).",
    )
    group.add_argument(
        "--init_weights",
        default=None,
        help="Start from the weights of this model (a folder, bundled id or Hub id) instead of a random "
        "initialisation: one of the same family and settings, or, for inpaint-rcnn, an inpaint-cnn whose network "
        "becomes the recurrent block (fine-tuning). A resumed run ignores it: the checkpoint's weights win.",
    )
    group.add_argument(
        "--resume_from_checkpoint",
        default=None,
        help="A checkpoint folder to continue from, or 'latest' (the newest in --output_dir; a fresh start if none).",
    )
    group.add_argument(
        "--report_to",
        choices=("tensorboard", "trackio", "none"),
        default="tensorboard",
        help="Tracker for metrics and previews.",
    )
    group.add_argument("--logging_dir", default="logs", help="Tracker log folder, relative to --output_dir.")
    group.add_argument("--logging_steps", type=int, default=10, help="Log the mean losses every N steps.")
    group.add_argument("--sample_steps", type=int, default=250, help="Save a preview grid every N steps (0 = off).")
    group.add_argument("--num_preview", type=int, default=8, help="Images per preview grid row.")
    group.add_argument("--push_to_hub", action="store_true", help="Upload the final model folder to the Hub.")
    group.add_argument(
        "--hub_model_id", default=None, help="Hub repo id to push to. Default: the name of --output_dir."
    )
    return parser


def parse_args(argv: Sequence[str] | None, model_choices: Sequence[str]) -> argparse.Namespace:
    """Parse train.py's flags (a YAML `--config` gives defaults, the command line wins) and check them."""
    parser = build_parser(model_choices)
    argv = list(sys.argv[1:] if argv is None else argv)
    known, _ = parser.parse_known_args(argv)
    config = [] if known.config is None else _config_tokens(known.config, parser)
    args = parser.parse_args([*config, *argv])  # the command line comes last, so it wins
    for name in ("model", "dataset", "output_dir"):
        if getattr(args, name) is None:
            parser.error(f"--{name} is required (on the command line or in --config).")
    problem = _check(args)
    if problem:
        parser.error(problem)
    # The command line as typed, for the model card.
    args.command = shlex.join(["train.py", *argv])
    return args


def _config_tokens(path: str, parser: argparse.ArgumentParser) -> list[str]:
    """The YAML file's values as command-line tokens, so argparse converts and checks them like typed flags."""
    import yaml  # only needed with --config

    try:
        values = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        parser.error(f"--config {path}: cannot read it as YAML ({err}).")
    if not isinstance(values, dict):
        parser.error(f"--config {path}: expected a mapping of flag names to values, got {type(values).__name__}.")
    unknown = sorted(set(values) - set(vars(parser.parse_args([]))) - {"config"})
    if unknown:
        parser.error(f"--config {path}: unknown keys {unknown}; keys are flag names without '--', e.g. 'model'.")
    tokens = []
    for name, value in values.items():
        if isinstance(value, bool):  # a switch such as random_flip: present or not
            tokens += [f"--{name}"] if value else []
        elif isinstance(value, list):  # hole_range: [0.1, 0.5]
            tokens += [f"--{name}", ",".join(str(item) for item in value)]
        elif isinstance(value, dict):  # model_kwargs
            tokens += [f"--{name}", json.dumps(value)]
        elif value is not None:
            tokens += [f"--{name}", str(value)]
    return tokens


def _float_pair(text: str) -> tuple[float, float]:
    try:
        low, high = (float(part) for part in text.split(","))
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected two numbers 'LOW,HIGH', got {text!r}") from None
    if not (math.isfinite(low) and math.isfinite(high)):
        raise argparse.ArgumentTypeError(f"expected two finite numbers 'LOW,HIGH', got {text!r}")
    return low, high


def _json_object(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"not valid JSON ({err}): {text!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object like '{{\"depth\": 3}}', got {text!r}")
    return value


def _check(args: argparse.Namespace) -> str | None:
    """The first problem with the flag values, or None."""
    at_least_1 = ("train_batch_size", "max_train_steps", "gradient_accumulation_steps", "max_bad_steps")
    at_least_1 += ("crops_per_image", "disc_base_channels", *(f for f in MODEL_KWARG_FLAGS if f != "num_classes"))
    for name in at_least_1:
        if getattr(args, name) is not None and getattr(args, name) < 1:
            return f"--{name} must be at least 1, got {getattr(args, name)}."
    at_least_0 = ("checkpointing_steps", "sample_steps", "logging_steps", "num_preview", "shuffle_buffer")
    for name in (*at_least_0, "kl_warmup_steps", "num_classes"):
        if getattr(args, name) is not None and getattr(args, name) < 0:
            return f"--{name} must be 0 or more, got {getattr(args, name)}."
    if not 0 <= args.seed <= MAX_SEED:
        return f"--seed must be between 0 and {MAX_SEED}, got {args.seed}."
    if args.logging_steps == 0:
        return "--logging_steps must be at least 1."
    if args.checkpoints_total_limit is not None and args.checkpoints_total_limit < 1:
        return f"--checkpoints_total_limit must be at least 1, got {args.checkpoints_total_limit}."
    if args.resolution is not None and not MIN_RESOLUTION <= args.resolution <= MAX_RESOLUTION:
        return (
            f"--resolution must be between {MIN_RESOLUTION} and {MAX_RESOLUTION} pixels (GANs and VAEs: 32, 64 or "
            f"128), got {args.resolution}."
        )
    low, high = args.random_scale
    if not 0 < low <= high <= 1:
        return f"--random_scale must be LOW,HIGH with 0 < LOW <= HIGH <= 1, got {low:g},{high:g}."
    if (low, high) != (1, 1) and args.crop != "random":
        return f"--random_scale {low:g},{high:g} needs --crop random (it picks the scale of each random crop)."
    if not 0 <= args.color_jitter < 1:
        return f"--color_jitter must be a fraction in [0, 1), got {args.color_jitter}."
    if args.crops_per_image > 1 and args.crop != "random":
        return f"--crops_per_image {args.crops_per_image} needs --crop random (a center crop is the same every time)."
    low, high = args.hole_range
    if not 0.0 < low <= high < 1.0:
        return f"--hole_range must satisfy 0 < LOW <= HIGH < 1, got {low},{high}."
    if not 0.0 <= args.sigma_min <= args.sigma_max:
        return f"--sigma_min/--sigma_max must satisfy 0 <= min <= max, got {args.sigma_min}, {args.sigma_max}."
    return None
