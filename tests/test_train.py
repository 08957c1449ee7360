"""train.py and hfimg.training: every family trains and saves a loadable model; 2-rank runs stay in sync;
a SIGKILLed run resumes to exactly the same weights; bad input is refused before any step; NaN steps are skipped.

All runs are tiny (16-32 px, a few steps) on image folders the tests make themselves.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import itertools
import json
import logging
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from accelerate.state import AcceleratorState, GradientState
from huggingface_hub import ModelCard
from PIL import Image
from safetensors.torch import load_file
from tiny import tiny_flags

import hfimg
from hfimg.data import ImageStream
from hfimg.training import (
    ConfigError,
    Trainer,
    TrainingError,
    build_model,
    checkpoints,
    objectives,
    parse_args,
    trainable_models,
)
from hfimg.training import config as config_module
from hfimg.training.arguments import build_parser
from hfimg.training.config import (
    OBJECTIVE,
    TrainingConfig,
    VAEConfig,
    family_defaults,
    resolve,
    section,
    setting,
    settings,
)
from hfimg.training.converters import finite_float, integer

REPO = Path(__file__).resolve().parents[1]

# What a few steps of a family's training need beyond its tiny model (`tiny_flags`): a short KL warm-up; two passes
# of the recurrent family, with its per-pass weighting and SSIM term switched on so that they are trained too.
TRAINING_EXTRAS = {
    "vae": ["--kl_warmup_steps", "2"],
    "inpaint-rcnn": ["--step_weight", "0.5", "--ssim_weight", "0.1"],
}


def family_flags(model: str) -> list[str]:
    """train.py flags of a few-second run of the family: its tiny model, then its training extras."""
    overrides = {"iterations": 2} if model == "inpaint-rcnn" else {}
    return [*tiny_flags(model, **overrides), *TRAINING_EXTRAS.get(model, [])]


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory) -> Path:
    """24 small RGB images in two class sub-folders (so the corpus has labels)."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for label in ("a", "b"):
        (root / label).mkdir()
        for i in range(12):
            smooth = rng.integers(0, 256, (5, 5, 3), dtype=np.uint8)
            Image.fromarray(smooth).resize((20, 20), Image.Resampling.BILINEAR).save(root / label / f"{i}.png")
    return root


@pytest.fixture(autouse=True)
def fresh_accelerate_state():
    """Each in-process run builds its own Accelerator; accelerate keeps process-wide state between them."""
    yield
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()


def flags(model: str, dataset: Path, output_dir: Path, *extra: str) -> list[str]:
    return [
        "--model", model, "--dataset", str(dataset), "--output_dir", str(output_dir),
        "--train_batch_size", "4", "--shuffle_buffer", "8", "--num_preview", "2", "--report_to", "none",
        *family_flags(model), *extra,
    ]  # fmt: skip


def train(model: str, dataset: Path, output_dir: Path, *extra: str) -> dict[str, float]:
    return Trainer(parse_args(flags(model, dataset, output_dir, *extra))).train()


def weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "model.safetensors"))


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    different = [name for name in a if not torch.equal(a[name], b[name])]
    assert not different, f"tensors differ: {different}"


def subprocess_env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def run_train_py(args: list[str]) -> subprocess.CompletedProcess:
    """`python train.py ARGS` in a fresh process."""
    result = subprocess.run(
        [sys.executable, "train.py", *args], cwd=REPO, env=subprocess_env(), capture_output=True, text=True
    )
    if result.returncode != 0:
        raise AssertionError(f"train.py failed ({result.returncode}):\n{result.stderr[-4000:]}")
    return result


def run_script(script: str, args: list[str], tmp_path: Path, *, launcher: list[str] | None = None, check=True):
    """Run a small Python driver (written by the test) in a fresh process, from the repository root."""
    path = tmp_path / "driver.py"
    path.write_text(f"import sys\nsys.path.insert(0, {str(REPO)!r})\n" + textwrap.dedent(script))
    result = subprocess.run(
        [*(launcher or [sys.executable]), str(path), *args],
        cwd=REPO,
        env=subprocess_env(),
        capture_output=True,
        text=True,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"driver failed ({result.returncode}):\n{result.stdout}\n{result.stderr[-4000:]}")
    return result


# --- every family -------------------------------------------------------------------------------------------------


def test_every_trainable_family_builds_a_tiny_model_from_its_flags():
    for family in trainable_models():
        config = parse_args(["--model", family, "--dataset", "x", "--output_dir", "y", *family_flags(family)])
        assert build_model(config).num_parameters() < 300_000, family
    # Networks trained inside another family's objective, or by their own scripts, are the only ones left out.
    left_out = {"dcgan-discriminator", "patch-discriminator", "fashion-classifier"}
    assert set(hfimg.model_names()) - set(trainable_models()) <= left_out


@pytest.mark.parametrize("family", trainable_models())
def test_every_family_trains_into_a_loadable_folder(family, image_folder, tmp_path):
    out = tmp_path / "run"
    args = parse_args(
        flags(family, image_folder, out, "--max_train_steps", "3", "--checkpointing_steps", "2", "--sample_steps", "2")
    )
    args = dataclasses.replace(args, report_to="tensorboard")
    untrained = build_model(parse_args(flags(family, image_folder, tmp_path / "unused")))
    metrics = Trainer(args).train()

    assert metrics and all(np.isfinite(value) for value in metrics.values())
    model = hfimg.load(out)
    assert model.model_type == family
    assert model.init_kwargs() == untrained.init_kwargs()
    changed = [name for name, p in untrained.state_dict().items() if not torch.equal(p, model.state_dict()[name])]
    assert changed, "training did not change any weight"
    assert all(torch.isfinite(p).all() for p in model.parameters())

    card = ModelCard.load(out / "README.md")
    assert card.data.library_name == "hfimg"
    assert f"--model {family}" in card.text and str(image_folder) in card.text and "3 optimizer steps" in card.text
    assert "![preview](preview.png)" in card.text
    assert Image.open(out / "preview.png").size == Image.open(out / "samples" / "step-0000002.png").size
    assert [p.name for p in checkpoints.list_checkpoints(out)] == ["checkpoint-2"]
    assert list((out / "logs").rglob("events.out.tfevents.*")), "no tensorboard log"
    if family == "dcgan":
        discriminator = hfimg.load(out / "discriminator")
        assert discriminator.model_type == "dcgan-discriminator"
        assert discriminator(torch.zeros(1, 1, 32, 32)).shape == (1,)


def test_inpainter_with_adversarial_term_saves_its_discriminator(image_folder, tmp_path):
    out = tmp_path / "run"
    train("inpaint-cnn", image_folder, out, "--resolution", "32", "--adv_weight", "0.1", "--disc_base_channels", "4",
          "--max_train_steps", "2", "--checkpointing_steps", "0")  # fmt: skip
    assert hfimg.load(out).model_type == "inpaint-cnn"
    assert hfimg.load(out / "discriminator").model_type == "dcgan-discriminator"


def test_inpainter_with_patch_discriminator_fourier_blocks_and_gradient_loss(image_folder, tmp_path):
    out = tmp_path / "run"
    logs = train("inpaint-cnn", image_folder, out, "--resolution", "16", "--adv_weight", "0.1", "--adv_kind", "patch",
                 "--disc_base_channels", "4", "--gradient_weight", "1", "--model_kwargs", '{"fourier_blocks": 1}',
                 "--max_train_steps", "2", "--checkpointing_steps", "0")  # fmt: skip
    assert {"adv", "loss_d", "gradient"} <= set(logs) and all(np.isfinite(v) for v in logs.values())
    assert hfimg.load(out).config_dict()["fourier_blocks"] == 1
    discriminator = hfimg.load(out / "discriminator")
    assert discriminator.model_type == "patch-discriminator"
    assert discriminator(torch.zeros(1, 3, 16, 24)).shape == (1, 1, 2, 3)  # one logit per 8 x 8 patch


def test_the_texture_loss_sees_blur_and_noise_not_the_same_texture_and_trains_the_fill(image_folder, tmp_path):
    from hfimg.training.objective import RandomTextureFeatures, texture_loss

    torch.manual_seed(1)
    network = RandomTextureFeatures(3)
    torch.manual_seed(2)
    again = RandomTextureFeatures(3)  # fixed weights: the same in every run, whatever the global RNG did
    pairs = zip(network.state_dict().values(), again.state_dict().values(), strict=True)
    assert all(torch.equal(a, b) for a, b in pairs)
    assert not any(p.requires_grad for p in network.parameters())
    generator = torch.Generator().manual_seed(0)
    texture = torch.rand(1, 3, 64, 64, generator=generator) * 2 - 1  # fine random texture
    shifted = texture.roll(shifts=(5, 7), dims=(2, 3))  # the same texture elsewhere: other pixels, same statistics
    smooth = F.avg_pool2d(texture, 5, stride=1, padding=2)  # what a blurred fill looks like
    flat = torch.zeros_like(texture)
    assert texture_loss(network, texture, texture) == 0
    same, blurred, blank = (texture_loss(network, x, texture) for x in (shifted, smooth, flat))
    assert same < 0.2 * blurred and blurred < blank  # a pixel loss would rank the shifted copy worst
    assert F.l1_loss(shifted, texture) > F.l1_loss(smooth, texture)

    out = tmp_path / "run"
    logs = train("inpaint-cnn", image_folder, out, "--texture_weight", "1", "--max_train_steps", "2",
                 "--checkpointing_steps", "0")  # fmt: skip
    assert logs["texture"] > 0 and np.isfinite(logs["loss"])
    assert "texture" not in " ".join(load_file(str(out / "model.safetensors")))  # the fixed network is not saved


def test_patch_discriminator_judges_only_the_patches_over_the_hole():
    from hfimg.training.objective import PatchAdversarialTerm

    args = parse_args(["--model", "inpaint-cnn", "--dataset", "x", "--output_dir", "y", "--disc_base_channels", "4"])
    term = PatchAdversarialTerm(args, channels=3)
    real = torch.rand(2, 3, 32, 32) * 2 - 1
    hole = torch.zeros(2, 1, 32, 32)
    hole[:, :, :8, :8] = 1  # one 8 x 8 patch of the 4 x 4 grid
    fake = real.clone()
    fake[:, :, :8, :8] = 0
    fake.requires_grad_(True)
    term.generator_loss(fake, hole=hole, real=real).backward()
    assert fake.grad[:, :, :8, :8].abs().sum() > 0
    # Far from the hole (beyond the receptive field of the hole's logit) nothing pulls on the known pixels.
    assert fake.grad[:, :, 24:, 24:].abs().sum() == 0
    assert not any(p.grad is not None and p.grad.any() for p in term.discriminator.parameters())


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--random_scale", "0.5,1"], "--random_scale 0.5,1 needs --crop random"),
        (["--crop", "random", "--random_scale", "0,1"], "--random_scale must be LOW,HIGH with 0 < LOW"),
        (["--color_jitter", "1.5"], "--color_jitter must be a fraction"),
    ],
)
def test_augmentation_flags_are_checked(extra, message, tmp_path, capsys):
    with pytest.raises(SystemExit):
        parse_args(["--model", "denoise-cnn", "--dataset", "x", "--output_dir", str(tmp_path), *extra])
    assert message in capsys.readouterr().err


def test_init_weights_starts_from_a_trained_model_or_says_why_not(image_folder, tmp_path):
    cnn_flags = ["--model_kwargs", '{"dilations": [1, 2]}', "--max_train_steps", "1", "--checkpointing_steps", "0"]
    train("inpaint-cnn", image_folder, tmp_path / "cnn", *cnn_flags)
    same = build_model(parse_args(flags("inpaint-cnn", image_folder, tmp_path / "a", "--init_weights",
                                        str(tmp_path / "cnn"))))  # fmt: skip
    assert_same_weights(same.state_dict(), weights(tmp_path / "cnn"))
    rcnn_flags = ["--model_kwargs", '{"dilations": [1, 2]}', "--init_weights", str(tmp_path / "cnn")]
    recurrent = build_model(parse_args(flags("inpaint-rcnn", image_folder, tmp_path / "b", *rcnn_flags)))
    block = recurrent.block.state_dict()
    assert torch.equal(block["merge.0.conv.weight"], weights(tmp_path / "cnn")["net.merge.0.conv.weight"])
    with pytest.raises(ConfigError, match="does not fit this model"):
        build_model(parse_args(flags("denoise-cnn", image_folder, tmp_path / "c", "--init_weights",
                                     str(tmp_path / "cnn"))))  # fmt: skip
    with pytest.raises(ConfigError, match="--init_weights"):
        build_model(parse_args(flags("inpaint-cnn", image_folder, tmp_path / "d", "--init_weights",
                                     str(tmp_path / "missing"))))  # fmt: skip


def test_a_refining_recurrent_inpainter_trains_on_every_pass_and_keeps_its_schedule(image_folder, tmp_path):
    out = tmp_path / "run"
    losses = train("inpaint-rcnn", image_folder, out, "--model_kwargs", '{"dilations": [1], "schedule": "refine"}',
                   "--max_train_steps", "2", "--checkpointing_steps", "0")  # fmt: skip
    assert losses["passes"] > 0  # each pass scored over the whole hole it reworks
    model = hfimg.load(out)
    assert model.schedule == "refine" and json.loads((out / "config.json").read_text())["schedule"] == "refine"


def test_cosine_schedule_decays_every_optimizer_and_resumes_on_the_same_curve(image_folder, tmp_path):
    extra = ["--lr_scheduler", "cosine", "--learning_rate", "1e-3", "--max_train_steps", "4", "--adv_weight", "0.1",
             "--resolution", "32", "--disc_base_channels", "4", "--checkpointing_steps", "2"]  # fmt: skip
    trainer = Trainer(parse_args(flags("inpaint-cnn", image_folder, tmp_path / "run", *extra)))
    trainer.train()
    for optimizer in trainer.objective.optimizers:  # the inpainter's and its discriminator's
        assert optimizer.param_groups[0]["initial_lr"] == 1e-3
        assert optimizer.param_groups[0]["lr"] < 1e-12  # cos(pi): the end of the curve
    # Halfway the rate was half, and the checkpoint holds it: a resumed run goes on along the same curve.
    saved = torch.load(tmp_path / "run" / "checkpoint-2" / "optimizer.bin", weights_only=False)
    assert saved["param_groups"][0]["lr"] == pytest.approx(0.5e-3)
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()
    (tmp_path / "run" / "checkpoint-4").rename(tmp_path / "later")  # so that `latest` is step 2
    resumed = Trainer(parse_args(flags("inpaint-cnn", image_folder, tmp_path / "run", *extra,
                                       "--resume_from_checkpoint", "latest")))  # fmt: skip
    assert resumed.step == 2
    resumed.train()
    assert resumed.objective.optimizer.param_groups[0]["lr"] < 1e-12
    assert_same_weights(weights(tmp_path / "run"), load_file(str(tmp_path / "later" / "model.safetensors")))


def test_patch_discriminator_needs_a_multiple_of_8(image_folder, tmp_path):
    with pytest.raises(ConfigError, match="--adv_kind patch needs --resolution a multiple of 8"):
        train("inpaint-cnn", image_folder, tmp_path / "run", "--resolution", "20", "--adv_weight", "0.1",
              "--adv_kind", "patch", "--max_train_steps", "1")  # fmt: skip


def test_bf16_and_train_py_main(image_folder, tmp_path):
    script = load_train_py()
    out = tmp_path / "run"
    args = script.parse_args(
        flags("denoise-cnn", image_folder, out, "--max_train_steps", "2", "--mixed_precision", "bf16")
    )
    metrics = script.main(args)
    assert np.isfinite(metrics["loss"])
    # Autocast computes in bf16; the weights stay float32.
    assert all(t.dtype == torch.float32 for t in weights(out).values() if t.is_floating_point())
    assert "| mixed precision | bf16 |" in (out / "README.md").read_text()


@pytest.mark.parametrize("family", ["vae", "inpaint-cnn"])
def test_previews_do_not_change_what_is_trained(family, image_folder, tmp_path):
    # Previews draw their noise, masks and codes from a generator of their own, never from the training RNG.
    train(family, image_folder, tmp_path / "a", "--max_train_steps", "3", "--sample_steps", "1")
    train(family, image_folder, tmp_path / "b", "--max_train_steps", "3", "--sample_steps", "0")
    assert len(list((tmp_path / "a" / "samples").glob("*.png"))) == 3
    assert_same_weights(weights(tmp_path / "a"), weights(tmp_path / "b"))


def test_checkpoints_total_limit_keeps_the_newest(image_folder, tmp_path):
    out = tmp_path / "run"
    train("denoise-cnn", image_folder, out, "--max_train_steps", "5", "--checkpointing_steps", "1",
          "--checkpoints_total_limit", "2")  # fmt: skip
    assert [p.name for p in checkpoints.list_checkpoints(out)] == ["checkpoint-4", "checkpoint-5"]
    state = json.loads((out / "checkpoint-5" / checkpoints.STATE_FILE).read_text())
    assert state["step"] == 5 and state["world_size"] == 1 and len(state["streams"]) == 1


def test_resuming_a_finished_run_with_more_steps_continues_from_its_step(image_folder, tmp_path):
    out = tmp_path / "run"
    train("denoise-cnn", image_folder, out, "--max_train_steps", "2", "--checkpointing_steps", "2")
    train("denoise-cnn", image_folder, out, "--max_train_steps", "3", "--checkpointing_steps", "2",
          "--resume_from_checkpoint", "latest")  # fmt: skip
    assert "3 optimizer steps" in (out / "README.md").read_text()


def test_a_time_budget_stops_saves_a_checkpoint_and_a_longer_one_resumes_there(image_folder, tmp_path, monkeypatch):
    out = tmp_path / "run"
    readings = itertools.count(0, 10)  # every reading of the clock is 10 s after the previous one
    monkeypatch.setattr("hfimg.training.trainer.clock", lambda: next(readings))
    extra = ("--max_train_steps", "1000", "--checkpointing_steps", "2", "--resume_from_checkpoint", "latest")
    train("dcgan", image_folder, out, "--max_train_minutes", "0.5", *extra)
    saved = checkpoints.list_checkpoints(out)
    state = checkpoints.read_state(saved[-1])
    assert 0 < state["step"] < 1000 and 30 <= state["train_seconds"] < 60  # stopped by the clock, not the steps
    assert saved[-1].name == f"checkpoint-{state['step']}"  # where it stopped, also off the checkpoint interval
    assert hfimg.load(saved[-1] / checkpoints.MODEL_FOLDER).generate(1, seed=0)[0].size == (32, 32)
    assert f"{state['step']} optimizer steps" in (out / "README.md").read_text()
    train("dcgan", image_folder, out, "--max_train_minutes", "1", *extra)
    resumed = checkpoints.read_state(checkpoints.list_checkpoints(out)[-1])
    assert resumed["step"] > state["step"] and 60 <= resumed["train_seconds"] < 90  # the minutes add up


def test_a_run_without_a_time_budget_still_records_how_long_it_trained(image_folder, tmp_path, monkeypatch):
    out = tmp_path / "run"
    readings = itertools.count(0, 10)  # every reading of the clock is 10 s after the previous one
    monkeypatch.setattr("hfimg.training.trainer.clock", lambda: next(readings))
    train("denoise-cnn", image_folder, out, "--max_train_steps", "3", "--checkpointing_steps", "3")
    state = checkpoints.read_state(checkpoints.list_checkpoints(out)[-1])
    assert state["train_seconds"] >= 10  # the clock was read at the start and at the checkpoint
    card = re.search(
        r"3 optimizer steps \(12 images, (\d+\.\d) minutes of training\)", (out / "README.md").read_text()
    )
    assert card and float(card.group(1)) >= state["train_seconds"] / 60 > 0  # read at the end, after the checkpoint


def test_framed_training_images_and_a_batchnorm_discriminator(image_folder, tmp_path):
    out = tmp_path / "run"
    extra = ["--crop", "pad", "--disc_norm", "batch", "--model_kwargs", '{"padding": 2}', "--max_train_steps", "2"]
    train("dcgan", image_folder, out, *extra)
    generator = hfimg.load(out)
    assert generator.padding == 2 and generator.generate(2, seed=0)[0].size == (28, 28)
    discriminator = hfimg.load(out / "discriminator")
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in discriminator.modules())


def test_vae_with_an_adversarial_term_and_a_fitted_mixture_prior(image_folder, tmp_path, monkeypatch):
    monkeypatch.setattr("hfimg.training.vae.PRIOR_FIT_IMAGES", 16)
    out = tmp_path / "run"
    kwargs = '{"prior_components": 2}'
    train("vae", image_folder, out, "--model_kwargs", kwargs, "--adv_weight", "0.1", "--max_train_steps", "2")
    vae = hfimg.load(out)
    assert (out / "discriminator" / "model.safetensors").is_file()
    assert not torch.equal(vae.prior_scale_tril, torch.eye(vae.latent_dim).repeat(2, 1, 1))  # fitted, saved
    assert vae.prior_weights.sum().item() == pytest.approx(1.0)
    stream = ImageStream(str(image_folder), resolution=32, channels=1, shuffle_buffer=0, repeat=False)
    images = torch.stack([sample["image"] for _, sample in zip(range(16), stream, strict=False)])
    with torch.no_grad():
        codes = vae.eval().encode(images)[0].double()
    mixture_mean = (vae.prior_weights[:, None].double() * vae.prior_means.double()).sum(dim=0)
    torch.testing.assert_close(mixture_mean, codes.mean(dim=0), atol=1e-3, rtol=0)  # EM keeps the codes' mean


# --- processes, kills and resumes -----------------------------------------------------------------------------------

RANK_SCRIPT = """
import hashlib
from hfimg.training import Trainer, parse_args
trainer = Trainer(parse_args())
trainer.train()
digest = hashlib.sha256(b"".join(p.detach().numpy().tobytes() for p in trainer.objective.model.parameters()))
accelerator = trainer.accelerator
print(f"RANK {accelerator.process_index} OF {accelerator.num_processes} PARAMS {digest.hexdigest()}", flush=True)
"""


def test_two_cpu_ranks_with_torchrun_keep_identical_parameters(image_folder, tmp_path):
    out = tmp_path / "run"
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    args = flags("dcgan", image_folder, out, "--max_train_steps", "3", "--checkpointing_steps", "2")
    result = run_script(RANK_SCRIPT, args, tmp_path, launcher=launcher)
    lines = sorted(line for line in result.stdout.splitlines() if line.startswith("RANK "))
    assert [line.split()[:4] for line in lines] == [["RANK", "0", "OF", "2"], ["RANK", "1", "OF", "2"]]
    assert lines[0].split()[-1] == lines[1].split()[-1], "ranks ended with different parameters"
    # One checkpoint for the two ranks: each rank's RNG state and data position.
    checkpoint = out / "checkpoint-2"
    assert {"random_states_0.pkl", "random_states_1.pkl"} <= {p.name for p in checkpoint.iterdir()}
    streams = json.loads((checkpoint / checkpoints.STATE_FILE).read_text())["streams"]
    assert [s["rank"] for s in streams] == [0, 1]
    assert hfimg.load(out).model_type == "dcgan"


KILL_SCRIPT = """
import os, signal
from hfimg.training import Trainer, checkpoints, parse_args

publish = checkpoints.publish

def publish_or_die(partial, final):
    if final.name == "checkpoint-4":  # killed after writing checkpoint-4, before it got its name
        os.kill(os.getpid(), signal.SIGKILL)
    publish(partial, final)

checkpoints.publish = publish_or_die
Trainer(parse_args()).train()
"""


def test_sigkill_then_resume_gives_the_weights_of_an_uninterrupted_run(image_folder, tmp_path):
    # GAN: two networks, two optimizers, an EMA, random codes; gradient accumulation over 2 micro-batches.
    # Every run in its own process with the same thread count: float sums depend on how work is split.
    common = ["--max_train_steps", "6", "--checkpointing_steps", "2", "--gradient_accumulation_steps", "2"]
    run_train_py(flags("dcgan", image_folder, tmp_path / "whole", *common))

    out = tmp_path / "killed"
    killed = run_script(KILL_SCRIPT, flags("dcgan", image_folder, out, *common), tmp_path, check=False)
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert (out / ".checkpoint-4.partial").is_dir()  # the half-published checkpoint...
    assert [p.name for p in checkpoints.list_checkpoints(out)] == ["checkpoint-2"]  # ...is never picked

    resumed = run_train_py(flags("dcgan", image_folder, out, *common, "--resume_from_checkpoint", "latest"))
    assert f"Resumed from {out / 'checkpoint-2'} at step 2" in resumed.stderr
    assert_same_weights(weights(tmp_path / "whole"), weights(out))
    assert_same_weights(weights(tmp_path / "whole" / "discriminator"), weights(out / "discriminator"))


# --- bad input ------------------------------------------------------------------------------------------------------


HOLD_LOCK_SCRIPT = """
from pathlib import Path
from hfimg.training.checkpoints import RunLock

lock = RunLock(Path(sys.argv[1]))
print("locked", flush=True)
sys.stdin.readline()  # held until the test closes stdin (or kills this process)
lock.release()
"""


def hold_lock(folder: Path, tmp_path: Path) -> subprocess.Popen:
    """Another process that holds the lock of `folder` until its stdin is closed; returns once it holds it."""
    driver = tmp_path / "hold_lock.py"
    driver.write_text(f"import sys\nsys.path.insert(0, {str(REPO)!r})\n" + HOLD_LOCK_SCRIPT)
    holder = subprocess.Popen(
        [sys.executable, str(driver), str(folder)], cwd=REPO, env=subprocess_env(), text=True,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )  # fmt: skip
    assert holder.stdout.readline() == "locked\n"  # blocks until the lock is taken: no sleeping
    return holder


def test_a_second_run_into_a_folder_in_use_is_refused(image_folder, tmp_path, capsys):
    out = tmp_path / "run"
    holder = hold_lock(out, tmp_path)
    try:
        with pytest.raises(ConfigError, match=f"--output_dir {out} is in use by another training run \\(process "
                           f"{holder.pid}\\); wait for it to end, or choose another folder"):  # fmt: skip
            train("denoise-cnn", image_folder, out, "--max_train_steps", "1")
        assert [p.name for p in out.iterdir()] == [checkpoints.LOCK_FILE]  # the refused run wrote nothing
        assert load_train_py().cli(flags("denoise-cnn", image_folder, out, "--max_train_steps", "1")) == 2
        assert "is in use by another training run" in capsys.readouterr().err
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    assert not out.exists()  # released: the lock file and the folder it was made in are gone
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()
    train("denoise-cnn", image_folder, out, "--max_train_steps", "1")  # the folder is free again
    assert (out / "model.safetensors").is_file() and not (out / checkpoints.LOCK_FILE).exists()


def test_the_lock_of_a_killed_run_is_taken_over(image_folder, tmp_path):
    out = tmp_path / "run"
    holder = hold_lock(out, tmp_path)
    holder.kill()  # SIGKILL: no clean-up; the kernel drops its lock, the file stays with its process id
    holder.wait(timeout=60)
    assert (out / checkpoints.LOCK_FILE).read_text() == f"{holder.pid}\n"
    train("denoise-cnn", image_folder, out, "--max_train_steps", "1")
    assert (out / "model.safetensors").is_file() and not (out / checkpoints.LOCK_FILE).exists()


def test_unknown_model_is_refused_by_the_parser(image_folder, tmp_path, capsys):
    with pytest.raises(SystemExit):
        parse_args(["--model", "unet9000", "--dataset", str(image_folder), "--output_dir", str(tmp_path / "x")])
    assert "invalid choice: 'unet9000'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("model", "extra", "message"),
    [
        ("dcgan", ["--resolution", "48"], "resolution must be one of"),
        ("denoise-cnn", ["--latent_dim", "4"], "has no setting latent_dim"),
        ("dcgan", ["--num_classes", "3", "--dataset", "UNLABELLED"], "needs labels"),
        ("denoise-cnn", ["--dataset", "MISSING"], "--dataset"),
        ("denoise-cnn", ["--resume_from_checkpoint", "MISSING"], "not a complete checkpoint folder"),
        ("inpaint-cnn", ["--step_weight", "1"], "needs a recurrent inpainter"),
    ],
)
def test_bad_input_fails_before_anything_is_written(model, extra, message, image_folder, tmp_path):
    unlabelled = tmp_path / "flat"
    unlabelled.mkdir()
    for i in range(4):
        Image.new("RGB", (20, 20), (60 * i, 0, 0)).save(unlabelled / f"{i}.png")
    replace = {"UNLABELLED": str(unlabelled), "MISSING": str(tmp_path / "missing")}
    extra = [replace.get(value, value) for value in extra]
    out = tmp_path / "run"
    with pytest.raises(ConfigError, match=message):
        train(model, image_folder, out, *extra)
    assert not out.exists()


MODEL_SETTINGS_SCRIPT = """
import contextlib, importlib.util, io, json, resource
resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))  # a regression fails here, not on the machine
spec = importlib.util.spec_from_file_location("train_script", "train.py")
script = importlib.util.module_from_spec(spec)
spec.loader.exec_module(script)
results = []
for argv in json.loads(sys.argv[1]):
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        status = script.cli(argv)
    results.append([status, stderr.getvalue()])
print(json.dumps(results))
"""


def test_model_settings_too_large_or_given_twice_are_refused_before_anything_is_written(image_folder, tmp_path):
    cases = [
        # An internal error (a failed allocation) before.
        (["--model_kwargs", '{"features": 1000000}'], "the 'denoise-cnn' model settings: features = 1000000 is out "
                                                       "of range for DenoiseCNN (sizes and counts in a config are at "
                                                       "most 65,536); use a smaller value."),
        (["--features", "20000"], "the 'denoise-cnn' model settings: these settings describe a DenoiseCNN with "
                                  "3,601,140,003 parameters, above the limit of 200,000,000 (14.4 GB of weights). Use "
                                  "smaller settings, or if you mean it, raise the limit with the environment variable "
                                  "HFIMG_MAX_PARAMETERS=3601140003."),
        # The flag silently won before.
        (["--features", "8", "--model_kwargs", '{"features": 16}'], '--features 8 and --model_kwargs {"features": 16} '
                                                                    "both set features; give it once."),
    ]  # fmt: skip
    out = tmp_path / "run"
    base = ["--model", "denoise-cnn", "--dataset", str(image_folder), "--output_dir", str(out), "--depth", "3"]
    result = run_script(MODEL_SETTINGS_SCRIPT, [json.dumps([base + extra for extra, _ in cases])], tmp_path)
    for (_, message), (status, stderr) in zip(cases, json.loads(result.stdout), strict=True):
        assert (status, stderr) == (2, f"train.py: error: {message}\n")
    with pytest.raises(ConfigError, match="both set features; give it once"):  # the Python API too
        build_model(parse_args(base + cases[2][0]))
    assert not out.exists()


def test_an_output_dir_holding_another_run_is_refused(image_folder, tmp_path):
    out = tmp_path / "run"
    train("denoise-cnn", image_folder, out, "--max_train_steps", "1")
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    with pytest.raises(ConfigError, match="holds another training run"):
        train("vae", image_folder, out, "--max_train_steps", "1")
    with pytest.raises(ConfigError, match="holds another training run.*depth"):
        train("denoise-cnn", image_folder, out, "--depth", "4", "--max_train_steps", "1")
    with pytest.raises(ConfigError, match="already holds a run of this model"):
        train("denoise-cnn", image_folder, out, "--max_train_steps", "1")
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before  # nothing touched

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="holds no training run"):
        train("denoise-cnn", image_folder, foreign, "--max_train_steps", "1")


@pytest.mark.parametrize("argv", [["--hole_range", "0.6,0.2"], ["--train_batch_size", "0"], ["--model_kwargs", "[1]"]])
def test_bad_flag_values_are_refused_by_the_parser(argv, image_folder, tmp_path):
    with pytest.raises(SystemExit):
        parse_args(flags("denoise-cnn", image_folder, tmp_path / "x", *argv))


def test_yaml_config_gives_defaults_and_the_command_line_wins(image_folder, tmp_path, capsys):
    config = tmp_path / "config.yaml"
    config.write_text(
        f"model: denoise-cnn\ndataset: {image_folder}\nmax_train_steps: 7\nfeatures: 4\nhole_range: [0.2, 0.3]\n"
        "learning_rate: 1e-4\nrandom_flip: true\nmodel_kwargs: {depth: 5}\n"  # YAML reads 1e-4 as a string
    )
    args = parse_args(["--config", str(config), "--output_dir", str(tmp_path / "x"), "--max_train_steps", "2"])
    assert (args.model, args.max_train_steps, args.features, args.inpaint.hole_range) == (
        "denoise-cnn",
        2,
        4,
        (0.2, 0.3),
    )
    assert (args.learning_rate, args.random_flip, args.model_kwargs) == (1e-4, True, {"depth": 5})
    config.write_text("model: denoise-cnn\nlearnin_rate: 0.1\n")
    with pytest.raises(SystemExit):
        parse_args(["--config", str(config), "--dataset", "x", "--output_dir", "y"])
    assert "unknown keys ['learnin_rate']" in capsys.readouterr().err


HOSTILE_CONFIG_SCRIPT = """
import contextlib, io, json, resource
resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))  # a regression fails here, not on the machine
from hfimg.training import parse_args

errors = []
for path in sys.argv[1:]:
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.suppress(SystemExit):
        parse_args(["--config", path, "--dataset", "x", "--output_dir", "y"])
    errors.append(stderr.getvalue().strip().splitlines()[-1])
print(json.dumps(errors))
"""


def test_hostile_yaml_configs_are_refused_quickly_in_one_short_line(tmp_path):
    levels = ["&a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    levels += [f"&a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]  # 9**9 values in 500 bytes
    configs = {
        "bomb.yaml": ("split: [" + ", ".join(levels) + "]", "its values expand to more than 10,000 items"),
        "deep.yaml": ("split: " + "[" * 100_000 + "]" * 100_000, "its values are nested too deeply"),
        "huge.yaml": ("model: vae\n" + "#" * 1_000_000, "larger than 1,000,000 bytes, far more than flag values"),
        "long.yaml": (
            "split: [" + ", ".join(["abcdefgh"] * 5000) + "]",
            "split: expected a single value, got ['abcdefgh', 'abcdefgh', ",
        ),
    }
    for name, (text, _) in configs.items():
        (tmp_path / name).write_text(f"model: denoise-cnn\n{text}\n")
    result = run_script(HOSTILE_CONFIG_SCRIPT, [str(tmp_path / name) for name in configs], tmp_path)
    for (name, (_, message)), error in zip(configs.items(), json.loads(result.stdout), strict=True):
        assert error.startswith(f"train.py: error: --config {tmp_path / name}: {message}"), error
        assert len(error) < 400  # a refused value is quoted briefly
    assert error.endswith("... (60,030 characters)")


def load_train_py():
    """train.py as a module (it is a script, not part of the package)."""
    spec = importlib.util.spec_from_file_location("train_script", REPO / "train.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return script


def parser_error(argv: list[str], capsys) -> str:
    """The one-line error argparse gives for `argv` (it exits with status 2)."""
    with pytest.raises(SystemExit) as exit_info:
        parse_args(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err.strip().splitlines()[-1]


def test_an_output_dir_that_cannot_be_created_is_one_line_before_anything_is_written(image_folder, tmp_path):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    result = subprocess.run(
        [sys.executable, "train.py", *flags("denoise-cnn", image_folder, a_file / "run", "--max_train_steps", "1")],
        cwd=REPO,
        env=subprocess_env(),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"train.py: error: cannot create --output_dir {a_file / 'run'}: {a_file} is a file, not a folder."
    )
    assert a_file.read_text() == "mine" and list(tmp_path.iterdir()) == [a_file]
    with pytest.raises(ConfigError, match=f"cannot use --output_dir {a_file}: it is a file, not a folder."):
        train("denoise-cnn", image_folder, a_file, "--max_train_steps", "1")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--resolution", "100000"], "--resolution must be between 8 and 4096 pixels (GANs and VAEs: 32, 64 or "
                                     "128), got 100000."),
        (["--resolution", "4"], "--resolution must be between 8 and 4096 pixels"),
        (["--max_train_steps", "0"], "--max_train_steps must be at least 1, got 0."),
        (["--features", "0"], "--features must be at least 1, got 0."),
        (["--shuffle_buffer", "-1"], "--shuffle_buffer must be 0 or more, got -1."),
        (["--crops_per_image", "4"], "--crops_per_image 4 needs --crop random"),
        (["--seed", "-1"], "--seed must be between 0 and 2147483647, got -1."),
    ],
)  # fmt: skip
def test_absurd_resolution_and_counts_are_refused_by_the_parser(argv, message, image_folder, tmp_path, capsys):
    out = tmp_path / "run"
    assert parser_error(flags("denoise-cnn", image_folder, out, *argv), capsys).startswith(
        f"train.py: error: {message}"
    )
    assert not out.exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--learning_rate", "nan"], "argument --learning_rate: expected a finite number > 0, got 'nan'."),
        (["--learning_rate", "inf"], "argument --learning_rate: expected a finite number > 0, got 'inf'."),
        (["--learning_rate", "0"], "argument --learning_rate: expected a finite number > 0, got '0'."),
        (["--learning_rate=-1e-3"], "argument --learning_rate: expected a finite number > 0, got '-1e-3'."),
        (["--adam_beta2", "1"], "argument --adam_beta2: expected a finite number >= 0 and < 1, got '1'."),
        (["--ema_decay", "nan"], "argument --ema_decay: expected a finite number >= 0 and < 1, got 'nan'."),
        (["--sigma_max", "inf"], "argument --sigma_max: expected a finite number >= 0, got 'inf'."),
        (["--kl_weight=-inf"], "argument --kl_weight: expected a finite number >= 0, got '-inf'."),
        (["--hole_range", "0.1,nan"], "argument --hole_range: expected two finite numbers 'LOW,HIGH', got '0.1,nan'"),
    ],
)  # fmt: skip
def test_nan_inf_and_out_of_range_floats_are_refused_by_the_parser(argv, message, image_folder, tmp_path, capsys):
    assert parser_error(flags("denoise-cnn", image_folder, tmp_path / "x", *argv), capsys) == (
        f"train.py: error: {message}"
    )


def test_abbreviated_flags_are_refused(image_folder, tmp_path, capsys):
    argv = flags("denoise-cnn", image_folder, tmp_path / "x", "--learning_rat", "0.1")
    assert parser_error(argv, capsys) == "train.py: error: unrecognized arguments: --learning_rat 0.1"


def test_a_dataset_without_one_readable_image_is_refused_before_anything_is_written(tmp_path):
    corpus = tmp_path / "corrupt"
    corpus.mkdir()
    for i in range(5):
        (corpus / f"{i}.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(40)))  # a PNG signature, then junk
    out = tmp_path / "run"
    message = (
        f"--dataset {corpus}: no readable image was found (5 unreadable images skipped; the warnings above name "
        "them). Check that the files are images PIL can open."
    )
    with pytest.raises(ConfigError) as error:
        train("denoise-cnn", corpus, out, "--max_train_steps", "1")
    assert str(error.value) == message
    assert not out.exists()


def test_a_failed_start_leaves_the_folder_free_for_the_corrected_rerun(image_folder, tmp_path, monkeypatch):
    out = tmp_path / "run"
    # Bad data: refused when the first batch is read.
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "0.png").write_bytes(b"not an image")
    with pytest.raises(ConfigError, match="no readable image was found"):
        train("denoise-cnn", corrupt, out, "--max_train_steps", "1")
    assert not out.exists()

    # A failure inside the first step (here a simulated out-of-memory): the run record is not written yet.
    from hfimg.training import denoise

    def out_of_memory(*args, **kwargs):
        raise MemoryError("simulated")

    with monkeypatch.context() as patch:
        patch.setattr(denoise.DenoiseObjective, "training_step", out_of_memory)
        with pytest.raises(MemoryError):
            train("denoise-cnn", image_folder, out, "--max_train_steps", "1", "--report_to", "tensorboard")
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()
    assert not out.exists() or not any(out.iterdir())

    # The corrected command, into the same folder: it trains, instead of "holds another training run".
    train("denoise-cnn", image_folder, out, "--max_train_steps", "2", "--checkpointing_steps", "1")
    assert checkpoints.read_run(out)["dataset"] == str(image_folder)
    assert "2 optimizer steps" in (out / "README.md").read_text()


def test_resume_latest_skips_a_damaged_newest_checkpoint(image_folder, tmp_path, caplog):
    out = tmp_path / "run"
    train("denoise-cnn", image_folder, out, "--max_train_steps", "4", "--checkpointing_steps", "2")
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()
    newest = out / "checkpoint-4"
    weights_file = newest / "model.safetensors"
    weights_file.write_bytes(weights_file.read_bytes()[:100])  # cut short, as by a full disk

    with caplog.at_level(logging.INFO):
        train("denoise-cnn", image_folder, out, "--max_train_steps", "5", "--checkpointing_steps", "2",
              "--resume_from_checkpoint", "latest")  # fmt: skip
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()
    messages = [record.getMessage() for record in caplog.records]
    warnings = [m for m in messages if "Skipping a damaged checkpoint" in m]  # accelerate prefixes "[RANK 0] "
    assert len(warnings) == 1
    assert f"Skipping a damaged checkpoint: checkpoint {newest} cannot be loaded (SafetensorError: " in warnings[0]
    assert warnings[0].endswith("); trying the one before it.")
    assert any(m.endswith(f"Resumed from {out / 'checkpoint-2'} at step 2.") for m in messages)
    assert "5 optimizer steps" in (out / "README.md").read_text()

    # When no checkpoint loads: a clear error, not a fresh start or a traceback. A damaged random-state file counts
    # too (accelerate itself would go on without it, and the run would no longer repeat itself).
    (out / "checkpoint-4" / "model.safetensors").write_bytes(b"garbage")
    (out / "checkpoint-2" / "random_states_0.pkl").write_bytes(b"garbage")
    with pytest.raises(ConfigError) as error:
        train("denoise-cnn", image_folder, out, "--max_train_steps", "6", "--resume_from_checkpoint", "latest")
    assert str(error.value).startswith(
        f"--resume_from_checkpoint latest: none of the 2 checkpoints in {out} can be loaded (checkpoint "
        f"{out / 'checkpoint-4'} cannot be loaded (SafetensorError: "
    )
    assert f"checkpoint {out / 'checkpoint-2'} cannot be loaded (UnpicklingError: " in str(error.value)


def test_train_py_reports_an_internal_error_in_one_line_and_logs_the_traceback(tmp_path, capsys, monkeypatch):
    script = load_train_py()

    def broken(args):
        raise ZeroDivisionError("something inside broke")

    monkeypatch.setattr(script, "main", broken)
    monkeypatch.setattr("tempfile.gettempdir", lambda: str(tmp_path))
    assert script.cli(["--model", "denoise-cnn", "--dataset", "x", "--output_dir", str(tmp_path / "run")]) == 1
    log = tmp_path / "hfimg-train-error.log"
    assert capsys.readouterr().err == (
        f"train.py: error: internal error (ZeroDivisionError: something inside broke); the traceback is in {log}.\n"
    )
    assert "Traceback" in log.read_text() and "ZeroDivisionError" in log.read_text()


# --- NaN / inf losses ---------------------------------------------------------------------------------------------


def poison_losses(monkeypatch, bad_calls) -> None:
    """Make the denoiser's loss NaN on the given calls (0-based)."""
    from hfimg.training import denoise

    calls = iter(range(10_000))
    original = denoise.pixel_loss

    def pixel_loss(prediction, target, kind):
        loss = original(prediction, target, kind)
        return loss * float("nan") if next(calls) in bad_calls else loss

    monkeypatch.setattr(denoise, "pixel_loss", pixel_loss)


def test_nan_steps_are_skipped_with_a_warning(image_folder, tmp_path, monkeypatch, caplog):
    poison_losses(monkeypatch, bad_calls={1, 2})
    out = tmp_path / "run"
    with caplog.at_level(logging.WARNING):
        train("denoise-cnn", image_folder, out, "--max_train_steps", "5", "--max_bad_steps", "3")
    warnings = [r.getMessage() for r in caplog.records if "NaN" in r.getMessage()]
    assert len(warnings) == 2 and "Step 2" in warnings[0] and "Step 3" in warnings[1]
    # Had a NaN gradient been applied, every weight would be NaN.
    assert all(torch.isfinite(t).all() for t in weights(out).values())


def test_a_loss_that_stays_nan_stops_the_run(image_folder, tmp_path, monkeypatch):
    poison_losses(monkeypatch, bad_calls=set(range(2, 10_000)))
    out = tmp_path / "run"
    with pytest.raises(RuntimeError, match="NaN or infinite for 3 steps in a row.*Last checkpoint: .*checkpoint-4"):
        train("denoise-cnn", image_folder, out, "--max_train_steps", "20", "--max_bad_steps", "3",
              "--checkpointing_steps", "2")  # fmt: skip
    assert not (out / "model.safetensors").exists()  # no final model saved from a broken run


def test_weights_that_stop_being_finite_end_the_run_and_the_last_good_checkpoint_is_kept(image_folder, tmp_path):
    # A learning rate of 1e30: the first step makes the weights huge but finite, the next forward pass makes the
    # batch-norm statistics NaN (its loss is NaN and skipped, the statistics are not). Such a model was saved.
    out = tmp_path / "run"
    argv = flags("denoise-cnn", image_folder, out, "--max_train_steps", "6", "--checkpointing_steps", "1")
    result = subprocess.run(
        [sys.executable, "train.py", *argv, "--learning_rate", "1e30"],
        cwd=REPO, env=subprocess_env(), capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 1 and "Traceback" not in result.stderr
    (last,) = [line for line in result.stderr.splitlines() if line.startswith("train.py: error:")]
    match = re.fullmatch(
        r"train\.py: error: Stopping at step (\d+): the weights are no longer finite \(model: the tensor '([\w.]+)' "
        r"holds [\d,]+ NaN or infinite values \(of [\d,]+\)\); they are not saved\. Last good checkpoint: (.+)\. Run "
        r"again with a lower --learning_rate \(or --mixed_precision no\) and --resume_from_checkpoint latest to go on "
        r"there\.",
        last,
    )
    assert match, last
    step, checkpoint = int(match.group(1)), Path(match.group(3))
    assert checkpoint == out / f"checkpoint-{step - 1}" and checkpoints.list_checkpoints(out) == [
        out / f"checkpoint-{i}" for i in range(1, step)
    ]
    assert not (out / "model.safetensors").exists()
    assert all(torch.isfinite(t).all() for t in weights(checkpoint / "model").values())
    hfimg.load(checkpoint / "model")  # the last good state loads


def test_a_discriminator_that_stops_being_finite_ends_the_run_too(image_folder, tmp_path, monkeypatch):
    from hfimg.training.gan import GANObjective

    original = GANObjective.training_step

    def poisoned(self, batch, step, apply):
        losses = original(self, batch, step, apply)
        if step == 1:  # the second step leaves one discriminator weight infinite
            next(self.discriminator.parameters()).data.view(-1)[0] = float("inf")
        return losses

    monkeypatch.setattr(GANObjective, "training_step", poisoned)
    out = tmp_path / "run"
    with pytest.raises(TrainingError, match="Stopping at step 2: .*discriminator: the tensor '.*' holds 1 NaN or inf"):
        train("dcgan", image_folder, out, "--max_train_steps", "4", "--checkpointing_steps", "1")
    assert checkpoints.list_checkpoints(out) == [out / "checkpoint-1"]
    assert not (out / "model.safetensors").exists() and not (out / "discriminator").exists()


# --- the Hub ------------------------------------------------------------------------------------------------------


def test_push_to_hub_creates_the_repo_first_and_uploads_the_model_folder(image_folder, tmp_path, monkeypatch):
    from hfimg.training import card

    out = tmp_path / "run"
    calls = []

    class FakeApi:
        def create_repo(self, repo_id, **kwargs):
            calls.append(("create_repo", repo_id, sorted(p.name for p in out.iterdir())))  # before any step
            return type("RepoUrl", (), {"repo_id": repo_id})()

        def upload_folder(self, *, repo_id, folder_path, ignore_patterns, **kwargs):
            calls.append(("upload_folder", repo_id, Path(folder_path)))
            assert (Path(folder_path) / "model.safetensors").is_file()
            assert "checkpoint-*/**" in ignore_patterns
            return f"https://hub.example/{repo_id}/commit/1"

    monkeypatch.setattr(card, "HfApi", FakeApi)
    train("denoise-cnn", image_folder, out, "--max_train_steps", "1", "--push_to_hub", "--hub_model_id", "me/tiny")
    assert calls == [("create_repo", "me/tiny", [checkpoints.LOCK_FILE]), ("upload_folder", "me/tiny", out)]
    assert 'hfimg.load("me/tiny")' in (out / "README.md").read_text()


def test_push_to_hub_offline_fails_clearly_before_training(image_folder, tmp_path):
    # conftest sets HF_HUB_OFFLINE=1: the real huggingface_hub call refuses to go online.
    out = tmp_path / "run"
    with pytest.raises(OSError, match="cannot create the Hub repo 'me/tiny'.*OfflineModeIsEnabled"):
        train("denoise-cnn", image_folder, out, "--max_train_steps", "1", "--push_to_hub", "--hub_model_id", "me/tiny")
    assert not out.exists()


def test_trackio_tracker_logs_metrics_and_previews_locally(image_folder, tmp_path, monkeypatch):
    if importlib.util.find_spec("trackio") is None:
        pytest.skip("trackio is not installed")
    if "trackio" in sys.modules:  # trackio reads TRACKIO_DIR when it is imported
        pytest.skip("trackio was imported before this test could point it at a temporary folder")
    monkeypatch.setenv("TRACKIO_DIR", str(tmp_path / "trackio"))
    out = tmp_path / "run"
    train("denoise-cnn", image_folder, out, "--max_train_steps", "2", "--sample_steps", "1", "--report_to", "trackio")
    assert list((tmp_path / "trackio").glob("*.db")), "trackio wrote no database"
    assert list((tmp_path / "trackio" / "media").rglob("*.png")), "trackio stored no preview image"


def test_ema_follows_the_warmed_up_schedule_and_copies_integer_buffers():
    from torch.optim.swa_utils import AveragedModel

    from hfimg.training.trainer import ema_update

    model = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.BatchNorm1d(3))
    ema = AveragedModel(model, multi_avg_fn=ema_update(0.9), use_buffers=True)
    expected = None
    for n in range(6):
        with torch.no_grad():
            model[0].weight.add_(torch.randn(3, 3))
        model(torch.randn(4, 3))  # moves the BatchNorm statistics and step counter
        ema.update_parameters(model)
        weight = model[0].weight.detach().clone()
        decay = min(0.9, (1 + n) / (10 + n))
        expected = weight if expected is None else decay * expected + (1 - decay) * weight
    torch.testing.assert_close(ema.module[0].weight, expected)
    assert ema.module[1].num_batches_tracked == model[1].num_batches_tracked == 6


# --- channels_last for bf16 on CPU --------------------------------------------------------------------------------

CHANNELS_LAST_FAMILIES = [family for family in trainable_models() if family_defaults()[family].channels_last_bf16]


def layouts(module: torch.nn.Module) -> set[str]:
    """Memory formats of `module`'s 4-D parameters that tell the layouts apart (not those contiguous in both)."""
    found = set()
    for p in module.parameters():
        contiguous, channels_last = p.is_contiguous(), p.is_contiguous(memory_format=torch.channels_last)
        if p.ndim == 4 and contiguous != channels_last:
            found.add("channels_last" if channels_last else "contiguous")
    return found


@pytest.mark.parametrize("family", CHANNELS_LAST_FAMILIES)
def test_bf16_on_cpu_trains_in_channels_last_and_saves_the_same_weights(family, image_folder, tmp_path):
    out = tmp_path / "run"
    # An EMA, so the averaged copy is checked too; a checkpoint at the last step, to compare with the final weights.
    args = parse_args(
        flags(family, image_folder, out, "--max_train_steps", "2", "--checkpointing_steps", "2",
              "--mixed_precision", "bf16", "--ema_decay", "0.5")
    )  # fmt: skip
    trainer = Trainer(args)
    metrics = trainer.train()
    assert trainer.channels_last and all(np.isfinite(value) for value in metrics.values())
    trained, ema = trainer.objective.model, trainer.ema.module
    assert layouts(trained) == layouts(ema) == {"channels_last"}
    assert not all(torch.equal(a, b) for a, b in zip(trained.parameters(), ema.parameters(), strict=True))

    # The saved file and what hfimg.load makes of it hold exactly the in-memory EMA weights, in the default layout.
    loaded = hfimg.load(out)
    assert layouts(loaded) == {"contiguous"}
    assert_same_weights(weights(out), ema.state_dict())
    assert_same_weights(loaded.state_dict(), ema.state_dict())
    # The checkpoint's copy of the trained network too (accelerate's own safetensors writer).
    assert_same_weights(load_file(str(out / "checkpoint-2" / "model.safetensors")), trained.state_dict())
    if family == "dcgan":  # the discriminator was converted and saved alike
        discriminator = trainer.objective.discriminator
        assert layouts(discriminator) == {"channels_last"}
        assert_same_weights(weights(out / "discriminator"), discriminator.state_dict())
        assert_same_weights(hfimg.load(out / "discriminator").state_dict(), discriminator.state_dict())
        assert_same_weights(load_file(str(out / "checkpoint-2" / "model_1.safetensors")), discriminator.state_dict())


def test_fp32_and_unlisted_families_keep_the_default_layout(image_folder, tmp_path):
    family = CHANNELS_LAST_FAMILIES[0] if CHANNELS_LAST_FAMILIES else "denoise-cnn"
    runs = [(family, "no")] + [(other, "bf16") for other in trainable_models() if other not in CHANNELS_LAST_FAMILIES][
        :1
    ]
    for i, (model, precision) in enumerate(runs):
        trainer = Trainer(
            parse_args(flags(model, image_folder, tmp_path / str(i), "--max_train_steps", "1",
                             "--mixed_precision", precision, "--checkpointing_steps", "0"))
        )  # fmt: skip
        trainer.train()
        AcceleratorState._reset_state(reset_partial_state=True)
        GradientState._reset_state()
        assert not trainer.channels_last
        assert all(layouts(network) <= {"contiguous"} for network in trainer.objective.networks), (model, precision)
        assert layouts(trainer.saved_model()) <= {"contiguous"}


# --- the typed config ---------------------------------------------------------------------------------------------


def test_the_config_is_frozen_and_changes_make_a_new_one(tmp_path):
    config = parse_args(["--model", "denoise-cnn", "--dataset", "x", "--output_dir", str(tmp_path)])
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.learning_rate = 0.1
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.denoise.sigma_max = 10.0
    changed = dataclasses.replace(config, learning_rate=0.1)
    assert (changed.learning_rate, config.learning_rate) == (0.1, 1e-3)


@dataclasses.dataclass(frozen=True)
class VAEWithFreeBits(VAEConfig):
    """The VAE section with one more setting, declared as every setting is."""

    free_bits: float = setting(0.0, type=finite_float(0), help="VAE: KL nats per latent left free.")


@dataclasses.dataclass(frozen=True)
class ConfigWithFreeBits(TrainingConfig):
    vae: VAEWithFreeBits = section(VAEWithFreeBits, group=OBJECTIVE)


@dataclasses.dataclass(frozen=True)
class ConfigWithUnreadableSetting(TrainingConfig):
    loss_weights: tuple[float, float] = setting((1.0, 1.0), help="Weights of two losses.", group=OBJECTIVE)


def test_each_setting_is_one_flag_made_from_its_declaration(capsys):
    parser = build_parser(trainable_models())
    flag_actions = {action.dest: action for action in parser._actions if action.dest != "help"}
    declared = {item.name: item for item in settings()}
    assert set(flag_actions) == set(declared) - {"command"}  # `config` is --config; the command line is no flag
    defaults = TrainingConfig(model="m", dataset="d", output_dir="o").flat()
    parsed = {**vars(parser.parse_args([])), "command": "train.py"}
    assert parsed == {**defaults, "model": None, "dataset": None, "output_dir": None}
    assert all(flag_actions[name].help == item.metadata["help"] for name, item in declared.items() if item.is_flag)
    # Converters and choices come from the declaration, else from its type.
    assert flag_actions["model"].choices == trainable_models() and flag_actions["loss"].choices == ("l1", "l2")
    assert flag_actions["seed"].type is integer and flag_actions["split"].type is None
    assert flag_actions["random_flip"].nargs == 0 and flag_actions["random_scale"].metavar == "LOW,HIGH"
    # Each family-only setting is in its family's section, under its flag name.
    config = parse_args(["--model", "vae", "--dataset", "x", "--output_dir", "y", "--kl_weight", "0.5",
                         "--hole_weight", "3", "--sigma_max", "30", "--disc_norm", "batch"])  # fmt: skip
    assert (config.vae.kl_weight, config.inpaint.hole_weight) == (0.5, 3.0)
    assert (config.denoise.sigma_max, config.adversarial.disc_norm) == (30.0, "batch")
    assert TrainingConfig.from_flat(config.flat()) == config

    # A setting added to a section is a flag, with its help and converter, in the section's group.
    parser = build_parser(trainable_models(), ConfigWithFreeBits)
    action = next(action for action in parser._actions if action.dest == "free_bits")
    assert (action.help, action.default) == ("VAE: KL nats per latent left free.", 0.0)
    assert next(group.title for group in parser._action_groups if action in group._group_actions) == "objective"
    assert parser.parse_args(["--free_bits", "0.5"]).free_bits == 0.5
    with pytest.raises(SystemExit):
        parser.parse_args(["--free_bits", "-1"])
    assert "expected a finite number >= 0, got '-1'" in capsys.readouterr().err
    # One whose type says nothing of how to read its flag is refused when the parser is made, not when it is used.
    with pytest.raises(TypeError, match="'loss_weights'.*needs a converter"):
        build_parser(trainable_models(), ConfigWithUnreadableSetting)


def test_a_config_is_resolved_once(image_folder, tmp_path, monkeypatch):
    calls = []
    family_defaults_now = config_module.family_defaults
    monkeypatch.setattr(config_module, "family_defaults", lambda: calls.append(1) or family_defaults_now())
    config = parse_args(["--model", "denoise-cnn", "--dataset", "x", "--output_dir", "y", "--features", "4"])
    assert config.resolved and len(calls) == 1
    assert resolve(config) is config
    build_model(config)
    assert len(calls) == 1  # the parsed config is taken as it is
    by_hand = TrainingConfig(model="denoise-cnn", dataset="x", output_dir="y", features=4)
    assert not by_hand.resolved
    resolved = resolve(by_hand)
    assert resolved.resolved and not by_hand.resolved  # the caller's config is left as it was
    assert resolved == dataclasses.replace(config, command="train.py")
    # A copy is looked at again: its model, or a setting set back to None, may need the family's value.
    changed = dataclasses.replace(resolved, learning_rate=None)
    assert not changed.resolved and resolve(changed).learning_rate == resolved.learning_rate

    # The Trainer resolves a config built by hand, and takes a resolved one as it is.
    by_hand = TrainingConfig(
        model="denoise-cnn", dataset=str(image_folder), output_dir=str(tmp_path / "run"), features=4, depth=3,
        resolution=16, train_batch_size=4, shuffle_buffer=8, max_train_steps=1, report_to="none",
    )  # fmt: skip
    calls.clear()
    trainer = Trainer(by_hand)
    assert trainer.config.resolved and trainer.config.learning_rate == family_defaults()["denoise-cnn"].learning_rate
    assert len(calls) == 1  # its model is built from the resolved config, not resolved again
    trainer.train()


@pytest.mark.parametrize("family", trainable_models())
def test_family_defaults_are_resolved_in_one_place(family):
    assert set(family_defaults()) == set(objectives()) == set(trainable_models())
    config = TrainingConfig(model=family, dataset="x", output_dir="y")
    resolved = resolve(config)
    defaults = family_defaults()[family]
    assert (resolved.learning_rate, resolved.adam_beta1, resolved.adam_beta2) == (
        defaults.learning_rate, defaults.adam_beta1, defaults.adam_beta2,
    )  # fmt: skip
    assert (resolved.loss, resolved.ema_decay) == (defaults.loss, defaults.ema_decay)
    assert resolved.resolution == build_model(config).init_kwargs().get("resolution", 64)
    assert config.learning_rate is None and config.resolution is None  # resolve makes a new config
    assert resolve(resolved) == resolved
    assert parse_args(["--model", family, "--dataset", "x", "--output_dir", "y"]) == dataclasses.replace(
        resolved, command=f"train.py --model {family} --dataset x --output_dir y"
    )
    # A value the user set is kept.
    assert resolve(dataclasses.replace(config, learning_rate=0.5, ema_decay=0.0, resolution=32)).learning_rate == 0.5
    assert family_defaults()["dcgan"].ema_decay == 0.999 and family_defaults()["inpaint-cnn"].loss == "l1"


def test_yaml_config_values_go_through_the_flags_checks_and_flags_win(tmp_path, capsys):
    config = tmp_path / "config.yaml"
    config.write_text(
        "model: dcgan\ndataset: data\noutput_dir: out\nlearning_rate: 0.0005\nhole_range: 0.2,0.4\ndisc_norm: batch\n"
        "kl_weight: 2\nrandom_scale: [0.5, 1.0]\ncrop: random\nseed: 3\nsplit: 2024\nimage_column:\n"
    )
    args = parse_args(["--config", str(config), "--seed", "4", "--disc_norm", "spectral"])
    assert (args.learning_rate, args.inpaint.hole_range, args.vae.kl_weight, args.random_scale) == (
        0.0005, (0.2, 0.4), 2.0, (0.5, 1.0),
    )  # fmt: skip
    assert (args.seed, args.adversarial.disc_norm) == (4, "spectral")  # the command line wins
    assert (args.split, args.image_column, args.config) == ("2024", None, str(config))
    for text, message in [
        ("learning_rate: nan\n", f"--config {config}: learning_rate: expected a finite number > 0, got 'nan'."),
        ("seed: 1.5\n", f"--config {config}: seed: invalid int value: 1.5"),
        ("random_flip: 1\n", f"--config {config}: random_flip: expected true or false, got 1."),
        ("loss: l3\n", f"--config {config}: loss: invalid choice: 'l3' (choose from 'l1', 'l2')."),
        ("hole_range: [0.1]\n", f"--config {config}: hole_range: expected two numbers 'LOW,HIGH', got [0.1]"),
        ("train_batch_size: 0\n", "--train_batch_size must be at least 1, got 0."),  # the same check as the flag
        ("sigma_min: 9\nsigma_max: 5\n", "--sigma_min/--sigma_max must satisfy 0 <= min <= max, got 9.0, 5.0."),
        ("config: other.yaml\n", f"--config {config}: unknown keys ['config']; keys are flag names without '--'"),
        ("command: x\nsigma: 1\n", f"--config {config}: unknown keys ['command', 'sigma']"),
    ]:
        config.write_text(text)
        assert parser_error(["--config", str(config), "--model", "vae", "--dataset", "x", "--output_dir", "y"],
                            capsys).startswith(f"train.py: error: {message}")  # fmt: skip


def test_a_run_recorded_before_a_model_setting_existed_resumes_if_it_has_the_default(tmp_path):
    """Runs written before `gates` existed trained the default gates: they are the same run, another value is not."""
    before = {"model": "inpaint-cnn", "model_config": {"base_channels": 32, "channels": 3}, "dataset": "d"}
    checkpoints.write_run(tmp_path, before, {})
    now = {**before, "model_config": {**before["model_config"], "gates": "sigmoid"}}
    assert checkpoints.check_output_dir(tmp_path, now, "latest") is None  # same run, no checkpoint yet
    other = {**before, "model_config": {**before["model_config"], "gates": "simple"}}
    with pytest.raises(ConfigError, match="holds another training run"):
        checkpoints.check_output_dir(tmp_path, other, "latest")


@pytest.mark.parametrize(("weighting", "expected"), [("none", (40 / 127.5) ** 2), ("inverse", (25 / 127.5) ** 2)])
def test_sigma_weighting_scales_each_image_loss_by_its_level(weighting, expected):
    """A denoiser that removes nothing leaves all the noise: its loss is sigma**2 on the [-1, 1] scale, or, weighted
    by (25 / sigma)**2, what sigma 25 would give."""
    from hfimg.training.denoise import DenoiseObjective

    config = parse_args([
        "--model", "denoise-cnn", "--dataset", "x", "--output_dir", "y", "--features", "4", "--depth", "3",
        "--sigma_min", "40", "--sigma_max", "40", "--sigma_weighting", weighting,
    ])  # fmt: skip
    model = build_model(config)
    with torch.no_grad():
        model.body[-1].weight.zero_()
        model.body[-1].bias.zero_()  # predicts no noise: denoised == noisy
    seen = []
    objective = DenoiseObjective(model, config)
    batch = {"image": torch.zeros(64, 3, 16, 16)}
    objective.training_step(batch, 0, lambda loss, optimizer: seen.append(loss) or True)
    assert seen[0].item() == pytest.approx(expected, rel=0.03)
