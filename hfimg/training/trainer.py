"""The one training loop every model family shares, on accelerate.

`Trainer(config).train()` does, in order:

1. checks, before any step: the model builds at the resolution, `--output_dir` can be created, no other run holds
   it (it is locked for the length of this run: `checkpoints.RunLock`) and it is empty or holds this same run, the
   dataset opens;
2. builds the family's objective (gan.py, vae.py, inpaint.py, denoise.py) and wraps its networks with accelerate
   (DDP across processes, mixed precision, gradient accumulation); for bf16 on CPU, the networks of the families
   where it is faster (the family's `channels_last_bf16` default) are first put in channels_last memory format;
3. resumes from a checkpoint if asked: weights, optimizers, EMA, RNG states, the step and each rank's position in
   the data stream, so the run goes on exactly as if it had not stopped ('latest' skips, with a warning, newer
   checkpoints that do not load); then reads the first batch, so a corpus without one readable image is refused
   here too, and last creates the Hub repo (`--push_to_hub`), so that a failure there is known before training;
4. loops over optimizer steps: losses and gradient health (`hfimg.training.health`: the share of parameter tensors
   without gradient, the gated layers' mean gates; also in `health.jsonl`, with a warning when the network is
   dying) to the trackers every `--logging_steps`, a preview grid every `--sample_steps`, a checkpoint every
   `--checkpointing_steps`; a step whose loss is NaN/inf is skipped (and the run stops after `--max_bad_steps` in a
   row), and the run stops when a weight or buffer is NaN/inf (checked at every logging step and before every
   save), so no checkpoint or model of broken weights is ever written. Nothing is written to `--output_dir` before
   the first step has succeeded (then the run record `hfimg_run.json` and the tracker logs): a run that fails at its
   start leaves the folder as it found it, so the corrected command can be run into it again;
5. saves the model (its EMA if there is one) with `save_pretrained` into `--output_dir`, extra networks (a GAN's
   discriminator) in sub-folders, a model card and a preview image, and pushes the folder to the Hub if asked.

Every rank runs the same code; files are written by the main process only.
"""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
import io
import json
import logging
import math
import sys
import time
from itertools import islice
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.logging import get_logger
from accelerate.utils import ProjectConfiguration, broadcast, set_seed
from PIL import Image
from torch.optim.swa_utils import AveragedModel
from tqdm.auto import tqdm

from hfimg.data import ImageStream, orientation_warning
from hfimg.hub import HubModel, TooLarge, check_parameter_count, non_finite_tensor
from hfimg.imaging import images_to_grid, tensor_to_pil
from hfimg.registry import FAMILIES, load, model_class, model_names
from hfimg.training import card, checkpoints
from hfimg.training.config import MODEL_KWARG_FLAGS, ConfigError, TrainingConfig, family_defaults, resolve
from hfimg.training.denoise import DenoiseObjective
from hfimg.training.gan import GANObjective
from hfimg.training.health import GateMonitor, GradientHealth
from hfimg.training.inpaint import InpaintObjective
from hfimg.training.objective import Objective
from hfimg.training.vae import VAEObjective

logger = get_logger(__name__)

HEALTH_LOG = "health.jsonl"  # in --output_dir: each logging step's gradient health, one JSON object per line

OBJECTIVE_CLASSES: dict[str, type[Objective]] = {
    objective.name: objective for objective in (GANObjective, VAEObjective, InpaintObjective, DenoiseObjective)
}


def objectives() -> dict[str, type[Objective]]:
    """Registry name -> the objective that trains it, for every family that names one (`register_model`)."""
    found = {name: cls.objective for name, cls in FAMILIES.items() if cls.objective is not None}
    unknown = {name: objective for name, objective in found.items() if objective not in OBJECTIVE_CLASSES}
    if unknown:
        raise ValueError(
            f"families name objectives that do not exist: {unknown}; known: {', '.join(OBJECTIVE_CLASSES)}."
        )
    return {name: OBJECTIVE_CLASSES[objective] for name, objective in found.items()}


def trainable_models() -> list[str]:
    """Registry names train.py can train (every family with an objective)."""
    trainable = objectives()
    return [name for name in model_names() if name in trainable]


def build_model(config: TrainingConfig) -> HubModel:
    """A fresh model of family `config.model` from the model settings, at the (resolved) resolution.

    Raises:
        ConfigError: a setting the model does not take, or given twice, or values it refuses (e.g. a resolution it
            cannot make), or a model above HFIMG_MAX_PARAMETERS.
    """
    config = resolve(config)  # only a config built by hand; parse_args' and the Trainer's come back as they are
    cls = model_class(config.model)
    accepted = [name for name in inspect.signature(cls.__init__).parameters if name != "self"]
    kwargs = dict(config.model_kwargs or {})
    if "resolution" in kwargs:
        raise ConfigError("set the resolution with --resolution, not in --model_kwargs.")
    for flag in MODEL_KWARG_FLAGS:
        if getattr(config, flag) is None:
            continue
        if flag in kwargs:  # one of the two would silently win
            raise ConfigError(
                f"--{flag} {getattr(config, flag)} and --model_kwargs {json.dumps({flag: kwargs[flag]})} both set "
                f"{flag}; give it once."
            )
        kwargs[flag] = getattr(config, flag)
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ConfigError(
            f"the {config.model!r} model has no setting {', '.join(unknown)}; it takes: {', '.join(accepted)}."
        )
    if "resolution" in accepted:
        kwargs["resolution"] = config.resolution
    try:
        # Counted on the meta device first: a model too large to train is refused before its memory is taken.
        check_parameter_count(cls, kwargs, f"the {config.model!r} model settings")
        model = cls(**kwargs)
    except TooLarge as err:
        raise ConfigError(str(err)) from None
    except (ValueError, TypeError) as err:
        raise ConfigError(
            f"cannot build a {config.model!r} model with {kwargs} (--resolution {config.resolution}): {err}"
        ) from None
    if config.init_weights:
        start_from(model, config.init_weights)
    return model


def start_from(model: HubModel, source: str) -> None:
    """Copy the weights of the model at `source` into `model` (--init_weights); ConfigError when they do not fit."""
    try:
        donor = load(source)
    except (OSError, ValueError) as err:
        raise ConfigError(f"--init_weights {source}: {err}") from None
    try:
        if donor.model_type == model.model_type:
            model.load_state_dict(donor.state_dict())
        elif hasattr(model, "start_from_feed_forward") and donor.model_type == "inpaint-cnn":
            model.start_from_feed_forward(donor)
        else:
            raise ValueError(f"it is a {donor.model_type!r} model, and this run trains {model.model_type!r}")
    except (RuntimeError, ValueError) as err:  # load_state_dict reports mismatched shapes as a RuntimeError
        raise ConfigError(f"--init_weights {source} does not fit this model: {str(err).splitlines()[0]}") from None


def ema_update(decay: float):
    """`multi_avg_fn` for `torch.optim.swa_utils.AveragedModel`: an exponential moving average with a warm-up.

    torch's own `get_ema_multi_avg_fn` uses a fixed decay, so the first thousand steps of a 0.999 average are
    mostly the random initialisation; this one uses min(decay, (1 + n) / (10 + n)) after n updates (the schedule
    of diffusers' EMAModel). AveragedModel calls it once per group of tensors of one device and dtype; integer
    buffers (BatchNorm's step counter) are copied, not averaged.
    """

    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], num_averaged: torch.Tensor) -> None:
        if not averaged[0].is_floating_point():
            torch._foreach_copy_(averaged, current)
            return
        n = float(num_averaged)
        torch._foreach_lerp_(averaged, current, 1.0 - min(decay, (1.0 + n) / (10.0 + n)))

    return update


def has_accelerator() -> bool:
    """Whether torch sees a GPU (or another accelerator) to train on."""
    if hasattr(torch, "accelerator"):  # torch >= 2.6
        return torch.accelerator.is_available()
    return torch.cuda.is_available()


def uses_channels_last(family: str, accelerator: Accelerator) -> bool:
    """Whether the networks of `family` train in channels_last memory format: bf16 autocast on the CPU, for the
    families where that measured faster than the default layout (their `channels_last_bf16` training default)."""
    return (
        accelerator.mixed_precision == "bf16"
        and accelerator.device.type == "cpu"
        and family_defaults()[family].channels_last_bf16
    )


def end_trackers(accelerator: Accelerator) -> None:
    """End the trackers, quietly.

    trackio prints "Run finished. Uploading logs to Trackio (please wait...)" even when it only writes a local file,
    and, since accelerate finishes its run without telling trackio, once more when Python exits. Finishing it through
    trackio's own API too leaves nothing for exit, and its messages go nowhere.
    """
    with contextlib.redirect_stdout(io.StringIO()):
        accelerator.end_training()
        trackio = sys.modules.get("trackio")
        if trackio is not None:
            with contextlib.suppress(RuntimeError):  # no current run: nothing left to finish
                trackio.finish()


def json_safe(value):
    """Settings as JSON types (tuples become lists)."""
    return json.loads(json.dumps(value))


class TrainingError(RuntimeError):
    """A run that started stopped for a reason it can name (e.g. a loss that stays NaN); no traceback needed."""


class Trainer:
    """Trains one model from a run's settings; see the module docstring for what happens when.

    Args:
        config: the run's settings (`hfimg.training.parse_args` gives them from train.py's flags, resolved); a
            config built by hand gets its family defaults here, by the same `resolve` step.
    """

    def __init__(self, config: TrainingConfig):
        objective_class = objectives().get(config.model)
        if objective_class is None:
            raise ConfigError(f"cannot train {config.model!r}; trainable models: {', '.join(trainable_models())}.")
        self.config = config = resolve(config)
        self.output_dir = Path(config.output_dir)
        tracker_package = {"tensorboard": "tensorboard", "trackio": "trackio"}.get(config.report_to)
        if tracker_package and importlib.util.find_spec(tracker_package) is None:
            # accelerate would only log a warning and train without the tracker.
            raise ConfigError(
                f"--report_to {config.report_to} needs the {tracker_package} package: pip install {tracker_package} "
                f"(or hfimg[train]), or pass --report_to none."
            )
        self.accelerator = Accelerator(
            # Without cpu=True, processes started by torchrun on a machine without GPU do not form a
            # process group: each would silently train alone.
            cpu=config.cpu or not has_accelerator(),
            mixed_precision=config.mixed_precision,
            gradient_accumulation_steps=config.gradient_accumulation_steps,
            log_with=None if config.report_to == "none" else config.report_to,
            project_config=ProjectConfiguration(
                project_dir=str(self.output_dir), logging_dir=str(self.output_dir / config.logging_dir)
            ),
        )
        accelerator = self.accelerator
        if accelerator.device.type == "cpu":
            # Values below ~1e-38 (denormals: tiny gradients, Adam's squared-gradient averages early in training)
            # make CPU float math many times slower; flushing them to zero changes nothing measurable otherwise.
            torch.set_flush_denormal(True)

        # 1. Everything that can be wrong is checked before anything is written.
        set_seed(config.seed)  # the same initial weights on every rank
        model = build_model(config)
        self.run = json_safe(
            {
                "model": config.model,
                "model_config": model.init_kwargs(),
                "dataset": config.dataset,
                "split": config.split,
                "resolution": config.resolution,
            }
        )
        # Held for the whole run, so that a second run into the folder is refused; released by `train` when the run
        # ends, and here when it cannot start.
        self.lock = checkpoints.lock_run(accelerator, self.output_dir)
        try:
            self._set_up(model, objective_class)
        except BaseException:
            self._release_lock()
            raise

    def _set_up(self, model: HubModel, objective_class: type[Objective]) -> None:
        """Steps 1 to 3 of the module docstring, from the output folder's check on, under the folder's lock."""
        resume_from = checkpoints.check_output_dir(self.output_dir, self.run, self.config.resume_from_checkpoint)
        self._open_stream(model)
        self._build_objective(model, objective_class)
        self._resume(resume_from)
        self._open_loader()

    def _open_stream(self, model: HubModel) -> None:
        """Step 1, the data: the image stream of this rank, checked against the model (labels for a conditional
        one)."""
        config, accelerator = self.config, self.accelerator
        try:
            self.stream = ImageStream(
                config.dataset,
                resolution=config.resolution,
                channels=model.channels,
                split=config.split,
                image_column=config.image_column,
                shuffle_buffer=config.shuffle_buffer,
                seed=config.seed,
                flip=config.random_flip,
                rank=accelerator.process_index,
                world_size=accelerator.num_processes,
                crop=config.crop,
                crops_per_image=config.crops_per_image,
                scale_range=tuple(config.random_scale),
                rotate=config.random_rotate,
                jitter=config.color_jitter,
            )
        except (ValueError, OSError) as err:  # the data layer's messages say what was found; add which flag
            raise ConfigError(f"--dataset {config.dataset}: {err}") from err
        if warning := orientation_warning(config.dataset, flip=config.random_flip, rotate=config.random_rotate):
            logger.warning(warning)
        if getattr(model, "num_classes", 0) > 0 and not self.stream.has_labels:
            raise ConfigError(
                f"--num_classes {model.num_classes}: a class-conditional model needs labels, and the dataset "
                f"{config.dataset!r} has none; train with --num_classes 0 or use a labelled dataset."
            )

    def _build_objective(self, model: HubModel, objective_class: type[Objective]) -> None:
        """Step 2: the objective, its networks wrapped by accelerate, and the EMA of the saved model."""
        config, accelerator = self.config, self.accelerator
        self.channels_last = uses_channels_last(config.model, accelerator)
        if self.channels_last:
            model.to(memory_format=torch.channels_last)  # before the EMA copy, so it has the same layout
        # The EMA is a copy made before `prepare`, so it is a plain module (no DDP, no autocast wrapper).
        self.ema = None
        if config.ema_decay > 0:
            self.ema = AveragedModel(
                model, device=accelerator.device, multi_avg_fn=ema_update(config.ema_decay), use_buffers=True
            )
            accelerator.register_for_checkpointing(self.ema)
        self.objective = objective_class(model, config)
        if self.channels_last:
            # In place (the parameters stay the same objects, so the optimizers keep them). Saved weights are the
            # same values: save_pretrained and accelerate's checkpoints write contiguous copies.
            for network in self.objective.networks:  # the model and any discriminator, not yet wrapped
                network.to(memory_format=torch.channels_last)
            logger.info(f"bf16 on CPU: training {config.model} in channels_last memory format.")
        self.objective.prepare(accelerator)
        set_seed(config.seed, device_specific=True)  # different noise / masks / codes on each rank

    def _resume(self, resume_from: Path | None) -> None:
        """Step 3: the state of a checkpoint ('latest': the newest that loads, not necessarily `resume_from`)."""
        config, accelerator = self.config, self.accelerator
        self.step = 0
        self.train_seconds_before = 0.0  # training time of the runs this one resumes (--max_train_minutes)
        self._clock_started: float | None = None  # perf_counter at this process's first step
        state = None
        if config.resume_from_checkpoint == "latest":
            loaded = checkpoints.load_latest(accelerator, self.output_dir)
            if loaded is None:
                logger.info(f"No checkpoint in {self.output_dir}: starting a new run.")
            else:
                resume_from, state = loaded
        elif resume_from is not None:
            state = checkpoints.load_checkpoint(accelerator, resume_from)
        if state is not None:
            try:
                self.stream.load_state_dict(state["stream"])
            except (ValueError, KeyError, TypeError) as err:
                raise ConfigError(f"cannot resume from {resume_from}: its data position does not fit: {err}") from err
            self.step = state["step"]
            self.train_seconds_before = float(state.get("train_seconds", 0.0))
            logger.info(f"Resumed from {resume_from} at step {self.step}.")
        self.resumed = state is not None

    def _open_loader(self) -> None:
        """The batches, their first one read at once (a corpus without a readable image fails before anything is
        written), the Hub repo last, and the loop's bookkeeping."""
        config, accelerator = self.config, self.accelerator
        # num_workers=0: the stream's own position is the loader's (no prefetch). A generator of its own: making
        # the iterator draws a seed, which must not come from the global RNG that the checkpoint restores.
        loader = torch.utils.data.DataLoader(
            self.stream, batch_size=config.train_batch_size, num_workers=0, generator=torch.Generator()
        )
        self.batches = iter(loader)
        self._first_batch = self._read_first_batch()
        self.repo_id = None  # created last: a run refused by the checks above leaves no empty repo on the Hub
        if config.push_to_hub and accelerator.is_main_process:
            self.repo_id = card.create_hub_repo(config.hub_model_id or self.output_dir.resolve().name)
        accelerator.wait_for_everyone()  # every rank has checked --output_dir before the main one writes to it
        self._started = False  # whether the run record and trackers are written (after the first step)

        self.metrics: dict[str, float] = {}
        self.health: GradientHealth | None = None  # of the last logging step
        self._gates: GateMonitor | None = None  # recording, during a logging step's forward and backward
        self._skipping = False  # a loss of the current optimizer step was NaN/inf
        self._bad_in_a_row = 0
        self._preview_images: torch.Tensor | None = None

    def _read_first_batch(self) -> dict[str, torch.Tensor]:
        """The first batch, read before anything is written: a corpus without a readable image fails here."""
        try:
            return next(self.batches)
        except ValueError as err:
            if self.stream.skipped:  # the data layer went through a whole epoch and could decode nothing
                raise ConfigError(
                    f"--dataset {self.config.dataset}: no readable image was found ({self.stream.skipped} unreadable "
                    f"images skipped; the warnings above name them). Check that the files are images PIL can open."
                ) from err
            raise ConfigError(f"--dataset {self.config.dataset}: {err}") from err

    def _start(self) -> None:
        """After the first successful optimizer step: write the run record (fresh runs) and start the trackers."""
        config, accelerator = self.config, self.accelerator
        self._started = True
        if accelerator.is_main_process and not self.resumed:
            checkpoints.write_run(self.output_dir, self.run, json_safe(config.flat()))
        accelerator.init_trackers(
            config.model,
            # Trackers take scalars and strings only.
            config={k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in config.flat().items()},
            init_kwargs={"trackio": {"name": self.output_dir.resolve().name}},
        )

    # --- the loop ------------------------------------------------------------------------------------------------

    def train(self) -> dict[str, float]:
        """Run to `--max_train_steps`, save the final model; returns the final (mean) training losses."""
        config, accelerator = self.config, self.accelerator
        progress = tqdm(
            total=config.max_train_steps,
            initial=self.step,
            desc=f"train {config.model}",
            disable=not accelerator.is_local_main_process,
        )
        window: dict[str, list[torch.Tensor]] = {}  # losses since the last log
        # The training clock starts here, with or without --max_train_minutes: the time a run took goes into its
        # checkpoints and card, and a resume with a budget counts it.
        self._clock_started = clock()
        try:
            while self.step < config.max_train_steps and not self._out_of_time():
                batch = self._next_batch()
                # At a logging step, watch the saved network: its gates on the forward pass, its gradients after
                # the backward (`hfimg.training.health`).
                watch = (self.step + 1) % config.logging_steps == 0 or self.step + 1 == config.max_train_steps
                with accelerator.accumulate(*self.objective.networks), self._watching(watch):
                    losses = self.objective.training_step(batch, self.step, self._apply)
                for name, value in (losses or {}).items():
                    window.setdefault(name, []).append(value)
                if not accelerator.sync_gradients:
                    continue  # more micro-batches to accumulate before this optimizer step
                self._end_step()
                self.step += 1
                if self.step == 1 or self.step % config.logging_steps == 0:
                    self._stop_if_not_finite()  # also before every checkpoint and the final save
                if not self._started:
                    self._start()
                progress.update(1)
                if self.step % config.logging_steps == 0 or self.step == config.max_train_steps:
                    self._log(window)
                    progress.set_postfix({name: f"{value:.4g}" for name, value in self.metrics.items()})
                    window = {}
                if config.sample_steps and self.step % config.sample_steps == 0:
                    self._preview()
                if config.checkpointing_steps and self.step % config.checkpointing_steps == 0:
                    self._checkpoint()
            progress.close()  # ends the bar's line, so what is printed next starts a line of its own
            if self.step < config.max_train_steps and self._started:
                logger.info(f"--max_train_minutes {config.max_train_minutes} spent after {self.step} steps.")
                if config.checkpointing_steps and self.step % config.checkpointing_steps:
                    self._checkpoint()  # so that a longer budget resumes here
            if not self._started:  # resumed at or past --max_train_steps: no step to take
                self._start()
            self._save_final()
        finally:
            progress.close()  # also when the run stops with an error: its one-line message must start a line
            end_trackers(accelerator)
            self._release_lock()
        return self.metrics

    def _release_lock(self) -> None:
        if self.lock is not None:  # the main process's
            self.lock.release()

    def _set_learning_rates(self, steps_done: int) -> None:
        """Cosine schedule, a function of the step alone (so a resumed run continues it exactly): each parameter
        group's rate is its starting rate times (1 + cos(pi * steps_done / max_train_steps)) / 2."""
        factor = 0.5 * (1 + math.cos(math.pi * min(1.0, steps_done / self.config.max_train_steps)))
        for optimizer in self.objective.optimizers:
            for group in optimizer.param_groups:
                group["lr"] = group.setdefault("initial_lr", group["lr"]) * factor  # saved with the optimizer

    def _checkpoint(self) -> None:
        self._stop_if_not_finite()  # so each checkpoint on disk holds finite weights
        config = self.config
        checkpoints.save_checkpoint(
            self.accelerator,
            self.output_dir,
            self.step,
            self.stream.state_dict(),
            self.run,
            config.checkpoints_total_limit,
            self.train_seconds(),
            self.saved_model(),
        )

    def train_seconds(self) -> float:
        """Wall-clock seconds of training, over this run and the runs it resumed (setup excluded)."""
        if self._clock_started is None:
            return self.train_seconds_before
        return self.train_seconds_before + clock() - self._clock_started

    def _out_of_time(self) -> bool:
        """Whether --max_train_minutes is spent; rank 0's clock decides for every rank, so all stop together."""
        if self.config.max_train_minutes is None:
            return False
        spent = torch.tensor([float(self.train_seconds() >= 60 * self.config.max_train_minutes)])
        if self.accelerator.num_processes > 1:
            spent = broadcast(spent.to(self.accelerator.device), from_process=0).cpu()
        return bool(spent.item())

    def _next_batch(self) -> dict[str, torch.Tensor]:
        batch, self._first_batch = self._first_batch, None
        if batch is None:
            batch = next(self.batches)
        device = self.accelerator.device
        return {"image": batch["image"].to(device, non_blocking=True), "label": batch["label"].to(device)}

    def _apply(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> bool:
        """Backward + optimizer step of one loss (see `objective.ApplyLoss`); skips the step if a loss is NaN/inf."""
        finite = torch.isfinite(loss.detach()).all()
        if self.accelerator.num_processes > 1:
            # Every rank must take the same branch: DDP would wait forever for the gradients of a rank that skips.
            finite = self.accelerator.gather(finite.float()[None]).min() > 0
        if not finite:
            self._skipping = True
        if self._skipping:
            # Drop what this optimizer step accumulated so far. (The accelerate wrapper's zero_grad only acts on
            # the last micro-batch of an accumulation; the wrapped optimizer's acts now.)
            getattr(optimizer, "optimizer", optimizer).zero_grad(set_to_none=True)
            return False
        self.accelerator.backward(loss)
        if self._gates is not None and optimizer is self.objective.optimizer:
            self.health = GradientHealth.of(self.objective.model, self._gates.means)  # before step() clears them
        optimizer.step()  # a no-op until the last micro-batch of the accumulation
        optimizer.zero_grad(set_to_none=True)
        return True

    def _end_step(self) -> None:
        """After the last micro-batch of an optimizer step: EMA update and the next step's learning rate, or the
        bookkeeping of a skipped step."""
        if not self._skipping:
            self._bad_in_a_row = 0
            if self.ema is not None:
                self.ema.update_parameters(self.objective.model)
            if self.config.lr_scheduler == "cosine":
                self._set_learning_rates(self.step + 1)
            return
        self._skipping = False
        self._bad_in_a_row += 1
        logger.warning(f"Step {self.step + 1}: the loss is NaN or infinite; the step was skipped.")
        if self._bad_in_a_row >= self.config.max_bad_steps:
            latest = checkpoints.list_checkpoints(self.output_dir)
            raise TrainingError(
                f"Stopping: the loss was NaN or infinite for {self._bad_in_a_row} steps in a row (up to step "
                f"{self.step + 1}). Last checkpoint: {latest[-1] if latest else 'none'}. Try a lower "
                f"--learning_rate, --mixed_precision no, or check the data."
            )

    @contextlib.contextmanager
    def _watching(self, watch: bool):
        """While entered with `watch`: record the model's gate means, so `_apply` can read its gradient health."""
        if not watch:
            yield
            return
        with GateMonitor(self.objective.model) as self._gates:
            yield
        self._gates = None

    def _stop_if_not_finite(self, *, every_rank: bool = True) -> None:
        """Stop the run when a network it saves holds a NaN or infinite weight or buffer.

        No later step repairs such a network (a batch-norm statistic is poisoned by the forward pass of a step whose
        loss was then skipped), and its images would all be black or noise; so it is never saved: the check runs
        before every checkpoint and the final save (each checkpoint on disk holds finite weights, the newest is the
        last good state), and at the first step and every logging step, to stop early. Not at every step: a pass
        over every weight (and the EMA's) costs 10-20 ms on a CPU, 10-15% of a denoiser's training step.
        `every_rank`: every process calls this at once (in the loop), so they agree; else the main one alone does.
        """
        networks = {"model": self.accelerator.unwrap_model(self.objective.net), **self.objective.extra_models()}
        if self.ema is not None:
            networks["EMA of the model"] = self.ema.module
        found = ((name, non_finite_tensor(network.state_dict())) for name, network in networks.items())
        problem = next((f"{name}: {bad}" for name, bad in found if bad is not None), None)
        broken = torch.tensor([0.0 if problem is None else 1.0], device=self.accelerator.device)
        if every_rank and self.accelerator.num_processes > 1:  # all stop together, or the others wait for ever
            broken = self.accelerator.gather(broken)
        if broken.max() > 0:
            latest = checkpoints.list_checkpoints(self.output_dir)
            raise TrainingError(
                f"Stopping at step {self.step}: the weights are no longer finite ({problem or 'on another process'}); "
                f"they are not saved. Last good checkpoint: {latest[-1] if latest else 'none yet'}. Run again with a "
                f"lower --learning_rate (or --mixed_precision no) and --resume_from_checkpoint latest to go on there."
            )

    def _log(self, window: dict[str, list[torch.Tensor]]) -> None:
        if window:
            self.metrics = {name: torch.stack(values).float().mean().item() for name, values in window.items()}
        health = self.health.metrics() if self.health is not None else {}
        self.accelerator.log({**self.metrics, **health, "skipped_images": self.stream.skipped}, step=self.step)
        if self.health is None or not self.accelerator.is_main_process:
            return
        with open(self.output_dir / HEALTH_LOG, "a", encoding="utf-8") as log:  # one JSON object per line
            log.write(json.dumps({"step": self.step, **health}) + "\n")
        if warning := self.health.warning():
            logger.warning(f"Step {self.step}: {warning}")

    # --- previews and the final model ----------------------------------------------------------------------------

    def saved_model(self) -> HubModel:
        """The model that is sampled and saved: the EMA of the trained network if there is one."""
        return self.ema.module if self.ema is not None else self.accelerator.unwrap_model(self.objective.net)

    def _fixed_images(self) -> torch.Tensor:
        """The first `--num_preview` images of the corpus, in its own order: the same in every preview."""
        if self._preview_images is None:
            stream = ImageStream(
                self.config.dataset,
                resolution=self.config.resolution,
                channels=self.objective.model.channels,
                split=self.config.split,
                image_column=self.config.image_column,
                shuffle_buffer=0,
                repeat=False,
            )
            images = [sample["image"] for sample in islice(stream, self.config.num_preview)]
            self._preview_images = torch.stack(images).to(self.accelerator.device)
        return self._preview_images

    def _preview(self, name: str | None = None) -> Image.Image | None:
        """Save a preview grid (main process) as samples/step-<step>.png, or `name` in the output folder."""
        if not self.accelerator.is_main_process or self.config.num_preview == 0:
            return None
        model = self.saved_model()
        images = self._fixed_images() if self.objective.uses_preview_images else None
        was_training = model.training
        model.eval()
        rows = self.objective.preview(model, images, torch.Generator().manual_seed(self.config.seed))
        model.train(was_training)
        grid = images_to_grid([tensor_to_pil(image) for row in rows for image in row], columns=len(rows[0]))
        path = self.output_dir / (name or f"samples/step-{self.step:07d}.png")
        path.parent.mkdir(parents=True, exist_ok=True)
        grid.save(path)
        self._log_image(grid)
        return grid

    def _log_image(self, grid: Image.Image) -> None:
        for tracker in self.accelerator.trackers:
            if tracker.name == "tensorboard":
                array = np.asarray(grid)
                array = array.reshape(1, *array.shape[:2], -1)  # (1, H, W, C)
                tracker.log_images({"preview": array}, step=self.step, dataformats="NHWC")
            elif tracker.name == "trackio":
                import trackio

                tracker.log({"preview": trackio.Image(grid)}, step=self.step)

    def _save_final(self) -> None:
        accelerator, config = self.accelerator, self.config
        accelerator.wait_for_everyone()
        if not accelerator.is_main_process:
            return
        model = self.saved_model()
        self.objective.finish(model)
        self._stop_if_not_finite(every_rank=False)  # what `finish` did to the model included
        model.save_pretrained(self.output_dir)
        for folder, extra in self.objective.extra_models().items():
            extra.save_pretrained(self.output_dir / folder)
        preview = "preview.png" if self._preview(name="preview.png") is not None else None
        processes = accelerator.num_processes
        launcher = "python" if processes == 1 else f"torchrun --nproc_per_node {processes}"
        card.write_model_card(
            model,
            self.output_dir,
            dataset=config.dataset,
            summary=self._summary(),
            command=f"{launcher} {config.command}",
            metrics=self.metrics,
            preview_file=preview,
            preview_legend=self.objective.preview_legend(),
            settings=json_safe({k: v for k, v in config.flat().items() if k != "command"}),
            repo_id=self.repo_id,
        )
        logger.info(f"Saved the model to {self.output_dir} after {self.step} steps.")
        if self.repo_id is not None:
            url = card.upload_run(self.repo_id, self.output_dir, self.step)
            logger.info(f"Pushed to the Hub: {url}")

    def _summary(self) -> dict[str, str]:
        config, accelerator = self.config, self.accelerator
        per_step = config.train_batch_size * config.gradient_accumulation_steps * accelerator.num_processes
        return {
            "steps": f"{self.step} optimizer steps ({self.step * per_step} images, "
            f"{self.train_seconds() / 60:.1f} minutes of training)",
            "resolution": f"{config.resolution} x {config.resolution}, {config.crop} crop"
            + (", random flips" if config.random_flip else "")
            + (", random 90-degree turns" if config.random_rotate else "")
            + (", scales {:g}-{:g}".format(*config.random_scale) if tuple(config.random_scale) != (1, 1) else "")
            + (f", colour jitter {config.color_jitter:g}" if config.color_jitter else ""),
            "batch": f"{config.train_batch_size} per process x {config.gradient_accumulation_steps} accumulation x "
            f"{accelerator.num_processes} processes = {per_step}",
            "optimizer": f"Adam, lr {config.learning_rate}, betas ({config.adam_beta1}, {config.adam_beta2})",
            "EMA decay": str(config.ema_decay) if config.ema_decay > 0 else "none",
            "mixed precision": accelerator.mixed_precision,
            "seed": str(config.seed),
        }


def clock() -> float:
    """Seconds on a monotonic clock: what --max_train_minutes counts (a function of its own, so tests can set it)."""
    return time.perf_counter()


def configure_logging() -> None:
    """INFO-level logs on the console, as accelerate's examples do."""
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
