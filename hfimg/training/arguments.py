"""The flags of train.py, with diffusers' names where diffusers has one, and an optional YAML file of defaults.

`parse_args` turns the flags into a `TrainingConfig` (hfimg.training.config), whose fields are named after them and
which holds every default. Flags left unset (None) take the defaults of the model family being trained
(`config.family_defaults`): a GAN wants Adam(2e-4, betas (0.5, 0.999)) and an EMA of its generator, a denoiser
Adam(1e-3) and an L2 loss, and so on. Model keyword arguments (`--channels`, `--base_channels`, ... or
`--model_kwargs '{"depth": 3}'`) are passed to the model only when given, so each family keeps its own defaults.

A YAML `--config` file gives values for the same settings (keys = flag names without '--'); each goes through the
flag's own conversion and checks, and a flag on the command line wins over it.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
from collections.abc import Sequence
from typing import Any, get_args

from hfimg.data import CROPS
from hfimg.models.gan import DISCRIMINATOR_NORMS
from hfimg.training.config import (
    MAX_CONFIG_BYTES,
    MAX_CONFIG_VALUES,
    MAX_RESOLUTION,
    MAX_SEED,
    MIN_RESOLUTION,
    MODEL_KWARG_FLAGS,
    AdversarialKind,
    ConfigError,
    GANLoss,
    Loss,
    MaskKind,
    Precision,
    Schedule,
    SigmaWeighting,
    Tracker,
    TrainingConfig,
    resolve,
    setting_defaults,
)

__all__ = ["ConfigError", "build_parser", "finite_float", "integer", "parse_args"]


def integer(value: str | int) -> int:
    """An argparse `type`: an integer, from a flag's text or a YAML number (not a float, not a bool)."""
    if isinstance(value, (bool, float)):
        raise ValueError(f"invalid int value: {value!r}")
    return int(value)


integer.__name__ = "int"  # argparse's message for a bad flag names the type: "invalid int value: 'x'"


def finite_float(low: float | None = None, *, above: bool = False, below: float | None = None):
    """An argparse `type`: a finite float (no nan/inf), at least `low` (above it with `above=True`), below `below`.

    It takes a flag's text or a YAML number alike.
    """
    bounds = []
    if low is not None:
        bounds.append(f"{'>' if above else '>='} {low:g}")
    if below is not None:
        bounds.append(f"< {below:g}")
    wanted = "a finite number" + (f" {' and '.join(bounds)}" if bounds else "")

    def convert(text: str | float) -> float:
        try:
            if isinstance(text, bool):  # YAML's true / false
                raise ValueError(text)
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
    parser.add_argument("--config", help="YAML file of flag defaults (keys = flag names without --).")

    group = parser.add_argument_group("model and data")
    group.add_argument("--model", choices=list(model_choices), help="Model family to train (registry name).")
    group.add_argument(
        "--dataset",
        help="Image corpus: a Hub dataset id, a local image folder, parquet/arrow file(s), or 'fashion_mnist'.",
    )
    group.add_argument("--split", help="Dataset split to train on.")
    group.add_argument("--image_column", help="Image column of the dataset (found automatically).")
    group.add_argument(
        "--resolution",
        type=integer,
        help="Training image size; images are resized and cropped to it. Default: the model's own resolution, "
        f"else 64. GANs and VAEs take 32, 64 or 128; the others {MIN_RESOLUTION} to {MAX_RESOLUTION}.",
    )
    group.add_argument(
        "--crop",
        choices=CROPS,
        help="How images become R x R: center (resize, keep the middle), random (a crop at the image's own scale) "
        "or pad (unscaled in the middle of a black frame: Fashion-MNIST's 28 px in 32 px, as the PyTorch DCGAN "
        "example trains).",
    )
    group.add_argument("--random_flip", action="store_true", help="Flip training images horizontally at random.")
    group.add_argument(
        "--crops_per_image",
        type=integer,
        help="Random crops cut from each decoded image (with --crop random): decoding a large photo costs far "
        "more than cutting a crop, so 8-16 keeps photo training from waiting on the data.",
    )
    group.add_argument(
        "--random_scale",
        type=_float_pair,
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
        help="Random exposure (1 +- J) and white balance (1 +- J/2) changes of training images, e.g. 0.1.",
    )
    group.add_argument("--shuffle_buffer", type=integer, help="Size of the streaming shuffle buffer.")
    for flag, text in (
        ("channels", "1 (grey) or 3 (RGB) image channels."),
        ("base_channels", "Width of the model's first / last stage."),
        ("latent_dim", "Size of the latent code (GAN, VAE)."),
        ("num_classes", "Number of classes of a class-conditional GAN (0 = unconditional)."),
        ("features", "Hidden channels (denoiser)."),
        ("depth", "Number of layers (denoiser) or resolution halvings (inpainters)."),
        ("iterations", "Refinement passes of the recurrent inpainter."),
    ):
        group.add_argument(f"--{flag}", type=integer, help=f"Model kwarg: {text} Default: the model's.")
    group.add_argument(
        "--model_kwargs",
        type=_json_object,
        help="Further model keyword arguments as a JSON object, e.g. '{\"dilations\": [1, 2, 4]}'.",
    )

    group = parser.add_argument_group("optimisation")
    group.add_argument("--output_dir", help="Folder for checkpoints, logs, previews and the final model.")
    group.add_argument("--train_batch_size", type=integer, help="Images per process per micro-batch.")
    group.add_argument("--max_train_steps", type=integer, help="Optimizer steps to train for.")
    group.add_argument(
        "--max_train_minutes",
        type=finite_float(0, above=True),
        help="Also stop after this many minutes of training (wall clock, counted over resumes; setup excluded): "
        "equal-time comparisons, or a run sized to a session. A checkpoint is saved where it stops.",
    )
    group.add_argument(
        "--learning_rate",
        type=finite_float(0, above=True),
        help="Adam learning rate. Default: family's.",
    )
    group.add_argument("--adam_beta1", type=finite_float(0, below=1), help="Adam beta1. Default: family's.")
    group.add_argument("--adam_beta2", type=finite_float(0, below=1), help="Adam beta2. Default: family's.")
    group.add_argument("--adam_weight_decay", type=finite_float(0), help="Adam weight decay.")
    group.add_argument(
        "--gradient_accumulation_steps",
        type=integer,
        help="Micro-batches accumulated into each optimizer step.",
    )
    group.add_argument(
        "--mixed_precision",
        choices=get_args(Precision),
        help="Autocast precision (bf16 also works on CPU). Default: the accelerate config / launcher's.",
    )
    group.add_argument("--seed", type=integer, help="Seed of the model init, data order and noise.")
    group.add_argument(
        "--max_bad_steps",
        type=integer,
        help="Stop when the loss is NaN/inf this many steps in a row (single bad steps are skipped).",
    )
    group.add_argument("--cpu", action="store_true", help="Train on CPU even if a GPU is present.")

    group = parser.add_argument_group("objective")
    group.add_argument("--loss", choices=get_args(Loss), help="Pixel loss. Default: family's.")
    group.add_argument("--gan_loss", choices=get_args(GANLoss), help="GAN loss on the logits.")
    group.add_argument(
        "--ema_decay",
        type=finite_float(0, below=1),
        help="Decay of the EMA of the weights that is saved and sampled (0 = no EMA). Default: 0.999 for GANs, "
        "0 otherwise.",
    )
    group.add_argument("--disc_base_channels", type=integer, help="Discriminator width. Default: the generator's.")
    group.add_argument(
        "--disc_norm",
        choices=DISCRIMINATOR_NORMS,
        help="GAN: the discriminator's normalisation, spectral norm or the DCGAN paper's BatchNorm.",
    )
    group.add_argument("--kl_weight", type=finite_float(0), help="VAE: beta, the weight of the KL term.")
    group.add_argument("--kl_warmup_steps", type=integer, help="VAE: steps over which beta ramps from 0.")
    group.add_argument("--hole_weight", type=finite_float(0), help="Inpainters: weight of the L1 in the hole.")
    group.add_argument("--valid_weight", type=finite_float(0), help="Inpainters: weight of the L1 outside it.")
    group.add_argument("--ssim_weight", type=finite_float(0), help="Inpainters: weight of a (1 - SSIM) term.")
    group.add_argument(
        "--adv_weight",
        type=finite_float(0),
        help="Inpainters: weight of an adversarial term (needs 32/64/128 px).",
    )
    group.add_argument(
        "--adv_kind",
        choices=get_args(AdversarialKind),
        help="Inpainters: what the adversarial term's discriminator judges: whole images (a DCGAN discriminator) "
        "or the patches that overlap the hole (a PatchGAN, as LaMa trains; any resolution that is a multiple of 8).",
    )
    group.add_argument(
        "--feature_matching_weight",
        type=finite_float(0),
        help="Inpainters with --adv_kind patch: weight of feature matching (L1 between the discriminator's "
        "activations on the fill and on the real image).",
    )
    group.add_argument(
        "--gradient_weight",
        type=finite_float(0),
        help="Inpainters: weight of an L1 on the Sobel derivatives in the hole (rewards edges a pixel loss blurs).",
    )
    group.add_argument(
        "--texture_weight",
        type=finite_float(0),
        help="Inpainters: weight of a texture loss: L1 between the Gram matrices of the composite's and the image's "
        "features in a fixed random-weight CNN (rewards the photo's texture in the fill; no downloaded network).",
    )
    group.add_argument(
        "--step_weight",
        type=finite_float(0),
        help="Recurrent inpainter: weight of the loss on each pass's output (0 = final output only).",
    )
    group.add_argument(
        "--hole_range",
        type=_float_pair,
        help="Inpainters: range of the hole's share of the image, 'LOW,HIGH'.",
    )
    group.add_argument("--mask_kind", choices=get_args(MaskKind), help="Inpainters: training masks.")
    group.add_argument("--sigma_min", type=finite_float(0), help="Denoiser: lowest noise sigma (0-255 scale).")
    group.add_argument("--sigma_max", type=finite_float(0), help="Denoiser: highest noise sigma (0-255 scale).")
    group.add_argument(
        "--sigma_weighting",
        choices=get_args(SigmaWeighting),
        help="Denoiser: weight of each image's loss by its noise level: none, or inverse ((25 / max(sigma, 5))**2, "
        "so low levels count as much as high ones).",
    )

    group = parser.add_argument_group("checkpoints, logging and the Hub")
    group.add_argument("--checkpointing_steps", type=integer, help="Save a checkpoint every N steps (0=off).")
    group.add_argument(
        "--checkpoints_total_limit", type=integer, help="Keep at most this many checkpoints (oldest go)."
    )
    group.add_argument(
        "--lr_scheduler",
        choices=get_args(Schedule),
        help="Learning rate over the run: constant, or cosine (from --learning_rate down to 0 at "
        "--max_train_steps; the last steps at a small rate settle the weights, worth a few tenths of a dB for "
        "restoration models).",
    )
    group.add_argument(
        "--init_weights",
        help="Start from the weights of this model (a folder, bundled id or Hub id) instead of a random "
        "initialisation: one of the same family and settings, or, for inpaint-rcnn, an inpaint-cnn whose network "
        "becomes the recurrent block (fine-tuning). A resumed run ignores it: the checkpoint's weights win.",
    )
    group.add_argument(
        "--resume_from_checkpoint",
        help="A checkpoint folder to continue from, or 'latest' (the newest in --output_dir; a fresh start if none).",
    )
    group.add_argument(
        "--report_to",
        choices=get_args(Tracker),
        help="Tracker for metrics and previews.",
    )
    group.add_argument("--logging_dir", help="Tracker log folder, relative to --output_dir.")
    group.add_argument("--logging_steps", type=integer, help="Log the mean losses every N steps.")
    group.add_argument("--sample_steps", type=integer, help="Save a preview grid every N steps (0 = off).")
    group.add_argument("--num_preview", type=integer, help="Images per preview grid row.")
    group.add_argument("--push_to_hub", action="store_true", help="Upload the final model folder to the Hub.")
    group.add_argument("--hub_model_id", help="Hub repo id to push to. Default: the name of --output_dir.")
    # Every default comes from the config module; `command` is no flag (parse_args records it).
    parser.set_defaults(**{name: value for name, value in setting_defaults().items() if name != "command"})
    return parser


def parse_args(argv: Sequence[str] | None, model_choices: Sequence[str]) -> TrainingConfig:
    """Parse train.py's flags (a YAML `--config` gives defaults, the command line wins), check them, and resolve
    the family defaults (`config.resolve`)."""
    parser = build_parser(model_choices)
    argv = list(sys.argv[1:] if argv is None else argv)
    known, _ = parser.parse_known_args(argv)
    if known.config is not None:
        parser.set_defaults(**_config_values(known.config, parser))  # below the command line, which wins
    args = parser.parse_args(argv)
    for name in ("model", "dataset", "output_dir"):
        if getattr(args, name) is None:
            parser.error(f"--{name} is required (on the command line or in --config).")
    problem = _check(args)
    if problem:
        parser.error(problem)
    # The command line as typed, for the model card.
    return resolve(TrainingConfig.from_flat({**vars(args), "command": shlex.join(["train.py", *argv])}))


def _config_values(path: str, parser: argparse.ArgumentParser) -> dict[str, Any]:
    """The YAML file's settings, by flag name, converted and checked by each flag's own `type` and `choices`.

    What is read is bounded (`MAX_CONFIG_BYTES`, `MAX_CONFIG_VALUES`) and a refused value is quoted briefly, so a
    hostile file (an alias bomb, a deep nesting) is one short message, not a MemoryError or RecursionError.
    """
    import yaml  # only needed with --config

    try:
        with open(path, "rb") as file:
            data = file.read(MAX_CONFIG_BYTES + 1)
        if len(data) > MAX_CONFIG_BYTES:
            parser.error(
                f"--config {path}: larger than {MAX_CONFIG_BYTES:,} bytes, far more than flag values take; check that "
                f"it is the right file."
            )
        values = yaml.safe_load(data) or {}
    except (OSError, yaml.YAMLError) as err:
        parser.error(f"--config {path}: cannot read it as YAML ({brief(err)}).")
    except RecursionError:
        parser.error(f"--config {path}: its values are nested too deeply to be flag values.")
    if count_values(values, MAX_CONFIG_VALUES) > MAX_CONFIG_VALUES:
        parser.error(
            f"--config {path}: its values expand to more than {MAX_CONFIG_VALUES:,} items (a YAML alias counts as "
            f"everything it repeats); flag values are far fewer: write them out."
        )
    if not isinstance(values, dict):
        parser.error(f"--config {path}: expected a mapping of flag names to values, got {type(values).__name__}.")
    settings = set(setting_defaults()) - {"config", "command"}
    unknown = sorted(set(values) - settings, key=str)
    if unknown:
        parser.error(f"--config {path}: unknown keys {unknown}; keys are flag names without '--', e.g. 'model'.")
    actions = {action.dest: action for action in parser._actions}
    converted = {}
    for name, value in values.items():
        if value is None:  # `key:` with no value: the flag's default
            continue
        try:
            converted[name] = _convert(actions[name], value)
        except (argparse.ArgumentTypeError, ValueError, TypeError) as err:
            parser.error(f"--config {path}: {name}: {brief(err)}")
    return converted


def count_values(value: Any, limit: int) -> int:
    """How many scalars, lists and mappings `value` holds, itself included, counting a shared (aliased) one each time
    it appears; the count stops just above `limit`, so an alias bomb costs no more than a file of that size."""
    count, pending = 0, [value]
    while pending and count <= limit:  # a stack, not recursion: no depth limit to hit
        item = pending.pop()
        count += 1
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return count


def brief(text: Any, length: int = 200) -> str:
    """`text` as a string of at most `length` characters: a refused value is quoted, not repeated in full."""
    text = str(text)
    return text if len(text) <= length else f"{text[: length - 20]}... ({len(text):,} characters)"


def _convert(action: argparse.Action, value: Any) -> Any:
    """A YAML value as the flag `action` would give it: its `type` applied, its `choices` checked."""
    if action.nargs == 0:  # a switch such as random_flip: present or not
        if not isinstance(value, bool):
            raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}.")
        return value
    if action.type is None:  # a flag that takes its text as it is
        if isinstance(value, (list, dict)):
            raise argparse.ArgumentTypeError(f"expected a single value, got {value!r}.")
        value = str(value)
    else:
        value = action.type(value)
    if action.choices is not None and value not in action.choices:
        choices = ", ".join(repr(choice) for choice in action.choices)
        raise argparse.ArgumentTypeError(f"invalid choice: {value!r} (choose from {choices}).")
    return value


def _float_pair(text: str | Sequence[float]) -> tuple[float, float]:
    """'LOW,HIGH' on the command line, [LOW, HIGH] in YAML."""
    try:
        parts = text.split(",") if isinstance(text, str) else text
        low, high = (float(part) for part in parts)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected two numbers 'LOW,HIGH', got {text!r}") from None
    if not (math.isfinite(low) and math.isfinite(high)):
        raise argparse.ArgumentTypeError(f"expected two finite numbers 'LOW,HIGH', got {text!r}")
    return low, high


def _json_object(text: str | dict) -> dict:
    """A JSON object on the command line, a mapping in YAML."""
    if isinstance(text, dict):
        return text
    if not isinstance(text, str):
        raise argparse.ArgumentTypeError(f"expected a JSON object like '{{\"depth\": 3}}', got {text!r}")
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
