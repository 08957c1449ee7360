"""Training for every hfimg model family: one objective per family, one loop (`Trainer`) for all.

train.py is `parse_args` + `Trainer(config).train()`; the same works from Python, from flags or from a
`TrainingConfig` (hfimg.training.config: every setting and default of a run):

    >>> from hfimg.training import Trainer, TrainingConfig, parse_args  # doctest: +SKIP
    >>> config = parse_args(["--model", "vae", "--dataset", "fashion_mnist", "--output_dir", "vae"])  # doctest: +SKIP
    >>> config = TrainingConfig(model="vae", dataset="fashion_mnist", output_dir="vae")  # the same  # doctest: +SKIP
    >>> Trainer(config).train()  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence

from hfimg.training import arguments
from hfimg.training.config import ConfigError, TrainingConfig, resolve
from hfimg.training.trainer import Trainer, TrainingError, build_model, objectives, trainable_models


def parse_args(argv: Sequence[str] | None = None) -> TrainingConfig:
    """Parse train.py's flags (None = the command line) into a resolved config; `--config FILE.yaml` gives
    defaults."""
    return arguments.parse_args(argv, trainable_models())


__all__ = [
    "ConfigError",
    "Trainer",
    "TrainingConfig",
    "TrainingError",
    "build_model",
    "objectives",
    "parse_args",
    "resolve",
    "trainable_models",
]
