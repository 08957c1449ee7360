"""The flags of train.py, made from the settings of `TrainingConfig`, and an optional YAML file of defaults.

Every setting is declared once, in hfimg.training.config: a field of `TrainingConfig` or of one of its sections,
with its default, help text, converter or choices, and --help group. `build_parser` makes one flag of each, named
after the field (diffusers' names where diffusers has one), and `parse_args` turns the flags into a resolved
`TrainingConfig`. Flags left unset (None) take the defaults of the model family being trained
(`config.family_defaults`): a GAN wants Adam(2e-4, betas (0.5, 0.999)) and an EMA of its generator, a denoiser
Adam(1e-3) and an L2 loss, and so on. Model keyword arguments (`--channels`, `--base_channels`, ... or
`--model_kwargs '{"depth": 3}'`) are passed to the model only when given, so each family keeps its own defaults.
The rules a converter does not check (at least 1, a pair in order, a flag that needs another) are in `_check`.

A YAML `--config` file gives values for the same settings (keys = flag names without '--'); each goes through the
flag's own conversion and checks, and a flag on the command line wins over it.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from typing import Any, Literal, get_args, get_origin

from hfimg.training.config import (
    GROUPS,
    MAX_CONFIG_BYTES,
    MAX_CONFIG_VALUES,
    MAX_RESOLUTION,
    MAX_SEED,
    MIN_RESOLUTION,
    MODEL_KWARG_FLAGS,
    ConfigError,
    Setting,
    TrainingConfig,
    resolve,
    setting_defaults,
    settings,
)
from hfimg.training.converters import finite_float, integer

__all__ = ["ConfigError", "build_parser", "finite_float", "integer", "parse_args"]


def build_parser(model_choices: Sequence[str], config_class: type = TrainingConfig) -> argparse.ArgumentParser:
    """The train.py argument parser: `--config`, then one flag per setting of `config_class` (`settings`), in the
    --help group it names; `model_choices` are the registry names that have a training objective."""
    parser = argparse.ArgumentParser(
        prog="train.py",
        description="Train an hfimg model (GAN, VAE, inpainter or denoiser) with accelerate.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        allow_abbrev=False,  # `--learning_rat 0.1` is an error, not silently --learning_rate
    )
    parser.add_argument("--config", help="YAML file of flag defaults (keys = flag names without --).")
    groups = {name: parser.add_argument_group(name) for name in GROUPS}
    for item in settings(config_class):
        if item.is_flag:
            groups[item.group].add_argument(f"--{item.name}", **flag_options(item, model_choices))
    return parser


def flag_options(item: Setting, model_choices: Sequence[str]) -> dict[str, Any]:
    """The `add_argument` keywords of a setting's flag: its help and default, and how its value is read.

    Raises:
        TypeError: a setting whose type says neither how to convert its value nor which values it takes.
    """
    options: dict[str, Any] = {"help": item.metadata["help"], "default": item.default}
    if item.metadata["metavar"] is not None:
        options["metavar"] = item.metadata["metavar"]
    kind = item.value_type
    if kind is bool:  # a switch: present or not
        return options | {"action": "store_true"}
    converter = item.metadata["type"] or (integer if kind is int else None)
    if converter is not None:
        options["type"] = converter
    choices = item.metadata["choices"] or (get_args(kind) if get_origin(kind) is Literal else None)
    if item.name == "model":  # the registry's trainable families, known when the parser is built
        choices = list(model_choices)
    if choices is not None:
        options["choices"] = choices
    if converter is None and choices is None and kind is not str:
        raise TypeError(f"setting {item.name!r} ({kind}) needs a converter: setting(..., type=...).")
    return options


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
