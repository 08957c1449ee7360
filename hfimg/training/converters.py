"""The converters of train.py's flag values: each takes a flag's text or the value a YAML `--config` file gives.

They are argparse `type`s: a bad value raises `argparse.ArgumentTypeError` (or ValueError), which argparse turns
into a one-line message. The settings in hfimg.training.config name them, so this module imports nothing of hfimg.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable, Sequence


def integer(value: str | int) -> int:
    """An integer, from a flag's text or a YAML number (not a float, not a bool)."""
    if isinstance(value, (bool, float)):
        raise ValueError(f"invalid int value: {value!r}")
    return int(value)


integer.__name__ = "int"  # argparse's message for a bad flag names the type: "invalid int value: 'x'"


def finite_float(
    low: float | None = None, *, above: bool = False, below: float | None = None
) -> Callable[[str | float], float]:
    """A finite float (no nan/inf), at least `low` (above it with `above=True`), below `below`.

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


def float_pair(text: str | Sequence[float]) -> tuple[float, float]:
    """'LOW,HIGH' on the command line, [LOW, HIGH] in YAML."""
    try:
        parts = text.split(",") if isinstance(text, str) else text
        low, high = (float(part) for part in parts)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected two numbers 'LOW,HIGH', got {text!r}") from None
    if not (math.isfinite(low) and math.isfinite(high)):
        raise argparse.ArgumentTypeError(f"expected two finite numbers 'LOW,HIGH', got {text!r}")
    return low, high


def json_object(text: str | dict) -> dict:
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
