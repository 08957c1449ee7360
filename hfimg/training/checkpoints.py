"""Training checkpoints: written whole or not at all, found again by step, pruned to a total limit.

A checkpoint is `output_dir/checkpoint-<step>/`: accelerate's `save_state` (models, optimizers, EMA, every rank's
RNG states) plus `trainer_state.json` (the step and every rank's data-stream position). It is written under a
hidden temporary name and renamed when complete, so a run killed while saving leaves only a temporary folder that
nothing picks, never a `checkpoint-<step>` that cannot be loaded.

`output_dir/hfimg_run.json` records what the folder trains (model, model config, data), so a later run pointed at
the same folder is refused if it trains something else. The Trainer writes it once the first optimizer step has
succeeded: a run that fails before that leaves the folder as it found it.

A run holds `output_dir/.hfimg_run.lock` for its whole length (`RunLock`): a second run into the same folder is
refused, instead of both writing checkpoints and models into it. The lock is the kernel's (`fcntl.flock`), so it
ends with the process that holds it, however that ends: the file a killed run leaves behind holds no lock, and the
next run takes it over.

`--resume_from_checkpoint latest` takes the newest checkpoint that loads: one whose files are damaged (a disk that
filled up, a copy cut short) is reported with a warning and the one before it is used.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.logging import get_logger
from accelerate.utils import broadcast_object_list, gather_object
from accelerate.utils import load as accelerate_load

from hfimg.hub import HubModel
from hfimg.registry import model_class
from hfimg.training.config import ConfigError

logger = get_logger(__name__)

RUN_FILE = "hfimg_run.json"
LOCK_FILE = ".hfimg_run.lock"  # holds the running process's id; not part of what the folder holds
STATE_FILE = "trainer_state.json"
MODEL_FOLDER = "model"  # the model as it would be saved at that step, in Hub format
_CHECKPOINT = re.compile(r"checkpoint-(\d+)")


class UnreadableCheckpoint(ConfigError):
    """A checkpoint folder whose files cannot be loaded (damaged or cut short)."""


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


def check_writable(output_dir: Path) -> None:
    """Raise ConfigError unless `output_dir` is a folder this process can write in, or one it can create.

    Writes nothing: it looks at the folder, or at its nearest existing parent (a regular file there, or a folder
    without write permission, would make creating it fail).
    """
    try:
        if output_dir.exists() and not output_dir.is_dir():
            raise ConfigError(f"cannot use --output_dir {output_dir}: it is a file, not a folder.")
        existing = output_dir.absolute()
        while not existing.exists():
            existing = existing.parent
    except OSError as err:  # e.g. a parent folder that cannot be searched
        raise ConfigError(f"cannot create --output_dir {output_dir}: {err.strerror or err}.") from None
    if not existing.is_dir():
        raise ConfigError(f"cannot create --output_dir {output_dir}: {existing} is a file, not a folder.")
    if not os.access(existing, os.W_OK | os.X_OK):
        where = "in it" if existing == output_dir.absolute() else f"in {existing}"
        raise ConfigError(f"cannot write to --output_dir {output_dir}: no permission to write {where}.")


def check_output_dir(output_dir: Path, run: dict, resume_from: str | None) -> Path | None:
    """Decide where a run starts, before any step: the checkpoint to resume from, or None for a fresh start.

    Args:
        output_dir: the run's --output_dir.
        run: what this run trains (model, model config, data); JSON types.
        resume_from: --resume_from_checkpoint: None, "latest", or a checkpoint folder.

    Raises:
        ConfigError: the folder cannot be created or written to, holds another run or files of something else,
            or the checkpoint does not exist or belongs to another run.
    """
    check_writable(output_dir)
    if resume_from not in (None, "latest"):
        checkpoint = Path(resume_from)
        if checkpoint_step(checkpoint) is None:
            raise ConfigError(
                f"--resume_from_checkpoint {resume_from}: not a complete checkpoint folder (expected "
                f"'.../checkpoint-<step>' holding {STATE_FILE}); use 'latest' to take the newest in --output_dir."
            )
        recorded = read_state(checkpoint)["run"]
        _check_same_run(recorded, run, f"checkpoint {checkpoint}")
        return checkpoint

    contents = sorted(path.name for path in output_dir.iterdir()) if output_dir.is_dir() else []
    contents = [name for name in contents if name != LOCK_FILE]
    if not contents:
        return None  # nothing there (but this run's lock, or one a killed run left): a fresh start
    recorded = read_run(output_dir)
    if recorded is None:
        raise ConfigError(
            f"--output_dir {output_dir} is not empty ({', '.join(contents[:5])}, ...) and holds no training run "
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


class RunLock:
    """The lock of a run's output folder, taken when created (the folder is created too if needed) and held until
    `release`, or until the process ends, which releases it however it ends (a crash, kill -9).

    Raises:
        ConfigError: another process holds the lock (the message names it), or the folder cannot be written.
    """

    def __init__(self, output_dir: Path):
        check_writable(output_dir)
        self.output_dir = output_dir
        self.path = output_dir / LOCK_FILE
        # Folders created for the lock alone are removed again by `release` when the run left them empty, so a run
        # refused at its start leaves the disk as it found it.
        self.created = [folder for folder in (output_dir, *output_dir.parents) if not folder.exists()]
        output_dir.mkdir(parents=True, exist_ok=True)
        self.fd: int | None = self._open_locked()
        previous = os.read(self.fd, 32).decode(errors="replace").strip()
        if previous:  # a killed run's file: its process is gone, or the kernel would still hold its lock
            logger.info(f"{output_dir}: taking over the lock left by process {previous}, which has ended.")
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, f"{os.getpid()}\n".encode(), 0)

    def _open_locked(self) -> int:
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 32).decode(errors="replace").strip() or "starting"
                os.close(fd)
                raise ConfigError(
                    f"--output_dir {self.output_dir} is in use by another training run (process {holder}); wait for "
                    f"it to end, or choose another folder."
                ) from None
            # The holder removes the file when it is done: a lock on the file it removed locks nothing.
            try:
                current = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                current = False
            if current:
                return fd
            os.close(fd)

    def release(self) -> None:
        """Remove the lock file and release the lock (in this order, so that no other run can lock the file that is
        being removed); then remove the folders created for it if the run left them empty. Safe to call twice."""
        if self.fd is None:
            return
        self.path.unlink(missing_ok=True)
        os.close(self.fd)
        self.fd = None
        for folder in self.created:  # the deepest first
            try:
                folder.rmdir()
            except OSError:  # not empty: the run wrote to it
                break


def lock_run(accelerator: Accelerator, output_dir: Path) -> RunLock | None:
    """Lock `output_dir` for a run (every rank calls this): the main process takes the lock (others get None), and
    every rank raises the ConfigError if it could not, so that none is left waiting for the others."""
    lock, problem = None, None
    if accelerator.is_main_process:
        try:
            lock = RunLock(output_dir)
        except ConfigError as err:
            problem = str(err)
    if accelerator.num_processes > 1:
        problem = broadcast_object_list([problem])[0]
    if problem is not None:
        raise ConfigError(problem)
    return lock


def _check_same_run(recorded: dict, run: dict, where: str) -> None:
    recorded = _with_new_defaults(recorded, run)
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


def _with_new_defaults(recorded: dict, run: dict) -> dict:
    """`recorded` with the model settings it lacks filled in by this run where this run has the class's default:
    a run recorded before a setting existed trained exactly that default, so it is the same run."""
    try:
        defaults = model_class(run["model"]).init_defaults()
    except (KeyError, ValueError):  # no such family: the comparison itself reports the difference
        return recorded
    old, new = recorded.get("model_config"), run.get("model_config")
    if not isinstance(old, dict) or not isinstance(new, dict):
        return recorded
    missing = {key: value for key, value in new.items() if key not in old and defaults.get(key, object()) == value}
    return {**recorded, "model_config": {**old, **missing}}


def save_checkpoint(
    accelerator: Accelerator,
    output_dir: Path,
    step: int,
    stream_state: dict,
    run: dict,
    total_limit: int | None,
    train_seconds: float = 0.0,
    model: HubModel | None = None,
) -> Path:
    """Write `checkpoint-<step>` atomically (every rank must call this), then keep the newest `total_limit`.

    Args:
        accelerator: saves models, optimizers, registered objects (EMA) and every rank's RNG states.
        output_dir: the run folder.
        step: optimizer steps done.
        stream_state: this rank's `ImageStream.state_dict()`; all ranks' states are stored.
        run: what the folder trains (checked again on resume).
        total_limit: checkpoints to keep, None for all.
        train_seconds: wall-clock seconds of training so far, over every resume (what --max_train_minutes counts).
        model: the model as the run would save it now (the EMA, if any), also written as a Hub-format folder
            `model/` inside the checkpoint, which `hfimg.load` reads: a learning curve is measured on these.

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
        state = {
            "step": step,
            "train_seconds": round(train_seconds, 3),
            "world_size": accelerator.num_processes,
            "streams": streams,
            "run": run,
        }
        (partial / STATE_FILE).write_text(json.dumps(state, indent=2))
        if model is not None:
            model.save_pretrained(partial / MODEL_FOLDER)
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


def read_state(checkpoint: Path) -> dict:
    """The trainer state of a checkpoint (step, world size, stream positions, run).

    Raises:
        UnreadableCheckpoint: the file is missing, not JSON, or lacks a field.
    """
    try:
        state = json.loads((checkpoint / STATE_FILE).read_text())
        missing = {"step", "world_size", "streams", "run"} - set(state if isinstance(state, dict) else {})
        if missing:
            raise ValueError(f"missing {', '.join(sorted(missing))}")
        if not (isinstance(state["streams"], list) and len(state["streams"]) == state["world_size"]):
            raise TypeError("not one stream position per process")
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise UnreadableCheckpoint(f"checkpoint {checkpoint} cannot be read ({STATE_FILE}: {_reason(err)})") from err
    return state


def load_checkpoint(accelerator: Accelerator, checkpoint: Path) -> dict:
    """Load a checkpoint into the prepared objects; return its trainer state (this rank's stream state in "stream").

    Raises:
        ConfigError: the checkpoint was written by another number of processes.
        UnreadableCheckpoint: a file of the checkpoint cannot be loaded (objects may then be partly loaded).
    """
    state = read_state(checkpoint)
    if state["world_size"] != accelerator.num_processes:
        raise ConfigError(
            f"{checkpoint} was written by {state['world_size']} processes, this run has "
            f"{accelerator.num_processes}; resume with the same number of processes (the data position is per rank)."
        )
    try:
        # accelerate only logs (at INFO) a random-state file it cannot load, and goes on with the current RNG
        # state: the run would silently not repeat itself. That file is small; check it first.
        accelerate_load(checkpoint / f"random_states_{accelerator.process_index}.pkl")
        accelerator.load_state(str(checkpoint))
    except Exception as err:  # noqa: BLE001  (safetensors, pickle, torch and shape errors alike: the files are bad)
        raise UnreadableCheckpoint(f"checkpoint {checkpoint} cannot be loaded ({_reason(err)})") from err
    return {**state, "stream": state["streams"][accelerator.process_index]}


def load_latest(accelerator: Accelerator, output_dir: Path) -> tuple[Path, dict] | None:
    """Load the newest checkpoint of `output_dir` that loads on every rank (every rank must call this).

    A newer one that does not load is skipped with a warning naming it; loading the older one afterwards replaces
    whatever the failed attempt had loaded, since every checkpoint holds the same objects.

    Returns:
        (checkpoint folder, trainer state as `load_checkpoint` returns it), or None when there is no checkpoint.

    Raises:
        UnreadableCheckpoint: there are checkpoints, and none of them loads.
    """
    found = list_checkpoints(output_dir)
    failures = []
    for checkpoint in reversed(found):
        try:
            state, problem = load_checkpoint(accelerator, checkpoint), None
        except UnreadableCheckpoint as err:
            state, problem = None, str(err)
        # Each rank reports its own failure; the main one also reports those of the others.
        own = problem is not None
        if accelerator.num_processes > 1:  # a file of one rank (its RNG state) may be the damaged one
            loaded = torch.tensor([0.0 if own else 1.0], device=accelerator.device)
            if accelerator.gather(loaded).min() < 1 and not own:
                problem = f"checkpoint {checkpoint} cannot be loaded by another process (see its warning)"
        if problem is None:
            return checkpoint, state
        failures.append(problem)
        logger.warning(
            f"Skipping a damaged checkpoint: {problem}; trying the one before it.", main_process_only=not own
        )
    if found:
        raise UnreadableCheckpoint(
            f"--resume_from_checkpoint latest: none of the {len(found)} checkpoints in {output_dir} can be loaded "
            f"({'; '.join(failures)}). Remove or replace the damaged folders, or start a new run in another folder."
        )
    return None


def _reason(err: BaseException) -> str:
    """An exception as one short line."""
    text = " ".join(str(err).split())
    text = text if len(text) <= 300 else text[:297] + "..."
    return f"{type(err).__name__}: {text}" if text else type(err).__name__
