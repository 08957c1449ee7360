"""Train an hfimg model with accelerate: a GAN, a VAE, an inpainter or a denoiser.

    python train.py --model dcgan --dataset fashion_mnist --resolution 32 --channels 1 --output_dir runs/dcgan
    torchrun --nproc_per_node 2 train.py ...        # two processes on a CPU machine
    accelerate launch --multi_gpu train.py ...      # every GPU of the machine

`python train.py --help` lists every flag. The objectives and the loop live in `hfimg.training`.

Failures end in one line on stderr, `train.py: error: ...`, never a traceback: exit status 2 for bad input (flags,
model settings, data, output folder, checkpoints), 1 for a run that failed once started. An unexpected error also
gets one line; its traceback goes to a log file that the line names.
"""

from __future__ import annotations

import os
import sys
import tempfile
import traceback
from collections.abc import Sequence
from pathlib import Path

from hfimg.training import ConfigError, Trainer, TrainingConfig, TrainingError
from hfimg.training import parse_args as _parse_args
from hfimg.training.trainer import configure_logging


def parse_args(argv: Sequence[str] | None = None) -> TrainingConfig:
    """Parse the flags (None = the command line) into the run's settings."""
    return _parse_args(argv)


def main(config: TrainingConfig) -> dict[str, float]:
    """Train as the settings say; returns the final training losses."""
    return Trainer(config).train()


def cli(argv: Sequence[str] | None = None) -> int:
    """train.py as a command (None = the command line); returns the exit status."""
    configure_logging()
    config = parse_args(argv)  # argparse reports bad flags itself, with status 2
    try:
        main(config)
    except ConfigError as err:  # a mistake in the input, found before training
        return _error(str(err), 2)
    except TrainingError as err:  # a run that stopped for a reason it names
        return _error(str(err), 1)
    except KeyboardInterrupt:
        return _error("interrupted.", 130)
    except Exception as err:  # noqa: BLE001  (anything else: one line here, the traceback in a log file)
        log = _error_log()
        log.write_text(traceback.format_exc())
        text = " ".join(str(err).split())  # one line
        if isinstance(err, MemoryError) or type(err).__name__ == "OutOfMemoryError":
            what = "out of memory; try a smaller --train_batch_size or --resolution"
        else:
            what = "internal error"
        return _error(f"{what} ({type(err).__name__}: {text[:300]}); the traceback is in {log}.", 1)
    return 0


def _error_log() -> Path:
    """Where an unexpected error's traceback goes: one file per rank in the temporary folder."""
    rank = os.environ.get("RANK", "0")  # set by torchrun and accelerate launch
    return Path(tempfile.gettempdir()) / ("hfimg-train-error.log" if rank == "0" else f"hfimg-train-error-{rank}.log")


def _error(message: str, status: int) -> int:
    print(f"train.py: error: {message}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(cli())
