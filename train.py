"""Train an hfimg model with accelerate: a GAN, a VAE, an inpainter or a denoiser.

    python train.py --model dcgan --dataset fashion_mnist --resolution 32 --channels 1 --output_dir runs/dcgan
    torchrun --nproc_per_node 2 train.py ...        # two processes on a CPU machine
    accelerate launch --multi_gpu train.py ...      # every GPU of the machine

`python train.py --help` lists every flag. The objectives and the loop live in `hfimg.training`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from hfimg.training import ConfigError, Trainer
from hfimg.training import parse_args as _parse_args
from hfimg.training.trainer import configure_logging


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the flags (None = the command line)."""
    return _parse_args(argv)


def main(args: argparse.Namespace) -> dict[str, float]:
    """Train as the flags say; returns the final training losses."""
    return Trainer(args).train()


if __name__ == "__main__":
    configure_logging()
    arguments = parse_args()
    try:
        main(arguments)
    except ConfigError as err:  # a mistake in the flags, found before training: no traceback needed
        sys.exit(f"train.py: error: {err}")
