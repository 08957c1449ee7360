"""Training for every hfimg model family: one objective per family, one loop (`Trainer`) for all.

train.py is `parse_args` + `Trainer(args).train()`; the same works from Python:

    >>> from hfimg.training import Trainer, parse_args  # doctest: +SKIP
    >>> args = parse_args(["--model", "vae", "--dataset", "fashion_mnist", "--output_dir", "vae"])  # doctest: +SKIP
    >>> Trainer(args).train()  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from hfimg.training import arguments
from hfimg.training.arguments import ConfigError
from hfimg.training.trainer import OBJECTIVES, Trainer, TrainingError, build_model, trainable_models


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse train.py's flags (None = the command line); `--config FILE.yaml` gives defaults."""
    return arguments.parse_args(argv, trainable_models())


__all__ = [
    "OBJECTIVES",
    "ConfigError",
    "Trainer",
    "TrainingError",
    "build_model",
    "parse_args",
    "trainable_models",
]
