"""Training checkpoints: written whole or not at all, found again by step, pruned to a total limit.

A checkpoint is `output_dir/checkpoint-<step>/`: accelerate's `save_state` (models, optimizers, EMA, every rank's
RNG states) plus `trainer_state.json` (the step and every rank's data-stream position). It is written under a
hidden temporary name and renamed when complete, so a run killed while saving leaves only a temporary folder that
nothing picks, never a `checkpoint-<step>` that cannot be loaded.

`output_dir/hfimg_run.json` records what the folder trains (model, model config, data), so a later run pointed at
the same folder is refused if it trains something else.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

from accelerate import Accelerator
from accelerate.utils import gather_object

from hfimg.training.arguments import ConfigError

RUN_FILE = "hfimg_run.json"
STATE_FILE = "trainer_state.json"
_CHECKPOINT = re.compile(r"checkpoint-(\d+)")


def checkpoint_step(path: Path) -> int | None:
    """The step of a complete checkpoint folder `checkpoint-<step>`, else None."""
    match = _CHECKPOINT.fullmatch(path.name)
    if match is None or not (path / STATE_FILE).is_file():
        return None
    return int(match.group(1))


def list_checkpoints(output_dir: Path) -> list[Path]:
    """Complete checkpoints in `output_dir`, oldest first."""
    if not output_dir.is_dir():
        return []
    found = [(checkpoint_step(path), path) for path in output_dir.iterdir() if path.is_dir()]
    return [path for step, path in sorted((s, p) for s, p in found if s is not None)]


def read_run(output_dir: Path) -> dict | None:
    """The run recorded in `output_dir` (what it trains), or None."""
    path = output_dir / RUN_FILE
    return json.loads(path.read_text())["run"] if path.is_file() else None


def write_run(output_dir: Path, run: dict, args: dict) -> None:
    """Record what `output_dir` trains (`run`, compared on later starts) and the full flags (for reference)."""
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / RUN_FILE).write_text(json.dumps({"run": run, "args": args}, indent=2, sort_keys=True))


def check_output_dir(output_dir: Path, run: dict, resume_from: str | None) -> Path | None:
    """Decide where a run starts, before any step: the checkpoint to resume from, or None for a fresh start.

    Args:
        output_dir: the run's --output_dir.
        run: what this run trains (model, model config, data); JSON types.
        resume_from: --resume_from_checkpoint: None, "latest", or a checkpoint folder.

    Raises:
        ConfigError: the folder holds another run or files of something else, or the checkpoint does not exist
            or belongs to another run.
    """
    if resume_from not in (None, "latest"):
        checkpoint = Path(resume_from)
        if checkpoint_step(checkpoint) is None:
            raise ConfigError(
                f"--resume_from_checkpoint {resume_from}: not a complete checkpoint folder (expected "
                f"'.../checkpoint-<step>' holding {STATE_FILE}); use 'latest' to take the newest in --output_dir."
            )
        recorded = json.loads((checkpoint / STATE_FILE).read_text())["run"]
        _check_same_run(recorded, run, f"checkpoint {checkpoint}")
        return checkpoint

    if not output_dir.is_dir() or not any(output_dir.iterdir()):
        return None  # nothing there: a fresh start
    recorded = read_run(output_dir)
    if recorded is None:
        contents = sorted(path.name for path in output_dir.iterdir())[:5]
        raise ConfigError(
            f"--output_dir {output_dir} is not empty ({', '.join(contents)}, ...) and holds no training run "
            f"({RUN_FILE}); choose an empty or new folder."
        )
    _check_same_run(recorded, run, f"--output_dir {output_dir}")
    if resume_from is None:
        raise ConfigError(
            f"--output_dir {output_dir} already holds a run of this model; pass --resume_from_checkpoint latest to "
            f"continue it, or choose an empty or new folder."
        )
    checkpoints = list_checkpoints(output_dir)
    return checkpoints[-1] if checkpoints else None


def _check_same_run(recorded: dict, run: dict, where: str) -> None:
    differences = [
        f"{key}: {recorded.get(key)!r} there, {run.get(key)!r} now"
        for key in sorted(set(recorded) | set(run))
        if recorded.get(key) != run.get(key)
    ]
    if differences:
        raise ConfigError(
            f"{where} holds another training run ({'; '.join(differences)}). Choose a new --output_dir, or train "
            f"with the same model, model settings and data to continue it."
        )


def save_checkpoint(
    accelerator: Accelerator,
    output_dir: Path,
    step: int,
    stream_state: dict,
    run: dict,
    total_limit: int | None,
) -> Path:
    """Write `checkpoint-<step>` atomically (every rank must call this), then keep the newest `total_limit`.

    Args:
        accelerator: saves models, optimizers, registered objects (EMA) and every rank's RNG states.
        output_dir: the run folder.
        step: optimizer steps done.
        stream_state: this rank's `ImageStream.state_dict()`; all ranks' states are stored.
        run: what the folder trains (checked again on resume).
        total_limit: checkpoints to keep, None for all.

    Returns:
        The checkpoint folder.
    """
    final = output_dir / f"checkpoint-{step}"
    partial = output_dir / f".checkpoint-{step}.partial"  # not matched by `list_checkpoints`
    streams = gather_object([stream_state])  # one per rank, in rank order
    if accelerator.is_main_process and partial.exists():
        shutil.rmtree(partial)  # left by a run killed while saving
    accelerator.wait_for_everyone()
    accelerator.save_state(str(partial))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        state = {"step": step, "world_size": accelerator.num_processes, "streams": streams, "run": run}
        (partial / STATE_FILE).write_text(json.dumps(state, indent=2))
        if final.exists():  # an older checkpoint of the same step (after resuming from an earlier one)
            shutil.rmtree(final)
        publish(partial, final)
        for old in list_checkpoints(output_dir)[: -total_limit if total_limit else 0]:
            shutil.rmtree(old)
    accelerator.wait_for_everyone()
    return final


def publish(partial: Path, final: Path) -> None:
    """Give a fully written checkpoint its real name: one rename, so it appears complete or not at all."""
    os.replace(partial, final)


def load_checkpoint(accelerator: Accelerator, checkpoint: Path) -> dict:
    """Load a checkpoint into the prepared objects; return its trainer state (this rank's stream state in "stream")."""
    state = json.loads((checkpoint / STATE_FILE).read_text())
    if state["world_size"] != accelerator.num_processes:
        raise ConfigError(
            f"{checkpoint} was written by {state['world_size']} processes, this run has "
            f"{accelerator.num_processes}; resume with the same number of processes (the data position is per rank)."
        )
    accelerator.load_state(str(checkpoint))
    return {**state, "stream": state["streams"][accelerator.process_index]}
